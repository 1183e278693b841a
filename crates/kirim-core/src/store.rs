//! The store boundary: one trait per aggregate, every query scoped by tenant.
//!
//! Contracts every backend keeps (the `kirim-store-tests` suite checks them):
//! - a write that returns `Ok` is durable (committed at the configured durability level);
//! - each operation writes its events in the same transaction as its change (the outbox);
//! - a tenant-scoped getter returns `None` for another tenant's id;
//! - message statuses only move forward.

use std::collections::HashSet;

use async_trait::async_trait;

pub use crate::agent::AgentStore;
use crate::contact::{
    BlacklistAdd, BlacklistEntry, BlacklistSettings, Contact, ContactFilter, ContactGroup, ContactPatch, ContactRef, ContactUpdate,
    ContactWrite, GroupRef, MemberAdd, MemberRemove, NewContact, NewContactGroup,
};
use crate::device::{Device, DevicePatch, LinkState, NewDevice};
use crate::event::{Event, NewEvent};
use crate::id::{
    ContactGroupId, DeliveryId, DeliveryPk, DeviceId, DevicePk, KeyId, KeyPk, MessageId, MessagePk, TenantId, TenantPk, WebhookId,
    WebhookPk,
};
pub use crate::job::JobStore;
pub use crate::media::MediaStore;
use crate::message::{Direction, Message, MessageStatus, NewInbound, NewOutbound, SendOutcome, UnsentPatch};
pub use crate::report::ReportStore;
pub use crate::rules_store::{AutoReplyStore, ReminderStore};
pub use crate::sending::SendingStore;
pub use crate::session::SessionStore;
pub use crate::template::TemplateStore;
use crate::tenant::{ApiKey, NewApiKey, NewTenant, Tenant};
pub use crate::usage::UsageStore;
use crate::webhook::{Attempt, AttemptResult, Delivery, DeliveryJob, DeliveryStatus, NewWebhook, Webhook, WebhookPatch};
use crate::{PhoneNumber, Recipient, Timestamp, TokenHash};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, disk full, connection lost). Nothing of the operation was written.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken (e.g. a duplicate name where names must be unique).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A write that includes a message was refused by a budget, quota or expiry (see
    /// [`crate::usage`]); nothing was written.
    #[error("refused: {}", .0.code())]
    Refused(crate::usage::Refusal),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The most events one `prune_events` call deletes.
pub const PRUNE_BATCH: u64 = 5_000;

#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_tenant(&self, tenant: NewTenant) -> StoreResult<Tenant>;
    /// Creates a tenant and its first API key in one transaction (the key's `tenant_pk` is
    /// ignored): a tenant never exists without a way in.
    async fn create_tenant_with_key(&self, tenant: NewTenant, key: NewApiKey) -> StoreResult<(Tenant, ApiKey)>;
    async fn get_tenant(&self, id: &TenantId) -> StoreResult<Option<Tenant>>;
    /// Oldest first, after the given id.
    async fn list_tenants(&self, after: Option<&TenantId>, limit: u32) -> StoreResult<Vec<Tenant>>;

    async fn create_api_key(&self, key: NewApiKey) -> StoreResult<ApiKey>;
    async fn list_api_keys(&self, tenant: TenantPk) -> StoreResult<Vec<ApiKey>>;
    /// The live (not revoked) key with this hash, with its tenant.
    async fn find_api_key(&self, hash: &TokenHash) -> StoreResult<Option<(ApiKey, Tenant)>>;
    /// Revokes a key; `tenant: None` is the operator, who may revoke any key.
    /// Returns false when no such live key exists (in that scope).
    async fn revoke_api_key(&self, tenant: Option<TenantPk>, id: &KeyId, at: Timestamp) -> StoreResult<bool>;
    /// Records when keys were last used (batched by the caller).
    async fn touch_api_keys(&self, used: &[(KeyPk, Timestamp)]) -> StoreResult<()>;

    /// Operator-level settings (e.g. the admin token's hash).
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets a setting only if it has no value yet; returns whether it was set.
    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<bool>;
    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Inserts a device (status `disconnected`) and its `device.created` event.
    async fn create_device(&self, device: NewDevice) -> StoreResult<Device>;
    async fn get_device(&self, tenant: TenantPk, id: &DeviceId) -> StoreResult<Option<Device>>;
    async fn get_device_by_pk(&self, pk: DevicePk) -> StoreResult<Option<Device>>;
    /// The live device whose token has this hash, with its tenant.
    async fn find_device_by_token(&self, hash: &TokenHash) -> StoreResult<Option<(Device, Tenant)>>;
    /// A tenant's live devices, oldest first.
    async fn list_devices(&self, tenant: TenantPk) -> StoreResult<Vec<Device>>;
    /// Every live device of every tenant (to resume sessions at start-up).
    async fn list_all_devices(&self) -> StoreResult<Vec<Device>>;
    async fn update_device(&self, tenant: TenantPk, id: &DeviceId, patch: DevicePatch, at: Timestamp) -> StoreResult<Option<Device>>;
    /// Applies a connector's report. Writes `device.status` only when the status changed.
    async fn update_link_state(&self, device: DevicePk, state: LinkState, at: Timestamp) -> StoreResult<Option<Device>>;
    /// Removes a device from view, cancels its pending messages (with their events) and
    /// writes `device.deleted`. Returns the device as it was.
    async fn delete_device(&self, tenant: TenantPk, id: &DeviceId, at: Timestamp) -> StoreResult<Option<Device>>;
}

