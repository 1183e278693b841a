//! Auto-reply rules: CRUD, and the inbound hook that answers a message matching a rule.
//!
//! The connectors' sink hands every stored inbound message to [`Inbox`]; a task with the
//! app's state ([`run`]) answers through `messages::accept`, like any send. The reply's
//! idempotency key is derived from the inbound message, so a message delivered twice is
//! answered once.
//!
//! Loop protection: never answer one of the tenant's own devices, never answer a message
//! that is itself an auto-reply of this server (two gateways' bots would talk forever), at
//! most [`MAX_PER_WINDOW`] replies per chat per [`WINDOW`], and a rule's own cooldown per chat.

use std::sync::Mutex;

use kirim_core::auto_reply::{AutoReply, AutoReplySent, MatchKind, NewAutoReply, RuleSpec};
use kirim_core::id::DeviceId;
use kirim_core::message::{Direction, Message, MessageContent};
use kirim_core::{AutoReplyId, Recipient};
use regex::RegexBuilder;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::messages::{self, SendInput};
use super::{Actor, content};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

pub const MAX_KEYWORD: usize = 200;
pub const MAX_PATTERN: usize = 500;
/// Compiled regex size limit: a pattern that needs more is refused when the rule is saved.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// At most this many auto-replies to one chat per [`WINDOW`], whatever the rules say.
pub const MAX_PER_WINDOW: usize = 10;
pub const WINDOW: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// A fallback (closing) message is sent to a chat at most once a day unless told otherwise.
pub const FALLBACK_COOLDOWN_SECS: u32 = 86_400;
pub const MAX_COOLDOWN_SECS: u32 = 30 * 86_400;

/// A rule as the client gave it; on a change, `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    pub device_id: Option<DeviceId>,
    pub keyword: Option<String>,
    pub match_kind: Option<String>,
    pub reply: Option<MessageContent>,
    pub groups: Option<bool>,
    pub enabled: Option<bool>,
    pub cooldown_secs: Option<u32>,
}

fn spec_of(state: &AppState, input: &RuleInput, current: Option<&RuleSpec>) -> ApiResult<RuleSpec> {
    let match_kind = match (&input.match_kind, current) {
        (Some(raw), _) => raw.trim().parse::<MatchKind>().map_err(|_| {
            ApiError::field("match", format!("`match` `{raw}` is not a match mode; use exact, contains, regex or fallback"))
        })?,
        (None, Some(spec)) => spec.match_kind,
        (None, None) => MatchKind::Exact,
    };
    let keyword = match (&input.keyword, current) {
        (Some(k), _) => Some(k.trim().to_owned()).filter(|k| !k.is_empty()),
        (None, Some(spec)) if spec.match_kind == match_kind || match_kind != MatchKind::Fallback => spec.keyword.clone(),
        (None, _) => None,
    };
    match (match_kind, &keyword) {
        (MatchKind::Fallback, Some(_)) if input.keyword.is_some() => {
            return Err(ApiError::field("keyword", "a `fallback` rule has no keyword: it answers what no keyword rule matched"));
        }
        (MatchKind::Fallback, _) => {}
        (_, None) => return Err(ApiError::field("keyword", "`keyword` is required: the word or phrase that triggers the reply")),
        (MatchKind::Regex, Some(pattern)) => {
            if pattern.chars().count() > MAX_PATTERN {
                return Err(ApiError::field("keyword", format!("a regex `keyword` is at most {MAX_PATTERN} characters")));
            }
            compile(pattern).map_err(|e| ApiError::field("keyword", format!("`keyword` is not a valid regular expression: {e}")))?;
        }
        (_, Some(k)) if k.chars().count() > MAX_KEYWORD => {
            return Err(ApiError::field("keyword", format!("`keyword` is at most {MAX_KEYWORD} characters")));
        }
        _ => {}
    }
    let keyword = if match_kind == MatchKind::Fallback { None } else { keyword };
    let reply = match (&input.reply, current) {
        (Some(r), _) => {
            let mut r = r.clone();
            content::validate(&mut r, state.config.default_country)?;
            if r.target_id().is_some() {
                return Err(ApiError::field("reply.type", "a reply cannot be a reaction, edit or revoke"));
            }
            r
        }
        (None, Some(spec)) => spec.reply.clone(),
        (None, None) => {
            return Err(ApiError::field("reply", "`reply` is required: what to answer, e.g. {\"type\": \"text\", \"text\": \"…\"}"));
        }
    };
    let default_cooldown = if match_kind == MatchKind::Fallback { FALLBACK_COOLDOWN_SECS } else { 0 };
    let cooldown_secs = input.cooldown_secs.or(current.map(|s| s.cooldown_secs)).unwrap_or(default_cooldown);
    if cooldown_secs > MAX_COOLDOWN_SECS {
        return Err(ApiError::field("cooldown_secs", format!("`cooldown_secs` is at most {MAX_COOLDOWN_SECS} (30 days)")));
    }
    Ok(RuleSpec {
        keyword,
        match_kind,
        reply,
        groups: input.groups.or(current.map(|s| s.groups)).unwrap_or(false),
        enabled: input.enabled.or(current.map(|s| s.enabled)).unwrap_or(true),
        cooldown_secs,
    })
}

