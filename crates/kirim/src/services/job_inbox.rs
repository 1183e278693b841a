//! Workers' replies: the sink hands every stored inbound message to the jobs inbox; [`run`]
//! decides whether it is about a job and, if so, records it and answers the worker in one
//! store transaction (see `JobStore::record_job`).
//!
//! Which job: the one the worker names (`DONE J12`), else the one whose message they quote,
//! else their only open job. With several open jobs and neither, the worker is asked which.
//! With none open, a command goes to their latest job (so "DONE" twice is answered "already
//! done"), and a photo or voice note to a job they touched in the last day.
//!
//! Idempotent per inbound message: an entry on a timeline names it (`inbound_id`), and every
//! answer's idempotency key is derived from it, so a message delivered twice (or offered
//! again after a crash between storing and answering) is recorded and answered once.
//!
//! A message consumed here is not offered to the auto-reply rules: a worker's "DONE" must
//! not also get the tenant's closing message. Everything else is passed on to them, in order.

use kirim_core::job::{self, Command, EntryKind, Job, JobRecord, NewEntry, RecordOutcome, Transition};
use kirim_core::message::{Direction, MediaContent, Message, MessageContent};
use kirim_core::store::MessageFilter;
use kirim_core::{MessageId, PhoneNumber, Recipient, Timestamp};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::job_replies::{self, Reply};
use super::jobs::{delay_text, reply_to_worker, summary};
use super::{Actor, messages};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

/// A photo or voice note with no open job goes to a job the worker touched this recently.
const RECENT: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// Open jobs listed in a question.
const LISTED: u32 = 10;

/// What a worker's message can be.
enum Incoming {
    Text(Reply),
    Photo(MediaContent, Reply),
    Voice(MediaContent),
}

impl Incoming {
    fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Text(r) | Self::Photo(_, r) => Some(r),
            Self::Voice(_) => None,
        }
    }

    fn command(&self) -> Option<&Command> {
        self.reply().and_then(|r| r.command.as_ref())
    }
}

fn classify(content: &MessageContent) -> Option<Incoming> {
    match content {
        MessageContent::Text { text } => Some(Incoming::Text(job_replies::parse(&text.body))),
        MessageContent::Image { image } => {
            Some(Incoming::Photo(image.clone(), image.caption.as_deref().map(job_replies::parse).unwrap_or_default()))
        }
        MessageContent::Audio { audio } => Some(Incoming::Voice(audio.clone())),
        _ => None,
    }
}

/// Handles inbound messages until shutdown, passing those that are no job reply on to the
/// auto-reply rules (started once, with the app).
pub async fn run(state: AppState, cancel: CancellationToken) {
    let Some(mut rx) = state.jobs.rx.lock().expect("jobs inbox lock").take() else { return };
    let auto_replies = state.auto_replies.sender();
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(message) => match handle(&state, &message).await {
                    Ok(true) => {}
                    Ok(false) => { let _ = auto_replies.send(message); }
                    // Not passed on: it may be a job reply, which must not be auto-answered.
                    // A delivery of it again is handled afresh.
                    Err(error) => tracing::warn!(message = %message.id, error = %error.detail.message, "a job reply could not be handled"),
                },
                None => return,
            },
            _ = cancel.cancelled() => return,
        }
    }
}

fn reply_key(message: &Message) -> String {
    format!("kirim:job-reply:{}", message.id)
}

