//! A tenant's address book: contacts, contact groups (named broadcast lists) and the
//! blacklist (numbers never to be messaged, with the opt-out keywords that put a number on it).
//!
//! The merge rules (what a patch or an upsert changes) and the search normalisation live here,
//! not in a backend, so every store gives the same answers.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::json;

use crate::Timestamp;
use crate::event::{NewEvent, types};
use crate::id::{ContactGroupId, ContactGroupPk, ContactId, ContactPk, EventId, TenantPk};
use crate::phone::PhoneNumber;

/// A contact's own fields (`{"company": "Acme"}`): flat, text only.
pub type CustomFields = BTreeMap<String, String>;

/// The reason recorded when a number blacklists itself by sending an opt-out keyword.
pub const OPT_OUT_REASON: &str = "opt_out";

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub pk: ContactPk,
    pub id: ContactId,
    pub tenant_pk: TenantPk,
    /// Unique within the tenant: the number is how messages and the reference APIs name a contact.
    pub phone: PhoneNumber,
    pub name: String,
    pub email: Option<String>,
    pub address: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub custom: CustomFields,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `n` new contact ids in increasing order. Lists are ordered by id (time-ordered, and a cursor
/// that survives the deletion of its contact), but ids made in the same millisecond are in
/// random order: a batch given these keeps its own order in lists.
pub fn ids_in_order(n: usize) -> Vec<ContactId> {
    let mut ids: Vec<ContactId> = (0..n).map(|_| ContactId::generate()).collect();
    ids.sort();
    ids
}

/// A contact to create (validated by the caller). The id is used only if the phone is new.
#[derive(Debug, Clone, PartialEq)]
pub struct NewContact {
    pub id: ContactId,
    pub phone: PhoneNumber,
    pub name: String,
    pub email: Option<String>,
    pub address: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub custom: CustomFields,
}

impl NewContact {
    /// A contact known only by its number (added to a group by phone): named after the number.
    pub fn bare(phone: PhoneNumber) -> Self {
        Self {
            id: ContactId::generate(),
            name: phone.as_str().to_owned(),
            phone,
            email: None,
            address: None,
            birthday: None,
            custom: CustomFields::new(),
        }
    }
}

/// Fields to change; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPatch {
    pub phone: Option<PhoneNumber>,
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub birthday: Option<Option<NaiveDate>>,
    /// Replaces every custom field.
    pub custom: Option<CustomFields>,
}

impl ContactPatch {
    /// What an upsert of `new` does to the stored contact: the fields it gives replace the
    /// stored ones, the fields it leaves out are kept (a CSV without an email column must not
    /// wipe the emails already known).
    pub fn from_upsert(new: &NewContact) -> Self {
        Self {
            phone: None,
            name: Some(new.name.clone()),
            email: new.email.clone().map(Some),
            address: new.address.clone().map(Some),
            birthday: new.birthday.map(Some),
            custom: (!new.custom.is_empty()).then(|| new.custom.clone()),
        }
    }
}

impl Contact {
    /// This contact with `patch` applied (timestamps untouched; the store sets `updated_at`).
    pub fn patched(&self, patch: &ContactPatch) -> Contact {
        let mut c = self.clone();
        if let Some(phone) = &patch.phone {
            c.phone = phone.clone();
        }
        if let Some(name) = &patch.name {
            c.name = name.clone();
        }
        if let Some(email) = &patch.email {
            c.email = email.clone();
        }
        if let Some(address) = &patch.address {
            c.address = address.clone();
        }
        if let Some(birthday) = patch.birthday {
            c.birthday = birthday;
        }
        if let Some(custom) = &patch.custom {
            c.custom = custom.clone();
        }
        c
    }

    /// The text searches look in (see [`search_text`]).
    pub fn search_text(&self) -> String {
        search_text(&self.name, &self.phone, self.email.as_deref())
    }
}

/// What list searches look in: the name, the number's digits and the email, lowercased
/// (Unicode, not just ASCII), one per line so a search never matches across two fields.
pub fn search_text(name: &str, phone: &PhoneNumber, email: Option<&str>) -> String {
    format!("{}\n{}\n{}", name.to_lowercase(), phone.digits(), email.unwrap_or_default().to_lowercase())
}

/// The needle a search query becomes: lowercased; a query that looks like a phone number
/// (`+60 12-345`) keeps only its digits, as numbers are stored without separators. `None` for
/// an empty query.
pub fn search_needle(query: &str) -> Option<String> {
    let query = query.trim().replace(['\n', '\r'], " ");
    if query.is_empty() {
        return None;
    }
    let phone_like = query.chars().all(|c| c.is_ascii_digit() || " +-.()".contains(c)) && query.chars().any(|c| c.is_ascii_digit());
    if phone_like {
        return Some(query.chars().filter(char::is_ascii_digit).collect());
    }
    Some(query.to_lowercase())
}

/// A contact named by its id or by its number (the reference APIs update and delete by number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactRef {
    Id(ContactId),
    Phone(PhoneNumber),
}

/// How one contact of a batch was written.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactWrite {
    Created(Contact),
    /// The number existed and the batch asked to upsert: the given fields were applied.
    Updated(Contact),
    /// The number existed (maybe earlier in the same batch); nothing was written.
    Existing(Contact),
}

/// How one update of a batch went.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactUpdate {
    Updated(Contact),
    NotFound,
    /// The patch gives a number another contact of the tenant has (returned); nothing was written.
    PhoneTaken(Contact),
}

