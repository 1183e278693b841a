//! Store traits for reminders and auto-reply rules (kept apart from `store.rs`, which holds
//! the core aggregates).

use async_trait::async_trait;

use crate::auto_reply::{AutoReply, AutoReplySent, NewAutoReply, RuleSpec};
use crate::id::{AutoReplyId, DevicePk, ReminderId, ReminderPk, TenantPk};
use crate::message::Message;
use crate::reminder::{Materialise, NewReminder, Occurrence, Reminder, ReminderChange};
use crate::store::StoreResult;
use crate::{Recipient, Timestamp};

/// Filters for listing reminders; oldest first, after the cursor.
#[derive(Debug, Clone, Default)]
pub struct ReminderFilter {
    pub device: Option<DevicePk>,
    pub after: Option<ReminderId>,
    pub limit: u32,
}

#[async_trait]
pub trait ReminderStore: Send + Sync {
    /// `Conflict` when the device is not a live device of the tenant.
    async fn create_reminder(&self, reminder: NewReminder) -> StoreResult<Reminder>;
    async fn get_reminder(&self, tenant: TenantPk, id: &ReminderId) -> StoreResult<Option<Reminder>>;
    async fn list_reminders(&self, tenant: TenantPk, filter: &ReminderFilter) -> StoreResult<Vec<Reminder>>;
    /// Replaces the plan, status and cursor; with `cancel_scheduled`, cancels (with their
    /// events) the reminder's occurrences still `scheduled`, in the same transaction.
    async fn update_reminder(&self, tenant: TenantPk, id: &ReminderId, change: ReminderChange) -> StoreResult<Option<Reminder>>;
    /// Deletes a reminder and cancels its occurrences still `scheduled`; sent ones stay.
    async fn delete_reminder(&self, tenant: TenantPk, id: &ReminderId, at: Timestamp) -> StoreResult<Option<Reminder>>;
    /// The reminder's occurrences, newest first, with their messages' current status.
    async fn reminder_occurrences(&self, reminder: ReminderPk, limit: u32) -> StoreResult<Vec<Occurrence>>;
    /// Active reminders whose next occurrence is due at or before `until`, earliest first.
    async fn due_reminders(&self, until: Timestamp, limit: u32) -> StoreResult<Vec<Reminder>>;
    /// When the earliest active reminder is due.
    async fn next_reminder_at(&self) -> StoreResult<Option<Timestamp>>;
    /// In one transaction: inserts the occurrence's message (with its `message.scheduled`
    /// event) or records it skipped, links it to the reminder, and moves the reminder on to
    /// the next occurrence (finished when there is none). Only if the reminder is still
    /// active at `index`; otherwise nothing is written and `None` is returned, so a worker
    /// that runs twice (or two workers) never doubles an occurrence.
    async fn materialise_occurrence(&self, step: Materialise) -> StoreResult<Option<(Reminder, Option<Message>)>>;
}

#[async_trait]
pub trait AutoReplyStore: Send + Sync {
    /// `Conflict` when the device is not a live device of the tenant.
    async fn create_auto_reply(&self, rule: NewAutoReply) -> StoreResult<AutoReply>;
    async fn get_auto_reply(&self, tenant: TenantPk, id: &AutoReplyId) -> StoreResult<Option<AutoReply>>;
    /// Oldest first, after the cursor; `device` keeps the device's rules and the tenant-wide ones.
    async fn list_auto_replies(
        &self,
        tenant: TenantPk,
        device: Option<DevicePk>,
        after: Option<&AutoReplyId>,
        limit: u32,
    ) -> StoreResult<Vec<AutoReply>>;
    async fn update_auto_reply(&self, tenant: TenantPk, id: &AutoReplyId, spec: RuleSpec, at: Timestamp) -> StoreResult<Option<AutoReply>>;
    async fn delete_auto_reply(&self, tenant: TenantPk, id: &AutoReplyId) -> StoreResult<Option<AutoReply>>;
    /// The enabled rules that apply to a device's inbound messages: the device's own first,
    /// then the tenant-wide ones, each oldest first.
    async fn rules_for_device(&self, tenant: TenantPk, device: DevicePk) -> StoreResult<Vec<AutoReply>>;
    /// Records a queued reply; a second record for the same reply message is ignored.
    async fn record_auto_reply(&self, sent: AutoReplySent) -> StoreResult<()>;
    /// The replies the device sent to the chat since `since`, newest first.
    async fn recent_auto_replies(&self, device: DevicePk, chat: &Recipient, since: Timestamp) -> StoreResult<Vec<AutoReplySent>>;
    /// Whether a message with this id (a network id, as another device of this server received
    /// it) is an auto-reply of this server.
    async fn is_auto_reply(&self, message_id: &str) -> StoreResult<bool>;
}
