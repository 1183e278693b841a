//! Field jobs (reference 000): a task dispatched to a worker over WhatsApp, moved along by
//! the worker's replies (START, ARRIVED, DONE, ISSUE, DELAY), with a timeline of everything
//! that happened to it. The state machine lives here, free of I/O, so it is unit-tested.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::event::{NewEvent, types};
use crate::id::{DevicePk, EventId, JobId, JobPk, TenantPk};
use crate::message::{Message, MessageContent, NewOutbound};
use crate::store::StoreResult;
use crate::{DeviceId, MessageId, PhoneNumber, Timestamp};

/// Where a job stands. ARRIVED is not a status: it is recorded on the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Pending,
    InProgress,
    Done,
    Issue,
    Delayed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [Self::Pending, Self::InProgress, Self::Done, Self::Issue, Self::Delayed];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::InProgress => "IN_PROGRESS",
            Self::Done => "DONE",
            Self::Issue => "ISSUE",
            Self::Delayed => "DELAYED",
        }
    }

    /// Every status but DONE: the worker may still move the job.
    pub fn is_open(&self) -> bool {
        *self != Self::Done
    }
}

impl FromStr for JobStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim();
        Self::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s)).ok_or(())
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The parts of a job its replies change; a change names the state it expects to find, so
/// two writers (a reply and the delay expiring) never overwrite each other.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    pub status: JobStatus,
    /// While DELAYED: the status it returns to when the delay ends.
    pub previous_status: Option<JobStatus>,
    pub delay_until: Option<Timestamp>,
    pub arrived_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub done_at: Option<Timestamp>,
}

impl JobState {
    pub fn new() -> Self {
        Self { status: JobStatus::Pending, previous_status: None, delay_until: None, arrived_at: None, started_at: None, done_at: None }
    }
}

impl Default for JobState {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub pk: JobPk,
    pub id: JobId,
    pub tenant_pk: TenantPk,
    /// Per tenant, from 1: what the worker types (`J12`).
    pub number: i64,
    pub device_pk: DevicePk,
    pub device_id: DeviceId,
    pub worker: PhoneNumber,
    pub client_name: String,
    pub task: String,
    pub location: String,
    pub map_link: Option<String>,
    pub scheduled_for: Option<Timestamp>,
    pub notes: Option<String>,
    pub state: JobState,
    pub dispatch_message_id: Option<MessageId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Job {
    /// The reference the worker sees and types, e.g. `J12`.
    pub fn reference(&self) -> String {
        reference(self.number)
    }
}

pub fn reference(number: i64) -> String {
    format!("J{number}")
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub tenant_pk: TenantPk,
    pub device_pk: DevicePk,
    pub worker: PhoneNumber,
    pub client_name: String,
    pub task: String,
    pub location: String,
    pub map_link: Option<String>,
    pub scheduled_for: Option<Timestamp>,
    pub notes: Option<String>,
    pub created_at: Timestamp,
}

/// A new job and the message that dispatches it, written in one transaction. The store
/// numbers the job, so the message's content is made from the numbered job by `render`.
#[derive(Debug, Clone)]
pub struct JobDispatch {
    pub job: NewJob,
    pub message: NewOutbound,
    pub render: fn(&Job) -> MessageContent,
}

/// What a timeline entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The job was created and its message queued.
    Dispatched,
    /// The status moved (`from` → `to`).
    Status,
    Arrived,
    /// A problem the worker reported (`text`).
    Issue,
    /// The worker is late; `detail.minutes`, `detail.until`.
    Delay,
    /// The delay ended; the job went back to where it was.
    DelayEnded,
    /// A photo from the worker, kept as proof (`media_id`).
    Photo,
    /// A voice note (`media_id`), with its transcription in `detail`.
    VoiceNote,
    /// Free text about the job (a quoted reply that is no command).
    Note,
    /// A message sent about the job (a template send: the "case note"); `message_id`.
    Message,
    /// A reply that changed nothing (the job was already DONE, a DELAY without minutes).
    Reply,
}

