//! PropOps' WhatsApp integration (reference 003): approved templates with their variables, and
//! a template send tied to a job and logged on it as a case note. `Authorization: Bearer` with
//! the tenant's API key (PropOps' "user"); sends are limited to 20 a minute per user, as PropOps
//! documents. Answers are `{"success": true, "data": …}` or `{"success": false, "error": …}`.
//!
//! Ids are numbers in PropOps: `template_id` is the template's row number (shown as `id` by
//! `get-options`), `job_id` the job's number (`J1050` is job 1050). A send takes the values of
//! the template's variables from the job, under PropOps' names as well as Kirim's.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kirim_core::template::{Template, TemplateStatus};
use serde_json::{Value, json};

use super::body::{BodyError, Fields};
use crate::app::AppState;
use crate::http::auth::{Principal, TenantAuth};
use crate::http::error::ApiError;
use crate::http::rate_limit::Quota;
use crate::services::{Actor, jobs, templates};

/// PropOps' own limit on sends, per user.
const SENDS_PER_MINUTE: u32 = 20;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/whatsapp/get-options", get(get_options)).route("/api/whatsapp/send", post(send))
}

fn fail(status: StatusCode, error: impl Into<String>) -> Response {
    (status, Json(json!({"success": false, "error": error.into()}))).into_response()
}

fn refusal(error: ApiError) -> Response {
    let mut response = fail(error.status, error.detail.message);
    if let Some(secs) = error.retry_after_secs {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    response
}

/// The caller, by its Bearer API key.
struct User(TenantAuth, Principal);

impl FromRequestParts<AppState> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let auth = TenantAuth::from_request_parts(parts, state).await.map_err(|e| match e.status {
            StatusCode::UNAUTHORIZED => fail(StatusCode::UNAUTHORIZED, "Unauthenticated: send `Authorization: Bearer <API key>`"),
            _ => refusal(e),
        })?;
        let principal = match (&auth.device, auth.key) {
            (Some((device, device_id)), _) => {
                Principal::Device { tenant: auth.tenant.clone(), device: *device, device_id: device_id.clone() }
            }
            (None, Some(key)) => Principal::Tenant { tenant: auth.tenant.clone(), key },
            (None, None) => return Err(fail(StatusCode::UNAUTHORIZED, "Unauthenticated")),
        };
        Ok(Self(auth, principal))
    }
}

fn option(t: &Template) -> Value {
    json!({
        "id": t.pk.0,
        "name": t.spec.name,
        "display_name": t.spec.display_name.clone().unwrap_or_else(|| t.spec.name.clone()),
        "description": t.spec.description,
        "language": t.spec.language,
        "category": t.spec.category,
        "status": t.spec.status,
        "variables": t.variables(),
    })
}

/// The account's templates, a page at a time (a tenant has few).
async fn all_templates(state: &AppState, actor: &Actor, status: Option<TemplateStatus>) -> Result<Vec<Template>, ApiError> {
    let mut out: Vec<Template> = Vec::new();
    loop {
        let page = templates::list(state, actor, status, out.last().map(|t| &t.id), 500).await?;
        let done = page.len() < 500;
        out.extend(page);
        if done || out.len() >= 10_000 {
            return Ok(out);
        }
    }
}

/// `GET /api/whatsapp/get-options`: the approved templates and their variables.
async fn get_options(State(state): State<AppState>, User(auth, _): User) -> Response {
    match all_templates(&state, &Actor::from(&auth), Some(TemplateStatus::Approved)).await {
        Ok(mut list) => {
            // By number, as PropOps lists them.
            list.sort_by_key(|t| t.pk.0);
            Json(json!({"success": true, "data": list.iter().map(option).collect::<Vec<_>>()})).into_response()
        }
        Err(e) => refusal(e),
    }
}

/// A positive whole number given as a number or as text.
fn id_field(fields: &Fields, key: &str) -> Option<Result<i64, ()>> {
    Some(match fields.get(key)? {
        Value::Number(n) => n.as_i64().filter(|n| *n > 0).ok_or(()),
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => s.trim().parse::<i64>().ok().filter(|n| *n > 0).ok_or(()),
        _ => Err(()),
    })
}

