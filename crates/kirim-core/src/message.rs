//! Messages: content, direction and the forward-only status machine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{DeviceId, DevicePk, MessageId, MessagePk, TenantPk};
use crate::{Recipient, Timestamp};

/// The longest text WhatsApp accepts in one message.
pub const MAX_TEXT_CHARS: usize = 4096;

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

/// `pending → sending → sent → delivered → read (→ played)`, or `failed` / `cancelled`;
/// inbound messages are `received` (then `read` once the device reads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
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
    pub const ALL: [MessageStatus; 9] = [
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
            Self::Pending => 0,
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
            && !matches!(self, Self::Failed | Self::Cancelled | Self::Pending)
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextContent {
    /// The text, at most 4,096 characters.
    pub body: String,
    /// Show a preview of the first link in the text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preview_url: bool,
}

/// What a message carries. The JSON form is `{"type": "text", "text": {...}}`: the type names
/// the field that holds the content, as in the WhatsApp Cloud API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    Text { text: TextContent },
}

impl MessageContent {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
        }
    }

    pub fn text(body: impl Into<String>) -> Self {
        Self::Text { text: TextContent { body: body.into(), preview_url: false } }
    }

    /// The text of the message, if it has one (for previews, auto-replies and reports).
    pub fn body(&self) -> Option<&str> {
        match self {
            Self::Text { text } => Some(&text.body),
        }
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
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
    pub played_at: Option<Timestamp>,
    pub failed_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl Message {
    /// Every status the message went through, with its time, oldest first.
    pub fn history(&self) -> Vec<StatusChange> {
        let first = match self.direction {
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
    /// When the message may first be tried (now, or a scheduled time).
    pub not_before: Timestamp,
    pub created_at: Timestamp,
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

    #[test]
    fn content_json_names_its_type() {
        let json = serde_json::to_value(MessageContent::text("hi")).unwrap();
        assert_eq!(json, serde_json::json!({"type": "text", "text": {"body": "hi"}}));
        let back: MessageContent = serde_json::from_value(json).unwrap();
        assert_eq!(back.body(), Some("hi"));
    }
}
