//! Builders shared by the cases. Times are whole milliseconds from a fixed origin, so
//! comparisons never depend on a backend's timestamp precision (one case checks that apart).

use chrono::{Duration, TimeZone, Utc};
use kirim_core::device::{ConnectorKind, Device, DeviceSettings, NewDevice};
use kirim_core::event::Event;
use kirim_core::message::{Message, MessageContent, NewInbound, NewOutbound};
use kirim_core::store::{EventFilter, InsertOutcome, Store};
use kirim_core::tenant::{NewTenant, Tenant};
use kirim_core::{DeviceId, MessageId, Recipient, Secret, TenantId, Timestamp};

/// The suite's origin of time.
pub fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().expect("a valid date")
}

/// `t0` plus `secs` seconds.
pub fn at(secs: i64) -> Timestamp {
    t0() + Duration::seconds(secs)
}

pub fn phone(n: u32) -> Recipient {
    Recipient::parse(&format!("+6012{:07}", 3_000_000 + n), None).expect("a valid number")
}

pub async fn tenant(store: &dyn Store, name: &str) -> Tenant {
    store
        .create_tenant(NewTenant { id: TenantId::generate(), name: name.into(), created_at: t0(), daily_token_limit: None })
        .await
        .expect("create tenant")
}

pub fn new_device(tenant: &Tenant, name: &str) -> (NewDevice, Secret) {
    let token = Secret::generate("dt_");
    let device = NewDevice {
        id: DeviceId::generate(),
        tenant_pk: tenant.pk,
        name: name.into(),
        connector: ConnectorKind::Sandbox,
        settings: DeviceSettings { pacing_ms: 0, pacing_jitter_ms: 0, max_attempts: 3, ..DeviceSettings::default() },
        connector_config: serde_json::json!({"region": "test"}),
        token_hash: token.hash(),
        created_at: t0(),
    };
    (device, token)
}

pub async fn device(store: &dyn Store, tenant: &Tenant, name: &str) -> Device {
    store.create_device(new_device(tenant, name).0).await.expect("create device")
}

/// An outbound text message, due at `t0`.
pub fn outbound(device: &Device, body: &str) -> NewOutbound {
    NewOutbound {
        id: MessageId::generate(),
        tenant_pk: device.tenant_pk,
        device_pk: device.pk,
        chat: phone(1),
        content: MessageContent::text(body),
        priority: 0,
        ref_id: None,
        idempotency_key: None,
        request_hash: None,
        reply_to: None,
        max_attempts: 3,
        not_before: t0(),
        schedule: None,
        created_at: t0(),
        options: Default::default(),
        charge: Default::default(),
    }
}

pub fn inbound(device: &Device, chat: Recipient, sender: Option<&str>, network_id: &str) -> NewInbound {
    NewInbound {
        id: MessageId::generate(),
        tenant_pk: device.tenant_pk,
        device_pk: device.pk,
        network_id: network_id.into(),
        chat,
        sender: sender.map(str::to_owned),
        content: MessageContent::text("hello from outside"),
        reply_to: None,
        received_at: at(5),
    }
}

/// Inserts one message and expects it to be new.
pub async fn insert(store: &dyn Store, message: NewOutbound) -> Message {
    let mut out = store.insert_outbound(vec![message]).await.expect("insert outbound");
    match out.pop() {
        Some(InsertOutcome::Inserted(m)) if out.is_empty() => m,
        other => panic!("expected one inserted message, got {other:?}"),
    }
}

/// A tenant's whole event log (up to 1,000 events).
pub async fn events(store: &dyn Store, tenant: &Tenant) -> Vec<Event> {
    store.list_events(tenant.pk, &EventFilter { limit: 1000, ..Default::default() }).await.expect("list events")
}

/// The types of a tenant's events, in log order.
pub async fn event_types(store: &dyn Store, tenant: &Tenant) -> Vec<String> {
    events(store, tenant).await.into_iter().map(|e| e.event_type).collect()
}
