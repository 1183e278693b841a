//! Contacts: validated once here for every way in (JSON, CSV, later the compat layers), written
//! in batches with a result per item, found by id or by number.
//!
//! Both tenant keys and device tokens may use the address book: it belongs to the tenant, and a
//! device that sends campaigns needs it. Everything is scoped to the caller's tenant.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::NaiveDate;
use kirim_core::contact::{
    Contact, ContactFilter, ContactPatch, ContactRef, ContactUpdate, ContactWrite, CustomFields, NewContact, ids_in_order,
};
use kirim_core::{ContactId, PhoneNumber, Recipient};

use super::Actor;
use super::contact_groups::resolve_group;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

pub const MAX_NAME: usize = 255;
pub const MAX_EMAIL: usize = 254;
pub const MAX_ADDRESS: usize = 1_000;
pub const MAX_CUSTOM_FIELDS: usize = 50;
pub const MAX_CUSTOM_KEY: usize = 64;
pub const MAX_CUSTOM_VALUE: usize = 1_000;
/// Contacts in one `POST /v1/contacts/batch`.
pub const MAX_BATCH: usize = 1_000;
/// Numbers in one bulk call (delete, group members).
pub const MAX_PHONES: usize = 1_000;

/// A contact as a request gives it, before validation: text only, so JSON bodies, CSV rows
/// and the compat layers' form fields all arrive the same way.
#[derive(Debug, Clone, Default)]
pub struct ContactFields {
    pub phone: String,
    pub name: String,
    pub email: Option<String>,
    pub address: Option<String>,
    pub birthday: Option<String>,
    pub custom: BTreeMap<String, String>,
}

/// What to change; `None` leaves a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ContactChanges {
    pub phone: Option<String>,
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub birthday: Option<Option<String>>,
    pub custom: Option<Option<BTreeMap<String, String>>>,
}

/// Why one item of a batch was refused: the field (relative to the item) and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl From<ApiError> for FieldError {
    fn from(e: ApiError) -> Self {
        Self { field: e.detail.field.unwrap_or_else(|| "body".into()), message: e.detail.message }
    }
}

/// How one item of a batch or import ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    Created(Contact),
    Updated(Contact),
    /// The number is a contact already (maybe from earlier in the same batch); unchanged.
    Existing(Contact),
    Invalid(FieldError),
}

/// How one number of a bulk delete ended.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    Deleted(Contact),
    NotFound(PhoneNumber),
    Invalid(FieldError),
}

/// Parses a number in any form the API accepts (also a user JID), with the server's default
/// country; `field` names it in the error.
pub fn parse_phone(state: &AppState, field: &str, raw: &str) -> ApiResult<PhoneNumber> {
    match Recipient::parse(raw, state.config.default_country) {
        Ok(Recipient::Phone(phone)) => Ok(phone),
        Ok(Recipient::Group(_)) => Err(ApiError::field(field, format!("`{field}` is a group; give a person's phone number"))),
        Err(e) => Err(ApiError::field(field, format!("`{field}` {e}"))),
    }
}

/// Text that is blank counts as absent: CSV cells and form fields cannot say null.
fn present(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

pub fn check_len(field: &str, value: &str, max: usize) -> ApiResult<()> {
    let chars = value.chars().count();
    if chars > max {
        return Err(ApiError::field(field, format!("`{field}` has {chars} characters; at most {max} are allowed")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ApiError::field(field, format!("`{field}` contains control characters; remove them")));
    }
    Ok(())
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::field("name", "`name` is required: the contact's name (e.g. \"Siti Aminah\")"));
    }
    check_len("name", name, MAX_NAME)?;
    Ok(name.to_owned())
}

/// A plausible address, not a proof of one: one `@`, a dotted domain, no spaces.
pub fn check_email(email: &str) -> ApiResult<String> {
    let bad = || ApiError::field("email", format!("`email` `{email}` is not an email address like name@example.com"));
    if email.chars().count() > MAX_EMAIL || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let domain_ok =
        domain.contains('.') && domain.split('.').all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    if local.is_empty() || local.len() > 64 || domain.contains('@') || !domain_ok {
        return Err(bad());
    }
    Ok(email.to_owned())
}

fn check_birthday(raw: &str) -> ApiResult<NaiveDate> {
    let bad = || ApiError::field("birthday", format!("`birthday` `{raw}` must be a date written YYYY-MM-DD, e.g. 1992-03-12"));
    // chrono's %Y would also take signed or five-digit years.
    if raw.len() != 10 || !raw.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() }) {
        return Err(bad());
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| bad())
}

