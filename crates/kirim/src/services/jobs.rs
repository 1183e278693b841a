//! Field jobs (reference 000): dispatching a job to a worker as a WhatsApp message that
//! lists the reply options, reading jobs, and the messages Kirim writes to workers.
//! The worker's replies are handled in [`super::job_inbox`], the parsing in
//! [`super::job_replies`], the ending of delays in `workers::jobs`.
//!
//! Every message to a worker is an ordinary outbound message (same queue, statuses and
//! webhooks), inserted in the same store transaction as the job change it belongs to, with
//! an idempotency key derived from the job or the worker's message, and linked from the
//! job's timeline by its id.

use std::sync::{Arc, Mutex};

use kirim_core::id::{DeviceId, DevicePk};
use kirim_core::job::{Job, JobDispatch, JobFilter, JobStatus, NewJob, TimelineEntry};
use kirim_core::message::{Message, MessageContent};
use kirim_core::{JobId, PhoneNumber, Recipient, Timestamp};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc};

use super::Actor;
use super::messages::{self, Prepared, SendInput};
use super::transcribe::Transcriber;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_TASK_CHARS: usize = 1000;
pub const MAX_LOCATION_CHARS: usize = 500;
pub const MAX_LINK_CHARS: usize = 2048;
pub const MAX_NOTES_CHARS: usize = 1000;
/// Timeline entries shown with a job.
pub const TIMELINE_LIMIT: u32 = 1000;

/// The jobs feature's share of the app: the inbox the sink fills, the wake-up of the delay
/// worker, and the transcriber (if one is configured).
pub struct JobsRuntime {
    tx: mpsc::UnboundedSender<Message>,
    pub(super) rx: Mutex<Option<mpsc::UnboundedReceiver<Message>>>,
    /// Woken when a job is delayed, so the worker sleeps until the earliest end.
    pub delays: Notify,
    pub transcriber: Option<Arc<Transcriber>>,
}

impl JobsRuntime {
    pub fn new(transcriber: Option<Transcriber>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx, rx: Mutex::new(Some(rx)), delays: Notify::new(), transcriber: transcriber.map(Arc::new) }
    }

    pub fn sender(&self) -> mpsc::UnboundedSender<Message> {
        self.tx.clone()
    }
}

/// A job as the client gave it.
#[derive(Debug, Clone, Default)]
pub struct JobInput {
    pub device_id: Option<DeviceId>,
    pub worker_phone: String,
    pub client_name: String,
    pub task: String,
    pub location: String,
    pub map_link: Option<String>,
    pub scheduled_for: Option<Timestamp>,
    pub notes: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
}

fn required(field: &str, value: &str, max: usize, hint: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::field(field, format!("`{field}` is required: {hint}")));
    }
    optional(field, Some(value), max).map(|v| v.unwrap_or_default())
}

fn optional(field: &str, value: Option<&str>, max: usize) -> ApiResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    let n = value.chars().count();
    if n > max {
        return Err(ApiError::field(field, format!("`{field}` has {n} characters; at most {max} are accepted")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::field(field, format!("`{field}` contains control characters; write plain text")));
    }
    Ok(Some(value.to_owned()))
}

/// Creates the job and queues its message to the worker, in one commit.
pub async fn create(state: &AppState, auth: &Actor, input: JobInput) -> ApiResult<(Job, Message, bool)> {
    let worker = PhoneNumber::parse(&input.worker_phone, state.config.default_country)
        .map_err(|e| ApiError::field("worker_phone", format!("`worker_phone` {e}")))?;
    let client_name = required("client_name", &input.client_name, MAX_NAME_CHARS, "who the job is for, e.g. \"Puan Siti\"")?;
    let task = required("task", &input.task, MAX_TASK_CHARS, "what to do, e.g. \"Deep cleaning - 3BR apartment\"")?;
    let location = required("location", &input.location, MAX_LOCATION_CHARS, "where, e.g. \"123 Jalan Ampang, KL\"")?;
    let map_link = optional("map_link", input.map_link.as_deref(), MAX_LINK_CHARS)?;
    if let Some(link) = &map_link {
        let ok = url::Url::parse(link).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
        if !ok {
            return Err(ApiError::field("map_link", "`map_link` must be an http or https URL, e.g. https://maps.google.com/?q=…"));
        }
    }
    let notes = optional("notes", input.notes.as_deref(), MAX_NOTES_CHARS)?;
    let id = JobId::generate();
    let key = match &input.idempotency_key {
        Some(k) if k.is_empty() || k.len() > messages::MAX_KEY_LEN => {
            return Err(ApiError::field("Idempotency-Key", format!("`Idempotency-Key` must be 1 to {} characters", messages::MAX_KEY_LEN)));
        }
        Some(k) => format!("kirim:job-request:{k}"),
        None => format!("kirim:job:{id}:dispatch"),
    };
    let send = SendInput {
        device_id: input.device_id.clone(),
        to: Some(worker.as_str().to_owned()),
        // Replaced by the store with the numbered job's text (see `dispatch_text`).
        content: MessageContent::text("job"),
        ref_id: None,
        priority: 5,
        idempotency_key: Some(key),
        request_hash: input.request_hash.clone(),
        reply_to: None,
        schedule: None,
        choices: Default::default(),
    };
    let prepared = messages::prepare(state, auth, send).await?;
    let job = NewJob {
        id,
        tenant_pk: auth.tenant_pk(),
        device_pk: prepared.entry.pk,
        worker,
        client_name,
        task,
        location,
        map_link,
        scheduled_for: input.scheduled_for,
        notes,
        created_at: state.clock.now(),
    };
    let dispatch = JobDispatch { job, message: prepared.new, render: dispatch_content };
    let (store, entry, metrics) = (state.store.clone(), prepared.entry.clone(), state.metrics.clone());
    let now = state.clock.now();
    let (job, message, replayed) = super::detached(async move {
        let created = store.create_job(dispatch).await.map_err(|e| match e {
            kirim_core::store::StoreError::Refused(refusal) => super::usage::refused(refusal, now),
            other => other.into(),
        })?;
        if !created.2 {
            metrics.accepted.inc();
            entry.wake.notify_one();
        }
        Ok(created)
    })
    .await?;
    if replayed && message.request_hash.as_deref() != Some(input.request_hash.as_str()) {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            format!("this idempotency key was already used for a different job ({}); use a new key for a new job", job.id),
        )
        .with_field("Idempotency-Key"));
    }
    Ok((job, message, replayed))
}