fn compile(pattern: &str) -> Result<regex::Regex, regex::Error> {
    RegexBuilder::new(pattern).case_insensitive(true).size_limit(REGEX_SIZE_LIMIT).build()
}

/// Whether a keyword rule matches the text (ignoring case). A fallback rule matches nothing here.
pub fn matches(spec: &RuleSpec, text: &str) -> bool {
    let Some(keyword) = spec.keyword.as_deref() else { return false };
    let text = text.trim();
    match spec.match_kind {
        MatchKind::Exact => text.to_lowercase() == keyword.to_lowercase(),
        MatchKind::Contains => text.to_lowercase().contains(&keyword.to_lowercase()),
        MatchKind::Regex => compile(keyword).is_ok_and(|re| re.is_match(text)),
        MatchKind::Fallback => false,
    }
}

pub async fn create(state: &AppState, auth: &Actor, input: RuleInput) -> ApiResult<AutoReply> {
    let spec = spec_of(state, &input, None)?;
    let device = match (&auth.device, &input.device_id) {
        (Some((_, own)), Some(asked)) if own != asked => {
            return Err(
                ApiError::forbidden("this device token can set rules only for its own device; omit `device_id`").with_field("device_id")
            );
        }
        (Some((pk, _)), _) => Some(*pk),
        (None, Some(id)) => Some(
            state.devices.get_for_tenant(auth.tenant_pk(), id).ok_or_else(|| ApiError::not_found("device").with_field("device_id"))?.pk,
        ),
        (None, None) => None,
    };
    let new =
        NewAutoReply { id: AutoReplyId::generate(), tenant_pk: auth.tenant_pk(), device_pk: device, spec, created_at: state.clock.now() };
    Ok(state.store.create_auto_reply(new).await?)
}

/// A device token sees its device's rules and the tenant-wide ones, and may change only its own.
async fn own(state: &AppState, auth: &Actor, id: &AutoReplyId, write: bool) -> ApiResult<AutoReply> {
    let rule = state.store.get_auto_reply(auth.tenant_pk(), id).await?.ok_or_else(|| ApiError::not_found("auto-reply rule"))?;
    match (&rule.device, &auth.device) {
        (Some((_, device)), Some(_)) if !auth.may_use_device(device) => Err(ApiError::not_found("auto-reply rule")),
        (None, Some(_)) if write => Err(ApiError::forbidden("a tenant-wide rule can be changed only with the tenant API key")),
        _ => Ok(rule),
    }
}

pub async fn get(state: &AppState, auth: &Actor, id: &AutoReplyId) -> ApiResult<AutoReply> {
    own(state, auth, id, false).await
}

pub async fn list(
    state: &AppState,
    auth: &Actor,
    device: Option<&DeviceId>,
    after: Option<&AutoReplyId>,
    limit: u32,
) -> ApiResult<Vec<AutoReply>> {
    let device = match (device, &auth.device) {
        (Some(asked), Some((_, own))) if asked != own => return Err(ApiError::not_found("device").with_field("device_id")),
        (_, Some((pk, _))) => Some(*pk),
        (Some(id), None) => match state.devices.get_for_tenant(auth.tenant_pk(), id) {
            Some(entry) => Some(entry.pk),
            None => return Err(ApiError::not_found("device").with_field("device_id")),
        },
        (None, None) => None,
    };
    Ok(state.store.list_auto_replies(auth.tenant_pk(), device, after, limit).await?)
}

pub async fn update(state: &AppState, auth: &Actor, id: &AutoReplyId, input: RuleInput) -> ApiResult<AutoReply> {
    let current = own(state, auth, id, true).await?;
    if input.device_id.is_some() {
        return Err(ApiError::field("device_id", "a rule stays on its device (or tenant-wide); delete it and create another"));
    }
    let spec = spec_of(state, &input, Some(&current.spec))?;
    state
        .store
        .update_auto_reply(auth.tenant_pk(), id, spec, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("auto-reply rule"))
}

pub async fn delete(state: &AppState, auth: &Actor, id: &AutoReplyId) -> ApiResult<AutoReply> {
    own(state, auth, id, true).await?;
    state.store.delete_auto_reply(auth.tenant_pk(), id).await?.ok_or_else(|| ApiError::not_found("auto-reply rule"))
}

/// Where the sink drops stored inbound messages for [`run`] to answer.
pub struct Inbox {
    tx: mpsc::UnboundedSender<Message>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Message>>>,
}

impl Default for Inbox {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { tx, rx: Mutex::new(Some(rx)) }
    }
}

impl Inbox {
    pub fn sender(&self) -> mpsc::UnboundedSender<Message> {
        self.tx.clone()
    }
}

/// Answers inbound messages until shutdown (started once, with the app).
pub async fn run(state: AppState, cancel: CancellationToken) {
    let Some(mut rx) = state.auto_replies.rx.lock().expect("inbox lock").take() else { return };
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(message) => on_inbound(&state, &message).await,
                None => return,
            },
            _ = cancel.cancelled() => return,
        }
    }
}

