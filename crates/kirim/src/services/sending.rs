//! Sending beyond one message to one chat: several recipients and contact groups, batches,
//! spintax and contact placeholders, resends, and cancelling many messages at once. Every
//! path ends in [`messages::commit`]: whatever a request queues is committed together.

use std::collections::{HashMap, HashSet};

use kirim_core::contact::{Contact, ContactFilter, ContactRef};
use kirim_core::id::DeviceId;
use kirim_core::message::{Direction, Message, MessageContent, MessageStatus};
use kirim_core::sending::{MAX_SOURCE_LEN, SendOptions};
use kirim_core::store::CancelOutcome;
use kirim_core::{MessageId, PhoneNumber, Recipient};
use sha2::{Digest, Sha256};

use super::messages::{self, Accepted, SendInput, check_common, parse_recipient, prepare_for};
use super::{Actor, contact_groups, content, spintax};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

/// Most recipients one request may list in `to` (as reference 001 allows per send).
pub const MAX_RECIPIENTS: usize = 100;
/// Most members a contact-group broadcast reaches in one request.
pub const MAX_BROADCAST: usize = 10_000;
/// Most items in `POST /v1/messages/batch`.
pub const MAX_BATCH: usize = 100;
/// Most ids in one cancel request.
pub const MAX_CANCEL_IDS: usize = 1_000;
/// Pending messages cancelled per transaction by "cancel all".
const CANCEL_CHUNK: u32 = 500;
/// The most attempts `retry` may ask for (as a device's `max_attempts`).
pub const MAX_ATTEMPTS: u32 = 100;

/// How Kirim picks the device when the request names none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    /// Connected devices take turns (round robin).
    #[default]
    Auto,
    /// A connected device at random.
    Random,
}

impl DeviceChoice {
    pub fn parse(raw: &str) -> ApiResult<Self> {
        match raw {
            "auto" => Ok(Self::Auto),
            "random" => Ok(Self::Random),
            _ => Err(ApiError::field("device", "`device` must be `auto` (connected devices take turns) or `random`")),
        }
    }
}

/// What a send asks besides its content and recipient; all off by default.
#[derive(Debug, Clone, Default)]
pub struct SendChoices {
    pub options: SendOptions,
    /// Most attempts before the message fails; `None`: the device's `max_attempts`.
    pub max_attempts: Option<u32>,
    pub device: DeviceChoice,
    /// Expand spintax and contact placeholders for each recipient.
    pub spintax: bool,
}

impl SendChoices {
    pub fn check(&self) -> ApiResult<()> {
        if let Some(source) = &self.options.source
            && (source.trim().is_empty() || source.chars().count() > MAX_SOURCE_LEN)
        {
            return Err(ApiError::field("source", format!("`source` must be 1 to {MAX_SOURCE_LEN} characters, e.g. `crm`")));
        }
        if self.max_attempts.is_some_and(|n| !(1..=MAX_ATTEMPTS).contains(&n)) {
            return Err(ApiError::field(
                "retry",
                format!("`retry` must be true, false (one attempt) or the most attempts, 1 to {MAX_ATTEMPTS}"),
            ));
        }
        Ok(())
    }
}

/// A contact's field by its placeholder name: the standard ones (empty when the contact has
/// no value, or there is no contact), then the contact's custom fields.
fn field(contact: Option<&Contact>, phone: Option<&PhoneNumber>, key: &str) -> Option<String> {
    let standard = match key.to_ascii_lowercase().as_str() {
        "name" => Some(contact.map(|c| c.name.clone())),
        "email" => Some(contact.and_then(|c| c.email.clone())),
        "address" => Some(contact.and_then(|c| c.address.clone())),
        "birthday" => Some(contact.and_then(|c| c.birthday.map(|b| b.to_string()))),
        "phone" => Some(phone.map(|p| p.as_str().to_owned())),
        _ => None,
    };
    match standard {
        Some(value) => Some(value.unwrap_or_default()),
        None => contact.and_then(|c| c.custom.get(key).cloned()),
    }
}