/// Whether the message was about a job (then it was recorded and answered).
pub async fn handle(state: &AppState, m: &Message) -> ApiResult<bool> {
    if m.direction != Direction::Inbound {
        return Ok(false);
    }
    let Recipient::Phone(worker) = &m.chat else { return Ok(false) };
    let Some(incoming) = classify(&m.content) else { return Ok(false) };
    if let Incoming::Text(reply) = &incoming
        && reply.is_empty()
        && m.reply_to.is_none()
    {
        return Ok(false);
    }
    if state.store.inbound_recorded(&m.id).await? || state.store.find_by_idempotency_key(m.tenant_pk, &reply_key(m)).await?.is_some() {
        return Ok(true);
    }
    let quoted = quoted(state, m, worker).await?;
    let named = match incoming.reply().and_then(|r| r.job) {
        Some(n) => match state.store.job_by_number(m.tenant_pk, n).await?.filter(|j| &j.worker == worker) {
            Some(job) => Some(job),
            None => {
                let open = state.store.worker_jobs(m.tenant_pk, worker, true, LISTED).await?;
                ask(state, m, not_yours(n, &open)).await?;
                return Ok(true);
            }
        },
        None => None,
    };
    let job = match named.or(quoted) {
        Some(job) => job,
        // Free text quoting something that is no job message: not ours.
        None if matches!(&incoming, Incoming::Text(r) if r.command.is_none()) => return Ok(false),
        None => {
            let mut open = state.store.worker_jobs(m.tenant_pk, worker, true, LISTED).await?;
            match open.len() {
                1 => open.remove(0),
                0 => match state.store.worker_jobs(m.tenant_pk, worker, false, 1).await?.pop() {
                    Some(job) if incoming.command().is_some() || state.clock.now() - job.updated_at < RECENT => job,
                    _ => return Ok(false),
                },
                _ => {
                    ask(state, m, which_job(&incoming, &open)).await?;
                    return Ok(true);
                }
            }
        }
    };
    apply(state, m, job, &incoming).await?;
    Ok(true)
}

/// The job whose message (dispatch, confirmation, or the worker's own) this one quotes.
async fn quoted(state: &AppState, m: &Message, worker: &PhoneNumber) -> ApiResult<Option<Job>> {
    let Some(quoted) = &m.reply_to else { return Ok(None) };
    let mut id = quoted.parse::<MessageId>().ok();
    if id.is_none() {
        let filter = MessageFilter { device: Some(m.device_pk), network_id: Some(quoted.clone()), limit: 1, ..MessageFilter::default() };
        id = state.store.list_messages(m.tenant_pk, &filter).await?.pop().map(|q| q.id);
    }
    let Some(id) = id else { return Ok(None) };
    Ok(state.store.job_for_message(m.tenant_pk, &id).await?.filter(|j| &j.worker == worker))
}

/// Answers the worker without touching a job (a question), keyed by their message.
async fn ask(state: &AppState, m: &Message, text: String) -> ApiResult<()> {
    let prepared = reply_to_worker(state, m.device_pk, &m.chat, text, reply_key(m))?;
    // Kirim's own answer to a worker: counted against the budget, never refused by it.
    let actor = Actor { tenant_pk: m.tenant_pk, device: Some((prepared.entry.pk, prepared.entry.id.clone())), daily_token_limit: None };
    for result in messages::commit(state, &actor, vec![prepared]).await? {
        result?;
    }
    Ok(())
}

fn which_job(incoming: &Incoming, open: &[Job]) -> String {
    let list: Vec<String> = open.iter().map(summary).collect();
    let example = open.first().map(Job::reference).unwrap_or_else(|| "J1".into());
    let how = match incoming {
        Incoming::Text(_) => format!("Reply to that job's message, or add its number, e.g. DONE {example}."),
        Incoming::Photo(..) => {
            format!("Send the photo again as a reply to that job's message, or with its number as the caption, e.g. {example}.")
        }
        Incoming::Voice(_) => "Send the voice note again as a reply to that job's message.".to_owned(),
    };
    format!("You have {} open jobs:\n{}\nWhich one is this for? {how}", open.len(), list.join("\n"))
}

fn not_yours(number: i64, open: &[Job]) -> String {
    let r = job::reference(number);
    if open.is_empty() {
        return format!("{r} is not one of your jobs, and you have no open jobs.");
    }
    let list: Vec<String> = open.iter().map(summary).collect();
    format!("{r} is not one of your jobs. Your open jobs:\n{}", list.join("\n"))
}

