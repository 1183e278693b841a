//! `/v1/templates`: message templates with named variables (reference 003), and sending one.
//!
//! Sending is `POST /v1/templates/{id}/send` rather than a `template` field of
//! `POST /v1/messages`: that body is one content among fourteen types and fans out to
//! recipient lists, contact groups and batches, and a template brings its own checks
//! (approval, variables) and the job link. The dedicated call reuses the same accept path
//! (`messages::prepare`/`accept`: queue, idempotency, device choice) without threading
//! those through every path of `send.rs`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use kirim_core::id::DeviceId;
use kirim_core::template::{Template, TemplateStatus};
use kirim_core::{JobId, TemplateId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::messages::MessageView;
use crate::app::AppState;
use crate::services::templates::{self as service, TemplateInput, TemplateSend};

/// A template. On create `name` and `body` are required.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// Lowercase letters, digits and underscores; unique per language.
    #[schema(example = "appointment_reminder")]
    pub name: Option<String>,
    #[schema(example = "Appointment Reminder")]
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// Default `en`.
    #[schema(example = "en_GB")]
    pub language: Option<String>,
    /// UTILITY (default), MARKETING or AUTHENTICATION.
    pub category: Option<String>,
    /// APPROVED (default), PENDING or REJECTED; only APPROVED templates can be sent.
    pub status: Option<String>,
    /// The text, with variables written `{{name}}`.
    #[schema(example = "Hi {{tenant_first_name}}, we will visit on {{appointment_date}} between {{time_window}}.")]
    pub body: Option<String>,
}

impl From<TemplateBody> for TemplateInput {
    fn from(b: TemplateBody) -> Self {
        Self {
            name: b.name,
            display_name: b.display_name,
            description: b.description,
            language: b.language,
            category: b.category,
            status: b.status,
            body: b.body,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: TemplateId,
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub language: String,
    pub category: String,
    pub status: TemplateStatus,
    pub body: String,
    /// The body's variables, in order of first use.
    pub variables: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Template> for TemplateView {
    fn from(t: Template) -> Self {
        Self {
            variables: t.variables(),
            id: t.id,
            name: t.spec.name,
            display_name: t.spec.display_name,
            description: t.spec.description,
            language: t.spec.language,
            category: t.spec.category,
            status: t.spec.status,
            body: t.spec.body,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

#[utoipa::path(post, path = "/v1/templates", tag = "templates", request_body = TemplateBody,
    responses((status = 201, body = TemplateView), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    body: ApiJson<TemplateBody>,
) -> ApiResult<(StatusCode, Json<TemplateView>)> {
    let template = service::create(&state, &(&auth).into(), body.value.into()).await?;
    Ok((StatusCode::CREATED, Json(template.into())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// APPROVED, PENDING or REJECTED.
    pub status: Option<String>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

/// Templates, oldest first (`?status=APPROVED`: the ones that can be sent).
#[utoipa::path(get, path = "/v1/templates", tag = "templates", params(ListQuery),
    responses((status = 200, body = List<TemplateView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<List<TemplateView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let status = match q.status.as_deref() {
        Some(raw) => Some(raw.parse::<TemplateStatus>().map_err(|_| {
            ApiError::field("status", format!("`status` `{raw}` is not a template status; use APPROVED, PENDING or REJECTED"))
        })?),
        None => None,
    };
    let after = match q.after.as_deref() {
        Some(raw) => Some(raw.parse::<TemplateId>().map_err(|e| ApiError::field("after", format!("`after`: {e}")))?),
        None => None,
    };
    let rows = service::list(&state, &(&auth).into(), status, after.as_ref(), limit).await?;
    let next = (rows.len() == limit as usize).then(|| rows.last().map(|t| t.id.to_string())).flatten();
    Ok(Json(List { data: rows.into_iter().map(TemplateView::from).collect(), next }))
}

#[utoipa::path(get, path = "/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<TemplateView>> {
    Ok(Json(service::get(&state, &(&auth).into(), &id).await?.into()))
}

/// Change a template; fields left out stay as they are.
#[utoipa::path(patch, path = "/v1/templates/{id}", tag = "templates", params(("id" = String, Path)), request_body = TemplateBody,
    responses((status = 200, body = TemplateView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<TemplateBody>,
) -> ApiResult<Json<TemplateView>> {
    Ok(Json(service::update(&state, &(&auth).into(), &id, body.value.into()).await?.into()))
}

#[utoipa::path(delete, path = "/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<StatusCode> {
    service::delete(&state, &(&auth).into(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A value for a variable: text, or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum VariableValue {
    Text(String),
    Number(serde_json::Number),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendTemplateBody {
    /// The recipient (any phone form, or a group JID). With `job_id`, defaults to the job's worker.
    #[serde(default, deserialize_with = "super::opt_string_or_number")]
    #[schema(example = "+447700900123")]
    pub to: Option<String>,
    /// The device to send from; with `job_id`, defaults to the job's device.
    pub device_id: Option<String>,
    /// A value for each of the template's variables, and no others.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"tenant_first_name": "Siti", "appointment_date": "2 December", "time_window": "9–11am"}))]
    pub variables: BTreeMap<String, VariableValue>,
    /// A job (`job_…` or its reference `J12`): the send is logged on its timeline.
    pub job_id: Option<String>,
    pub ref_id: Option<String>,
    /// 0 (default) to 10.
    pub priority: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateSentView {
    pub message: MessageView,
    pub template_id: TemplateId,
    pub template: String,
    pub job_id: Option<JobId>,
}

/// Send a template with its variables' values. `202` once the message is committed.
#[utoipa::path(post, path = "/v1/templates/{id}/send", tag = "templates", params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")), request_body = SendTemplateBody,
    responses((status = 202, body = TemplateSentView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_variables` names the missing and unknown variables")),
    security(("bearer" = [])))]
pub async fn send(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    headers: HeaderMap,
    body: ApiJson<SendTemplateBody>,
) -> ApiResult<Response> {
    let key = super::send::idempotency_key(&headers)?;
    let b = body.value;
    let device_id = match b.device_id {
        Some(raw) => Some(raw.parse::<DeviceId>().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?),
        None => None,
    };
    let variables = b
        .variables
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                VariableValue::Text(s) => s,
                VariableValue::Number(n) => n.to_string(),
            };
            (k, v)
        })
        .collect();
    let input = TemplateSend {
        to: b.to,
        device_id,
        variables,
        job: b.job_id,
        ref_id: b.ref_id,
        priority: b.priority.unwrap_or(0),
        idempotency_key: key,
        request_hash: body.body_hash,
    };
    let sent = service::send(&state, &(&auth).into(), &id, input).await?;
    let view = TemplateSentView {
        message: MessageView::new(sent.message, false),
        template_id: sent.template.id,
        template: sent.template.spec.name,
        job_id: sent.job.map(|j| j.id),
    };
    let mut response = (StatusCode::ACCEPTED, Json(view)).into_response();
    if sent.replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}
