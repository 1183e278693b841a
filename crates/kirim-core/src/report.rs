//! Reports over a tenant's messages: the message report (filters, numbered pages and a total,
//! the shape the reference products' report pages have), counts by status, and counts by
//! status per local day.
//!
//! Days are ranges of instants computed by the caller from a date and a time zone, so a store
//! never needs to know about zones (or their daylight-saving jumps).

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::id::DevicePk;
use crate::message::{Direction, Message, MessageStatus};
use crate::store::StoreResult;
use crate::{MessageId, Recipient, Timestamp, id::TenantPk};

/// Which messages a report covers. Every field narrows it; the default is all of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportFilter {
    pub status: Option<MessageStatus>,
    pub device: Option<DevicePk>,
    /// The other side of the chat.
    pub chat: Option<Recipient>,
    pub ref_id: Option<String>,
    /// The content type (`text`, `image`, …; see `MessageContent::KINDS`).
    pub kind: Option<&'static str>,
    pub direction: Option<Direction>,
    /// Only these messages (empty: no restriction).
    pub ids: Vec<MessageId>,
    /// Created at or after.
    pub from: Option<Timestamp>,
    /// Created before.
    pub to: Option<Timestamp>,
}

/// One local day: the instants `[start, end)` it spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub date: NaiveDate,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// How many messages of one status a day (or a report) has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCount {
    pub status: MessageStatus,
    pub count: u64,
}

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// The filter's messages, newest first (by creation time, then insertion), skipping `offset`.
    async fn report_messages(&self, tenant: TenantPk, filter: &ReportFilter, offset: u64, limit: u32) -> StoreResult<Vec<Message>>;
    /// How many messages the filter covers, by status (statuses without messages left out).
    async fn report_counts(&self, tenant: TenantPk, filter: &ReportFilter) -> StoreResult<Vec<StatusCount>>;
    /// For each day, how many of the filter's messages were created in it, by status. The
    /// filter's `from` and `to` are ignored (the days are the range). Days without messages
    /// are left out; so are statuses without messages.
    async fn report_days(&self, tenant: TenantPk, filter: &ReportFilter, days: &[DayRange]) -> StoreResult<Vec<(NaiveDate, StatusCount)>>;
}
