//! The blacklist: numbers a tenant must never message, added by the API or by the number
//! itself (an inbound text that is an opt-out keyword). Every addition is a `blacklist.added`
//! event, so the customer's own systems stop messaging the number too.
//!
//! The hooks for the inbound and send paths are here, ready to be called from there:
//! [`on_inbound_message`] (or [`on_inbound_text`]) and [`refuse_blacklisted`].

use kirim_core::contact::{BlacklistAdd, BlacklistEntry, BlacklistSettings, OPT_OUT_REASON};
use kirim_core::id::TenantPk;
use kirim_core::message::{Direction, MAX_TEXT_CHARS, Message, MessageContent, NewOutbound};
use kirim_core::store::{InsertOutcome, Store};
use kirim_core::{Clock, MessageId, PhoneNumber, Recipient};

use super::Actor;
use super::contacts::parse_phone;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::runtime::DeviceRegistry;

pub const MAX_REASON: usize = 255;
pub const MAX_KEYWORDS: usize = 20;
pub const MAX_KEYWORD: usize = 50;

pub async fn add(state: &AppState, auth: &Actor, phone: &str, reason: Option<String>) -> ApiResult<BlacklistAdd> {
    let phone = parse_phone(state, "phone", phone)?;
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON) {
        return Err(ApiError::field("reason", format!("`reason` is at most {MAX_REASON} characters")));
    }
    let entry = BlacklistEntry { tenant_pk: auth.tenant_pk(), phone, reason, created_at: state.clock.now() };
    Ok(state.store.add_to_blacklist(entry).await?)
}

pub async fn list(state: &AppState, auth: &Actor, after: Option<&str>, limit: u32) -> ApiResult<Vec<BlacklistEntry>> {
    let after = match after {
        Some(raw) => Some(parse_phone(state, "after", raw)?),
        None => None,
    };
    Ok(state.store.list_blacklist(auth.tenant_pk(), after.as_ref(), limit).await?)
}

/// Takes a number off the list; a number that is not on it is a 404 (as is one that cannot be a number).
pub async fn remove(state: &AppState, auth: &Actor, phone: &str) -> ApiResult<BlacklistEntry> {
    let not_listed = || ApiError::new(axum::http::StatusCode::NOT_FOUND, "not_found", "that number is not on this account's blacklist");
    let phone = parse_phone(state, "phone", phone).map_err(|_| not_listed())?;
    state.store.remove_from_blacklist(auth.tenant_pk(), &phone).await?.ok_or_else(not_listed)
}

pub async fn settings(state: &AppState, auth: &Actor) -> ApiResult<BlacklistSettings> {
    Ok(state.store.get_blacklist_settings(auth.tenant_pk()).await?)
}

/// Replaces the opt-out keywords and confirmation text.
pub async fn put_settings(
    state: &AppState,
    auth: &Actor,
    keywords: Vec<String>,
    confirmation: Option<String>,
) -> ApiResult<BlacklistSettings> {
    if keywords.len() > MAX_KEYWORDS {
        return Err(ApiError::field("opt_out_keywords", format!("`opt_out_keywords` may hold at most {MAX_KEYWORDS} keywords")));
    }
    let mut kept: Vec<String> = Vec::with_capacity(keywords.len());
    for (i, raw) in keywords.iter().enumerate() {
        let field = format!("opt_out_keywords[{i}]");
        let keyword = raw.trim();
        if keyword.is_empty() || keyword.chars().count() > MAX_KEYWORD || keyword.chars().any(char::is_control) {
            return Err(ApiError::field(field, format!("each opt-out keyword is 1 to {MAX_KEYWORD} characters of text, e.g. \"STOP\"")));
        }
        // Matching ignores case, so "stop" after "STOP" adds nothing.
        if !kept.iter().any(|k| k.to_lowercase() == keyword.to_lowercase()) {
            kept.push(keyword.to_owned());
        }
    }
    let confirmation = confirmation.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    if let Some(text) = &confirmation
        && text.chars().count() > MAX_TEXT_CHARS
    {
        return Err(ApiError::field(
            "confirmation",
            format!("`confirmation` is at most {MAX_TEXT_CHARS} characters (one WhatsApp message)"),
        ));
    }
    let settings = BlacklistSettings { opt_out_keywords: kept, confirmation, updated_at: None };
    Ok(state.store.put_blacklist_settings(auth.tenant_pk(), settings, state.clock.now()).await?)
}