/// Listing contacts: by id (oldest first), after the cursor.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Matched against name, phone and email (see [`search_needle`]).
    pub search: Option<String>,
    /// Only members of this group.
    pub group: Option<ContactGroupId>,
    pub after: Option<ContactId>,
    /// Rows to skip after the cursor: page numbers, as the reference APIs page (the native API
    /// pages by cursor only, which a concurrent insert cannot shift).
    pub offset: u32,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactGroup {
    pub pk: ContactGroupPk,
    pub id: ContactGroupId,
    pub tenant_pk: TenantPk,
    /// Unique within the tenant, ignoring ASCII case (the reference APIs name groups by name).
    pub name: String,
    pub member_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewContactGroup {
    pub id: ContactGroupId,
    pub tenant_pk: TenantPk,
    pub name: String,
    pub created_at: Timestamp,
}

/// A group named by its id or by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    Id(ContactGroupId),
    Name(String),
}

/// What adding one number to a group did.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberAdd {
    /// Now a member; `created_contact` when the number was not a contact yet.
    Added {
        contact: ContactId,
        created_contact: bool,
    },
    AlreadyMember {
        contact: ContactId,
    },
}

/// What removing one number from a group did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberRemove {
    Removed,
    /// Not in the group (or not a contact at all).
    NotMember,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlacklistEntry {
    pub tenant_pk: TenantPk,
    pub phone: PhoneNumber,
    /// Why, in the customer's words, or [`OPT_OUT_REASON`].
    pub reason: Option<String>,
    pub created_at: Timestamp,
}

/// Adding to the blacklist is idempotent: the entry that was already there is returned as is.
#[derive(Debug, Clone, PartialEq)]
pub enum BlacklistAdd {
    /// Newly blacklisted; a `blacklist.added` event was written with it.
    Added(BlacklistEntry),
    Existing(BlacklistEntry),
}

impl BlacklistAdd {
    pub fn entry(&self) -> &BlacklistEntry {
        match self {
            Self::Added(e) | Self::Existing(e) => e,
        }
    }
}

/// A tenant's opt-out rules. The default has no keywords: nothing opts out by itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlacklistSettings {
    /// An inbound text equal to one of these (trimmed, ignoring case) blacklists its sender.
    pub opt_out_keywords: Vec<String>,
    /// Sent back to a number that opted out.
    pub confirmation: Option<String>,
    /// `None` until the tenant first saves settings.
    pub updated_at: Option<Timestamp>,
}

impl BlacklistSettings {
    /// Whether an inbound text is an opt-out: the whole text, trimmed, is a keyword, ignoring
    /// case. "stop" opts out; "please don't stop" does not.
    pub fn is_opt_out(&self, body: &str) -> bool {
        let body = body.trim().to_lowercase();
        !body.is_empty() && self.opt_out_keywords.iter().any(|k| k.trim().to_lowercase() == body)
    }

    /// The longest keyword, in characters: longer texts need not be compared at all.
    pub fn longest_keyword(&self) -> usize {
        self.opt_out_keywords.iter().map(|k| k.trim().chars().count()).max().unwrap_or(0)
    }
}

/// The `blacklist.added` event, written in the same transaction as the entry: an opt-out must
/// reach the customer's systems (their CRM stops campaigns to the number too).
pub fn blacklist_added_event(entry: &BlacklistEntry) -> NewEvent {
    NewEvent {
        id: EventId::generate(),
        tenant_pk: entry.tenant_pk,
        device_pk: None,
        event_type: types::BLACKLIST_ADDED,
        data: json!({"phone": entry.phone, "reason": entry.reason}),
        created_at: entry.created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(raw: &str) -> PhoneNumber {
        PhoneNumber::parse(raw, None).expect("valid")
    }

    #[test]
    fn upserts_keep_what_they_leave_out() {
        let mut new = NewContact::bare(phone("+60123456789"));
        new.name = "Aisyah".into();
        let patch = ContactPatch::from_upsert(&new);
        assert_eq!(patch.name.as_deref(), Some("Aisyah"));
        assert_eq!((patch.email, patch.address, patch.birthday, patch.custom), (None, None, None, None));
        new.email = Some("a@example.com".into());
        new.custom.insert("tier".into(), "gold".into());
        let patch = ContactPatch::from_upsert(&new);
        assert_eq!(patch.email, Some(Some("a@example.com".into())));
        assert_eq!(patch.custom.map(|c| c.len()), Some(1));
    }

    #[test]
    fn search_matches_names_in_any_case_and_numbers_in_any_form() {
        let text = search_text("Ñandú Siti", &phone("+60123456789"), Some("Siti@Example.COM"));
        for query in ["ñANDÚ", "siti", "example.com", "+60 12-345", "(012) 345", "6789"] {
            let needle = search_needle(query).expect("a needle");
            assert!(text.contains(&needle), "{query} → {needle}");
        }
        assert!(!text.contains(&search_needle("siti\n6012").unwrap()), "never across two fields");
        assert_eq!(search_needle("   "), None);
    }

    #[test]
    fn opt_out_is_the_whole_text_ignoring_case() {
        let s = BlacklistSettings { opt_out_keywords: vec!["STOP".into(), "Berhenti".into()], ..Default::default() };
        assert!(s.is_opt_out("stop") && s.is_opt_out("  Stop \n") && s.is_opt_out("BERHENTI"));
        assert!(!s.is_opt_out("please stop") && !s.is_opt_out("") && !s.is_opt_out("stopp"));
        assert!(!BlacklistSettings::default().is_opt_out("stop"), "no keywords, no opt-out");
        assert_eq!(s.longest_keyword(), 8);
    }
}