/// E.164 as PropOps takes it: `+`, the country code and the number, no spaces or dashes.
fn is_e164(raw: &str) -> bool {
    let Some(digits) = raw.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// Kirim's name of the job field a PropOps variable is about.
fn job_field(variable: &str) -> &str {
    match variable {
        "job_id" | "job_number" | "job_reference" => "job_ref",
        "property_address" | "address" | "job_address" => "location",
        "job_type" | "job_description" | "description" => "task",
        "tenant_name" | "customer_name" => "client_name",
        "tenant_first_name" | "customer_first_name" | "first_name" => "client_first_name",
        "contractor_phone" => "worker_phone",
        "appointment_date" => "scheduled_date",
        "appointment_time" | "time_window" => "scheduled_time",
        "completion_date" | "completed_date" => "done_date",
        "job_status" => "status",
        other => other,
    }
}

/// `POST /api/whatsapp/send {job_id, phone_number, template_id}`.
async fn send(State(state): State<AppState>, User(auth, principal): User, fields: Result<Fields, BodyError>) -> Response {
    let fields = match fields {
        Ok(f) => f,
        Err(BodyError::TooLarge) => return fail(StatusCode::PAYLOAD_TOO_LARGE, "The request is too large"),
        Err(_) => return fail(StatusCode::BAD_REQUEST, "The request body must be JSON"),
    };
    let job_number = match id_field(&fields, "job_id") {
        None => return fail(StatusCode::UNPROCESSABLE_ENTITY, "Job ID is required"),
        Some(Err(())) => return fail(StatusCode::UNPROCESSABLE_ENTITY, "Job ID must be a positive whole number"),
        Some(Ok(n)) => n,
    };
    let phone = match fields.string("phone_number") {
        None => return fail(StatusCode::UNPROCESSABLE_ENTITY, "Phone number is required"),
        Some(Ok(p)) if is_e164(p.trim()) => p.trim().to_owned(),
        Some(_) => return fail(StatusCode::UNPROCESSABLE_ENTITY, "Invalid phone number format. Use E.164 format, e.g. +447700900123"),
    };
    let template_pk = match id_field(&fields, "template_id") {
        None => return fail(StatusCode::UNPROCESSABLE_ENTITY, "Template ID is required"),
        Some(Err(())) => return fail(StatusCode::UNPROCESSABLE_ENTITY, "Template ID must be a positive whole number"),
        Some(Ok(n)) => n,
    };
    let quota = Quota { quota: SENDS_PER_MINUTE, window: Duration::from_secs(60) };
    if let Err(wait) = state.rate_limiter.check_endpoint("propops.send", &principal, quota) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = fail(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Rate limit exceeded: at most {SENDS_PER_MINUTE} messages per minute; try again in {secs} s"),
        );
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        return response;
    }
    let actor = Actor::from(&auth);
    let no_device = match state.store.list_devices(auth.tenant_pk()).await {
        Ok(devices) => devices.is_empty(),
        Err(e) => return refusal(e.into()),
    };
    if no_device {
        return fail(StatusCode::SERVICE_UNAVAILABLE, "WhatsApp integration is not configured");
    }
    let job = match jobs::find(&state, &actor, &format!("J{job_number}")).await {
        Ok(job) => job,
        Err(e) if e.status == StatusCode::NOT_FOUND => return fail(StatusCode::NOT_FOUND, "Job not found"),
        Err(e) => return refusal(e),
    };
    let template = match all_templates(&state, &actor, None).await {
        Ok(list) => list.into_iter().find(|t| t.pk.0 == template_pk),
        Err(e) => return refusal(e),
    };
    let Some(template) = template else { return fail(StatusCode::NOT_FOUND, "Template not found") };
    if template.spec.status != TemplateStatus::Approved {
        return fail(StatusCode::UNPROCESSABLE_ENTITY, "Template is not approved");
    }
    let values: BTreeMap<&str, String> = templates::job_values(&job).into_iter().collect();
    let variables: BTreeMap<String, String> =
        template.variables().into_iter().filter_map(|v| values.get(job_field(&v)).map(|value| (v, value.clone()))).collect();
    let input = templates::TemplateSend { to: Some(phone), variables, job: Some(job.id.to_string()), ..templates::TemplateSend::default() };
    match templates::send(&state, &actor, template.id.as_str(), input).await {
        Ok(sent) => Json(json!({
            "success": true,
            "data": {
                "message_id": sent.message.id,
                "status": sent.message.status,
                "recipient": sent.message.chat.as_str(),
                "template": sent.template.spec.name,
                "job_id": job_number,
            },
            "message": "WhatsApp message accepted for sending",
        }))
        .into_response(),
        Err(e) if e.detail.code == "invalid_variables" => fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("The job has no value for some of the template's variables: {}", e.detail.message),
        ),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => fail(StatusCode::UNPROCESSABLE_ENTITY, e.detail.message),
        Err(e) => refusal(e),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_e164, job_field};

    #[test]
    fn phone_numbers_must_be_strict_e164() {
        assert!(is_e164("+447700900123"));
        assert!(is_e164("+60123456789"));
        for bad in ["447700900123", "+44 7700 900123", "+44-7700-900123", "+0447700900123", "+4477", "+4477009001231234"] {
            assert!(!is_e164(bad), "{bad}");
        }
        assert_eq!(job_field("property_address"), "location");
        assert_eq!(job_field("tenant_first_name"), "client_first_name");
        assert_eq!(job_field("job_ref"), "job_ref");
    }
}