/// The texts a person reads in a message: where spintax and placeholders apply.
fn texts_mut(content: &mut MessageContent) -> Vec<&mut String> {
    match content {
        MessageContent::Text { text } => vec![&mut text.body],
        MessageContent::List { list } => [Some(&mut list.body), list.footer.as_mut()].into_iter().flatten().collect(),
        MessageContent::Buttons { buttons } => [Some(&mut buttons.body), buttons.footer.as_mut()].into_iter().flatten().collect(),
        other => other.files_mut().into_iter().filter_map(|(_, media)| media.caption.as_mut()).collect(),
    }
}

/// Fills `content` in for one recipient (whose contact is given), then checks it again: a
/// filled-in text must still be within WhatsApp's limits.
fn fill_in(state: &AppState, content: &mut MessageContent, chat: &Recipient, contact: Option<&Contact>) -> ApiResult<()> {
    let phone = match chat {
        Recipient::Phone(p) => Some(p),
        Recipient::Group(_) => None,
    };
    let lookup = |key: &str| field(contact, phone, key);
    let mut rng = rand::thread_rng();
    for text in texts_mut(content) {
        *text = spintax::expand(text, &lookup, &mut rng);
    }
    content::validate(content, state.config.default_country)
}

/// Expands spintax and placeholders in `content` for `chat`, reading its contact.
pub async fn personalize(state: &AppState, auth: &Actor, content: &mut MessageContent, chat: &Recipient) -> ApiResult<()> {
    let contact = match chat {
        Recipient::Phone(phone) => state.store.get_contact(auth.tenant_pk(), &ContactRef::Phone(phone.clone())).await?,
        Recipient::Group(_) => None,
    };
    fill_in(state, content, chat, contact.as_ref())
}

/// A recipient a broadcast left out, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub to: Recipient,
    /// `blacklisted`, `duplicate`, or `idempotency_key_reused`.
    pub reason: &'static str,
}

#[derive(Debug, Default)]
pub struct Broadcast {
    pub accepted: Vec<Accepted>,
    pub skipped: Vec<Skipped>,
}

