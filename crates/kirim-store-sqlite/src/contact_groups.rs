//! Contact groups (named broadcast lists) and their members. A member is a contact, so
//! deleting a contact takes it out of every group; adding an unknown number creates a bare
//! contact for it in the same transaction.

use kirim_core::contact::{ContactGroup, ContactRef, GroupRef, MemberAdd, MemberRemove, NewContact, NewContactGroup, ids_in_order};
use kirim_core::id::{ContactGroupPk, TenantPk};
use kirim_core::store::{StoreError, StoreResult};
use kirim_core::{ContactGroupId, PhoneNumber, Timestamp};
use rusqlite::params;

use crate::SqliteStore;
use crate::contacts::{find, insert};
use crate::error::{Bad, OpError, ReadResult, WriteError};
use crate::rows::{Cols, ms, parsed, time};
use crate::writer::Ctx;

/// Every group column plus its member count (one index range per group: the primary key of
/// `contact_group_members` starts with the group).
macro_rules! select_group {
    () => {
        "SELECT g.*, (SELECT count(*) FROM contact_group_members m WHERE m.group_pk = g.pk) AS member_count FROM contact_groups g"
    };
}

fn group(row: &impl Cols) -> Result<ContactGroup, Bad> {
    Ok(ContactGroup {
        pk: ContactGroupPk(row.int("pk")?),
        id: parsed::<ContactGroupId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        name: row.text("name")?,
        member_count: row.int("member_count")?.max(0) as u64,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn by_pk(ctx: &Ctx, pk: ContactGroupPk) -> Result<ContactGroup, WriteError> {
    ctx.one(concat!(select_group!(), " WHERE g.pk = ?"), [pk.0], |row| Ok(group(row)?))
}

fn by_id(ctx: &Ctx, tenant: TenantPk, id: &ContactGroupId) -> Result<Option<ContactGroup>, WriteError> {
    ctx.opt(concat!(select_group!(), " WHERE g.tenant_pk = ? AND g.id = ?"), params![tenant.0, id.as_str()], |row| Ok(group(row)?))
}

/// Refuses a name another group of the tenant has, before any statement could fail on the
/// unique index (which would roll back the writer's whole batch).
fn check_name_free(ctx: &Ctx, tenant: TenantPk, name: &str, except: Option<ContactGroupPk>) -> Result<(), OpError> {
    let taken = ctx.opt(
        "SELECT pk FROM contact_groups WHERE tenant_pk = ? AND name = ? COLLATE NOCASE AND pk != ?",
        params![tenant.0, name, except.map_or(0, |p| p.0)],
        |row| Ok(row.int("pk")?),
    )?;
    match taken {
        Some(_) => Err(OpError::Refuse(StoreError::Conflict(format!("a contact group named `{name}` exists")))),
        None => Ok(()),
    }
}

fn create_op(ctx: &mut Ctx, g: &NewContactGroup) -> Result<ContactGroup, OpError> {
    check_name_free(ctx, g.tenant_pk, &g.name, None)?;
    let pk = ctx.one(
        "INSERT INTO contact_groups (id, tenant_pk, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4) RETURNING pk",
        params![g.id.as_str(), g.tenant_pk.0, g.name.as_str(), ms(g.created_at)],
        |row| Ok(row.int("pk")?),
    )?;
    Ok(by_pk(ctx, ContactGroupPk(pk))?)
}

fn rename_op(
    ctx: &mut Ctx,
    (tenant, id, name, at): &(TenantPk, ContactGroupId, String, Timestamp),
) -> Result<Option<ContactGroup>, OpError> {
    let Some(current) = by_id(ctx, *tenant, id)? else { return Ok(None) };
    check_name_free(ctx, *tenant, name, Some(current.pk))?;
    ctx.exec("UPDATE contact_groups SET name = ?, updated_at = ? WHERE pk = ?", params![name.as_str(), ms(*at), current.pk.0])?;
    Ok(Some(by_pk(ctx, current.pk)?))
}

fn delete_op(ctx: &mut Ctx, (tenant, id): &(TenantPk, ContactGroupId)) -> Result<Option<ContactGroup>, OpError> {
    let Some(current) = by_id(ctx, *tenant, id)? else { return Ok(None) };
    ctx.exec("DELETE FROM contact_group_members WHERE group_pk = ?", [current.pk.0])?;
    ctx.exec("DELETE FROM contact_groups WHERE pk = ?", [current.pk.0])?;
    Ok(Some(current))
}

type MembersInput = (TenantPk, ContactGroupId, Vec<PhoneNumber>, Timestamp);

fn add_op(ctx: &mut Ctx, (tenant, id, phones, at): &MembersInput) -> Result<Option<Vec<MemberAdd>>, OpError> {
    let Some(g) = by_id(ctx, *tenant, id)? else { return Ok(None) };
    let mut out = Vec::with_capacity(phones.len());
    // Bare contacts keep the order of the numbers given.
    for (phone, id) in phones.iter().zip(ids_in_order(phones.len())) {
        let (contact, created_contact) = match find(ctx, *tenant, &ContactRef::Phone(phone.clone()))? {
            Some(c) => (c, false),
            None => (insert(ctx, *tenant, &NewContact { id, ..NewContact::bare(phone.clone()) }, *at)?, true),
        };
        let added = ctx.exec(
            "INSERT INTO contact_group_members (group_pk, contact_pk, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            params![g.pk.0, contact.pk.0, ms(*at)],
        )?;
        out.push(if added > 0 {
            MemberAdd::Added { contact: contact.id, created_contact }
        } else {
            MemberAdd::AlreadyMember { contact: contact.id }
        });
    }
    if out.iter().any(|m| matches!(m, MemberAdd::Added { .. })) {
        ctx.exec("UPDATE contact_groups SET updated_at = ? WHERE pk = ?", params![ms(*at), g.pk.0])?;
    }
    Ok(Some(out))
}

fn remove_op(ctx: &mut Ctx, (tenant, id, phones, at): &MembersInput) -> Result<Option<Vec<MemberRemove>>, OpError> {
    let Some(g) = by_id(ctx, *tenant, id)? else { return Ok(None) };
    let mut out = Vec::with_capacity(phones.len());
    for phone in phones {
        let removed = ctx.exec(
            "DELETE FROM contact_group_members WHERE group_pk = ? \
             AND contact_pk = (SELECT pk FROM contacts WHERE tenant_pk = ? AND phone = ?)",
            params![g.pk.0, tenant.0, phone.as_str()],
        )?;
        out.push(if removed > 0 { MemberRemove::Removed } else { MemberRemove::NotMember });
    }
    if out.contains(&MemberRemove::Removed) {
        ctx.exec("UPDATE contact_groups SET updated_at = ? WHERE pk = ?", params![ms(*at), g.pk.0])?;
    }
    Ok(Some(out))
}

pub(crate) async fn create(store: &SqliteStore, g: NewContactGroup) -> StoreResult<ContactGroup> {
    store.writer().call(g, create_op).await
}

pub(crate) async fn get(store: &SqliteStore, tenant: TenantPk, group_ref: &GroupRef) -> StoreResult<Option<ContactGroup>> {
    let query = match group_ref {
        GroupRef::Id(id) => sqlx::query(concat!(select_group!(), " WHERE g.tenant_pk = ? AND g.id = ?")).bind(tenant.0).bind(id.as_str()),
        GroupRef::Name(name) => {
            sqlx::query(concat!(select_group!(), " WHERE g.tenant_pk = ? AND g.name = ? COLLATE NOCASE")).bind(tenant.0).bind(name.as_str())
        }
    };
    let row = query.fetch_optional(store.read()).await.read()?;
    row.as_ref().map(group).transpose().read()
}

pub(crate) async fn list(
    store: &SqliteStore,
    tenant: TenantPk,
    after: Option<&ContactGroupId>,
    limit: u32,
) -> StoreResult<Vec<ContactGroup>> {
    // Ordered by id (time-ordered), so a cursor whose group was deleted still works.
    let rows = sqlx::query(concat!(select_group!(), " WHERE g.tenant_pk = ? AND g.id > ? ORDER BY g.id LIMIT ?"))
        .bind(tenant.0)
        .bind(after.map_or("", |a| a.as_str()).to_owned())
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(store.read())
        .await
        .read()?;
    rows.iter().map(group).collect::<Result<_, _>>().read()
}

pub(crate) async fn rename(
    store: &SqliteStore,
    tenant: TenantPk,
    id: &ContactGroupId,
    name: String,
    at: Timestamp,
) -> StoreResult<Option<ContactGroup>> {
    store.writer().call((tenant, id.clone(), name, at), rename_op).await
}

pub(crate) async fn delete(store: &SqliteStore, tenant: TenantPk, id: &ContactGroupId) -> StoreResult<Option<ContactGroup>> {
    store.writer().call((tenant, id.clone()), delete_op).await
}

pub(crate) async fn add_members(
    store: &SqliteStore,
    tenant: TenantPk,
    id: &ContactGroupId,
    phones: Vec<PhoneNumber>,
    at: Timestamp,
) -> StoreResult<Option<Vec<MemberAdd>>> {
    store.writer().call((tenant, id.clone(), phones, at), add_op).await
}

pub(crate) async fn remove_members(
    store: &SqliteStore,
    tenant: TenantPk,
    id: &ContactGroupId,
    phones: Vec<PhoneNumber>,
    at: Timestamp,
) -> StoreResult<Option<Vec<MemberRemove>>> {
    store.writer().call((tenant, id.clone(), phones, at), remove_op).await
}

pub(crate) async fn member_phones(store: &SqliteStore, tenant: TenantPk, id: &ContactGroupId) -> StoreResult<Vec<PhoneNumber>> {
    let rows = sqlx::query(
        "SELECT c.phone FROM contact_groups g JOIN contact_group_members m ON m.group_pk = g.pk JOIN contacts c ON c.pk = m.contact_pk \
         WHERE g.tenant_pk = ? AND g.id = ? ORDER BY c.pk",
    )
    .bind(tenant.0)
    .bind(id.as_str())
    .fetch_all(store.read())
    .await
    .read()?;
    rows.iter().map(|row| row.text("phone").map(PhoneNumber::from_stored)).collect::<Result<_, _>>().read()
}
