//! `/v1/contact-groups`: named broadcast lists of contacts, found by id or by name. Members
//! are added and removed by number with a result per number; unknown numbers become contacts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kirim_core::contact::ContactGroup;
use kirim_core::{ContactGroupId, ContactId, PhoneNumber};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::contacts::{ContactView, page};
use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::services::contact_groups::{self as service, MemberOutcome};
use crate::services::contacts::{MAX_PHONES, check_batch_size, split_phones};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    /// 1–100 characters, unique in the account ignoring case.
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub id: ContactGroupId,
    pub name: String,
    pub member_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ContactGroup> for GroupView {
    fn from(g: ContactGroup) -> Self {
        Self { id: g.id, name: g.name, member_count: g.member_count, created_at: g.created_at, updated_at: g.updated_at }
    }
}

/// A number sent as text or as a JSON number.
#[derive(Debug, Deserialize)]
pub struct PhoneText(#[serde(deserialize_with = "super::string_or_number")] pub String);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersBody {
    /// Up to 1,000 numbers in any form.
    #[schema(value_type = Vec<String>, example = json!(["+60123456789", "0129876543"]))]
    pub phones: Vec<PhoneText>,
}

/// One number's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberResult {
    /// The number as it was sent.
    pub input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<PhoneNumber>,
    /// `added`, `already_member`, `removed`, `not_member` or `invalid`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    /// `added` only: the number was not a contact and became one (named after its number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_created: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberResults {
    /// The group as it is after the change.
    pub group: GroupView,
    pub results: Vec<MemberResult>,
}

fn member_result(input: String, outcome: MemberOutcome) -> MemberResult {
    let base = MemberResult { input, phone: None, status: "", contact_id: None, contact_created: None, message: None };
    match outcome {
        MemberOutcome::Added { phone, contact, created_contact } => {
            MemberResult { phone: Some(phone), status: "added", contact_id: Some(contact), contact_created: Some(created_contact), ..base }
        }
        MemberOutcome::AlreadyMember { phone, contact } => {
            MemberResult { phone: Some(phone), status: "already_member", contact_id: Some(contact), ..base }
        }
        MemberOutcome::Removed { phone } => MemberResult { phone: Some(phone), status: "removed", ..base },
        MemberOutcome::NotMember { phone } => MemberResult { phone: Some(phone), status: "not_member", ..base },
        MemberOutcome::Invalid(e) => MemberResult { status: "invalid", message: Some(e.message), ..base },
    }
}

fn results(group: ContactGroup, outcomes: Vec<(String, MemberOutcome)>) -> MemberResults {
    MemberResults { group: group.into(), results: outcomes.into_iter().map(|(input, o)| member_result(input, o)).collect() }
}

/// Create a group. A name the account uses already is `409 name_taken`.
#[utoipa::path(post, path = "/v1/contact-groups", tag = "contacts", request_body = GroupBody,
    responses((status = 201, body = GroupView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(State(state): State<AppState>, auth: TenantAuth, body: ApiJson<GroupBody>) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let group = service::create(&state, &(&auth).into(), &body.value.name).await?;
    Ok((StatusCode::CREATED, Json(group.into())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

/// The account's groups, oldest first, with their member counts.
#[utoipa::path(get, path = "/v1/contact-groups", tag = "contacts", params(PageQuery),
    responses((status = 200, body = List<GroupView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<PageQuery>) -> ApiResult<Json<List<GroupView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let rows = service::list(&state, &(&auth).into(), q.after.as_deref(), limit).await?;
    let next = (rows.len() == limit as usize).then(|| rows.last().map(|g| g.id.to_string())).flatten();
    Ok(Json(List { data: rows.into_iter().map(GroupView::from).collect(), next }))
}

/// One group, by id or by name.
#[utoipa::path(get, path = "/v1/contact-groups/{id}", tag = "contacts", params(("id" = String, Path, description = "The group's id or name")),
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<GroupView>> {
    Ok(Json(service::resolve_group(&state, &(&auth).into(), &id).await?.into()))
}

/// Rename a group.
#[utoipa::path(patch, path = "/v1/contact-groups/{id}", tag = "contacts", params(("id" = String, Path, description = "The group's id or name")),
    request_body = GroupBody,
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<GroupBody>,
) -> ApiResult<Json<GroupView>> {
    Ok(Json(service::rename(&state, &(&auth).into(), &id, &body.value.name).await?.into()))
}

/// Delete a group; its contacts stay.
#[utoipa::path(delete, path = "/v1/contact-groups/{id}", tag = "contacts", params(("id" = String, Path, description = "The group's id or name")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<StatusCode> {
    service::delete(&state, &(&auth).into(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add numbers to a group, with a result per number (`added`, `already_member`, `invalid`).
/// A number that is not a contact becomes one, named after its number.
#[utoipa::path(post, path = "/v1/contact-groups/{id}/members", tag = "contacts", params(("id" = String, Path, description = "The group's id or name")),
    request_body = MembersBody,
    responses((status = 200, body = MemberResults), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn add_members(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<MembersBody>,
) -> ApiResult<Json<MemberResults>> {
    let phones: Vec<String> = body.value.phones.into_iter().map(|p| p.0).collect();
    check_batch_size("phones", phones.len(), MAX_PHONES)?;
    let (group, outcomes) = service::add_members(&state, &(&auth).into(), &id, phones).await?;
    Ok(Json(results(group, outcomes)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    /// Numbers separated by commas (up to 1,000); write `+` as `%2B`.
    pub phones: Option<String>,
}

/// Take numbers out of a group, with a result per number (`removed`, `not_member`, `invalid`).
#[utoipa::path(delete, path = "/v1/contact-groups/{id}/members", tag = "contacts",
    params(("id" = String, Path, description = "The group's id or name"), RemoveQuery),
    responses((status = 200, body = MemberResults), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn remove_members(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    ApiQuery(q): ApiQuery<RemoveQuery>,
) -> ApiResult<Json<MemberResults>> {
    let phones = split_phones("phones", q.phones.as_deref())?;
    let (group, outcomes) = service::remove_members(&state, &(&auth).into(), &id, phones).await?;
    Ok(Json(results(group, outcomes)))
}

/// The group's members, oldest contact first.
#[utoipa::path(get, path = "/v1/contact-groups/{id}/members", tag = "contacts",
    params(("id" = String, Path, description = "The group's id or name"), PageQuery),
    responses((status = 200, body = List<ContactView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn members(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<List<ContactView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let rows = service::members(&state, &(&auth).into(), &id, q.after.as_deref(), limit).await?;
    Ok(Json(page(rows, limit)))
}
