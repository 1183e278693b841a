//! Auto-reply rules: an inbound message that matches a rule's keyword is answered with the
//! rule's reply, from the device that received it. A `fallback` rule answers what no keyword
//! rule matched — the "closing message" of reference 001, sent at most once per chat per
//! cooldown.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{AutoReplyId, AutoReplyPk, DeviceId, DevicePk, TenantPk};
use crate::message::MessageContent;
use crate::{MessageId, Recipient, Timestamp};

/// How a rule's keyword is compared with an inbound text (always ignoring case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The whole text, trimmed, is the keyword.
    Exact,
    /// The keyword appears anywhere in the text.
    Contains,
    /// The keyword is a regular expression (`regex` crate syntax) found in the text.
    Regex,
    /// No keyword: answers any message no keyword rule matched (a closing or away message).
    Fallback,
}

impl MatchKind {
    pub const ALL: [MatchKind; 4] = [Self::Exact, Self::Contains, Self::Regex, Self::Fallback];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Contains => "contains",
            Self::Regex => "regex",
            Self::Fallback => "fallback",
        }
    }
}

impl FromStr for MatchKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

impl fmt::Display for MatchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule is, apart from its identity.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    /// `None` for a `fallback` rule.
    pub keyword: Option<String>,
    pub match_kind: MatchKind,
    pub reply: MessageContent,
    /// Also answer messages written in groups.
    pub groups: bool,
    pub enabled: bool,
    /// After answering a chat, the rule stays quiet for that chat this long.
    pub cooldown_secs: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AutoReply {
    pub pk: AutoReplyPk,
    pub id: AutoReplyId,
    pub tenant_pk: TenantPk,
    /// The device whose inbound messages it answers; `None`: every device of the tenant.
    pub device: Option<(DevicePk, DeviceId)>,
    pub spec: RuleSpec,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewAutoReply {
    pub id: AutoReplyId,
    pub tenant_pk: TenantPk,
    pub device_pk: Option<DevicePk>,
    pub spec: RuleSpec,
    pub created_at: Timestamp,
}

/// An auto-reply that was queued, kept to limit replies per chat and to recognise a reply
/// arriving at another device of this server (never answered in turn).
#[derive(Debug, Clone, PartialEq)]
pub struct AutoReplySent {
    pub tenant_pk: TenantPk,
    pub rule: AutoReplyPk,
    pub device_pk: DevicePk,
    pub chat: Recipient,
    /// The inbound message it answered.
    pub inbound: MessageId,
    /// The reply.
    pub message: MessageId,
    pub at: Timestamp,
}