/// One message per recipient of `to` and of the contact group, all committed together.
/// Blacklisted numbers and repeats are skipped and reported, not refused: a broadcast to a
/// list goes out to everyone it may reach.
pub async fn send_many(state: &AppState, auth: &Actor, mut input: SendInput, to: Vec<String>, group: Option<&str>) -> ApiResult<Broadcast> {
    check_common(state, &mut input)?;
    if input.content.target_id().is_some() {
        return Err(ApiError::field("to", "a reaction, edit or revoke goes to the one chat of its message; give a single `to`"));
    }
    if to.len() > MAX_RECIPIENTS {
        return Err(ApiError::field(
            "to",
            format!("`to` lists {} recipients; at most {MAX_RECIPIENTS} per request (use a contact group or several requests)", to.len()),
        ));
    }
    let mut chats = Vec::with_capacity(to.len());
    for (i, raw) in to.iter().enumerate() {
        chats.push(parse_recipient(state, &format!("to[{i}]"), raw)?);
    }
    let mut contacts: HashMap<PhoneNumber, Contact> = HashMap::new();
    if let Some(group) = group {
        let group = contact_groups::resolve_group(state, auth, group).await.map_err(|e| e.with_field("to_contact_group"))?;
        let members = state.store.group_member_phones(auth.tenant_pk(), &group.id).await?;
        if members.is_empty() {
            return Err(ApiError::field(
                "to_contact_group",
                format!("contact group `{}` has no members; add some (POST /v1/contact-groups/{}/members)", group.name, group.id),
            ));
        }
        if members.len() > MAX_BROADCAST {
            return Err(ApiError::field(
                "to_contact_group",
                format!("contact group `{}` has {} members; one request reaches at most {MAX_BROADCAST}", group.name, members.len()),
            ));
        }
        if input.choices.spintax {
            contacts = group_contacts(state, auth, &group.id).await?;
        }
        chats.extend(members.into_iter().map(Recipient::Phone));
    }
    let mut skipped = Vec::new();
    let mut seen = HashSet::new();
    chats.retain(|chat| {
        let first = seen.insert(chat.clone());
        if !first {
            skipped.push(Skipped { to: chat.clone(), reason: "duplicate" });
        }
        first
    });
    let phones: Vec<PhoneNumber> = chats.iter().filter_map(|c| if let Recipient::Phone(p) = c { Some(p.clone()) } else { None }).collect();
    let blacklisted = state.store.blacklisted_among(auth.tenant_pk(), &phones).await?;
    let base_key = input.idempotency_key.clone().or_else(|| input.ref_id.clone());
    // One stored copy of a linked or base64 file serves every recipient.
    let shared = super::media::attach(state, auth.tenant_pk(), &mut input.content).await?;
    let prepared = match prepare_each(state, auth, &input, chats, &contacts, &blacklisted, group.is_some(), base_key, &mut skipped).await {
        Ok(prepared) => prepared,
        Err(error) => {
            super::media::forget(state, auth.tenant_pk(), &shared).await;
            return Err(error);
        }
    };
    let chats: Vec<Recipient> = prepared.iter().map(|p| p.new.chat.clone()).collect();
    let mut out = Broadcast { accepted: Vec::with_capacity(prepared.len()), skipped };
    let results = match messages::commit(state, auth, prepared).await {
        Ok(results) => results,
        Err(error) => {
            super::media::forget(state, auth.tenant_pk(), &shared).await;
            return Err(error);
        }
    };
    for (result, chat) in results.into_iter().zip(chats) {
        match result {
            Ok(accepted) => out.accepted.push(accepted),
            // A reused key, or a refused budget, quota or expiry.
            Err(e) => out.skipped.push(Skipped { to: chat, reason: e.code() }),
        }
    }
    if out.accepted.iter().all(|a| a.replayed) {
        super::media::forget(state, auth.tenant_pk(), &shared).await;
    }
    Ok(out)
}

/// The message of each recipient that is not blacklisted, personalised when asked.
#[allow(clippy::too_many_arguments)]
async fn prepare_each(
    state: &AppState,
    auth: &Actor,
    input: &SendInput,
    chats: Vec<Recipient>,
    contacts: &HashMap<PhoneNumber, Contact>,
    blacklisted: &HashSet<PhoneNumber>,
    from_group: bool,
    base_key: Option<String>,
    skipped: &mut Vec<Skipped>,
) -> ApiResult<Vec<messages::Prepared>> {
    let mut prepared = Vec::with_capacity(chats.len());
    for chat in chats {
        if matches!(&chat, Recipient::Phone(p) if blacklisted.contains(p)) {
            skipped.push(Skipped { to: chat, reason: "blacklisted" });
            continue;
        }
        let mut content = input.content.clone();
        if input.choices.spintax {
            match &chat {
                Recipient::Phone(p) if from_group && contacts.contains_key(p) => fill_in(state, &mut content, &chat, contacts.get(p))?,
                _ => personalize(state, auth, &mut content, &chat).await?,
            }
        }
        // Each recipient's message has a key of its own, derived from the request's.
        let key = base_key.as_ref().map(|k| format!("{k}:{chat}"));
        prepared.push(prepare_for(state, auth, input, chat, content, key)?);
    }
    Ok(prepared)
}