/// `409 recipient_blacklisted` when `to` is a number on the tenant's blacklist: the check to
/// make when a message is accepted (one indexed read). Groups are never blacklisted.
pub async fn refuse_blacklisted(state: &AppState, tenant: TenantPk, to: &Recipient) -> ApiResult<()> {
    let Recipient::Phone(phone) = to else { return Ok(()) };
    if state.store.is_blacklisted(tenant, phone).await? {
        return Err(ApiError::conflict(
            "recipient_blacklisted",
            format!("{phone} is on this account's blacklist (it opted out or was blocked); remove it with DELETE /v1/blacklist/{phone} to message it again"),
        )
        .with_field("to"));
    }
    Ok(())
}

/// Blacklists `from` (reason `opt_out`) when `body`, trimmed, is one of the tenant's opt-out
/// keywords, ignoring case. Returns whether the number is blacklisted by this text (also when
/// it already was). Store failures are logged and answer `false`: an inbound message must not
/// be refused because its opt-out could not be recorded.
///
/// Takes the store and the clock rather than the whole `AppState` so that the connectors'
/// sink, which stores inbound messages and has no `AppState`, can call it.
pub async fn on_inbound_text(store: &dyn Store, clock: &dyn Clock, tenant: TenantPk, from: &PhoneNumber, body: &str) -> bool {
    opt_out(store, clock, tenant, from, body).await.is_some()
}

/// What an opt-out did: the entry, and whether it is new (then the confirmation is due).
async fn opt_out(
    store: &dyn Store,
    clock: &dyn Clock,
    tenant: TenantPk,
    from: &PhoneNumber,
    body: &str,
) -> Option<(BlacklistAdd, BlacklistSettings)> {
    // Most inbound texts are longer than any keyword: no read for them.
    if body.trim().chars().count() > MAX_KEYWORD {
        return None;
    }
    let settings = match store.get_blacklist_settings(tenant).await {
        Ok(s) => s,
        Err(error) => {
            tracing::warn!(%error, "could not read the opt-out keywords; the text is not checked");
            return None;
        }
    };
    if !settings.is_opt_out(body) {
        return None;
    }
    let entry = BlacklistEntry { tenant_pk: tenant, phone: from.clone(), reason: Some(OPT_OUT_REASON.into()), created_at: clock.now() };
    match store.add_to_blacklist(entry).await {
        Ok(added) => Some((added, settings)),
        Err(error) => {
            tracing::error!(%error, phone = %from, "an opt-out could not be recorded");
            None
        }
    }
}

