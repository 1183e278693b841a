//! Contacts: one per number and tenant. Batches are one writer operation each (one
//! transaction, items in order); reads and searches run on the pool. The trait's group and
//! blacklist methods are implemented in `contact_groups` and `blacklist`.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::NaiveDate;
use kirim_core::contact::{
    BlacklistAdd, BlacklistEntry, BlacklistSettings, Contact, ContactFilter, ContactGroup, ContactPatch, ContactRef, ContactUpdate,
    ContactWrite, GroupRef, MemberAdd, MemberRemove, NewContact, NewContactGroup, search_needle,
};
use kirim_core::id::{ContactPk, TenantPk};
use kirim_core::store::{ContactStore, StoreError, StoreResult};
use kirim_core::{ContactGroupId, ContactId, PhoneNumber, Timestamp};
use rusqlite::params;
use sqlx::Row;
use sqlx::sqlite::SqliteArguments;

use crate::error::{Bad, OpError, ReadResult, WriteError, decode};
use crate::rows::{self, Cols, ms, parsed, time};
use crate::writer::Ctx;
use crate::{SqliteStore, blacklist, contact_groups};

const BIRTHDAY_FORMAT: &str = "%Y-%m-%d";

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, OpError> {
    serde_json::to_string(value).map_err(|e| OpError::Refuse(StoreError::Conflict(format!("unstorable JSON: {e}"))))
}