/// The group's members as contacts, by number (for their placeholders), a page at a time.
async fn group_contacts(state: &AppState, auth: &Actor, group: &kirim_core::ContactGroupId) -> ApiResult<HashMap<PhoneNumber, Contact>> {
    let mut out = HashMap::new();
    let mut filter = ContactFilter { search: None, group: Some(group.clone()), after: None, offset: 0, limit: 500 };
    loop {
        let page = state.store.list_contacts(auth.tenant_pk(), &filter).await?;
        let full = page.len() == filter.limit as usize;
        filter.after = page.last().map(|c| c.id.clone());
        out.extend(page.into_iter().map(|c| (c.phone.clone(), c)));
        if !full {
            return Ok(out);
        }
    }
}

/// Each item checked on its own; the good ones committed together. A bad item refuses only
/// itself (as reference 001's bulk send queues what it can), and its error names its index.
pub async fn batch(state: &AppState, auth: &Actor, items: Vec<ApiResult<SendInput>>) -> ApiResult<Vec<ApiResult<Accepted>>> {
    let mut results: Vec<Option<ApiResult<Accepted>>> = Vec::with_capacity(items.len());
    let mut prepared = Vec::new();
    let mut slots = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let ready = match item {
            Ok(input) => messages::prepare(state, auth, input).await,
            Err(e) => Err(e),
        };
        match ready {
            Ok(p) => {
                prepared.push(p);
                slots.push(i);
                results.push(None);
            }
            Err(e) => results.push(Some(Err(at_item(e, i)))),
        }
    }
    for (result, i) in messages::commit(state, auth, prepared).await?.into_iter().zip(slots) {
        if let Some(slot) = results.get_mut(i) {
            *slot = Some(result.map_err(|e| at_item(e, i)));
        }
    }
    Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(ApiError::unavailable("the item was not stored; try again")))).collect())
}

/// An item's error, with its field named from the top of the batch (`items[3].to`).
pub fn at_item(mut e: ApiError, i: usize) -> ApiError {
    let field = match e.detail.field.take() {
        Some(f) => format!("items[{i}].{f}"),
        None => format!("items[{i}]"),
    };
    e.with_field(field)
}

/// Queues a message again as a new message linked to it (`resend_of`), from the same device:
/// a sent or failed (or cancelled) message whose content is still there.
pub async fn resend(
    state: &AppState,
    auth: &Actor,
    id: &MessageId,
    idempotency_key: Option<String>,
    request_hash: String,
) -> ApiResult<Accepted> {
    let original = state
        .store
        .get_message(auth.tenant_pk(), id)
        .await?
        .filter(|m| auth.may_use_device(&m.device_id))
        .ok_or_else(|| ApiError::not_found("message"))?;
    let refuse = |why: String| Err(ApiError::conflict("not_resendable", why));
    if original.direction != Direction::Outbound {
        return refuse("only messages this account sent can be resent; reply with POST /v1/messages instead".into());
    }
    if matches!(original.status, MessageStatus::Scheduled | MessageStatus::Pending | MessageStatus::Sending) {
        return refuse(format!("the message is still {}; it will be sent (cancel it first to send it anew)", original.status));
    }
    if original.erased_at.is_some() {
        return refuse("the message was secret: its content was erased once sent, so there is nothing to send again".into());
    }
    if original.content.target_id().is_some() {
        return refuse(format!("a {} cannot be resent; send a new one", original.content.kind()));
    }
    super::blacklist::refuse_blacklisted(state, auth.tenant_pk(), &original.chat).await?;
    if state.devices.get(original.device_pk).is_none() {
        return Err(ApiError::conflict("device_deleted", "the device that sent the message was deleted; send it anew from another device"));
    }
    let input = SendInput {
        device_id: Some(original.device_id.clone()),
        to: None,
        content: original.content.clone(),
        ref_id: original.ref_id.clone(),
        priority: original.priority,
        idempotency_key: idempotency_key.clone(),
        request_hash,
        reply_to: original.reply_to.clone(),
        schedule: None,
        choices: SendChoices {
            options: SendOptions { resend_of: Some(original.id.clone()), ..original.options.clone() },
            max_attempts: Some(original.max_attempts),
            ..SendChoices::default()
        },
    };
    let prepared = prepare_for(state, auth, &input, original.chat.clone(), input.content.clone(), idempotency_key)?;
    let mut results = messages::commit(state, auth, vec![prepared]).await?;
    results.pop().unwrap_or_else(|| Err(ApiError::unavailable("the message was not stored; try again")))
}