/// The text a rule is matched against; reactions, edits and deletions are never answered.
fn text_of(content: &MessageContent) -> Option<&str> {
    match content {
        MessageContent::Reaction { .. } | MessageContent::Edit { .. } | MessageContent::Revoke { .. } => None,
        other => other.body(),
    }
}

/// Answers a stored inbound message if a rule matches and no loop protection stops it.
/// Failures are logged: an inbound message is never refused because of its reply.
pub async fn on_inbound(state: &AppState, message: &Message) {
    if let Err(error) = answer(state, message).await {
        tracing::warn!(message = %message.id, error = %error.detail.message, "an auto-reply could not be queued");
    }
}

async fn answer(state: &AppState, message: &Message) -> ApiResult<()> {
    if message.direction != Direction::Inbound {
        return Ok(());
    }
    let Some(text) = text_of(&message.content) else { return Ok(()) };
    let from = match (&message.chat, &message.sender) {
        (Recipient::Phone(phone), _) => Some(phone.as_str().to_owned()),
        (Recipient::Group(_), sender) => sender.clone(),
    };
    let own_number = state.devices.all().into_iter().filter(|e| e.tenant_pk == message.tenant_pk).any(|e| {
        let phone = e.snapshot().phone;
        phone.is_some_and(|p| from.as_deref().is_some_and(|f| f == p.as_str() || f.trim_start_matches('+') == p.digits()))
    });
    if own_number {
        return Ok(());
    }
    if let Some(network_id) = &message.network_id
        && state.store.is_auto_reply(network_id).await?
    {
        return Ok(());
    }
    let rules = state.store.rules_for_device(message.tenant_pk, message.device_pk).await?;
    let is_group = message.chat.is_group();
    let applicable = |r: &&AutoReply| !is_group || r.spec.groups;
    let matched = rules.iter().filter(applicable).find(|r| matches(&r.spec, text));
    let rule = match matched {
        Some(rule) => rule,
        None => match rules.iter().filter(applicable).find(|r| r.spec.match_kind == MatchKind::Fallback) {
            Some(rule) => rule,
            None => return Ok(()),
        },
    };
    let now = state.clock.now();
    let cooldown = chrono::TimeDelta::seconds(i64::from(rule.spec.cooldown_secs));
    let recent = state.store.recent_auto_replies(message.device_pk, &message.chat, now - WINDOW.max(cooldown)).await?;
    let key = format!("kirim:auto-reply:{}", message.id);
    let replayed = state.store.find_by_idempotency_key(message.tenant_pk, &key).await?.is_some();
    if !replayed {
        if recent.iter().filter(|s| s.at >= now - WINDOW).count() >= MAX_PER_WINDOW {
            tracing::info!(chat = %message.chat, "auto-replies to this chat reached the limit for now; not answered");
            return Ok(());
        }
        if rule.spec.cooldown_secs > 0 && recent.iter().any(|s| s.rule == rule.pk && s.at >= now - cooldown) {
            return Ok(());
        }
    }
    let entry = state.devices.get(message.device_pk).ok_or_else(|| ApiError::not_found("device"))?;
    let actor = Actor { tenant_pk: message.tenant_pk, device: Some((entry.pk, entry.id.clone())), daily_token_limit: None };
    let input = SendInput {
        device_id: Some(entry.id.clone()),
        to: Some(message.chat.as_str().to_owned()),
        content: rule.spec.reply.clone(),
        ref_id: None,
        priority: 5,
        request_hash: hex::encode(Sha256::digest(key.as_bytes())),
        idempotency_key: Some(key),
        reply_to: None,
        schedule: None,
        choices: Default::default(),
    };
    let accepted = messages::accept(state, &actor, input).await?;
    if !accepted.replayed {
        let sent = AutoReplySent {
            tenant_pk: message.tenant_pk,
            rule: rule.pk,
            device_pk: message.device_pk,
            chat: message.chat.clone(),
            inbound: message.id.clone(),
            message: accepted.message.id.clone(),
            at: now,
        };
        state.store.record_auto_reply(sent).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: MatchKind, keyword: &str) -> RuleSpec {
        RuleSpec {
            keyword: Some(keyword.into()),
            match_kind: kind,
            reply: MessageContent::text("ok"),
            groups: false,
            enabled: true,
            cooldown_secs: 0,
        }
    }

    #[test]
    fn keywords_match_ignoring_case() {
        assert!(matches(&spec(MatchKind::Exact, "Price"), "  pRICE "));
        assert!(!matches(&spec(MatchKind::Exact, "price"), "price list"));
        assert!(matches(&spec(MatchKind::Contains, "price"), "What is the PRICE?"));
        assert!(!matches(&spec(MatchKind::Contains, "price"), "prize"));
        assert!(matches(&spec(MatchKind::Regex, r"^order\s+#?\d+$"), "ORDER #123"));
        assert!(!matches(&spec(MatchKind::Regex, r"^order\s+#?\d+$"), "my order 12 please"));
        assert!(!matches(&RuleSpec { keyword: None, ..spec(MatchKind::Fallback, "") }, "anything"));
        assert!(compile("(unclosed").is_err());
    }
}
