//! Accepting outbound messages: validate, pick the device, commit, wake the lane.
//! A message is acknowledged only after its row, queue entry and event are committed.

use std::collections::HashSet;
use std::sync::Arc;

use kirim_core::device::ConnectorKind;
use kirim_core::id::{DeviceId, MediaId};
use kirim_core::message::{Direction, Message, MessageContent, MessageStatus, NewOutbound, Schedule, UnsentPatch};
use kirim_core::store::{CancelOutcome, InsertOutcome};
use kirim_core::{MessageId, Recipient};

use super::sending::{DeviceChoice, SendChoices, personalize};
use super::{Actor, content, detached};
use crate::app::AppState;
use crate::http::auth::TenantAuth;
use crate::http::error::{ApiError, ApiResult};
use crate::runtime::DeviceEntry;

/// Longest `ref_id` / idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i32> = 0..=10;

#[derive(Debug, Clone)]
pub struct SendInput {
    pub device_id: Option<DeviceId>,
    /// The recipient; a reaction, edit or revoke may leave it out (it goes to its target's chat).
    pub to: Option<String>,
    pub content: MessageContent,
    pub ref_id: Option<String>,
    pub priority: i32,
    pub idempotency_key: Option<String>,
    /// Hash of the request as the client sent it, to tell a retry from a conflicting reuse of a key.
    pub request_hash: String,
    pub reply_to: Option<String>,
    /// Send at this time rather than now.
    pub schedule: Option<Schedule>,
    /// Secret, source, retries, device choice and spintax (all off by default).
    pub choices: SendChoices,
}