impl EntryKind {
    pub const ALL: [EntryKind; 11] = [
        Self::Dispatched,
        Self::Status,
        Self::Arrived,
        Self::Issue,
        Self::Delay,
        Self::DelayEnded,
        Self::Photo,
        Self::VoiceNote,
        Self::Note,
        Self::Message,
        Self::Reply,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Dispatched => "dispatched",
            Self::Status => "status",
            Self::Arrived => "arrived",
            Self::Issue => "issue",
            Self::Delay => "delay",
            Self::DelayEnded => "delay_ended",
            Self::Photo => "photo",
            Self::VoiceNote => "voice_note",
            Self::Note => "note",
            Self::Message => "message",
            Self::Reply => "reply",
        }
    }

    /// The event an entry of this kind is announced as (besides `job.updated` for a change).
    pub fn event_type(&self) -> Option<&'static str> {
        match self {
            Self::Arrived => Some(types::JOB_ARRIVED),
            Self::Photo => Some(types::JOB_PROOF),
            Self::VoiceNote => Some(types::JOB_VOICE_NOTE),
            Self::Issue | Self::Note | Self::Message => Some(types::JOB_NOTE),
            Self::Dispatched | Self::Status | Self::Delay | Self::DelayEnded | Self::Reply => None,
        }
    }
}

impl FromStr for EntryKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

/// An entry to append to a job's timeline.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewEntry {
    pub kind: Option<EntryKind>,
    pub from: Option<JobStatus>,
    pub to: Option<JobStatus>,
    pub text: Option<String>,
    pub media_id: Option<String>,
    /// The message Kirim sent with it (the dispatch, a confirmation, a template).
    pub message_id: Option<MessageId>,
    /// The worker's message it records.
    pub inbound_id: Option<MessageId>,
    pub detail: Value,
}

impl NewEntry {
    pub fn of(kind: EntryKind) -> Self {
        Self { kind: Some(kind), detail: json!({}), ..Self::default() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    /// Increasing along the timeline.
    pub seq: i64,
    pub kind: EntryKind,
    pub from: Option<JobStatus>,
    pub to: Option<JobStatus>,
    pub text: Option<String>,
    pub media_id: Option<String>,
    pub message_id: Option<MessageId>,
    /// The current status of `message_id` (`sent`, `delivered`, `read`, `failed`…).
    pub message_status: Option<String>,
    pub inbound_message_id: Option<MessageId>,
    pub detail: Value,
    pub at: Timestamp,
}

/// A change to a job: maybe a new state (guarded by the state it was computed from),
/// timeline entries, and the message answering it, all in one transaction with their events.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub tenant_pk: TenantPk,
    pub job: JobPk,
    /// `(expected, new)`: applied only if the job is still in `expected`.
    pub change: Option<(JobState, JobState)>,
    pub entries: Vec<NewEntry>,
    pub reply: Option<NewOutbound>,
    /// The worker's message this records: if it was recorded before, nothing is written.
    pub inbound: Option<MessageId>,
    /// Why the state changed, in the `job.updated` event (`reply`, `delay_ended`).
    pub reason: &'static str,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecordOutcome {
    Recorded {
        job: Box<Job>,
        reply: Option<Box<Message>>,
    },
    /// The inbound message was recorded before (delivered again): nothing was written.
    Repeat,
    /// The job is no longer in the expected state: read it again and decide again.
    Stale,
    NotFound,
}

/// Filters for listing jobs; newest first, before the cursor.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<JobStatus>,
    pub worker: Option<PhoneNumber>,
    pub device: Option<DevicePk>,
    pub before: Option<JobId>,
    pub limit: u32,
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Numbers the job, inserts it with its `dispatched` entry, the message (with its
    /// `message.queued` event) and `job.created`. `Conflict` when the device is gone.
    /// When the message's idempotency key is taken, nothing is written and the job of that
    /// message is returned, with `true` (a retried request).
    async fn create_job(&self, dispatch: JobDispatch) -> StoreResult<(Job, Message, bool)>;
    async fn get_job(&self, tenant: TenantPk, id: &JobId) -> StoreResult<Option<Job>>;
    async fn job_by_number(&self, tenant: TenantPk, number: i64) -> StoreResult<Option<Job>>;
    async fn list_jobs(&self, tenant: TenantPk, filter: &JobFilter) -> StoreResult<Vec<Job>>;
    /// The worker's jobs, newest first; `open_only` leaves out DONE ones.
    async fn worker_jobs(&self, tenant: TenantPk, worker: &PhoneNumber, open_only: bool, limit: u32) -> StoreResult<Vec<Job>>;
    /// The job a message belongs to: one Kirim sent about it, or one of the worker's it recorded.
    async fn job_for_message(&self, tenant: TenantPk, message: &MessageId) -> StoreResult<Option<Job>>;
    /// Whether this inbound message is on a job's timeline already.
    async fn inbound_recorded(&self, message: &MessageId) -> StoreResult<bool>;
    async fn job_timeline(&self, job: JobPk, limit: u32) -> StoreResult<Vec<TimelineEntry>>;
    async fn record_job(&self, record: JobRecord) -> StoreResult<RecordOutcome>;
    /// Replaces an entry's `detail` (a transcription arriving) and writes `job.voice_note`.
    async fn update_entry_detail(&self, job: JobPk, seq: i64, detail: Value, at: Timestamp) -> StoreResult<bool>;
    /// When the earliest delay ends.
    async fn next_delay_end(&self) -> StoreResult<Option<Timestamp>>;
    /// Delayed jobs whose delay ended by `now`, earliest first.
    async fn due_delays(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Job>>;
}

/// A worker's command, as parsed from a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start,
    Arrived,
    Done,
    /// With what the worker wrote after the keyword (maybe nothing).
    Issue(String),
    /// Minutes late; `None` when the worker gave no usable number.
    Delay(Option<u32>),
}

/// What a command does to a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The new state and the entry that records it.
    Moved(JobState, EntryKind),
    /// Recorded, state unchanged (ARRIVED again, an ISSUE note on a job already in ISSUE).
    Noted(JobState, EntryKind),
    /// Nothing to do: the job is DONE.
    AlreadyDone,
    /// START on a job already in progress.
    AlreadyStarted,
    /// DELAY without a usable number of minutes: ask.
    NeedMinutes,
}

