//! Message templates (reference 003): CRUD, and sending one by id with its variables'
//! values. A send that names a job is logged on the job's timeline (the "case note") in the
//! same transaction as the message.

use std::collections::BTreeMap;

use kirim_core::TemplateId;
use kirim_core::id::DeviceId;
use kirim_core::job::{EntryKind, Job, JobRecord, NewEntry, RecordOutcome};
use kirim_core::message::{Message, MessageContent};
use kirim_core::template::{self, CATEGORIES, NewTemplate, Template, TemplateSpec, TemplateStatus};
use serde_json::json;

use super::Actor;
use super::messages::{self, SendInput};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DISPLAY_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
pub const MAX_VALUE_CHARS: usize = 1024;

/// A template as the client gave it; on a change, `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub language: Option<String>,
    pub category: Option<String>,
    pub status: Option<String>,
    pub body: Option<String>,
}

fn text_field(field: &str, value: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if v.chars().count() > max {
        return Err(ApiError::field(field, format!("`{field}` is at most {max} characters")));
    }
    Ok(Some(v.to_owned()))
}

fn spec_of(input: &TemplateInput, current: Option<&TemplateSpec>) -> ApiResult<TemplateSpec> {
    let name = match (text_field("name", input.name.as_deref(), MAX_NAME_CHARS)?, current) {
        (Some(n), _) => n,
        (None, Some(c)) if input.name.is_none() => c.name.clone(),
        _ => return Err(ApiError::field("name", "`name` is required: a machine name such as `appointment_reminder`")),
    };
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(ApiError::field("name", "`name` may hold lowercase letters, digits and underscores only, e.g. `job_completed`"));
    }
    let language = match (&input.language, current) {
        (Some(l), _) => l.trim().to_owned(),
        (None, Some(c)) => c.language.clone(),
        (None, None) => "en".to_owned(),
    };
    let valid_language = (2..=15).contains(&language.len()) && language.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_language {
        return Err(ApiError::field("language", "`language` must be a language tag such as `en`, `en_GB` or `ms`"));
    }
    let category = match (&input.category, current) {
        (Some(c), _) => c.trim().to_ascii_uppercase(),
        (None, Some(c)) => c.category.clone(),
        (None, None) => "UTILITY".to_owned(),
    };
    if !CATEGORIES.contains(&category.as_str()) {
        return Err(ApiError::field("category", format!("`category` must be one of {}", CATEGORIES.join(", "))));
    }
    let status = match (&input.status, current) {
        (Some(raw), _) => raw.parse::<TemplateStatus>().map_err(|_| {
            ApiError::field("status", format!("`status` `{raw}` is not a template status; use APPROVED, PENDING or REJECTED"))
        })?,
        (None, Some(c)) => c.status,
        (None, None) => TemplateStatus::Approved,
    };
    let body = match (&input.body, current) {
        (Some(b), _) => b.trim().to_owned(),
        (None, Some(c)) => c.body.clone(),
        (None, None) => String::new(),
    };
    if body.is_empty() {
        return Err(ApiError::field("body", "`body` is required: the text, with variables like {{job_ref}}"));
    }
    let n = body.chars().count();
    if n > kirim_core::content::MAX_TEXT_CHARS {
        return Err(ApiError::field(
            "body",
            format!("`body` has {n} characters; WhatsApp takes at most {}", kirim_core::content::MAX_TEXT_CHARS),
        ));
    }
    template::variables(&body).map_err(|e| ApiError::field("body", e))?;
    let keep = |given: &Option<String>, current: Option<&Option<String>>, field: &str, max: usize| -> ApiResult<Option<String>> {
        match given {
            Some(v) => text_field(field, Some(v), max),
            None => Ok(current.cloned().flatten()),
        }
    };
    Ok(TemplateSpec {
        display_name: keep(&input.display_name, current.map(|c| &c.display_name), "display_name", MAX_DISPLAY_CHARS)?,
        description: keep(&input.description, current.map(|c| &c.description), "description", MAX_DESCRIPTION_CHARS)?,
        name,
        language,
        category,
        status,
        body,
    })
}

