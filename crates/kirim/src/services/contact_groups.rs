//! Contact groups: named broadcast lists, found by id or by name (the reference APIs add to
//! and remove from groups by name). Members are added and removed by number, with a result
//! per number, in one transaction.

use kirim_core::contact::{Contact, ContactFilter, ContactGroup, GroupRef, MemberAdd, MemberRemove, NewContactGroup};
use kirim_core::store::StoreError;
use kirim_core::{ContactGroupId, ContactId, PhoneNumber};

use super::Actor;
use super::contacts::{FieldError, parse_phones};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

pub const MAX_GROUP_NAME: usize = 100;

/// How one number of a membership change ended.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberOutcome {
    Added { phone: PhoneNumber, contact: ContactId, created_contact: bool },
    AlreadyMember { phone: PhoneNumber, contact: ContactId },
    Removed { phone: PhoneNumber },
    NotMember { phone: PhoneNumber },
    Invalid(FieldError),
}

/// A group name: trimmed, 1–100 characters, and not shaped like a group id (a path names a
/// group by either, so a name must never be mistaken for an id).
pub fn check_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::field("name", "`name` is required: the group's name (e.g. \"VIP customers\")"));
    }
    let chars = name.chars().count();
    if chars > MAX_GROUP_NAME {
        return Err(ApiError::field("name", format!("`name` has {chars} characters; at most {MAX_GROUP_NAME} are allowed")));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::field("name", "`name` contains control characters; remove them"));
    }
    if name.starts_with(&format!("{}_", ContactGroupId::PREFIX)) {
        return Err(ApiError::field("name", "`name` may not start with `cg_`, which is how group ids start"));
    }
    Ok(name.to_owned())
}

fn group_ref(raw: &str) -> ApiResult<GroupRef> {
    if raw.starts_with(&format!("{}_", ContactGroupId::PREFIX)) {
        return raw.parse().map(GroupRef::Id).map_err(|_| ApiError::not_found("contact group"));
    }
    Ok(GroupRef::Name(raw.trim().to_owned()))
}

/// The tenant's group with this id or name; 404 otherwise.
pub async fn resolve_group(state: &AppState, auth: &Actor, id_or_name: &str) -> ApiResult<ContactGroup> {
    let group_ref = group_ref(id_or_name)?;
    state.store.get_contact_group(auth.tenant_pk(), &group_ref).await?.ok_or_else(|| ApiError::not_found("contact group"))
}

fn name_taken(e: StoreError, name: &str) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::conflict("name_taken", format!("a contact group named `{name}` exists; choose another name or add to that group"))
                .with_field("name")
        }
        other => other.into(),
    }
}

pub async fn create(state: &AppState, auth: &Actor, name: &str) -> ApiResult<ContactGroup> {
    let name = check_name(name)?;
    let new =
        NewContactGroup { id: ContactGroupId::generate(), tenant_pk: auth.tenant_pk(), name: name.clone(), created_at: state.clock.now() };
    state.store.create_contact_group(new).await.map_err(|e| name_taken(e, &name))
}

pub async fn list(state: &AppState, auth: &Actor, after: Option<&str>, limit: u32) -> ApiResult<Vec<ContactGroup>> {
    let after = match after {
        Some(raw) => Some(
            raw.parse::<ContactGroupId>()
                .map_err(|_| ApiError::field("after", "`after` must be a group id: the `next` of the previous page"))?,
        ),
        None => None,
    };
    Ok(state.store.list_contact_groups(auth.tenant_pk(), after.as_ref(), limit).await?)
}

pub async fn rename(state: &AppState, auth: &Actor, id_or_name: &str, name: &str) -> ApiResult<ContactGroup> {
    let group = resolve_group(state, auth, id_or_name).await?;
    let name = check_name(name)?;
    let renamed = state.store.rename_contact_group(auth.tenant_pk(), &group.id, name.clone(), state.clock.now()).await;
    renamed.map_err(|e| name_taken(e, &name))?.ok_or_else(|| ApiError::not_found("contact group"))
}