/// Filters for listing messages. Results are newest first; `before` is the cursor.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub status: Option<MessageStatus>,
    pub device: Option<DevicePk>,
    pub chat: Option<Recipient>,
    pub ref_id: Option<String>,
    /// The id the network knows the message by.
    pub network_id: Option<String>,
    pub direction: Option<Direction>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only messages older than this one.
    pub before: Option<MessageId>,
    /// Only messages sent with this `source` tag.
    pub source: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InsertOutcome {
    Inserted(Message),
    /// A message with the same idempotency key already exists; nothing was written.
    Existing(Message),
    /// Refused by a budget, quota or expiry (see [`crate::usage`]); nothing was written.
    Refused(crate::usage::Refusal),
}

#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// Done (cancelled, changed or deleted, as the call says); the message as it is now.
    Cancelled(Message),
    /// It already left the queue; it is returned as it is.
    TooLate(Message),
    NotFound,
}

/// What a delivery receipt did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceiptOutcome {
    /// The message moved forward; its event was written.
    Applied(Box<Message>),
    /// The message exists, but the receipt does not move it forward (late or repeated).
    Stale,
    /// The message is being sent right now: its outcome, and maybe the id the network gave
    /// it, is not stored yet. Apply the receipt again once the send has ended.
    InFlight,
    /// The device has no message with this id (yet).
    Unknown,
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Inserts outbound messages and their `message.queued` events in one transaction.
    /// A message whose `(tenant, idempotency_key)` exists is not inserted: the existing one is returned.
    async fn insert_outbound(&self, messages: Vec<NewOutbound>) -> StoreResult<Vec<InsertOutcome>>;
    async fn get_message(&self, tenant: TenantPk, id: &MessageId) -> StoreResult<Option<Message>>;
    async fn find_by_idempotency_key(&self, tenant: TenantPk, key: &str) -> StoreResult<Option<Message>>;
    async fn list_messages(&self, tenant: TenantPk, filter: &MessageFilter) -> StoreResult<Vec<Message>>;

    /// Takes the device's next due message (highest priority, then oldest) out of the queue:
    /// `pending → sending`, attempts + 1. Writes no event (sending is transient).
    async fn claim_next(&self, device: DevicePk, now: Timestamp) -> StoreResult<Option<Message>>;
    /// When the device's earliest pending message becomes due, if it has any.
    async fn next_due_at(&self, device: DevicePk) -> StoreResult<Option<Timestamp>>;
    /// Records how an attempt ended, with `message.sent`, `message.retrying` or `message.failed`.
    /// Applies only to a message that is `sending`; otherwise returns `None`.
    async fn complete_send(&self, message: MessagePk, outcome: SendOutcome, at: Timestamp) -> StoreResult<Option<Message>>;
    /// Applies a receipt for the device's message with this network id (or, for a message
    /// whose network id was never recorded, with this Kirim id), if it moves the status forward,
    /// with its event. A receipt for a `pending` message means an earlier attempt reached the
    /// network before a crash: the message takes the receipt's status and leaves the queue.
    async fn apply_receipt(&self, device: DevicePk, network_id: &str, status: MessageStatus, at: Timestamp) -> StoreResult<ReceiptOutcome>;
    /// Cancels a `scheduled` or `pending` message, with its `message.cancelled` event.
    async fn cancel_message(&self, tenant: TenantPk, id: &MessageId, at: Timestamp) -> StoreResult<CancelOutcome>;
    /// Changes a message that is still `scheduled` (its time, content or recipient). Returns
    /// `Cancelled(message)` as "changed"; `TooLate` once it entered the queue.
    async fn update_unsent(&self, tenant: TenantPk, id: &MessageId, patch: UnsentPatch, at: Timestamp) -> StoreResult<CancelOutcome>;
    /// Deletes a message that never left: `scheduled`, or `cancelled` before any attempt.
    /// A `scheduled` one is cancelled first (its `message.cancelled` event is written).
    async fn delete_unsent(&self, tenant: TenantPk, id: &MessageId, at: Timestamp) -> StoreResult<CancelOutcome>;
    /// Moves up to `limit` scheduled messages whose time has come into the send queue, each
    /// with a `message.queued` event; returns the devices that got work.
    async fn promote_due(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<DevicePk>>;
    /// When the earliest scheduled message is due.
    async fn next_scheduled_at(&self) -> StoreResult<Option<Timestamp>>;
    /// Puts messages left `sending` by a stopped process back to `pending` (they keep their id,
    /// so the network recognises a repeat). `None` means every device. Returns how many.
    async fn release_in_flight(&self, device: Option<DevicePk>) -> StoreResult<u64>;
    /// Devices that have pending messages.
    async fn devices_with_pending(&self) -> StoreResult<Vec<DevicePk>>;

    /// Stores an inbound message with its `message.received` event, unless the device already
    /// has one with this chat, sender and network id (then the stored one is returned).
    async fn insert_inbound(&self, message: NewInbound) -> StoreResult<InsertOutcome>;

    /// How many messages wait in the queue (`pending`) and are being sent (`sending`), across
    /// tenants, for metrics. Cheap enough for every scrape: it never scans finished messages.
    async fn queue_depth(&self) -> StoreResult<Vec<(MessageStatus, u64)>>;
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only events after this sequence number.
    pub after: Option<i64>,
    pub event_type: Option<String>,
    pub device: Option<DevicePk>,
    pub limit: u32,
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// A tenant's events in log order.
    async fn list_events(&self, tenant: TenantPk, filter: &EventFilter) -> StoreResult<Vec<Event>>;
    /// The newest sequence number in the whole log (0 when empty).
    async fn last_event_seq(&self) -> StoreResult<i64>;
    /// Deletes up to [`PRUNE_BATCH`] of the oldest events older than `before`; returns how
    /// many. Call again while it returns a full batch: small batches keep the writer free.
    async fn prune_events(&self, before: Timestamp) -> StoreResult<u64>;
    /// Changes after this process committed events (the value is a commit counter), so
    /// readers of the log (SSE, webhook fan-out) need not poll tightly. Events other
    /// processes commit (several nodes on one database) are seen only by polling.
    fn event_commits(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Appends an event that records no other change (a webhook test).
    async fn append_event(&self, event: NewEvent) -> StoreResult<()>;
}

/// What one fan-out did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FanOut {
    /// Events consumed (fewer than asked: the log is caught up).
    pub events: u32,
    /// Endpoints that got new deliveries.
    pub webhooks: Vec<WebhookPk>,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    /// Only deliveries older than this one (newest first).
    pub before: Option<DeliveryId>,
    pub limit: u32,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, webhook: NewWebhook) -> StoreResult<Webhook>;
    async fn get_webhook(&self, tenant: TenantPk, id: &WebhookId) -> StoreResult<Option<Webhook>>;
    /// A tenant's live endpoints, oldest first.
    async fn list_webhooks(&self, tenant: TenantPk) -> StoreResult<Vec<Webhook>>;
    /// Every live endpoint of every tenant, enabled or not (for the delivery worker).
    async fn list_all_webhooks(&self) -> StoreResult<Vec<Webhook>>;
    async fn update_webhook(&self, tenant: TenantPk, id: &WebhookId, patch: WebhookPatch, at: Timestamp) -> StoreResult<Option<Webhook>>;
    /// Removes an endpoint; its pending deliveries fail.
    async fn delete_webhook(&self, tenant: TenantPk, id: &WebhookId, at: Timestamp) -> StoreResult<Option<Webhook>>;

    /// Fans committed events out to the endpoints that want them: reads up to `limit` events
    /// after the fan-out cursor, writes one pending delivery per (event, endpoint) due at
    /// `now`, and moves the cursor, in one transaction. Endpoints get only events committed
    /// after they were created.
    async fn fan_out(&self, limit: u32, now: Timestamp) -> StoreResult<FanOut>;
    /// Takes up to `limit` of the endpoint's due deliveries (oldest first) and leases them:
    /// they are not due again before `lease_until`, so a crash mid-attempt retries them.
    async fn claim_deliveries(
        &self,
        webhook: WebhookPk,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryJob>>;
    /// When the endpoint's earliest pending delivery is due, if it has any.
    async fn next_delivery_due(&self, webhook: WebhookPk) -> StoreResult<Option<Timestamp>>;
    /// Stores an attempt and its outcome; updates the endpoint's failure streak, and disables
    /// it (with a `webhook.disabled` event, failing its pending deliveries) when asked.
    async fn record_attempt(&self, delivery: DeliveryPk, result: AttemptResult) -> StoreResult<Option<Delivery>>;
    async fn list_deliveries(&self, tenant: TenantPk, webhook: WebhookPk, filter: &DeliveryFilter) -> StoreResult<Vec<Delivery>>;
    async fn get_delivery(&self, tenant: TenantPk, id: &DeliveryId) -> StoreResult<Option<(Delivery, Vec<Attempt>)>>;
    /// Makes a delivery due again now, whatever its status (a manual retry).
    async fn retry_delivery(&self, tenant: TenantPk, id: &DeliveryId, now: Timestamp) -> StoreResult<Option<Delivery>>;
    /// Deletes up to [`PRUNE_BATCH`] finished deliveries (with their attempts) older than `before`.
    async fn prune_deliveries(&self, before: Timestamp) -> StoreResult<u64>;
}