pub async fn create(state: &AppState, auth: &Actor, input: TemplateInput) -> ApiResult<Template> {
    let spec = spec_of(&input, None)?;
    let new = NewTemplate { id: TemplateId::generate(), tenant_pk: auth.tenant_pk(), spec, created_at: state.clock.now() };
    state.store.create_template(new).await.map_err(conflict)
}

fn conflict(e: kirim_core::store::StoreError) -> ApiError {
    match e {
        kirim_core::store::StoreError::Conflict(why) => ApiError::conflict("template_exists", why).with_field("name"),
        other => other.into(),
    }
}

fn template_id(raw: &str) -> ApiResult<TemplateId> {
    raw.parse().map_err(|_| ApiError::not_found("template"))
}

pub async fn get(state: &AppState, auth: &Actor, raw: &str) -> ApiResult<Template> {
    state.store.get_template(auth.tenant_pk(), &template_id(raw)?).await?.ok_or_else(|| ApiError::not_found("template"))
}

pub async fn list(
    state: &AppState,
    auth: &Actor,
    status: Option<TemplateStatus>,
    after: Option<&TemplateId>,
    limit: u32,
) -> ApiResult<Vec<Template>> {
    Ok(state.store.list_templates(auth.tenant_pk(), status, after, limit).await?)
}

pub async fn update(state: &AppState, auth: &Actor, raw: &str, input: TemplateInput) -> ApiResult<Template> {
    let current = get(state, auth, raw).await?;
    let spec = spec_of(&input, Some(&current.spec))?;
    state
        .store
        .update_template(auth.tenant_pk(), &current.id, spec, state.clock.now())
        .await
        .map_err(conflict)?
        .ok_or_else(|| ApiError::not_found("template"))
}

pub async fn delete(state: &AppState, auth: &Actor, raw: &str) -> ApiResult<Template> {
    state.store.delete_template(auth.tenant_pk(), &template_id(raw)?).await?.ok_or_else(|| ApiError::not_found("template"))
}

/// A send by template.
#[derive(Debug, Clone, Default)]
pub struct TemplateSend {
    /// The recipient; with `job`, the job's worker when left out.
    pub to: Option<String>,
    pub device_id: Option<DeviceId>,
    pub variables: BTreeMap<String, String>,
    /// A job id (`job_…`) or reference (`J12`): the send is logged on its timeline.
    pub job: Option<String>,
    pub ref_id: Option<String>,
    pub priority: i32,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
}

pub struct TemplateSent {
    pub message: Message,
    pub template: Template,
    pub job: Option<Job>,
    pub replayed: bool,
}

/// `missing` and `unknown` variables, both named, as one 422.
fn variables_error(missing: &[String], unknown: &[String]) -> ApiError {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")));
    }
    if !unknown.is_empty() {
        parts.push(format!("unknown {}", unknown.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")));
    }
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_variables",
        format!("the variables do not fit the template: {}; give a value for each of its variables and no others", parts.join("; ")),
    )
    .with_field("variables")
}

/// The values a job gives a template's variables of these names, where it has them:
/// `job_ref` (`J12`), `client_name`, `client_first_name`, `task`, `location`, `map_link`,
/// `worker_phone`, `status`, `notes`, `scheduled_date` / `scheduled_time` (UTC), `done_date`.
pub fn job_values(job: &Job) -> Vec<(&'static str, String)> {
    let mut values = vec![
        ("job_ref", job.reference()),
        ("client_name", job.client_name.clone()),
        ("task", job.task.clone()),
        ("location", job.location.clone()),
        ("worker_phone", job.worker.as_str().to_owned()),
        ("status", job.state.status.as_str().to_owned()),
    ];
    if let Some(first) = job
        .client_name
        .split_whitespace()
        .find(|w| !matches!(w.to_lowercase().as_str(), "puan" | "encik" | "mr" | "mrs" | "ms" | "mr." | "mrs." | "ms." | "dr" | "dr."))
    {
        values.push(("client_first_name", first.to_owned()));
    }
    if let Some(link) = &job.map_link {
        values.push(("map_link", link.clone()));
    }
    if let Some(notes) = &job.notes {
        values.push(("notes", notes.clone()));
    }
    if let Some(at) = job.scheduled_for {
        values.push(("scheduled_date", at.format("%-d %b %Y").to_string()));
        values.push(("scheduled_time", at.format("%H:%M").to_string()));
    }
    if let Some(at) = job.state.done_at {
        values.push(("done_date", at.format("%-d %b %Y").to_string()));
    }
    values
}