fn check_custom(custom: BTreeMap<String, String>) -> ApiResult<CustomFields> {
    if custom.len() > MAX_CUSTOM_FIELDS {
        return Err(ApiError::field("custom", format!("`custom` has {} fields; at most {MAX_CUSTOM_FIELDS} are allowed", custom.len())));
    }
    let mut out = CustomFields::new();
    for (key, value) in custom {
        let trimmed = key.trim();
        if trimmed.is_empty() {
            return Err(ApiError::field("custom", "`custom` has a field with an empty name; name every field"));
        }
        let field = format!("custom.{trimmed}");
        check_len(&field, trimmed, MAX_CUSTOM_KEY).map_err(|_| {
            ApiError::field(&field, format!("`custom` field names are 1 to {MAX_CUSTOM_KEY} characters without control characters"))
        })?;
        check_len(&field, &value, MAX_CUSTOM_VALUE)?;
        if out.insert(trimmed.to_owned(), value).is_some() {
            return Err(ApiError::field(&field, format!("`custom` names `{trimmed}` twice; keep one")));
        }
    }
    Ok(out)
}

fn check_address(address: &str) -> ApiResult<String> {
    check_len("address", address, MAX_ADDRESS)?;
    Ok(address.to_owned())
}

/// Validates a whole contact; the first fault is named.
pub fn validate(state: &AppState, fields: ContactFields) -> ApiResult<NewContact> {
    let phone = parse_phone(state, "phone", &fields.phone)?;
    Ok(NewContact {
        id: ContactId::generate(),
        phone,
        name: check_name(&fields.name)?,
        email: present(fields.email).map(|e| check_email(&e)).transpose()?,
        address: present(fields.address).map(|a| check_address(&a)).transpose()?,
        birthday: present(fields.birthday).map(|b| check_birthday(&b)).transpose()?,
        custom: check_custom(fields.custom)?,
    })
}

/// Validates a patch; a blank optional field clears it, like `null`.
pub fn validate_changes(state: &AppState, changes: ContactChanges) -> ApiResult<ContactPatch> {
    Ok(ContactPatch {
        phone: changes.phone.map(|p| parse_phone(state, "phone", &p)).transpose()?,
        name: changes.name.map(|n| check_name(&n)).transpose()?,
        email: changes.email.map(|e| present(e).map(|e| check_email(&e)).transpose()).transpose()?,
        address: changes.address.map(|a| present(a).map(|a| check_address(&a)).transpose()).transpose()?,
        birthday: changes.birthday.map(|b| present(b).map(|b| check_birthday(&b)).transpose()).transpose()?,
        custom: changes.custom.map(|c| check_custom(c.unwrap_or_default())).transpose()?,
    })
}

/// A contact in a path: its id (`ct_…`) or its number in any form. Neither is a 404, as a
/// wrong id in a path is everywhere else.
pub fn contact_ref(state: &AppState, raw: &str) -> ApiResult<ContactRef> {
    if raw.starts_with(ContactId::PREFIX) {
        return raw.parse().map(ContactRef::Id).map_err(|_| ApiError::not_found("contact"));
    }
    parse_phone(state, "phone", raw).map(ContactRef::Phone).map_err(|_| ApiError::not_found("contact"))
}

/// Validates every item, writes the valid ones in one transaction, and answers per item in
/// the order given. Items that failed to parse arrive as `Err`.
pub async fn write_batch(
    state: &AppState,
    auth: &Actor,
    items: Vec<Result<ContactFields, FieldError>>,
    upsert: bool,
) -> ApiResult<Vec<ItemOutcome>> {
    let mut outcomes: Vec<Option<ItemOutcome>> = Vec::with_capacity(items.len());
    let mut valid = Vec::new();
    for item in items {
        match item.and_then(|fields| validate(state, fields).map_err(FieldError::from)) {
            Ok(new) => {
                valid.push(new);
                outcomes.push(None);
            }
            Err(e) => outcomes.push(Some(ItemOutcome::Invalid(e))),
        }
    }
    // Increasing ids, so the batch is listed in the order it was given.
    let ids = ids_in_order(valid.len());
    for (new, id) in valid.iter_mut().zip(ids) {
        new.id = id;
    }
    let written =
        if valid.is_empty() { Vec::new() } else { state.store.write_contacts(auth.tenant_pk(), valid, upsert, state.clock.now()).await? };
    let mut written = written.into_iter();
    let outcomes = outcomes
        .into_iter()
        .map(|slot| match slot {
            Some(invalid) => Some(invalid),
            None => written.next().map(|w| match w {
                ContactWrite::Created(c) => ItemOutcome::Created(c),
                ContactWrite::Updated(c) => ItemOutcome::Updated(c),
                ContactWrite::Existing(c) => ItemOutcome::Existing(c),
            }),
        })
        .collect::<Option<Vec<_>>>();
    outcomes.ok_or_else(|| ApiError::unavailable("the store answered fewer items than it was given; nothing is lost, retry"))
}