pub async fn delete(state: &AppState, auth: &Actor, id_or_name: &str) -> ApiResult<ContactGroup> {
    let group = resolve_group(state, auth, id_or_name).await?;
    state.store.delete_contact_group(auth.tenant_pk(), &group.id).await?.ok_or_else(|| ApiError::not_found("contact group"))
}

fn short() -> ApiError {
    ApiError::unavailable("the store answered fewer numbers than it was given; retry")
}

/// Adds numbers to the group, creating bare contacts (named after their number) for numbers
/// that are not contacts yet. Returns the group as it is now, and a result per number.
pub async fn add_members(
    state: &AppState,
    auth: &Actor,
    id_or_name: &str,
    phones: Vec<String>,
) -> ApiResult<(ContactGroup, Vec<(String, MemberOutcome)>)> {
    let group = resolve_group(state, auth, id_or_name).await?;
    let (parsed, valid) = parse_phones(state, phones);
    let added = match valid.is_empty() {
        true => Vec::new(),
        false => state
            .store
            .add_group_members(auth.tenant_pk(), &group.id, valid, state.clock.now())
            .await?
            .ok_or_else(|| ApiError::not_found("contact group"))?,
    };
    let mut added = added.into_iter();
    let mut out = Vec::with_capacity(parsed.len());
    for (raw, phone) in parsed {
        let outcome = match phone {
            Err(e) => MemberOutcome::Invalid(e),
            Ok(phone) => match added.next().ok_or_else(short)? {
                MemberAdd::Added { contact, created_contact } => MemberOutcome::Added { phone, contact, created_contact },
                MemberAdd::AlreadyMember { contact } => MemberOutcome::AlreadyMember { phone, contact },
            },
        };
        out.push((raw, outcome));
    }
    let group = resolve_group(state, auth, group.id.as_str()).await?;
    Ok((group, out))
}

/// Takes numbers out of the group; their contacts stay.
pub async fn remove_members(
    state: &AppState,
    auth: &Actor,
    id_or_name: &str,
    phones: Vec<String>,
) -> ApiResult<(ContactGroup, Vec<(String, MemberOutcome)>)> {
    let group = resolve_group(state, auth, id_or_name).await?;
    let (parsed, valid) = parse_phones(state, phones);
    let removed = match valid.is_empty() {
        true => Vec::new(),
        false => state
            .store
            .remove_group_members(auth.tenant_pk(), &group.id, valid, state.clock.now())
            .await?
            .ok_or_else(|| ApiError::not_found("contact group"))?,
    };
    let mut removed = removed.into_iter();
    let mut out = Vec::with_capacity(parsed.len());
    for (raw, phone) in parsed {
        let outcome = match phone {
            Err(e) => MemberOutcome::Invalid(e),
            Ok(phone) => match removed.next().ok_or_else(short)? {
                MemberRemove::Removed => MemberOutcome::Removed { phone },
                MemberRemove::NotMember => MemberOutcome::NotMember { phone },
            },
        };
        out.push((raw, outcome));
    }
    let group = resolve_group(state, auth, group.id.as_str()).await?;
    Ok((group, out))
}

/// A page of the group's members, oldest contact first.
pub async fn members(state: &AppState, auth: &Actor, id_or_name: &str, after: Option<&str>, limit: u32) -> ApiResult<Vec<Contact>> {
    let group = resolve_group(state, auth, id_or_name).await?;
    let after = match after {
        Some(raw) => Some(
            raw.parse::<ContactId>()
                .map_err(|_| ApiError::field("after", "`after` must be a contact id: the `next` of the previous page"))?,
        ),
        None => None,
    };
    let filter = ContactFilter { search: None, group: Some(group.id), after, offset: 0, limit };
    Ok(state.store.list_contacts(auth.tenant_pk(), &filter).await?)
}