/// What a reply does: the state change, the entries and the answer to the worker.
#[derive(Default)]
struct Plan {
    change: Option<(job::JobState, job::JobState)>,
    entries: Vec<NewEntry>,
    text: Vec<String>,
    delayed: bool,
}

fn entry(kind: EntryKind, m: &Message) -> NewEntry {
    NewEntry { inbound_id: Some(m.id.clone()), ..NewEntry::of(kind) }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Start => "START",
        Command::Arrived => "ARRIVED",
        Command::Done => "DONE",
        Command::Issue(_) => "ISSUE",
        Command::Delay(_) => "DELAY",
    }
}

fn plan_command(plan: &mut Plan, job: &Job, command: &Command, m: &Message, now: Timestamp) {
    let r = job.reference();
    let unchanged = |plan: &mut Plan, why: &str, text: String| {
        let mut e = entry(EntryKind::Reply, m);
        e.detail = json!({"command": command_name(command), "unchanged": why});
        plan.entries.push(e);
        plan.text.push(text);
    };
    match job::transition(&job.state, command, now) {
        Transition::Moved(next, kind) | Transition::Noted(next, kind) => {
            let mut e = entry(kind, m);
            if next.status != job.state.status {
                e.from = Some(job.state.status);
                e.to = Some(next.status);
            }
            let after = Job { state: next.clone(), ..job.clone() };
            let text = match command {
                Command::Start => format!("✅ {r} started. Reply ARRIVED at the location and DONE when finished."),
                Command::Arrived => format!("📍 Arrival at {} recorded for {r}.", job.location),
                Command::Done => format!("✅ {r} marked DONE. Thank you! Send a photo now if you have proof of the work."),
                Command::Issue(text) if text.is_empty() => {
                    format!("⚠️ {r} flagged with an issue. What is wrong? Reply ISSUE and a short description.")
                }
                Command::Issue(text) => {
                    e.text = Some(text.clone());
                    format!("⚠️ Issue recorded for {r}: {text}. The office has been told.")
                }
                Command::Delay(minutes) => {
                    let minutes = minutes.unwrap_or_default();
                    e.detail = json!({"minutes": minutes, "until": next.delay_until, "returns_to": next.previous_status});
                    plan.delayed = true;
                    delay_text(&after, minutes)
                }
            };
            if next != job.state {
                plan.change = Some((job.state.clone(), next));
            }
            plan.entries.push(e);
            plan.text.push(text);
        }
        Transition::AlreadyDone => {
            let since = job.state.done_at.map(|t| format!(" since {}", t.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default();
            unchanged(
                plan,
                "already_done",
                format!("{r} is already DONE{since}; nothing was changed. If something is wrong, call the office."),
            )
        }
        Transition::AlreadyStarted => unchanged(plan, "already_started", format!("{r} is already in progress. Reply DONE when finished.")),
        Transition::NeedMinutes => unchanged(
            plan,
            "no_minutes",
            format!("How many minutes late for {r}? Reply DELAY and the minutes, e.g. DELAY 30 (at most {}).", job::MAX_DELAY_MINUTES),
        ),
    }
}

/// Where a file is: Kirim's `media_id` when stored, else what the network gave.
fn file_entry(kind: EntryKind, m: &Message, media: &MediaContent) -> NewEntry {
    let mut e = entry(kind, m);
    e.media_id = media.media_id.clone();
    e.detail = json!({"mime_type": media.mime_type, "link": media.link, "network_media_id": media.id});
    e
}

fn plan(state: &AppState, job: &Job, incoming: &Incoming, m: &Message, now: Timestamp) -> Plan {
    let mut plan = Plan::default();
    let r = job.reference();
    match incoming {
        Incoming::Text(reply) => match &reply.command {
            Some(command) => plan_command(&mut plan, job, command, m, now),
            None if reply.job.is_some() => {
                let mut e = entry(EntryKind::Reply, m);
                e.detail = json!({"asked": "status"});
                plan.entries.push(e);
                plan.text.push(format!(
                    "{}.\nReply START, ARRIVED, DONE, ISSUE <text> or DELAY <minutes> with {r}, e.g. DONE {r}.",
                    summary(job)
                ));
            }
            // Free text quoting the job's message: a note, not answered.
            None => {
                let mut e = entry(EntryKind::Note, m);
                e.text = m.content.body().map(str::to_owned);
                plan.entries.push(e);
            }
        },
        Incoming::Photo(media, reply) => {
            let mut e = file_entry(EntryKind::Photo, m, media);
            e.text = media.caption.clone();
            plan.entries.push(e);
            plan.text.push(format!("📷 Photo saved as proof for {r}."));
            if let Some(command) = &reply.command {
                plan_command(&mut plan, job, command, m, now);
            }
        }
        Incoming::Voice(media) => {
            let mut e = file_entry(EntryKind::VoiceNote, m, media);
            let transcription = match (&state.jobs.transcriber, &media.media_id) {
                (None, _) => json!({"status": "untranscribed", "reason": "no transcriber is configured ([transcription] url)"}),
                (Some(_), None) => json!({"status": "untranscribed", "reason": "the connector gave no file for the voice note"}),
                (Some(_), Some(_)) => json!({"status": "pending"}),
            };
            if let Value::Object(map) = &mut e.detail {
                map.insert("transcription".into(), transcription);
            }
            plan.entries.push(e);
            plan.text.push(format!("🎙 Voice note saved on {r}."));
        }
    }
    plan
}

/// Records the reply on the job and answers the worker, in one commit; decides again if the
/// job changed meanwhile (the delay ended, another reply).
async fn apply(state: &AppState, m: &Message, mut job: Job, incoming: &Incoming) -> ApiResult<()> {
    for _ in 0..3 {
        let now = state.clock.now();
        let mut plan = plan(state, &job, incoming, m, now);
        let prepared = match plan.text.is_empty() {
            true => None,
            false => Some(reply_to_worker(state, m.device_pk, &m.chat, plan.text.join("\n"), reply_key(m))?),
        };
        for e in &mut plan.entries {
            e.message_id = prepared.as_ref().map(|p| p.new.id.clone());
        }
        let record = JobRecord {
            tenant_pk: m.tenant_pk,
            job: job.pk,
            change: plan.change,
            entries: plan.entries,
            reply: prepared.as_ref().map(|p| p.new.clone()),
            inbound: Some(m.id.clone()),
            reason: "reply",
            at: now,
        };
        let (store, metrics, lane) = (state.store.clone(), state.metrics.clone(), prepared.map(|p| p.entry));
        let outcome = super::detached(async move {
            let outcome = store.record_job(record).await?;
            if let (RecordOutcome::Recorded { reply: Some(_), .. }, Some(lane)) = (&outcome, &lane) {
                metrics.accepted.inc();
                lane.wake.notify_one();
            }
            Ok(outcome)
        })
        .await?;
        match outcome {
            RecordOutcome::Recorded { job, .. } => {
                if plan.delayed {
                    state.jobs.delays.notify_one();
                }
                if let Incoming::Voice(media) = incoming
                    && state.jobs.transcriber.is_some()
                    && media.media_id.is_some()
                {
                    tokio::spawn(super::job_voice::transcribe(state.clone(), *job, m.id.clone(), media.clone()));
                }
                return Ok(());
            }
            RecordOutcome::Repeat | RecordOutcome::NotFound => return Ok(()),
            RecordOutcome::Stale => match state.store.get_job(m.tenant_pk, &job.id).await? {
                Some(fresh) => job = fresh,
                None => return Ok(()),
            },
        }
    }
    Err(ApiError::conflict("job_busy", "the job kept changing while the reply was recorded; it is handled when delivered again"))
}