/// The inbound hook: for a one-to-one text message just stored, runs [`on_inbound_text`] and,
/// when the number is newly blacklisted and the tenant set a confirmation, queues it as a reply
/// from the device that received the message. The confirmation is inserted directly (not
/// through the accept path, which refuses blacklisted numbers). Group messages never opt out.
pub async fn on_inbound_message(store: &dyn Store, clock: &dyn Clock, devices: &DeviceRegistry, message: &Message) -> bool {
    let (Direction::Inbound, Recipient::Phone(from), MessageContent::Text { text }) = (&message.direction, &message.chat, &message.content)
    else {
        return false;
    };
    let Some((added, settings)) = opt_out(store, clock, message.tenant_pk, from, &text.body).await else { return false };
    if let (BlacklistAdd::Added(_), Some(confirmation)) = (added, settings.confirmation) {
        let entry = devices.get(message.device_pk);
        let max_attempts = entry.as_ref().map_or(3, |e| e.snapshot().settings.max_attempts);
        let now = clock.now();
        let reply = NewOutbound {
            id: MessageId::generate(),
            tenant_pk: message.tenant_pk,
            device_pk: message.device_pk,
            chat: message.chat.clone(),
            content: MessageContent::text(confirmation),
            priority: 0,
            ref_id: None,
            // One confirmation per opt-out, even if this hook ran twice for the message.
            idempotency_key: Some(format!("kirim:opt-out:{}", message.id)),
            request_hash: None,
            reply_to: None,
            max_attempts,
            not_before: now,
            schedule: None,
            created_at: now,
            options: Default::default(),
            charge: Default::default(),
        };
        match store.insert_outbound(vec![reply]).await {
            Ok(out) => {
                if let (Some(InsertOutcome::Inserted(_)), Some(entry)) = (out.first(), entry) {
                    entry.wake.notify_one();
                }
            }
            Err(error) => tracing::error!(%error, phone = %from, "the opt-out confirmation could not be queued"),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kirim_core::ManualClock;
    use kirim_core::message::NewInbound;
    use kirim_core::store::MessageFilter;
    use kirim_core::tenant::NewTenant;

    use super::*;
    use crate::runtime::DeviceRegistry;

    #[tokio::test]
    async fn an_opt_out_keyword_blacklists_once_and_confirms_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite =
            kirim_store_sqlite::SqliteStore::open(kirim_store_sqlite::SqliteConfig::new(dir.path().join("k.db"))).await.expect("open");
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        let clock = ManualClock::new(chrono::Utc::now());
        let tenant = store
            .create_tenant(NewTenant {
                id: kirim_core::TenantId::generate(),
                name: "t".into(),
                created_at: clock.now(),
                daily_token_limit: None,
            })
            .await
            .expect("tenant");
        let (new_device, _) = test_device(tenant.pk, clock.now());
        let device = store.create_device(new_device).await.expect("device");
        let devices = DeviceRegistry::default();
        devices.upsert(device.clone());
        let from = PhoneNumber::parse("+60123456789", None).expect("phone");
        store
            .put_blacklist_settings(
                tenant.pk,
                BlacklistSettings {
                    opt_out_keywords: vec!["STOP".into()],
                    confirmation: Some("You will get no more messages".into()),
                    updated_at: None,
                },
                clock.now(),
            )
            .await
            .expect("settings");
        let inbound = |body: &str, n: u32| NewInbound {
            id: MessageId::generate(),
            tenant_pk: tenant.pk,
            device_pk: device.pk,
            network_id: format!("in-{n}"),
            chat: Recipient::Phone(from.clone()),
            sender: None,
            content: MessageContent::text(body),
            reply_to: None,
            received_at: clock.now(),
        };
        for (n, body) in ["hello", "please stop this", " Stop ", "STOP"].into_iter().enumerate() {
            let InsertOutcome::Inserted(m) = store.insert_inbound(inbound(body, n as u32)).await.expect("inbound") else { panic!("new") };
            let opted = on_inbound_message(&*store, &clock, &devices, &m).await;
            assert_eq!(opted, n >= 2, "{body}");
        }
        assert!(store.is_blacklisted(tenant.pk, &from).await.expect("read"));
        let outbound =
            store.list_messages(tenant.pk, &MessageFilter { direction: Some(Direction::Outbound), limit: 10, ..Default::default() }).await;
        let outbound = outbound.expect("list");
        assert_eq!(outbound.len(), 1, "one confirmation, for the first opt-out only");
        assert_eq!(outbound[0].chat, Recipient::Phone(from.clone()));
        assert!(!on_inbound_text(&*store, &clock, tenant.pk, &from, "unsubscribe").await, "not a keyword");
        sqlite.close().await;
    }

    fn test_device(tenant: TenantPk, at: kirim_core::Timestamp) -> (kirim_core::device::NewDevice, kirim_core::Secret) {
        let token = kirim_core::Secret::generate("kd_");
        let device = kirim_core::device::NewDevice {
            id: kirim_core::DeviceId::generate(),
            tenant_pk: tenant,
            name: "phone".into(),
            connector: kirim_core::device::ConnectorKind::Sandbox,
            settings: kirim_core::device::DeviceSettings { pacing_ms: 0, pacing_jitter_ms: 0, max_attempts: 3, ..Default::default() },
            connector_config: serde_json::json!({}),
            token_hash: token.hash(),
            created_at: at,
        };
        (device, token)
    }
}