pub async fn send(state: &AppState, auth: &Actor, raw: &str, input: TemplateSend) -> ApiResult<TemplateSent> {
    let template = get(state, auth, raw).await?;
    if template.spec.status != TemplateStatus::Approved {
        return Err(ApiError::conflict(
            "template_not_approved",
            format!("template {} is {}; only APPROVED templates can be sent", template.id, template.spec.status),
        ));
    }
    for (name, value) in &input.variables {
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(ApiError::field(
                format!("variables.{name}"),
                format!("`variables.{name}` is at most {MAX_VALUE_CHARS} characters"),
            ));
        }
    }
    let job = match &input.job {
        Some(raw) => Some(super::jobs::find(state, auth, raw).await.map_err(|e| e.with_field("job_id"))?),
        None => None,
    };
    // A send about a job takes the job's own fields for the variables it does not give.
    let mut values = input.variables.clone();
    if let Some(job) = &job {
        let used = template.variables();
        for (name, value) in job_values(job) {
            if used.iter().any(|v| v == name) {
                values.entry(name.to_owned()).or_insert(value);
            }
        }
    }
    let body = template::render(&template.spec.body, &values).map_err(|e| variables_error(&e.missing, &e.unknown))?;
    let to = match (&input.to, &job) {
        (Some(to), _) => to.clone(),
        (None, Some(job)) => job.worker.as_str().to_owned(),
        (None, None) => return Err(ApiError::field("to", "`to` is required: the phone number to send to (or give `job_id`)")),
    };
    let device_id = input.device_id.clone().or_else(|| job.as_ref().filter(|_| auth.device.is_none()).map(|j| j.device_id.clone()));
    let send = SendInput {
        device_id,
        to: Some(to),
        content: MessageContent::text(body),
        ref_id: input.ref_id.clone(),
        priority: input.priority,
        idempotency_key: input.idempotency_key.clone(),
        request_hash: input.request_hash.clone(),
        reply_to: None,
        schedule: None,
        choices: Default::default(),
    };
    let Some(job) = job else {
        let accepted = messages::accept(state, auth, send).await?;
        return Ok(TemplateSent { message: accepted.message, template, job: None, replayed: accepted.replayed });
    };
    let prepared = messages::prepare(state, auth, send).await?;
    if let Some(key) = &prepared.new.idempotency_key
        && let Some(existing) = state.store.find_by_idempotency_key(auth.tenant_pk(), key).await?
    {
        if existing.request_hash.as_deref() != Some(input.request_hash.as_str()) {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                format!("this idempotency key (or ref_id) was already used for a different request (message {})", existing.id),
            )
            .with_field("Idempotency-Key"));
        }
        return Ok(TemplateSent { message: existing, template, job: Some(job), replayed: true });
    }
    let entry = NewEntry {
        text: prepared.new.content.body().map(str::to_owned),
        message_id: Some(prepared.new.id.clone()),
        detail: json!({
            "template_id": template.id,
            "template": template.spec.name,
            "language": template.spec.language,
            "to": prepared.new.chat,
        }),
        ..NewEntry::of(EntryKind::Message)
    };
    let record = JobRecord {
        tenant_pk: auth.tenant_pk(),
        job: job.pk,
        change: None,
        entries: vec![entry],
        reply: Some(prepared.new.clone()),
        inbound: None,
        reason: "template",
        at: state.clock.now(),
    };
    let (store, metrics, lane) = (state.store.clone(), state.metrics.clone(), prepared.entry.clone());
    let outcome = super::detached(async move {
        let outcome = store.record_job(record).await?;
        if matches!(outcome, RecordOutcome::Recorded { reply: Some(_), .. }) {
            metrics.accepted.inc();
            lane.wake.notify_one();
        }
        Ok(outcome)
    })
    .await?;
    match outcome {
        RecordOutcome::Recorded { job, reply: Some(message) } => {
            Ok(TemplateSent { message: *message, template, job: Some(*job), replayed: false })
        }
        _ => Err(ApiError::not_found("job").with_field("job_id")),
    }
}