/// Creates one contact; a number the tenant has is `409 contact_exists`.
pub async fn create(state: &AppState, auth: &Actor, fields: ContactFields) -> ApiResult<Contact> {
    let new = validate(state, fields)?;
    let written = state.store.write_contacts(auth.tenant_pk(), vec![new], false, state.clock.now()).await?;
    match written.into_iter().next() {
        Some(ContactWrite::Created(c)) | Some(ContactWrite::Updated(c)) => Ok(c),
        Some(ContactWrite::Existing(c)) => Err(ApiError::conflict(
            "contact_exists",
            format!("{} is already a contact ({}); change it with PATCH /v1/contacts/{}", c.phone, c.id, c.id),
        )
        .with_field("phone")),
        None => Err(ApiError::unavailable("the contact was not stored; try again")),
    }
}

pub async fn get(state: &AppState, auth: &Actor, id_or_phone: &str) -> ApiResult<Contact> {
    let contact_ref = contact_ref(state, id_or_phone)?;
    state.store.get_contact(auth.tenant_pk(), &contact_ref).await?.ok_or_else(|| ApiError::not_found("contact"))
}

/// What a list asks for, as text from the query string.
#[derive(Debug, Clone, Default)]
pub struct ListInput {
    pub search: Option<String>,
    /// A group's id or name.
    pub group: Option<String>,
    pub after: Option<String>,
    pub limit: u32,
}

pub async fn list(state: &AppState, auth: &Actor, input: ListInput) -> ApiResult<Vec<Contact>> {
    let group = match input.group.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        Some(raw) => Some(resolve_group(state, auth, raw).await.map_err(|e| e.with_field("group"))?.id),
        None => None,
    };
    let after = match input.after.as_deref() {
        Some(raw) => Some(
            raw.parse::<ContactId>()
                .map_err(|_| ApiError::field("after", "`after` must be a contact id: the `next` of the previous page"))?,
        ),
        None => None,
    };
    if input.search.as_ref().is_some_and(|s| s.chars().count() > MAX_NAME) {
        return Err(ApiError::field("search", format!("`search` is at most {MAX_NAME} characters")));
    }
    let filter = ContactFilter { search: input.search, group, after, offset: 0, limit: input.limit };
    Ok(state.store.list_contacts(auth.tenant_pk(), &filter).await?)
}

/// A numbered page of the address book (`offset` contacts skipped, oldest first) and how
/// many contacts there are: the reference APIs page by number, the native list by cursor.
pub async fn page(state: &AppState, auth: &Actor, offset: u32, limit: u32) -> ApiResult<(Vec<Contact>, u64)> {
    let filter = ContactFilter { search: None, group: None, after: None, offset, limit };
    let total = state.store.count_contacts(auth.tenant_pk(), &filter).await?;
    let rows = state.store.list_contacts(auth.tenant_pk(), &filter).await?;
    Ok((rows, total))
}

pub async fn update(state: &AppState, auth: &Actor, id_or_phone: &str, changes: ContactChanges) -> ApiResult<Contact> {
    let contact_ref = contact_ref(state, id_or_phone)?;
    let patch = validate_changes(state, changes)?;
    let out = state.store.update_contacts(auth.tenant_pk(), vec![(contact_ref, patch)], state.clock.now()).await?;
    match out.into_iter().next() {
        Some(ContactUpdate::Updated(c)) => Ok(c),
        Some(ContactUpdate::PhoneTaken(other)) => Err(ApiError::conflict(
            "phone_taken",
            format!("{} is another contact's number ({}); delete or change that contact first", other.phone, other.id),
        )
        .with_field("phone")),
        Some(ContactUpdate::NotFound) => Err(ApiError::not_found("contact")),
        None => Err(ApiError::unavailable("the change was not stored; try again")),
    }
}

pub async fn delete(state: &AppState, auth: &Actor, id_or_phone: &str) -> ApiResult<Contact> {
    let contact_ref = contact_ref(state, id_or_phone)?;
    let out = state.store.delete_contacts(auth.tenant_pk(), vec![contact_ref]).await?;
    out.into_iter().next().flatten().ok_or_else(|| ApiError::not_found("contact"))
}