pub async fn get(state: &AppState, auth: &Actor, id: &JobId) -> ApiResult<(Job, Vec<TimelineEntry>)> {
    let job = state
        .store
        .get_job(auth.tenant_pk(), id)
        .await?
        .filter(|j| auth.may_use_device(&j.device_id))
        .ok_or_else(|| ApiError::not_found("job"))?;
    let timeline = state.store.job_timeline(job.pk, TIMELINE_LIMIT).await?;
    Ok((job, timeline))
}

/// A job by its id (`job_…`) or its reference (`J12`), as clients and workers name it.
pub async fn find(state: &AppState, auth: &Actor, raw: &str) -> ApiResult<Job> {
    let not_found = || ApiError::not_found("job");
    let job = if let Ok(id) = raw.parse::<JobId>() {
        state.store.get_job(auth.tenant_pk(), &id).await?
    } else {
        let digits = raw.trim().trim_start_matches('#').trim_start_matches(['J', 'j']);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 => state.store.job_by_number(auth.tenant_pk(), n).await?,
            _ => None,
        }
    };
    job.filter(|j| auth.may_use_device(&j.device_id)).ok_or_else(not_found)
}

/// A device token sees only its own device's jobs.
pub async fn list(state: &AppState, auth: &Actor, mut filter: JobFilter) -> ApiResult<Vec<Job>> {
    if let Some((pk, _)) = &auth.device {
        filter.device = Some(*pk);
    }
    Ok(state.store.list_jobs(auth.tenant_pk(), &filter).await?)
}

pub fn parse_status(field: &str, raw: &str) -> ApiResult<JobStatus> {
    raw.parse::<JobStatus>().map_err(|_| {
        ApiError::field(field, format!("`{field}` `{raw}` is not a job status; use PENDING, IN_PROGRESS, DONE, ISSUE or DELAYED"))
    })
}

fn when(t: Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The job's line in a list the worker is shown: `J12 – Puan Siti, Deep cleaning (IN_PROGRESS)`.
pub fn summary(job: &Job) -> String {
    format!("{} – {}, {} ({})", job.reference(), job.client_name, job.task, job.state.status)
}

/// The dispatch message: the job and how to answer it.
pub fn dispatch_text(job: &Job) -> String {
    let r = job.reference();
    let mut text = format!("*New job {r}*\nClient: {}\nTask: {}\nLocation: {}", job.client_name, job.task, job.location);
    if let Some(link) = &job.map_link {
        text.push_str(&format!("\nMap: {link}"));
    }
    if let Some(at) = job.scheduled_for {
        text.push_str(&format!("\nWhen: {}", when(at)));
    }
    if let Some(notes) = &job.notes {
        text.push_str(&format!("\nNotes: {notes}"));
    }
    text.push_str(&format!(
        "\n\nReply to this message with:\n\
         START – you are starting\n\
         ARRIVED – you are at the location\n\
         DONE – the job is finished\n\
         ISSUE <what is wrong> – report a problem\n\
         DELAY <minutes> – running late, e.g. DELAY 30\n\
         Send a photo as proof, or a voice note.\n\
         With several jobs open, add the job number: DONE {r}"
    ));
    text
}

fn dispatch_content(job: &Job) -> MessageContent {
    MessageContent::text(dispatch_text(job))
}

pub fn delay_text(job: &Job, minutes: u32) -> String {
    let until = job.state.delay_until.map(|t| format!(" (until {})", when(t))).unwrap_or_default();
    format!("⏱ {} delayed by {minutes} min{until}. Reply START when you are back on it.", job.reference())
}

/// A message to the worker about a job: from the device that received their message, to
/// their chat, keyed so it is made once whatever happens.
pub fn reply_to_worker(state: &AppState, device: DevicePk, chat: &Recipient, text: String, key: String) -> ApiResult<Prepared> {
    let entry = state.devices.get(device).ok_or_else(|| ApiError::not_found("device"))?;
    // Kirim's own answer to a worker: counted against the budget, never refused by it.
    let actor = Actor { tenant_pk: entry.tenant_pk, device: Some((entry.pk, entry.id.clone())), daily_token_limit: None };
    let mut input = SendInput {
        device_id: Some(entry.id.clone()),
        to: None,
        content: MessageContent::text(text),
        ref_id: None,
        priority: 5,
        request_hash: hex::encode(Sha256::digest(key.as_bytes())),
        idempotency_key: Some(key.clone()),
        reply_to: None,
        schedule: None,
        choices: Default::default(),
    };
    messages::check_common(state, &mut input)?;
    let content = input.content.clone();
    messages::prepare_for(state, &actor, &input, chat.clone(), content, Some(key))
}