/// A tenant's address book: contacts, contact groups and the blacklist. Batch methods run in
/// one transaction and answer per item, in the order given, so the reference APIs' bulk calls
/// (per-item results, all or nothing on failure) map onto them directly.
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// Creates contacts, in order. A number the tenant already has (also earlier in the same
    /// batch) is `Existing`, or with `upsert` `Updated` (see [`ContactPatch::from_upsert`]).
    async fn write_contacts(
        &self,
        tenant: TenantPk,
        contacts: Vec<NewContact>,
        upsert: bool,
        at: Timestamp,
    ) -> StoreResult<Vec<ContactWrite>>;
    async fn get_contact(&self, tenant: TenantPk, contact: &ContactRef) -> StoreResult<Option<Contact>>;
    /// By id (ids sort by creation time), after the cursor: a cursor whose contact was
    /// deleted meanwhile still continues where it was.
    async fn list_contacts(&self, tenant: TenantPk, filter: &ContactFilter) -> StoreResult<Vec<Contact>>;
    /// How many contacts match the filter's `search` and `group` (cursor and limit ignored):
    /// the totals paged clients and the reference APIs show.
    async fn count_contacts(&self, tenant: TenantPk, filter: &ContactFilter) -> StoreResult<u64>;
    /// Applies patches, in order.
    async fn update_contacts(
        &self,
        tenant: TenantPk,
        updates: Vec<(ContactRef, ContactPatch)>,
        at: Timestamp,
    ) -> StoreResult<Vec<ContactUpdate>>;
    /// Deletes contacts with their group memberships; `None` for those that do not exist.
    async fn delete_contacts(&self, tenant: TenantPk, contacts: Vec<ContactRef>) -> StoreResult<Vec<Option<Contact>>>;

    /// `Conflict` when the tenant has a group of that name (ignoring ASCII case).
    async fn create_contact_group(&self, group: NewContactGroup) -> StoreResult<ContactGroup>;
    async fn get_contact_group(&self, tenant: TenantPk, group: &GroupRef) -> StoreResult<Option<ContactGroup>>;
    /// By id (oldest first), after the cursor.
    async fn list_contact_groups(&self, tenant: TenantPk, after: Option<&ContactGroupId>, limit: u32) -> StoreResult<Vec<ContactGroup>>;
    /// `Conflict` when another group of the tenant has that name.
    async fn rename_contact_group(
        &self,
        tenant: TenantPk,
        group: &ContactGroupId,
        name: String,
        at: Timestamp,
    ) -> StoreResult<Option<ContactGroup>>;
    /// Deletes a group and its memberships; the contacts stay.
    async fn delete_contact_group(&self, tenant: TenantPk, group: &ContactGroupId) -> StoreResult<Option<ContactGroup>>;
    /// Adds numbers to a group, creating a bare contact (named after its number) for each
    /// number the tenant does not know. `None` when the group does not exist.
    async fn add_group_members(
        &self,
        tenant: TenantPk,
        group: &ContactGroupId,
        phones: Vec<PhoneNumber>,
        at: Timestamp,
    ) -> StoreResult<Option<Vec<MemberAdd>>>;
    /// `None` when the group does not exist.
    async fn remove_group_members(
        &self,
        tenant: TenantPk,
        group: &ContactGroupId,
        phones: Vec<PhoneNumber>,
        at: Timestamp,
    ) -> StoreResult<Option<Vec<MemberRemove>>>;
    /// Every member's number, in the order they became contacts: what a broadcast to the
    /// group fans out to. Empty for an unknown group.
    async fn group_member_phones(&self, tenant: TenantPk, group: &ContactGroupId) -> StoreResult<Vec<PhoneNumber>>;

    /// Blacklists a number, with a `blacklist.added` event in the same transaction. Idempotent:
    /// a number already on the list keeps its entry (and no event is written).
    async fn add_to_blacklist(&self, entry: BlacklistEntry) -> StoreResult<BlacklistAdd>;
    async fn remove_from_blacklist(&self, tenant: TenantPk, phone: &PhoneNumber) -> StoreResult<Option<BlacklistEntry>>;
    /// Sorted by number, after the cursor (a number: stable even when entries are removed).
    async fn list_blacklist(&self, tenant: TenantPk, after: Option<&PhoneNumber>, limit: u32) -> StoreResult<Vec<BlacklistEntry>>;
    /// One indexed lookup: cheap enough for every send.
    async fn is_blacklisted(&self, tenant: TenantPk, phone: &PhoneNumber) -> StoreResult<bool>;
    /// Which of these numbers are blacklisted (for a broadcast: one query per few hundred numbers).
    async fn blacklisted_among(&self, tenant: TenantPk, phones: &[PhoneNumber]) -> StoreResult<HashSet<PhoneNumber>>;
    /// The tenant's opt-out rules; the default (no keywords) when never saved.
    async fn get_blacklist_settings(&self, tenant: TenantPk) -> StoreResult<BlacklistSettings>;
    /// Replaces the tenant's opt-out rules (`updated_at` is set to `at`).
    async fn put_blacklist_settings(&self, tenant: TenantPk, settings: BlacklistSettings, at: Timestamp) -> StoreResult<BlacklistSettings>;
}

/// Everything the app needs from a backend.
pub trait Store:
    TenantStore
    + DeviceStore
    + MessageStore
    + EventStore
    + WebhookStore
    + ContactStore
    + MediaStore
    + SessionStore
    + ReportStore
    + AgentStore
    + ReminderStore
    + AutoReplyStore
    + SendingStore
    + JobStore
    + TemplateStore
    + UsageStore
{
}

impl<T> Store for T where
    T: TenantStore
        + DeviceStore
        + MessageStore
        + EventStore
        + WebhookStore
        + ContactStore
        + MediaStore
        + MediaStore
        + SessionStore
        + ReportStore
        + AgentStore
        + ReminderStore
        + AutoReplyStore
        + SendingStore
        + JobStore
        + TemplateStore
        + UsageStore
{
}