/// The most a DELAY may say: a day.
pub const MAX_DELAY_MINUTES: u32 = 24 * 60;

/// The state machine. DONE is final; DELAY remembers where the job was and returns there
/// when the delay ends (a second DELAY extends it from now, keeping that status).
pub fn transition(state: &JobState, command: &Command, now: Timestamp) -> Transition {
    if state.status == JobStatus::Done {
        return Transition::AlreadyDone;
    }
    let mut next = state.clone();
    let resume = |next: &mut JobState| {
        next.previous_status = None;
        next.delay_until = None;
    };
    match command {
        Command::Start => {
            if state.status == JobStatus::InProgress {
                return Transition::AlreadyStarted;
            }
            next.status = JobStatus::InProgress;
            next.started_at = next.started_at.or(Some(now));
            resume(&mut next);
            Transition::Moved(next, EntryKind::Status)
        }
        Command::Arrived => {
            next.arrived_at = Some(now);
            Transition::Noted(next, EntryKind::Arrived)
        }
        Command::Done => {
            next.status = JobStatus::Done;
            next.done_at = Some(now);
            resume(&mut next);
            Transition::Moved(next, EntryKind::Status)
        }
        Command::Issue(_) => {
            if state.status == JobStatus::Issue {
                return Transition::Noted(next, EntryKind::Issue);
            }
            next.status = JobStatus::Issue;
            resume(&mut next);
            Transition::Moved(next, EntryKind::Issue)
        }
        Command::Delay(None) => Transition::NeedMinutes,
        Command::Delay(Some(minutes)) if *minutes == 0 || *minutes > MAX_DELAY_MINUTES => Transition::NeedMinutes,
        Command::Delay(Some(minutes)) => {
            next.previous_status = match state.status {
                JobStatus::Delayed => state.previous_status.or(Some(JobStatus::Pending)),
                other => Some(other),
            };
            next.status = JobStatus::Delayed;
            next.delay_until = Some(now + chrono::TimeDelta::minutes(i64::from(*minutes)));
            Transition::Moved(next, EntryKind::Delay)
        }
    }
}

