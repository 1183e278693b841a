//! Messages: content, direction and the forward-only status machine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{DeviceId, DevicePk, MessageId, MessagePk, TenantPk};
use crate::sending::SendOptions;
use crate::{Recipient, Timestamp};

pub use crate::content::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outbound,
    Inbound,
}

impl Direction {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
        }
    }
}

impl FromStr for Direction {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "outbound" => Ok(Self::Outbound),
            "inbound" => Ok(Self::Inbound),
            _ => Err(()),
        }
    }
}

/// `(scheduled →) pending → sending → sent → delivered → read (→ played)`, or `failed` /
/// `cancelled`; inbound messages are `received` (then `read` once the device reads them).
/// A `scheduled` message waits outside the send queue until its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Scheduled,
    Pending,
    Sending,
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
    Cancelled,
    Received,
}

impl MessageStatus {
    pub const ALL: [MessageStatus; 10] = [
        Self::Scheduled,
        Self::Pending,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Played,
        Self::Failed,
        Self::Cancelled,
        Self::Received,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Played => "played",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Received => "received",
        }
    }

    /// Position on the delivery path; receipts may only raise it.
    pub fn rank(&self) -> u8 {
        match self {
            Self::Scheduled | Self::Pending => 0,
            Self::Sending => 1,
            Self::Sent | Self::Received => 2,
            Self::Delivered => 3,
            Self::Read => 4,
            Self::Played => 5,
            Self::Failed | Self::Cancelled => 9,
        }
    }

    /// A receipt (`sent`, `delivered`, `read`, `played`) applies only if it moves the message forward,
    /// so a late `delivered` never overwrites `read`.
    pub fn accepts_receipt(&self, receipt: MessageStatus) -> bool {
        matches!(receipt, Self::Sent | Self::Delivered | Self::Read | Self::Played)
            && !matches!(self, Self::Failed | Self::Cancelled | Self::Pending | Self::Scheduled)
            && receipt.rank() > self.rank()
    }

    pub fn is_final(&self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled | Self::Read | Self::Played)
    }
}

impl FromStr for MessageStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or(())
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a message's history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatusChange {
    pub status: MessageStatus,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub pk: MessagePk,
    pub id: MessageId,
    pub tenant_pk: TenantPk,
    pub device_pk: DevicePk,
    pub device_id: DeviceId,
    pub direction: Direction,
    /// The other side: the recipient of an outbound message, the chat of an inbound one.
    pub chat: Recipient,
    /// In a group chat, the member who wrote an inbound message.
    pub sender: Option<String>,
    pub content: MessageContent,
    pub status: MessageStatus,
    pub priority: i32,
    pub ref_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// SHA-256 of the request that created it, to tell an idempotent retry from a conflicting reuse.
    pub request_hash: Option<String>,
    /// The id the network knows this message by.
    pub network_id: Option<String>,
    /// The network id of the message this one replies to.
    pub reply_to: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    /// When a scheduled message was (or is) due, and the time zone it was given in.
    pub schedule: Option<Schedule>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
    pub played_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    /// Secret, source tag and resend link, as the send asked.
    pub options: SendOptions,
    /// When a secret message's content was erased (it was sent); `content` is then
    /// [`MessageContent::erased`].
    pub erased_at: Option<Timestamp>,
}

impl Message {
    /// Every status the message went through, with its time, oldest first.
    pub fn history(&self) -> Vec<StatusChange> {
        let first = match self.direction {
            Direction::Outbound if self.schedule.is_some() => MessageStatus::Scheduled,
            Direction::Outbound => MessageStatus::Pending,
            Direction::Inbound => MessageStatus::Received,
        };
        let mut steps = vec![StatusChange { status: first, at: self.created_at }];
        let later = [
            (MessageStatus::Sent, self.sent_at),
            (MessageStatus::Delivered, self.delivered_at),
            (MessageStatus::Read, self.read_at),
            (MessageStatus::Played, self.played_at),
            (MessageStatus::Failed, self.failed_at),
            (MessageStatus::Cancelled, self.cancelled_at),
        ];
        for (status, at) in later {
            if let Some(at) = at
                && status != first
            {
                steps.push(StatusChange { status, at });
            }
        }
        steps.sort_by_key(|s| s.at);
        steps
    }
}

/// An outbound message to insert; the store assigns `pk` and writes the `message.queued` event.
#[derive(Debug, Clone)]
pub struct NewOutbound {
    pub id: MessageId,
    pub tenant_pk: TenantPk,
    pub device_pk: DevicePk,
    pub chat: Recipient,
    pub content: MessageContent,
    pub priority: i32,
    pub ref_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub reply_to: Option<String>,
    pub max_attempts: u32,
    /// When the message may first be tried: now, or its scheduled time.
    pub not_before: Timestamp,
    /// Set for a scheduled message: it waits as `scheduled` until `not_before`.
    pub schedule: Option<Schedule>,
    pub created_at: Timestamp,
    pub options: SendOptions,
    /// What it spends of the tenant's daily budget (checked and debited by the store).
    pub charge: crate::usage::Charge,
}

/// When a scheduled message is due; the zone is kept to show the time as the client gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub at: Timestamp,
    /// An IANA zone name such as `Asia/Jakarta`.
    pub timezone: Option<String>,
}

/// A change to a message that has not left yet; `None` fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UnsentPatch {
    pub schedule: Option<Schedule>,
    pub content: Option<MessageContent>,
    pub chat: Option<Recipient>,
}

/// A message a device received; stored before the connector acknowledges it.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub id: MessageId,
    pub tenant_pk: TenantPk,
    pub device_pk: DevicePk,
    pub network_id: String,
    pub chat: Recipient,
    pub sender: Option<String>,
    pub content: MessageContent,
    pub reply_to: Option<String>,
    pub received_at: Timestamp,
}

/// How one attempt to send ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    Sent {
        network_id: String,
    },
    /// Back to pending, to be tried again at `at`.
    Retry {
        at: Timestamp,
        error: String,
    },
    Failed {
        error: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_only_move_forward() {
        use MessageStatus::*;
        assert!(Sending.accepts_receipt(Sent));
        assert!(Sent.accepts_receipt(Delivered));
        assert!(Sent.accepts_receipt(Read), "a read may arrive without a delivered");
        assert!(!Read.accepts_receipt(Delivered), "a late delivered never overwrites read");
        assert!(!Failed.accepts_receipt(Delivered));
        assert!(!Delivered.accepts_receipt(Pending));
        for s in MessageStatus::ALL {
            assert_eq!(s.as_str().parse::<MessageStatus>(), Ok(s));
        }
    }
}