pub(crate) fn contact(row: &impl Cols) -> Result<Contact, Bad> {
    let birthday = match row.opt_text("birthday")? {
        Some(raw) => Some(NaiveDate::parse_from_str(&raw, BIRTHDAY_FORMAT).map_err(|_| decode(format!("bad birthday `{raw}`")))?),
        None => None,
    };
    Ok(Contact {
        pk: ContactPk(row.int("pk")?),
        id: parsed::<ContactId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        phone: PhoneNumber::from_stored(row.text("phone")?),
        name: row.text("name")?,
        email: row.opt_text("email")?,
        address: row.opt_text("address")?,
        birthday,
        custom: rows::json(row, "custom")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn birthday(date: Option<NaiveDate>) -> Option<String> {
    date.map(|d| d.format(BIRTHDAY_FORMAT).to_string())
}

/// The tenant's contact by id or number, inside the writer's transaction.
pub(crate) fn find(ctx: &Ctx, tenant: TenantPk, contact_ref: &ContactRef) -> Result<Option<Contact>, WriteError> {
    match contact_ref {
        ContactRef::Id(id) => {
            ctx.opt("SELECT * FROM contacts WHERE tenant_pk = ? AND id = ?", params![tenant.0, id.as_str()], |row| Ok(contact(row)?))
        }
        ContactRef::Phone(phone) => {
            ctx.opt("SELECT * FROM contacts WHERE tenant_pk = ? AND phone = ?", params![tenant.0, phone.as_str()], |row| Ok(contact(row)?))
        }
    }
}

/// Inserts a contact whose number the caller checked is new to the tenant.
pub(crate) fn insert(ctx: &Ctx, tenant: TenantPk, new: &NewContact, at: Timestamp) -> Result<Contact, OpError> {
    let search = kirim_core::contact::search_text(&new.name, &new.phone, new.email.as_deref());
    let created = ctx.one(
        "INSERT INTO contacts (id, tenant_pk, phone, name, email, address, birthday, custom, search_text, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) RETURNING *",
        params![
            new.id.as_str(),
            tenant.0,
            new.phone.as_str(),
            new.name.as_str(),
            new.email.as_deref(),
            new.address.as_deref(),
            birthday(new.birthday),
            to_json(&new.custom)?,
            search,
            ms(at),
        ],
        |row| Ok(contact(row)?),
    )?;
    Ok(created)
}

/// Writes every field of `c` (as merged by the caller) to its row.
fn save(ctx: &Ctx, c: &Contact, at: Timestamp) -> Result<Contact, OpError> {
    let saved = ctx.one(
        "UPDATE contacts SET phone = ?, name = ?, email = ?, address = ?, birthday = ?, custom = ?, search_text = ?, updated_at = ? \
         WHERE pk = ? RETURNING *",
        params![
            c.phone.as_str(),
            c.name.as_str(),
            c.email.as_deref(),
            c.address.as_deref(),
            birthday(c.birthday),
            to_json(&c.custom)?,
            c.search_text(),
            ms(at),
            c.pk.0,
        ],
        |row| Ok(contact(row)?),
    )?;
    Ok(saved)
}

type WriteInput = (TenantPk, Vec<NewContact>, bool, Timestamp);

fn write(ctx: &mut Ctx, (tenant, contacts, upsert, at): &WriteInput) -> Result<Vec<ContactWrite>, OpError> {
    let mut out = Vec::with_capacity(contacts.len());
    for new in contacts {
        let written = match find(ctx, *tenant, &ContactRef::Phone(new.phone.clone()))? {
            Some(existing) if *upsert => ContactWrite::Updated(save(ctx, &existing.patched(&ContactPatch::from_upsert(new)), *at)?),
            Some(existing) => ContactWrite::Existing(existing),
            None => ContactWrite::Created(insert(ctx, *tenant, new, *at)?),
        };
        out.push(written);
    }
    Ok(out)
}

type UpdateInput = (TenantPk, Vec<(ContactRef, ContactPatch)>, Timestamp);

fn update(ctx: &mut Ctx, (tenant, updates, at): &UpdateInput) -> Result<Vec<ContactUpdate>, OpError> {
    let mut out = Vec::with_capacity(updates.len());
    for (contact_ref, patch) in updates {
        let Some(current) = find(ctx, *tenant, contact_ref)? else {
            out.push(ContactUpdate::NotFound);
            continue;
        };
        // Checked first, so a taken number refuses this item alone instead of aborting the batch.
        if let Some(phone) = patch.phone.as_ref().filter(|p| **p != current.phone)
            && let Some(other) = find(ctx, *tenant, &ContactRef::Phone(phone.clone()))?
        {
            out.push(ContactUpdate::PhoneTaken(other));
            continue;
        }
        out.push(ContactUpdate::Updated(save(ctx, &current.patched(patch), *at)?));
    }
    Ok(out)
}

fn delete(ctx: &mut Ctx, (tenant, contacts): &(TenantPk, Vec<ContactRef>)) -> Result<Vec<Option<Contact>>, OpError> {
    let mut out = Vec::with_capacity(contacts.len());
    for contact_ref in contacts {
        let found = find(ctx, *tenant, contact_ref)?;
        if let Some(c) = &found {
            // Explicit rather than left to ON DELETE CASCADE, which needs `foreign_keys` on.
            ctx.exec("DELETE FROM contact_group_members WHERE contact_pk = ?", [c.pk.0])?;
            ctx.exec("DELETE FROM contacts WHERE pk = ?", [c.pk.0])?;
        }
        out.push(found);
    }
    Ok(out)
}

/// A bound value of a query built from fixed fragments.
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, SqliteArguments> {
    for arg in args {
        query = match arg {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
        };
    }
    query
}

/// The conditions list and count share: tenant, search, group.
fn conditions(tenant: TenantPk, filter: &ContactFilter, sql: &mut String, args: &mut Vec<Arg>) {
    sql.push_str(" WHERE c.tenant_pk = ?");
    args.push(Arg::Int(tenant.0));
    if let Some(needle) = filter.search.as_deref().and_then(search_needle) {
        sql.push_str(" AND instr(c.search_text, ?) > 0");
        args.push(Arg::Text(needle));
    }
    if let Some(group) = &filter.group {
        sql.push_str(
            " AND c.pk IN (SELECT m.contact_pk FROM contact_group_members m JOIN contact_groups g ON g.pk = m.group_pk \
             WHERE g.tenant_pk = ? AND g.id = ?)",
        );
        args.push(Arg::Int(tenant.0));
        args.push(Arg::Text(group.as_str().to_owned()));
    }
}

impl SqliteStore {
    async fn read_contacts(&self, tenant: TenantPk, filter: &ContactFilter) -> StoreResult<Vec<Contact>> {
        let mut sql = String::from("SELECT c.* FROM contacts c");
        let mut args = Vec::new();
        conditions(tenant, filter, &mut sql, &mut args);
        // Ordered by id, so the cursor needs no lookup and outlives its contact.
        if let Some(after) = &filter.after {
            sql.push_str(" AND c.id > ?");
            args.push(Arg::Text(after.as_str().to_owned()));
        }
        sql.push_str(" ORDER BY c.id LIMIT ? OFFSET ?");
        args.push(Arg::Int(i64::from(filter.limit.clamp(1, 1000))));
        args.push(Arg::Int(i64::from(filter.offset)));
        // Only fixed fragments are concatenated above; every value is bound.
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_all(self.read()).await.read()?;
        rows.iter().map(contact).collect::<Result<_, _>>().read()
    }
}

#[async_trait]
impl ContactStore for SqliteStore {
    async fn write_contacts(
        &self,
        tenant: TenantPk,
        contacts: Vec<NewContact>,
        upsert: bool,
        at: Timestamp,
    ) -> StoreResult<Vec<ContactWrite>> {
        self.writer().call((tenant, contacts, upsert, at), write).await
    }

    async fn get_contact(&self, tenant: TenantPk, contact_ref: &ContactRef) -> StoreResult<Option<Contact>> {
        let (column, value) = match contact_ref {
            ContactRef::Id(id) => ("id", id.as_str()),
            ContactRef::Phone(phone) => ("phone", phone.as_str()),
        };
        let sql = format!("SELECT * FROM contacts WHERE tenant_pk = ? AND {column} = ?");
        // `column` is one of two fixed names; the values are bound.
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(value).fetch_optional(self.read()).await.read()?;
        row.as_ref().map(contact).transpose().read()
    }

    async fn list_contacts(&self, tenant: TenantPk, filter: &ContactFilter) -> StoreResult<Vec<Contact>> {
        self.read_contacts(tenant, filter).await
    }

    async fn count_contacts(&self, tenant: TenantPk, filter: &ContactFilter) -> StoreResult<u64> {
        let mut sql = String::from("SELECT count(*) AS n FROM contacts c");
        let mut args = Vec::new();
        conditions(tenant, filter, &mut sql, &mut args);
        // Only fixed fragments are concatenated above; every value is bound.
        let row = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_one(self.read()).await.read()?;
        let n: i64 = row.try_get("n").read()?;
        Ok(n.max(0) as u64)
    }

    async fn update_contacts(
        &self,
        tenant: TenantPk,
        updates: Vec<(ContactRef, ContactPatch)>,
        at: Timestamp,
    ) -> StoreResult<Vec<ContactUpdate>> {
        self.writer().call((tenant, updates, at), update).await
    }

    async fn delete_contacts(&self, tenant: TenantPk, contacts: Vec<ContactRef>) -> StoreResult<Vec<Option<Contact>>> {
        self.writer().call((tenant, contacts), delete).await
    }

    async fn create_contact_group(&self, group: NewContactGroup) -> StoreResult<ContactGroup> {
        contact_groups::create(self, group).await
    }

    async fn get_contact_group(&self, tenant: TenantPk, group: &GroupRef) -> StoreResult<Option<ContactGroup>> {
        contact_groups::get(self, tenant, group).await
    }

    async fn list_contact_groups(&self, tenant: TenantPk, after: Option<&ContactGroupId>, limit: u32) -> StoreResult<Vec<ContactGroup>> {
        contact_groups::list(self, tenant, after, limit).await
    }

    async fn rename_contact_group(
        &self,
        tenant: TenantPk,
        group: &ContactGroupId,
        name: String,
        at: Timestamp,
    ) -> StoreResult<Option<ContactGroup>> {
        contact_groups::rename(self, tenant, group, name, at).await
    }

    async fn delete_contact_group(&self, tenant: TenantPk, group: &ContactGroupId) -> StoreResult<Option<ContactGroup>> {
        contact_groups::delete(self, tenant, group).await
    }

    async fn add_group_members(
        &self,
        tenant: TenantPk,
        group: &ContactGroupId,
        phones: Vec<PhoneNumber>,
        at: Timestamp,
    ) -> StoreResult<Option<Vec<MemberAdd>>> {
        contact_groups::add_members(self, tenant, group, phones, at).await
    }

    async fn remove_group_members(
        &self,
        tenant: TenantPk,
        group: &ContactGroupId,
        phones: Vec<PhoneNumber>,
        at: Timestamp,
    ) -> StoreResult<Option<Vec<MemberRemove>>> {
        contact_groups::remove_members(self, tenant, group, phones, at).await
    }

    async fn group_member_phones(&self, tenant: TenantPk, group: &ContactGroupId) -> StoreResult<Vec<PhoneNumber>> {
        contact_groups::member_phones(self, tenant, group).await
    }

    async fn add_to_blacklist(&self, entry: BlacklistEntry) -> StoreResult<BlacklistAdd> {
        blacklist::add(self, entry).await
    }

    async fn remove_from_blacklist(&self, tenant: TenantPk, phone: &PhoneNumber) -> StoreResult<Option<BlacklistEntry>> {
        blacklist::remove(self, tenant, phone).await
    }

    async fn list_blacklist(&self, tenant: TenantPk, after: Option<&PhoneNumber>, limit: u32) -> StoreResult<Vec<BlacklistEntry>> {
        blacklist::list(self, tenant, after, limit).await
    }

    async fn is_blacklisted(&self, tenant: TenantPk, phone: &PhoneNumber) -> StoreResult<bool> {
        blacklist::contains(self, tenant, phone).await
    }

    async fn blacklisted_among(&self, tenant: TenantPk, phones: &[PhoneNumber]) -> StoreResult<HashSet<PhoneNumber>> {
        blacklist::among(self, tenant, phones).await
    }

    async fn get_blacklist_settings(&self, tenant: TenantPk) -> StoreResult<BlacklistSettings> {
        blacklist::settings(self, tenant).await
    }

    async fn put_blacklist_settings(&self, tenant: TenantPk, settings: BlacklistSettings, at: Timestamp) -> StoreResult<BlacklistSettings> {
        blacklist::put_settings(self, tenant, settings, at).await
    }
}