/// Splits a comma-separated list of numbers (`?phones=a,b,c`, as the reference APIs send them).
pub fn split_phones(field: &str, raw: Option<&str>) -> ApiResult<Vec<String>> {
    let phones: Vec<String> = raw.unwrap_or_default().split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if phones.is_empty() {
        return Err(ApiError::field(field, format!("`{field}` is required: numbers separated by commas, e.g. +60123456789,+60129876543")));
    }
    if phones.len() > MAX_PHONES {
        return Err(ApiError::field(field, format!("`{field}` has {} numbers; send at most {MAX_PHONES} per request", phones.len())));
    }
    Ok(phones)
}

/// Numbers as sent, each with what it parsed to.
pub type ParsedPhones = Vec<(String, Result<PhoneNumber, FieldError>)>;

/// Parses every number of a bulk call (field `phones`); also returns the valid ones, in order.
pub fn parse_phones(state: &AppState, phones: Vec<String>) -> (ParsedPhones, Vec<PhoneNumber>) {
    let parsed: ParsedPhones = phones
        .into_iter()
        .map(|raw| {
            let phone = parse_phone(state, "phones", &raw).map_err(FieldError::from);
            (raw, phone)
        })
        .collect();
    let valid = parsed.iter().filter_map(|(_, p)| p.as_ref().ok().cloned()).collect();
    (parsed, valid)
}

/// Deletes contacts by number, in one transaction, with a result per number given.
pub async fn delete_many(state: &AppState, auth: &Actor, phones: Vec<String>) -> ApiResult<Vec<(String, DeleteOutcome)>> {
    let (parsed, valid) = parse_phones(state, phones);
    let refs: Vec<ContactRef> = valid.into_iter().map(ContactRef::Phone).collect();
    let deleted = if refs.is_empty() { Vec::new() } else { state.store.delete_contacts(auth.tenant_pk(), refs).await? };
    let mut deleted = deleted.into_iter();
    let mut out = Vec::with_capacity(parsed.len());
    for (raw, phone) in parsed {
        let outcome = match phone {
            Err(e) => DeleteOutcome::Invalid(e),
            Ok(phone) => match deleted.next() {
                Some(Some(c)) => DeleteOutcome::Deleted(c),
                Some(None) => DeleteOutcome::NotFound(phone),
                None => return Err(ApiError::unavailable("the store answered fewer numbers than it was given; retry")),
            },
        };
        out.push((raw, outcome));
    }
    Ok(out)
}

/// `422` for a request that is too big to be a batch at all.
pub fn check_batch_size(field: &str, len: usize, max: usize) -> ApiResult<()> {
    if len == 0 {
        return Err(ApiError::field(field, format!("`{field}` is empty; send at least one")));
    }
    if len > max {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            format!("`{field}` has {len} items; send at most {max} per request and split the rest"),
        )
        .with_field(field));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_birthdays_are_checked() {
        for ok in ["a@example.com", "first.last+tag@mail.example.co.id"] {
            assert_eq!(check_email(ok).ok().as_deref(), Some(ok));
        }
        for bad in ["", "plain", "a@b", "a@@b.com", "a b@c.com", "@example.com", "a@.com", "a@example..com", "a@-x.com"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_birthday("1992-03-12").is_ok());
        for bad in ["12-03-1992", "1992-3-12", "1992-02-30", "+1992-03-12", "19920312", "1992-03-12T00:00"] {
            assert!(check_birthday(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn custom_fields_are_flat_named_and_bounded() {
        let ok = check_custom([(" tier ".to_owned(), "gold".to_owned())].into()).unwrap();
        assert_eq!(ok.get("tier").map(String::as_str), Some("gold"));
        assert!(check_custom([(" ".to_owned(), "x".to_owned())].into()).is_err());
        assert!(check_custom([("a".to_owned(), "x".to_owned()), (" a".to_owned(), "y".to_owned())].into()).is_err(), "same name twice");
        let many: BTreeMap<String, String> = (0..=MAX_CUSTOM_FIELDS).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert_eq!(check_custom(many).unwrap_err().detail.field.as_deref(), Some("custom"));
        let long = check_custom([("k".to_owned(), "v".repeat(MAX_CUSTOM_VALUE + 1))].into()).unwrap_err();
        assert_eq!(long.detail.field.as_deref(), Some("custom.k"));
    }

    #[test]
    fn phone_lists_are_split_and_bounded() {
        assert_eq!(split_phones("phones", Some(" +60123456789, ,60129876543 ")).unwrap().len(), 2);
        assert!(split_phones("phones", Some(" , ")).is_err());
        assert!(split_phones("phones", None).is_err());
        let many = vec!["60123456789"; MAX_PHONES + 1].join(",");
        assert!(split_phones("phones", Some(&many)).is_err());
    }
}