/// Cancels each message named, answering per id in order: the cancelled message, or why not.
/// Resends each of `raw` (message ids), one result per id in order. With an idempotency key
/// `K`, id `X` is resent under `K:X`, so retrying the whole request resends nothing twice.
pub async fn resend_many(
    state: &AppState,
    auth: &Actor,
    raw: &[String],
    idempotency_key: Option<&str>,
) -> ApiResult<Vec<ApiResult<Accepted>>> {
    if raw.is_empty() || raw.len() > MAX_BATCH {
        return Err(ApiError::field("ids", format!("`ids` must list 1 to {MAX_BATCH} message ids")));
    }
    let mut results = Vec::with_capacity(raw.len());
    for raw_id in raw {
        let Ok(id) = raw_id.trim().parse::<MessageId>() else {
            results.push(Err(ApiError::not_found("message")));
            continue;
        };
        let key = idempotency_key.map(|k| format!("{k}:{id}"));
        let hash = hex::encode(Sha256::digest(format!("resend:{id}").as_bytes()));
        results.push(resend(state, auth, &id, key, hash).await);
    }
    Ok(results)
}

pub async fn cancel_many(state: &AppState, auth: &Actor, raw: &[String]) -> ApiResult<Vec<ApiResult<Message>>> {
    if raw.is_empty() || raw.len() > MAX_CANCEL_IDS {
        return Err(ApiError::field("ids", format!("`ids` must list 1 to {MAX_CANCEL_IDS} message ids")));
    }
    let parsed: Vec<Option<MessageId>> = raw.iter().map(|r| r.trim().parse().ok()).collect();
    let ids: Vec<MessageId> = parsed.iter().flatten().cloned().collect();
    let device = auth.device.as_ref().map(|(pk, _)| *pk);
    let mut outcomes = state.store.cancel_messages(auth.tenant_pk(), device, ids, state.clock.now()).await?.into_iter();
    Ok(parsed
        .into_iter()
        .map(|id| match id.map(|_| outcomes.next()) {
            Some(Some(CancelOutcome::Cancelled(message))) => Ok(message),
            Some(Some(CancelOutcome::TooLate(message))) => Err(ApiError::conflict(
                "not_cancellable",
                format!("the message is already {}; only pending or scheduled messages can be cancelled", message.status),
            )),
            _ => Err(ApiError::not_found("message")),
        })
        .collect())
}

/// Cancels every pending message of the tenant (or of one device), a chunk per transaction;
/// scheduled messages stay (cancel those by id).
pub async fn cancel_all_pending(state: &AppState, auth: &Actor, device_id: Option<&DeviceId>) -> ApiResult<Vec<Message>> {
    let device = match (device_id, &auth.device) {
        (Some(asked), Some((_, own))) if asked != own => return Err(ApiError::not_found("device").with_field("device_id")),
        (_, Some((pk, _))) => Some(*pk),
        (Some(id), None) => {
            let device = state.store.get_device(auth.tenant_pk(), id).await?;
            Some(device.ok_or_else(|| ApiError::not_found("device").with_field("device_id"))?.pk)
        }
        (None, None) => None,
    };
    let mut cancelled = Vec::new();
    loop {
        let chunk = state.store.cancel_pending(auth.tenant_pk(), device, CANCEL_CHUNK, state.clock.now()).await?;
        let done = chunk.len() < CANCEL_CHUNK as usize;
        cancelled.extend(chunk);
        if done {
            return Ok(cancelled);
        }
    }
}