/// The state a delayed job returns to when its delay ends.
pub fn delay_ended(state: &JobState) -> JobState {
    JobState { status: state.previous_status.unwrap_or(JobStatus::Pending), previous_status: None, delay_until: None, ..state.clone() }
}

/// The job as events show it (no worker messages' content).
pub fn job_json(job: &Job) -> Value {
    json!({
        "id": job.id,
        "ref": job.reference(),
        "status": job.state.status.as_str(),
        "device_id": job.device_id,
        "worker_phone": job.worker,
        "client_name": job.client_name,
        "task": job.task,
        "delay_until": job.state.delay_until,
    })
}

/// `job.created`, `job.updated` (with `from`, `to` and `reason`), `job.arrived`, `job.proof`,
/// `job.voice_note`, `job.note`.
pub fn event(job: &Job, event_type: &'static str, extra: Value, at: Timestamp) -> NewEvent {
    let mut data = json!({ "job": job_json(job) });
    if let (Some(map), Value::Object(more)) = (data.as_object_mut(), extra) {
        map.extend(more);
    }
    NewEvent { id: EventId::generate(), tenant_pk: job.tenant_pk, device_pk: Some(job.device_pk), event_type, data, created_at: at }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-02T10:00:00Z".parse().unwrap()
    }

    fn moved(t: Transition) -> JobState {
        match t {
            Transition::Moved(s, _) | Transition::Noted(s, _) => s,
            other => panic!("expected a move, got {other:?}"),
        }
    }

    #[test]
    fn a_job_moves_through_its_statuses_and_done_is_final() {
        let s = JobState::new();
        let started = moved(transition(&s, &Command::Start, now()));
        assert_eq!((started.status, started.started_at), (JobStatus::InProgress, Some(now())));
        assert_eq!(transition(&started, &Command::Start, now()), Transition::AlreadyStarted);
        let arrived = moved(transition(&started, &Command::Arrived, now()));
        assert_eq!((arrived.status, arrived.arrived_at), (JobStatus::InProgress, Some(now())));
        let done = moved(transition(&arrived, &Command::Done, now()));
        assert_eq!(done.status, JobStatus::Done);
        for c in [Command::Start, Command::Done, Command::Arrived, Command::Issue("x".into()), Command::Delay(Some(5))] {
            assert_eq!(transition(&done, &c, now()), Transition::AlreadyDone);
        }
    }

    #[test]
    fn a_delay_returns_to_the_status_before_it_even_when_extended() {
        let started = moved(transition(&JobState::new(), &Command::Start, now()));
        let delayed = moved(transition(&started, &Command::Delay(Some(30)), now()));
        assert_eq!(delayed.status, JobStatus::Delayed);
        assert_eq!(delayed.previous_status, Some(JobStatus::InProgress));
        assert_eq!(delayed.delay_until, Some(now() + chrono::TimeDelta::minutes(30)));
        let again = moved(transition(&delayed, &Command::Delay(Some(10)), now()));
        assert_eq!(again.previous_status, Some(JobStatus::InProgress), "extending keeps where it returns to");
        let back = delay_ended(&again);
        assert_eq!((back.status, back.delay_until, back.previous_status), (JobStatus::InProgress, None, None));
        assert_eq!(transition(&started, &Command::Delay(None), now()), Transition::NeedMinutes);
        assert_eq!(transition(&started, &Command::Delay(Some(0)), now()), Transition::NeedMinutes);
        assert_eq!(transition(&started, &Command::Delay(Some(MAX_DELAY_MINUTES + 1)), now()), Transition::NeedMinutes);
    }

    #[test]
    fn an_issue_is_a_status_and_a_second_one_a_note() {
        let issue = transition(&JobState::new(), &Command::Issue("no water".into()), now());
        let Transition::Moved(state, EntryKind::Issue) = issue else { panic!("{issue:?}") };
        assert_eq!(state.status, JobStatus::Issue);
        assert!(matches!(transition(&state, &Command::Issue("still".into()), now()), Transition::Noted(_, EntryKind::Issue)));
        assert_eq!("in_progress".parse::<JobStatus>(), Ok(JobStatus::InProgress));
    }
}
