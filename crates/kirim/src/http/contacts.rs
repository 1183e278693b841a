//! `/v1/contacts`: the tenant's address book. One contact per number; a path names a contact
//! by its id or by its number in any form. Bulk calls (batch, CSV import, delete by numbers)
//! answer per item and write the valid items in one transaction.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, NaiveDate, Utc};
use kirim_core::contact::Contact;
use kirim_core::{ContactId, PhoneNumber};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, field_error};
use super::webhooks::nullable;
use crate::app::AppState;
use crate::services::contact_import;
use crate::services::contacts::{self as service, ContactChanges, ContactFields, DeleteOutcome, FieldError, ItemOutcome, ListInput};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    /// The number in any common form (`+60 12-345 6789`, `60123456789`, `012-345 6789` with a
    /// default country); stored in E.164. Unique per account.
    #[serde(deserialize_with = "super::string_or_number")]
    #[schema(value_type = String, example = "+60123456789")]
    pub phone: String,
    /// 1–255 characters.
    pub name: String,
    pub email: Option<String>,
    pub address: Option<String>,
    /// `YYYY-MM-DD`.
    #[schema(example = "1992-03-12")]
    pub birthday: Option<String>,
    /// Your own fields: up to 50 names (1–64 characters) with text values (up to 1,000 characters).
    pub custom: Option<BTreeMap<String, String>>,
}

impl From<ContactBody> for ContactFields {
    fn from(b: ContactBody) -> Self {
        Self {
            phone: b.phone,
            name: b.name,
            email: b.email,
            address: b.address,
            birthday: b.birthday,
            custom: b.custom.unwrap_or_default(),
        }
    }
}

/// A phone that may be sent as a number or as text (or `null`, refused later).
pub(crate) fn optional_phone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    #[derive(Deserialize)]
    struct Phone(#[serde(deserialize_with = "super::string_or_number")] String);
    Option::<Phone>::deserialize(d).map(|p| Some(p.map(|p| p.0)))
}