impl SendInput {
    /// A plain send now: this content to `to`, from `device_id` (or a device Kirim picks),
    /// with every option at its default. What the compat layers' sends are.
    pub fn plain(device_id: Option<DeviceId>, to: String, content: MessageContent) -> Self {
        Self {
            device_id,
            to: Some(to),
            content,
            ref_id: None,
            priority: 0,
            idempotency_key: None,
            request_hash: String::new(),
            reply_to: None,
            schedule: None,
            choices: SendChoices::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Accepted {
    pub message: Message,
    /// True when this is the original response to an earlier request with the same key.
    pub replayed: bool,
}

pub fn parse_recipient(state: &AppState, field: &str, to: &str) -> ApiResult<Recipient> {
    Recipient::parse(to, state.config.default_country).map_err(|e| ApiError::field(field, format!("`{field}` {e}")))
}

/// How long after sending WhatsApp lets a message be edited.
const EDIT_WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(15);
/// How long after sending WhatsApp lets a message be deleted for everyone (about two days).
const REVOKE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(48);

/// The message a reaction, edit or revoke refers to, checked against what WhatsApp allows.
async fn target(state: &AppState, auth: &Actor, content: &MessageContent) -> ApiResult<Option<Message>> {
    let Some(raw) = content.target_id() else { return Ok(None) };
    let field = format!("{}.message_id", content.kind());
    let not_found = || ApiError::not_found("message").with_field(field.clone());
    let id: MessageId = raw.parse().map_err(|_| not_found())?;
    let target =
        state.store.get_message(auth.tenant_pk(), &id).await?.filter(|m| auth.may_use_device(&m.device_id)).ok_or_else(not_found)?;
    if matches!(target.status, MessageStatus::Failed | MessageStatus::Cancelled) {
        return Err(ApiError::conflict("target_not_sent", format!("message {id} was {}; there is nothing to act on", target.status))
            .with_field(field));
    }
    if target.content.target_id().is_some() {
        return Err(ApiError::conflict(
            "invalid_target",
            format!("message {id} is a {} itself; point at the message it refers to", target.content.kind()),
        )
        .with_field(field));
    }
    let age = state.clock.now() - target.sent_at.unwrap_or(target.created_at);
    match content {
        MessageContent::Edit { .. } => {
            if target.direction != Direction::Outbound || !matches!(target.content, MessageContent::Text { .. }) {
                return Err(ApiError::conflict("not_editable", "only text messages this device sent can be edited").with_field(field));
            }
            if age > EDIT_WINDOW {
                return Err(ApiError::conflict("not_editable", "WhatsApp allows edits only within 15 minutes of sending").with_field(field));
            }
        }
        MessageContent::Revoke { .. } => {
            if target.direction != Direction::Outbound && !target.chat.is_group() {
                return Err(ApiError::conflict(
                    "not_revocable",
                    "only messages this device sent (or, as a group admin, group messages) can be deleted for everyone",
                )
                .with_field(field));
            }
            if age > REVOKE_WINDOW {
                return Err(ApiError::conflict("not_revocable", "WhatsApp allows deleting for everyone only within 48 hours of sending")
                    .with_field(field));
            }
        }
        _ => {}
    }
    Ok(Some(target))
}

/// A message checked and ready to insert, with the lane to wake once it is committed.
pub struct Prepared {
    pub new: NewOutbound,
    pub entry: Arc<DeviceEntry>,
    /// Files stored for this message (links fetched, base64 decoded): removed again if the
    /// message is not inserted (a replay, a reused key, a failed commit).
    pub stored: Vec<MediaId>,
}

pub async fn accept(state: &AppState, auth: &Actor, input: SendInput) -> ApiResult<Accepted> {
    let prepared = prepare(state, auth, input).await?;
    let mut results = commit(state, auth, vec![prepared]).await?;
    results.pop().unwrap_or_else(|| Err(ApiError::unavailable("the message was not stored; try again")))
}

/// Everything [`accept`] checks before it writes: the content, what it refers to, the
/// recipient (and the blacklist), the device, and the contact placeholders when asked.
pub async fn prepare(state: &AppState, auth: &Actor, mut input: SendInput) -> ApiResult<Prepared> {
    check_common(state, &mut input)?;
    let target = target(state, auth, &input.content).await?;
    if target.is_some() && input.schedule.is_some() {
        return Err(ApiError::field("scheduled_at", "a reaction, edit or revoke is sent at once; it cannot be scheduled"));
    }
    let chat = match (&input.to, &target) {
        (Some(to), None) => parse_recipient(state, "to", to)?,
        (None, None) => return Err(ApiError::field("to", "`to` is required: the phone number or group to send to")),
        (None, Some(target)) => target.chat.clone(),
        (Some(to), Some(target)) => {
            let chat = parse_recipient(state, "to", to)?;
            if chat != target.chat {
                return Err(ApiError::field(
                    "to",
                    format!("`to` must be the chat of the message referred to ({}), or left out", target.chat),
                ));
            }
            chat
        }
    };
    super::blacklist::refuse_blacklisted(state, auth.tenant_pk(), &chat).await?;
    // A reaction, edit or revoke goes out from the device that holds the chat.
    if let (None, Some(target)) = (&input.device_id, &target) {
        input.device_id = Some(target.device_id.clone());
    }
    if let (Some(asked), Some(target)) = (&input.device_id, &target)
        && asked != &target.device_id
    {
        return Err(ApiError::field(
            "device_id",
            format!("message {} belongs to device {}; send from that device", target.id, target.device_id),
        ));
    }
    let mut content = input.content.clone();
    if input.choices.spintax {
        personalize(state, auth, &mut content, &chat).await?;
    }
    let key = input.idempotency_key.clone().or_else(|| input.ref_id.clone());
    let mut prepared = prepare_for(state, auth, &input, chat, content, key)?;
    // Files are stored last, once nothing else can refuse the message.
    prepared.stored = super::media::attach(state, auth.tenant_pk(), &mut prepared.new.content).await?;
    Ok(prepared)
}

/// The checks that hold for every recipient of a request, made once.
pub fn check_common(state: &AppState, input: &mut SendInput) -> ApiResult<()> {
    content::validate(&mut input.content, state.config.default_country)?;
    if !PRIORITY_RANGE.contains(&input.priority) {
        return Err(ApiError::field("priority", "`priority` must be between 0 (normal) and 10 (most urgent)"));
    }
    for (field, value) in [("ref_id", &input.ref_id), ("Idempotency-Key", &input.idempotency_key), ("reply_to", &input.reply_to)] {
        if value.as_ref().is_some_and(|v| v.is_empty() || v.len() > MAX_KEY_LEN) {
            return Err(ApiError::field(field, format!("`{field}` must be 1 to {MAX_KEY_LEN} characters")));
        }
    }
    Ok(())
}

/// The message for one recipient, on the device the request names or Kirim picks. Reads
/// nothing from the store: the devices are in memory.
pub fn prepare_for(
    state: &AppState,
    auth: &Actor,
    input: &SendInput,
    chat: Recipient,
    content: MessageContent,
    idempotency_key: Option<String>,
) -> ApiResult<Prepared> {
    let entry = match (&auth.device, &input.device_id) {
        (Some((_, own)), Some(asked)) if own != asked => {
            return Err(
                ApiError::forbidden("this device token can send only from its own device; omit `device_id`").with_field("device_id")
            );
        }
        (Some((_, own)), _) => state.devices.get_for_tenant(auth.tenant_pk(), own),
        (None, Some(id)) => state.devices.get_for_tenant(auth.tenant_pk(), id),
        (None, None) => {
            let picked = match input.choices.device {
                DeviceChoice::Auto => state.devices.pick_for_send(auth.tenant_pk()),
                DeviceChoice::Random => state.devices.pick_random_for_send(auth.tenant_pk()),
            };
            Some(picked.ok_or_else(|| {
                ApiError::conflict(
                    "no_connected_device",
                    "this account has no linked device to send from; link one (POST /v1/devices/{id}/connect) or name a `device_id` to queue on",
                )
            })?)
        }
    };
    let entry = entry.ok_or_else(|| ApiError::not_found("device").with_field("device_id"))?;
    let device = entry.snapshot();
    if device.connector == ConnectorKind::Sandbox && !state.config.sandbox.enabled {
        return Err(ApiError::conflict("connector_disabled", "the sandbox connector is disabled on this server"));
    }
    let kind = content.kind();
    if let Some(connector) = state.connectors.get(device.connector)
        && !connector.can_send(kind)
    {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "capability_unsupported",
            format!("devices of the `{}` connector cannot send `{kind}` messages", device.connector.as_str()),
        )
        .with_field("type"));
    }
    let now = state.clock.now();
    let charge = super::usage::charge(state, auth, &content);
    let new = NewOutbound {
        id: MessageId::generate(),
        tenant_pk: auth.tenant_pk(),
        device_pk: entry.pk,
        chat,
        content,
        priority: input.priority,
        idempotency_key,
        ref_id: input.ref_id.clone(),
        request_hash: Some(input.request_hash.clone()),
        reply_to: input.reply_to.clone(),
        max_attempts: input.choices.max_attempts.unwrap_or(device.settings.max_attempts),
        not_before: input.schedule.as_ref().map_or(now, |s| s.at),
        schedule: input.schedule.clone(),
        created_at: now,
        options: input.choices.options.clone(),
        charge,
    };
    Ok(Prepared { new, entry, stored: Vec::new() })
}

/// Inserts every prepared message in one commit, wakes their lanes, and answers per message
/// in order: accepted, replayed (same key, same request) or refused (the key was reused).
pub async fn commit(state: &AppState, auth: &Actor, prepared: Vec<Prepared>) -> ApiResult<Vec<ApiResult<Accepted>>> {
    let hashes: Vec<Option<String>> = prepared.iter().map(|p| p.new.request_hash.clone()).collect();
    let stored: Vec<Vec<MediaId>> = prepared.iter().map(|p| p.stored.clone()).collect();
    let scheduler = state.scheduler.clone();
    let (store, metrics) = (state.store.clone(), state.metrics.clone());
    let outcomes = detached(async move {
        let (news, entries): (Vec<NewOutbound>, Vec<Arc<DeviceEntry>>) = prepared.into_iter().map(|p| (p.new, p.entry)).unzip();
        let outcomes = store.insert_outbound(news).await?;
        let mut woken = HashSet::new();
        for (outcome, entry) in outcomes.iter().zip(&entries) {
            if let InsertOutcome::Inserted(message) = outcome {
                metrics.accepted.inc();
                match message.schedule {
                    Some(_) => scheduler.notify(),
                    None if woken.insert(entry.pk) => entry.wake.notify_one(),
                    None => {}
                }
            }
        }
        Ok(outcomes)
    })
    .await;
    let outcomes = match outcomes {
        Ok(outcomes) if outcomes.len() == hashes.len() => outcomes,
        other => {
            for ids in &stored {
                super::media::forget(state, auth.tenant_pk(), ids).await;
            }
            other?;
            return Err(ApiError::unavailable("the messages were not stored; try again"));
        }
    };
    // A repeat keeps no files of its own (the original has its own); a refused message none.
    for (outcome, ids) in outcomes.iter().zip(&stored) {
        if matches!(outcome, InsertOutcome::Existing(_) | InsertOutcome::Refused(_)) {
            super::media::forget(state, auth.tenant_pk(), ids).await;
        }
    }
    Ok(outcomes
        .into_iter()
        .zip(hashes)
        .map(|(outcome, hash)| match outcome {
            InsertOutcome::Inserted(message) => Ok(Accepted { message, replayed: false }),
            // The key names another device's message, which a device token may not see.
            InsertOutcome::Existing(message) if !auth.may_use_device(&message.device_id) => Err(key_reused(None)),
            InsertOutcome::Existing(message) if message.request_hash == hash => Ok(Accepted { message, replayed: true }),
            InsertOutcome::Existing(message) => Err(key_reused(Some(&message.id))),
            InsertOutcome::Refused(refusal) => Err(super::usage::refused(refusal, state.clock.now())),
        })
        .collect())
}

fn key_reused(original: Option<&MessageId>) -> ApiError {
    let which = original.map(|id| format!(" (message {id})")).unwrap_or_default();
    ApiError::new(
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
        format!("this idempotency key (or ref_id) was already used for a different request{which}; use a new key for a new message"),
    )
    .with_field("Idempotency-Key")
}

pub async fn get(state: &AppState, auth: &TenantAuth, id: &MessageId) -> ApiResult<Message> {
    let message = state.store.get_message(auth.tenant_pk(), id).await?;
    message.filter(|m| auth.may_use_device(&m.device_id)).ok_or_else(|| ApiError::not_found("message"))
}

pub async fn cancel(state: &AppState, auth: &TenantAuth, id: &MessageId) -> ApiResult<Message> {
    get(state, auth, id).await?;
    match state.store.cancel_message(auth.tenant_pk(), id, state.clock.now()).await? {
        CancelOutcome::Cancelled(message) => Ok(message),
        CancelOutcome::TooLate(message) => Err(ApiError::conflict(
            "not_cancellable",
            format!("the message is already {}; only pending messages can be cancelled", message.status),
        )),
        CancelOutcome::NotFound => Err(ApiError::not_found("message")),
    }
}

/// A change to a scheduled message: its time, recipient or content.
#[derive(Debug, Clone, Default)]
pub struct UnsentChange {
    pub schedule: Option<Schedule>,
    pub to: Option<String>,
    pub content: Option<MessageContent>,
}

pub async fn update_scheduled(state: &AppState, auth: &TenantAuth, id: &MessageId, mut change: UnsentChange) -> ApiResult<Message> {
    let current = get(state, auth, id).await?;
    if let Some(content) = &mut change.content {
        content::validate(content, state.config.default_country)?;
        if content.target_id().is_some() || current.content.target_id().is_some() {
            return Err(ApiError::field("type", "a reaction, edit or revoke cannot be scheduled or changed into one"));
        }
        super::media::attach(state, auth.tenant_pk(), content).await?;
    }
    let chat = match &change.to {
        Some(to) => Some(parse_recipient(state, "to", to)?),
        None => None,
    };
    let patch = UnsentPatch { schedule: change.schedule, content: change.content, chat };
    match state.store.update_unsent(auth.tenant_pk(), id, patch, state.clock.now()).await? {
        CancelOutcome::Cancelled(message) => {
            state.scheduler.notify();
            Ok(message)
        }
        CancelOutcome::TooLate(message) => Err(ApiError::conflict(
            "not_scheduled",
            format!("the message is {}; only scheduled messages can be changed (cancel it instead)", message.status),
        )),
        CancelOutcome::NotFound => Err(ApiError::not_found("message")),
    }
}

/// Deletes a message that never left (scheduled, or cancelled before any attempt).
pub async fn delete_unsent(state: &AppState, auth: &TenantAuth, id: &MessageId) -> ApiResult<()> {
    get(state, auth, id).await?;
    match state.store.delete_unsent(auth.tenant_pk(), id, state.clock.now()).await? {
        CancelOutcome::Cancelled(_) => Ok(()),
        CancelOutcome::TooLate(message) => Err(ApiError::conflict(
            "not_deletable",
            format!("the message is {} and was tried; its record stays (only messages that never left can be deleted)", message.status),
        )),
        CancelOutcome::NotFound => Err(ApiError::not_found("message")),
    }
}
