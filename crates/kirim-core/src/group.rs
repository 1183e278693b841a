//! WhatsApp groups and number checks as the connector boundary speaks them. Groups live on the
//! network, not in Kirim's store: every read asks the device's connector, so what the API
//! shows is what the phone shows.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::{PhoneNumber, Timestamp};

/// WhatsApp's own limits, which every connector shares.
pub const MAX_SUBJECT_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 2048;
/// Members of one group, its creator included.
pub const MAX_GROUP_SIZE: usize = 257;

/// A group's JID, `120363025246125888@g.us`. Parsed from the full JID or the bare id, as the
/// reference APIs pass either.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupJid(String);

impl GroupJid {
    /// Accepts `…@g.us` or the bare id: digits, optionally `creator-timestamp` (old groups).
    pub fn parse(input: &str) -> Option<Self> {
        let input = input.trim();
        let id = input.strip_suffix("@g.us").unwrap_or(input);
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            && !id.starts_with('-')
            && !id.ends_with('-');
        ok.then(|| Self(format!("{id}@g.us")))
    }

    /// Trusts a value written by [`GroupJid::as_str`] before.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id without `@g.us` (what the reference APIs call a group id).
    pub fn id(&self) -> &str {
        self.0.strip_suffix("@g.us").unwrap_or(&self.0)
    }
}

impl fmt::Display for GroupJid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GroupJid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for GroupJid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantRole {
    Member,
    Admin,
    /// The group's creator: an admin no other admin can demote.
    Superadmin,
}

impl ParticipantRole {
    pub fn is_admin(self) -> bool {
        !matches!(self, Self::Member)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The member's WhatsApp id as the network gives it (a phone JID, or a LID in groups
    /// that hide numbers).
    pub jid: String,
    /// The member's number, when the network reveals it.
    pub phone: Option<PhoneNumber>,
    pub role: ParticipantRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub jid: GroupJid,
    pub subject: String,
    pub description: Option<String>,
    /// Who created the group, when known.
    pub owner: Option<PhoneNumber>,
    pub created_at: Option<Timestamp>,
    /// Only admins may send (WhatsApp's "announcement" groups).
    pub announce: bool,
    pub participants: Vec<Participant>,
}

/// What to do to some members of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantAction {
    Add,
    Remove,
    Promote,
    Demote,
}

impl ParticipantAction {
    pub const ALL: [Self; 4] = [Self::Add, Self::Remove, Self::Promote, Self::Demote];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Promote => "promote",
            Self::Demote => "demote",
        }
    }
}

/// How one number fared in a change of members. Each number has its own outcome: WhatsApp
/// adds some members of a request and refuses others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantOutcome {
    /// Done (added, removed, promoted or demoted).
    Ok,
    /// Adding someone already in the group.
    AlreadyMember,
    /// Removing, promoting or demoting someone not in the group.
    NotMember,
    NotOnWhatsapp,
    /// Their privacy settings let only contacts add them: send them the invite link.
    InviteRequired,
    /// They left the group recently; WhatsApp refuses to add them back for a while.
    RecentlyLeft,
    /// The group has [`MAX_GROUP_SIZE`] members.
    GroupFull,
    /// Anything else the network answered.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantResult {
    pub phone: PhoneNumber,
    pub outcome: ParticipantOutcome,
    /// What the network said, for `Failed`.
    pub detail: Option<String>,
}

impl ParticipantResult {
    pub fn new(phone: PhoneNumber, outcome: ParticipantOutcome) -> Self {
        Self { phone, outcome, detail: None }
    }
}

/// A group just created, with how each requested member fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedGroup {
    pub group: GroupInfo,
    pub participants: Vec<ParticipantResult>,
}

/// Whether a number has a WhatsApp account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberCheck {
    pub phone: PhoneNumber,
    pub on_whatsapp: bool,
    /// The account's JID, when it exists (`60123456789@s.whatsapp.net`).
    pub jid: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_jids_parse_with_or_without_the_server() {
        assert_eq!(GroupJid::parse("120363025246125888@g.us").unwrap().as_str(), "120363025246125888@g.us");
        assert_eq!(GroupJid::parse(" 120363025246125888 ").unwrap().as_str(), "120363025246125888@g.us");
        assert_eq!(GroupJid::parse("6281234-1600000000").unwrap().id(), "6281234-1600000000");
        for bad in ["", "@g.us", "abc@g.us", "12@s.whatsapp.net", "-12", "12-", "1 2"] {
            assert_eq!(GroupJid::parse(bad), None, "{bad}");
        }
    }
}