/// `phone` and `name` can be changed but not cleared.
fn required(field: &str, value: Option<Option<String>>) -> ApiResult<Option<String>> {
    match value {
        Some(None) => Err(ApiError::field(field, format!("`{field}` cannot be cleared; give a new value or leave it out"))),
        other => Ok(other.flatten()),
    }
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ContactPatchBody {
    /// A new number (refused with `409 phone_taken` if another contact has it).
    #[serde(deserialize_with = "optional_phone")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// `null` (or `""`) clears it.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub address: Option<Option<String>>,
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub birthday: Option<Option<String>>,
    /// Replaces every custom field; `null` clears them.
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub custom: Option<Option<BTreeMap<String, String>>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub id: ContactId,
    #[schema(value_type = String, example = "+60123456789")]
    pub phone: PhoneNumber,
    pub name: String,
    pub email: Option<String>,
    pub address: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub custom: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        Self {
            id: c.id,
            phone: c.phone,
            name: c.name,
            email: c.email,
            address: c.address,
            birthday: c.birthday,
            custom: c.custom,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// Up to 1,000 contacts, each like the body of `POST /v1/contacts`.
    #[schema(value_type = Vec<ContactBody>)]
    pub contacts: Vec<serde_json::Value>,
    /// Update the contacts whose number exists (the fields given replace, the others stay)
    /// instead of reporting them as `already_exists`.
    #[serde(default)]
    pub upsert: bool,
}

/// One item's result. `index` (batch) or `row` (import, the header being row 1) says which.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// `created`, `updated`, `already_exists` or `invalid`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<ContactId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<PhoneNumber>,
    /// The field at fault (`invalid`), e.g. `email` or `custom.tier`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResults {
    pub created: usize,
    pub updated: usize,
    pub already_exists: usize,
    pub invalid: usize,
    pub results: Vec<ItemResult>,
}

fn item_result(index: Option<usize>, row: Option<u64>, outcome: ItemOutcome) -> ItemResult {
    let base = ItemResult { index, row, status: "", id: None, phone: None, field: None, message: None };
    match outcome {
        ItemOutcome::Created(c) => ItemResult { status: "created", id: Some(c.id), phone: Some(c.phone), ..base },
        ItemOutcome::Updated(c) => ItemResult { status: "updated", id: Some(c.id), phone: Some(c.phone), ..base },
        ItemOutcome::Existing(c) => ItemResult { status: "already_exists", id: Some(c.id), phone: Some(c.phone), ..base },
        ItemOutcome::Invalid(e) => ItemResult { status: "invalid", field: Some(e.field), message: Some(e.message), ..base },
    }
}

fn summarise(results: Vec<ItemResult>) -> BatchResults {
    let count = |s: &str| results.iter().filter(|r| r.status == s).count();
    BatchResults {
        created: count("created"),
        updated: count("updated"),
        already_exists: count("already_exists"),
        invalid: count("invalid"),
        results,
    }
}

/// Add one contact. A number the account has already is `409 contact_exists`.
#[utoipa::path(post, path = "/v1/contacts", tag = "contacts", request_body = ContactBody,
    responses((status = 201, body = ContactView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    body: ApiJson<ContactBody>,
) -> ApiResult<(StatusCode, Json<ContactView>)> {
    let contact = service::create(&state, &(&auth).into(), body.value.into()).await?;
    Ok((StatusCode::CREATED, Json(contact.into())))
}

/// Add up to 1,000 contacts in one transaction, with a result per item: `created`,
/// `already_exists` (also a number repeated within the batch), `updated` (with `upsert`) or
/// `invalid` (with the field and what to do). Invalid items do not stop the others.
#[utoipa::path(post, path = "/v1/contacts/batch", tag = "contacts", request_body = BatchBody,
    responses((status = 200, body = BatchResults), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn batch(State(state): State<AppState>, auth: TenantAuth, body: ApiJson<BatchBody>) -> ApiResult<Json<BatchResults>> {
    let BatchBody { contacts, upsert } = body.value;
    service::check_batch_size("contacts", contacts.len(), service::MAX_BATCH)?;
    // Each item on its own, so one malformed item is that item's result, not the request's.
    let items = contacts
        .into_iter()
        .map(|value| {
            serde_path_to_error::deserialize::<_, ContactBody>(value).map(ContactFields::from).map_err(|e| {
                let path = e.path().to_string();
                FieldError::from(field_error(&path, &e.into_inner().to_string()))
            })
        })
        .collect();
    let outcomes = service::write_batch(&state, &(&auth).into(), items, upsert).await?;
    Ok(Json(summarise(outcomes.into_iter().enumerate().map(|(i, o)| item_result(Some(i), None, o)).collect())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// `true` to update contacts whose number exists instead of reporting `already_exists`.
    pub upsert: Option<String>,
}

fn flag(field: &str, raw: Option<&str>) -> ApiResult<bool> {
    match raw {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(_) => Err(ApiError::field(field, format!("`{field}` must be `true` or `false`"))),
    }
}

/// Import a CSV file (`Content-Type: text/csv`, up to 10,000 rows and 16 MiB). The first row
/// names the columns: `phone`, `name`, `email`, `address`, `birthday`; any other column becomes
/// a custom field. Each row gets a result naming its row number (the header is row 1); the
/// valid rows are written in one transaction.
#[utoipa::path(post, path = "/v1/contacts/import", tag = "contacts", params(ImportQuery),
    request_body(content = String, content_type = "text/csv", example = "phone,name,email,company\n+60123456789,Siti,siti@example.com,Acme\n"),
    responses((status = 200, body = BatchResults), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn import(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiQuery(q): ApiQuery<ImportQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<BatchResults>> {
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if !matches!(mime.as_deref(), Some("text/csv" | "application/csv" | "text/plain")) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the file itself as the body with `Content-Type: text/csv`",
        ));
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the file is larger than 16 MiB; split it into several imports")
        } else {
            ApiError::bad_request("unreadable_body", format!("could not read the request body: {rejection}"))
        }
    })?;
    let upsert = flag("upsert", q.upsert.as_deref())?;
    let outcomes = contact_import::import(&state, &(&auth).into(), &body, upsert).await?;
    Ok(Json(summarise(outcomes.into_iter().map(|(row, o)| item_result(None, Some(row), o)).collect())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Part of a name, number or email, ignoring case.
    pub search: Option<String>,
    /// Only members of this group (its id or name).
    pub group: Option<String>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

/// The account's contacts, oldest first.
#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", params(ListQuery),
    responses((status = 200, body = List<ContactView>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<List<ContactView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let input = ListInput { search: q.search, group: q.group, after: q.after, limit };
    Ok(Json(page(service::list(&state, &(&auth).into(), input).await?, limit)))
}

/// A page of contacts; `next` is set when the page is full.
pub fn page(rows: Vec<Contact>, limit: u32) -> List<ContactView> {
    let next = (rows.len() == limit as usize).then(|| rows.last().map(|c| c.id.to_string())).flatten();
    List { data: rows.into_iter().map(ContactView::from).collect(), next }
}

/// One contact, by id or by number (`/v1/contacts/+60123456789`).
#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path, description = "The contact's id, or its number in any form")),
    responses((status = 200, body = ContactView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<ContactView>> {
    Ok(Json(service::get(&state, &(&auth).into(), &id).await?.into()))
}

/// Change a contact: only the fields sent change; `null` clears an optional one.
#[utoipa::path(patch, path = "/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path, description = "The contact's id, or its number in any form")),
    request_body = ContactPatchBody,
    responses((status = 200, body = ContactView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<ContactPatchBody>,
) -> ApiResult<Json<ContactView>> {
    let b = body.value;
    let changes = ContactChanges {
        phone: required("phone", b.phone)?,
        name: required("name", b.name)?,
        email: b.email,
        address: b.address,
        birthday: b.birthday,
        custom: b.custom,
    };
    Ok(Json(service::update(&state, &(&auth).into(), &id, changes).await?.into()))
}

/// Delete a contact (it leaves every group).
#[utoipa::path(delete, path = "/v1/contacts/{id}", tag = "contacts", params(("id" = String, Path, description = "The contact's id, or its number in any form")),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<StatusCode> {
    service::delete(&state, &(&auth).into(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Numbers separated by commas (up to 1,000); write `+` as `%2B`.
    pub phones: Option<String>,
}

/// One number's result in a bulk call.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneResult {
    /// The number as it was sent.
    pub input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<PhoneNumber>,
    /// `deleted`, `not_found` or `invalid`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<ContactId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteResults {
    pub deleted: usize,
    pub results: Vec<PhoneResult>,
}

/// Delete contacts by number, in one transaction, with a result per number.
#[utoipa::path(delete, path = "/v1/contacts", tag = "contacts", params(DeleteQuery),
    responses((status = 200, body = DeleteResults), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_many(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> ApiResult<Json<DeleteResults>> {
    let phones = service::split_phones("phones", q.phones.as_deref())?;
    let outcomes = service::delete_many(&state, &(&auth).into(), phones).await?;
    let results: Vec<PhoneResult> = outcomes
        .into_iter()
        .map(|(input, outcome)| match outcome {
            DeleteOutcome::Deleted(c) => PhoneResult { input, phone: Some(c.phone), status: "deleted", id: Some(c.id), message: None },
            DeleteOutcome::NotFound(phone) => PhoneResult { input, phone: Some(phone), status: "not_found", id: None, message: None },
            DeleteOutcome::Invalid(e) => PhoneResult { input, phone: None, status: "invalid", id: None, message: Some(e.message) },
        })
        .collect();
    Ok(Json(DeleteResults { deleted: results.iter().filter(|r| r.status == "deleted").count(), results }))
}
