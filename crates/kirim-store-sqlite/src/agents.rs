//! Agents: one writer operation per change, reads on the pool. Email and number are unique
//! per tenant; a write that would break that answers `EmailTaken` / `PhoneTaken` and writes
//! nothing, so the caller can say which field is at fault.

use async_trait::async_trait;
use kirim_core::agent::{
    Agent, AgentFilter, AgentPatch, AgentRef, AgentStore, AgentWrite, AssignOutcome, Conversation, ConversationFilter, NewAgent,
};
use kirim_core::id::{AgentPk, TenantPk};
use kirim_core::store::StoreResult;
use kirim_core::{AgentId, ConversationId, MessageId, PhoneNumber, Timestamp};
use rusqlite::params;

use crate::SqliteStore;
use crate::conversations;
use crate::error::{Bad, OpError, ReadResult, WriteError};
use crate::rows::{Cols, ms, parsed, time};
use crate::writer::Ctx;

pub(crate) fn agent(row: &impl Cols) -> Result<Agent, Bad> {
    Ok(Agent {
        pk: AgentPk(row.int("pk")?),
        id: parsed::<AgentId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        name: row.text("name")?,
        email: row.opt_text("email")?,
        phone: row.opt_text("phone")?.map(PhoneNumber::from_stored),
        active: row.flag("active")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// The tenant's agent, inside the writer's transaction.
pub(crate) fn find(ctx: &Ctx, tenant: TenantPk, agent_ref: &AgentRef) -> Result<Option<Agent>, WriteError> {
    let (sql, value) = lookup(agent_ref);
    ctx.opt(sql, params![tenant.0, value], |row| Ok(agent(row)?))
}

fn lookup(agent_ref: &AgentRef) -> (&'static str, String) {
    match agent_ref {
        AgentRef::Id(id) => ("SELECT * FROM agents WHERE tenant_pk = ? AND id = ?", id.as_str().to_owned()),
        AgentRef::Email(email) => ("SELECT * FROM agents WHERE tenant_pk = ? AND email = ?", email.to_lowercase()),
        AgentRef::Phone(phone) => ("SELECT * FROM agents WHERE tenant_pk = ? AND phone = ?", phone.as_str().to_owned()),
    }
}

/// Whether another agent of the tenant (not `except`) has the email or the number.
fn taken(
    ctx: &Ctx,
    tenant: TenantPk,
    email: Option<&str>,
    phone: Option<&PhoneNumber>,
    except: Option<AgentPk>,
) -> Result<Option<AgentWrite>, WriteError> {
    let other = |found: Option<Agent>| found.is_some_and(|a| Some(a.pk) != except);
    if let Some(email) = email
        && other(find(ctx, tenant, &AgentRef::Email(email.to_owned()))?)
    {
        return Ok(Some(AgentWrite::EmailTaken));
    }
    if let Some(phone) = phone
        && other(find(ctx, tenant, &AgentRef::Phone(phone.clone()))?)
    {
        return Ok(Some(AgentWrite::PhoneTaken));
    }
    Ok(None)
}

fn create_op(ctx: &mut Ctx, a: &NewAgent) -> Result<AgentWrite, OpError> {
    let email = a.email.as_ref().map(|e| e.to_lowercase());
    if let Some(refused) = taken(ctx, a.tenant_pk, email.as_deref(), a.phone.as_ref(), None)? {
        return Ok(refused);
    }
    let created = ctx.one(
        "INSERT INTO agents (id, tenant_pk, name, email, phone, active, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) RETURNING *",
        params![a.id.as_str(), a.tenant_pk.0, a.name, email, a.phone.as_ref().map(PhoneNumber::as_str), a.active, ms(a.created_at)],
        |row| Ok(agent(row)?),
    )?;
    Ok(AgentWrite::Written(created))
}

fn update_op(ctx: &mut Ctx, (tenant, id, patch, at): &(TenantPk, AgentId, AgentPatch, Timestamp)) -> Result<AgentWrite, OpError> {
    let Some(current) = find(ctx, *tenant, &AgentRef::Id(id.clone()))? else { return Ok(AgentWrite::NotFound) };
    let mut next = patch.apply(&current);
    next.email = next.email.map(|e| e.to_lowercase());
    if let Some(refused) = taken(ctx, *tenant, next.email.as_deref(), next.phone.as_ref(), Some(current.pk))? {
        return Ok(refused);
    }
    let saved = ctx.one(
        "UPDATE agents SET name = ?, email = ?, phone = ?, active = ?, updated_at = ? WHERE pk = ? RETURNING *",
        params![next.name, next.email, next.phone.as_ref().map(PhoneNumber::as_str), next.active, ms(*at), current.pk.0],
        |row| Ok(agent(row)?),
    )?;
    Ok(AgentWrite::Written(saved))
}

fn delete_op(ctx: &mut Ctx, (tenant, id, at): &(TenantPk, AgentId, Timestamp)) -> Result<Option<Agent>, OpError> {
    let Some(found) = find(ctx, *tenant, &AgentRef::Id(id.clone()))? else { return Ok(None) };
    conversations::unassign_all(ctx, &found, *at)?;
    ctx.exec("DELETE FROM agents WHERE pk = ?", [found.pk.0])?;
    Ok(Some(found))
}

#[async_trait]
impl AgentStore for SqliteStore {
    async fn create_agent(&self, agent: NewAgent) -> StoreResult<AgentWrite> {
        self.writer().call(agent, create_op).await
    }

    async fn get_agent(&self, tenant: TenantPk, agent_ref: &AgentRef) -> StoreResult<Option<Agent>> {
        let (sql, value) = lookup(agent_ref);
        let row = sqlx::query(sql).bind(tenant.0).bind(value).fetch_optional(self.read()).await.read()?;
        row.as_ref().map(agent).transpose().read()
    }

    async fn list_agents(&self, tenant: TenantPk, filter: &AgentFilter) -> StoreResult<Vec<Agent>> {
        let active = filter.active.map(i64::from);
        let rows = sqlx::query("SELECT * FROM agents WHERE tenant_pk = ? AND id > ? AND (? IS NULL OR active = ?) ORDER BY id LIMIT ?")
            .bind(tenant.0)
            .bind(filter.after.as_ref().map_or("", AgentId::as_str).to_owned())
            .bind(active)
            .bind(active)
            .bind(i64::from(filter.limit.clamp(1, 1000)))
            .fetch_all(self.read())
            .await
            .read()?;
        rows.iter().map(agent).collect::<Result<_, _>>().read()
    }

    async fn update_agent(&self, tenant: TenantPk, id: &AgentId, patch: AgentPatch, at: Timestamp) -> StoreResult<AgentWrite> {
        self.writer().call((tenant, id.clone(), patch, at), update_op).await
    }

    async fn delete_agent(&self, tenant: TenantPk, id: &AgentId, at: Timestamp) -> StoreResult<Option<Agent>> {
        self.writer().call((tenant, id.clone(), at), delete_op).await
    }

    async fn assign_conversation(
        &self,
        tenant: TenantPk,
        message: &MessageId,
        agent: Option<AgentRef>,
        at: Timestamp,
    ) -> StoreResult<AssignOutcome> {
        self.writer().call((tenant, message.clone(), agent, at), conversations::assign).await
    }

    async fn get_conversation(&self, tenant: TenantPk, id: &ConversationId) -> StoreResult<Option<Conversation>> {
        conversations::get(self, tenant, id).await
    }

    async fn list_conversations(&self, tenant: TenantPk, filter: &ConversationFilter) -> StoreResult<Vec<Conversation>> {
        conversations::list(self, tenant, filter).await
    }

    async fn count_conversations(&self, tenant: TenantPk, filter: &ConversationFilter) -> StoreResult<u64> {
        conversations::count(self, tenant, filter).await
    }
}
