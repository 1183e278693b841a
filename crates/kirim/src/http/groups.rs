//! `/v1/devices/{id}/groups…`: the WhatsApp groups a device's number is in — list, read,
//! create, change members, invite links, leave. Answered live by the device's connector.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kirim_core::group::{GroupInfo, Participant, ParticipantAction, ParticipantOutcome, ParticipantResult, ParticipantRole};
use kirim_core::id::DeviceId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiPath2};
use crate::app::AppState;
use crate::services::Actor;
use crate::services::groups as service;

/// A phone number as a string or a bare number.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct PhoneText(#[serde(deserialize_with = "super::string_or_number")] pub String);

pub fn texts(phones: Vec<PhoneText>) -> Vec<String> {
    phones.into_iter().map(|p| p.0).collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantView {
    /// The member's WhatsApp id (a LID in groups that hide numbers).
    pub jid: String,
    /// The member's number, when WhatsApp reveals it.
    #[schema(value_type = Option<String>)]
    pub phone: Option<String>,
    /// `member`, `admin` or `superadmin` (the creator).
    #[schema(value_type = String)]
    pub role: ParticipantRole,
    pub is_admin: bool,
}

impl From<Participant> for ParticipantView {
    fn from(p: Participant) -> Self {
        Self { jid: p.jid, phone: p.phone.map(|p| p.to_string()), role: p.role, is_admin: p.role.is_admin() }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    /// The group's JID, to send to (`"to": "…@g.us"`) and to use in these URLs.
    #[schema(example = "120363025246125888@g.us")]
    pub jid: String,
    /// The JID without `@g.us`, as some clients call a group id.
    pub id: String,
    pub subject: String,
    pub description: Option<String>,
    /// Who created the group, when known.
    pub owner: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    /// Only admins may send.
    pub announce: bool,
    pub size: usize,
    pub participants: Vec<ParticipantView>,
}

impl From<GroupInfo> for GroupView {
    fn from(g: GroupInfo) -> Self {
        Self {
            id: g.jid.id().to_owned(),
            jid: g.jid.to_string(),
            subject: g.subject,
            description: g.description,
            owner: g.owner.map(|p| p.to_string()),
            created_at: g.created_at,
            announce: g.announce,
            size: g.participants.len(),
            participants: g.participants.into_iter().map(ParticipantView::from).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantResultView {
    /// The number, normalized.
    pub phone: String,
    /// `ok`, `already_member`, `not_member`, `not_on_whatsapp`, `invite_required` (send them
    /// the invite link), `recently_left`, `group_full` or `failed`.
    #[schema(value_type = String)]
    pub result: ParticipantOutcome,
    /// What WhatsApp said, for `failed`.
    pub detail: Option<String>,
}

impl From<ParticipantResult> for ParticipantResultView {
    fn from(r: ParticipantResult) -> Self {
        Self { phone: r.phone.to_string(), result: r.outcome, detail: r.detail }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// The group's name, 1–100 characters.
    pub subject: String,
    /// Numbers to add, in any form (up to 256). The device's number is the group's admin.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub participants: Vec<PhoneText>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupCreated {
    pub group: GroupView,
    /// How each requested number fared.
    pub participants: Vec<ParticipantResultView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantsBody {
    /// `add`, `remove`, `promote` (make admin) or `demote`.
    pub action: String,
    /// 1–256 numbers in any form.
    #[schema(value_type = Vec<String>)]
    pub participants: Vec<PhoneText>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteLinkView {
    pub jid: String,
    #[schema(example = "https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv")]
    pub invite_link: String,
    /// The code at the end of the link.
    pub code: String,
}

fn device_id(raw: &str) -> ApiResult<DeviceId> {
    raw.parse().map_err(|_| ApiError::not_found("device"))
}

fn parse_action(raw: &str) -> ApiResult<ParticipantAction> {
    ParticipantAction::ALL
        .into_iter()
        .find(|a| a.as_str() == raw.trim())
        .ok_or_else(|| ApiError::field("action", format!("`action` `{raw}` is not known; use add, remove, promote or demote")))
}

fn invite_view(jid: String, link: String) -> InviteLinkView {
    let code = link.rsplit('/').next().unwrap_or_default().to_owned();
    InviteLinkView { jid, invite_link: link, code }
}

/// List the groups the device's number is in, with their members.
#[utoipa::path(get, path = "/v1/devices/{id}/groups", tag = "groups", params(("id" = String, Path)),
    responses((status = 200, body = List<GroupView>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "`device_not_connected`"),
        (status = 422, body = ErrorBody, description = "`capability_unsupported`")), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<List<GroupView>>> {
    let (_, groups) = service::list(&state, &Actor::from(&auth), &device_id(&id)?).await?;
    Ok(Json(List { data: groups.into_iter().map(GroupView::from).collect(), next: None }))
}

/// One group with its members (admins marked).
#[utoipa::path(get, path = "/v1/devices/{id}/groups/{jid}", tag = "groups", params(("id" = String, Path), ("jid" = String, Path, description = "`…@g.us` or the bare id")),
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath2(id, jid): ApiPath2) -> ApiResult<Json<GroupView>> {
    let group = service::get(&state, &Actor::from(&auth), &device_id(&id)?, &service::parse_jid(&jid)?).await?;
    Ok(Json(group.into()))
}

/// Create a group; the device's number becomes its admin.
#[utoipa::path(post, path = "/v1/devices/{id}/groups", tag = "groups", params(("id" = String, Path)), request_body = CreateGroup,
    responses((status = 201, body = GroupCreated), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<CreateGroup>,
) -> ApiResult<(StatusCode, Json<GroupCreated>)> {
    let b = body.value;
    let id = device_id(&id)?;
    let created = service::create(&state, &Actor::from(&auth), &id, &b.subject, &texts(b.participants)).await?;
    let participants = created.participants.into_iter().map(ParticipantResultView::from).collect();
    Ok((StatusCode::CREATED, Json(GroupCreated { group: created.group.into(), participants })))
}

/// Add, remove, promote or demote members (admins only). Each number gets its own result.
#[utoipa::path(post, path = "/v1/devices/{id}/groups/{jid}/participants", tag = "groups", params(("id" = String, Path), ("jid" = String, Path)),
    request_body = ParticipantsBody,
    responses((status = 200, body = List<ParticipantResultView>), (status = 403, body = ErrorBody, description = "`group_admin_required`"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn participants(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath2(id, jid): ApiPath2,
    body: ApiJson<ParticipantsBody>,
) -> ApiResult<Json<List<ParticipantResultView>>> {
    let b = body.value;
    let action = parse_action(&b.action)?;
    let (id, jid) = (device_id(&id)?, service::parse_jid(&jid)?);
    let results = service::update_participants(&state, &Actor::from(&auth), &id, &jid, action, &texts(b.participants)).await?;
    Ok(Json(List { data: results.into_iter().map(ParticipantResultView::from).collect(), next: None }))
}

/// The group's invite link (admins only).
#[utoipa::path(get, path = "/v1/devices/{id}/groups/{jid}/invite-link", tag = "groups", params(("id" = String, Path), ("jid" = String, Path)),
    responses((status = 200, body = InviteLinkView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn invite_link(State(state): State<AppState>, auth: TenantAuth, ApiPath2(id, jid): ApiPath2) -> ApiResult<Json<InviteLinkView>> {
    let (id, jid) = (device_id(&id)?, service::parse_jid(&jid)?);
    let link = service::invite_link(&state, &Actor::from(&auth), &id, &jid, false).await?;
    Ok(Json(invite_view(jid.to_string(), link)))
}

/// Revoke the invite link and get a new one (admins only); the old link stops working.
#[utoipa::path(post, path = "/v1/devices/{id}/groups/{jid}/invite-link/reset", tag = "groups", params(("id" = String, Path), ("jid" = String, Path)),
    responses((status = 200, body = InviteLinkView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn reset_invite_link(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath2(id, jid): ApiPath2,
) -> ApiResult<Json<InviteLinkView>> {
    let (id, jid) = (device_id(&id)?, service::parse_jid(&jid)?);
    let link = service::invite_link(&state, &Actor::from(&auth), &id, &jid, true).await?;
    Ok(Json(invite_view(jid.to_string(), link)))
}

/// The device's number leaves the group.
#[utoipa::path(post, path = "/v1/devices/{id}/groups/{jid}/leave", tag = "groups", params(("id" = String, Path), ("jid" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn leave(State(state): State<AppState>, auth: TenantAuth, ApiPath2(id, jid): ApiPath2) -> ApiResult<StatusCode> {
    let (id, jid) = (device_id(&id)?, service::parse_jid(&jid)?);
    service::leave(&state, &Actor::from(&auth), &id, &jid).await?;
    Ok(StatusCode::NO_CONTENT)
}
