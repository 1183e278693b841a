//! Conversations: one row per chat of a device, kept by the inbound path (`on_inbound`), by
//! sends to a chat that has a row (`on_sent`) and by assignment. The accept path never
//! touches them. Assignment changes write `conversation.assigned` / `.unassigned` in the
//! same transaction.

use std::collections::HashMap;

use kirim_core::agent::{Agent, AgentRef, AgentScope, AssignOutcome, Assignee, Conversation, ConversationFilter, assignment_event};
use kirim_core::id::{ConversationPk, DevicePk, TenantPk};
use kirim_core::message::Message;
use kirim_core::store::StoreResult;
use kirim_core::{ConversationId, DeviceId, MessageId, Recipient, Timestamp};
use rusqlite::params;

use crate::SqliteStore;
use crate::contacts::{Arg, bind_all};
use crate::error::{Bad, OpError, ReadResult, WriteError, decode};
use crate::events::append;
use crate::rows::{self, Cols, ms, parsed, select_message, time};
use crate::writer::Ctx;
use crate::{agents, messages};

macro_rules! select_conversation {
    () => {
        "SELECT c.*, d.id AS device_id, a.id AS agent_id, a.name AS agent_name FROM conversations c \
         JOIN devices d ON d.pk = c.device_pk LEFT JOIN agents a ON a.pk = c.agent_pk"
    };
}

fn non_negative(row: &impl Cols, col: &str) -> Result<u64, Bad> {
    u64::try_from(row.int(col)?).map_err(|_| decode(format!("{col} is negative")))
}

/// A row without its last message (loaded apart: by pk, in one query per page).
fn conversation(row: &impl Cols) -> Result<(Conversation, i64), Bad> {
    let assignee = match row.opt_text("agent_id")? {
        Some(raw) => Some(Assignee {
            id: raw.parse().map_err(|_| decode(format!("bad agent id `{raw}`")))?,
            name: row.text("agent_name")?,
            assigned_at: time(row, "assigned_at")?,
        }),
        None => None,
    };
    let c = Conversation {
        pk: ConversationPk(row.int("pk")?),
        id: parsed::<ConversationId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        device_pk: DevicePk(row.int("device_pk")?),
        device_id: parsed::<DeviceId>(row, "device_id")?,
        chat: Recipient::from_stored(row.text("chat")?),
        assignee,
        last_message: None,
        last_message_at: time(row, "last_message_at")?,
        inbound_count: non_negative(row, "inbound_count")?,
        unread_count: non_negative(row, "unread_count")?,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    };
    Ok((c, row.int("last_message_pk")?))
}

/// A conversation with its last message, inside the writer's transaction.
fn load(ctx: &Ctx, pk: i64) -> Result<Conversation, WriteError> {
    let (mut c, last) = ctx.one(concat!(select_conversation!(), " WHERE c.pk = ?"), [pk], |row| Ok(conversation(row)?))?;
    c.last_message = Some(messages::load(ctx, last)?);
    Ok(c)
}

/// An inbound message starts its chat's conversation, or moves it to the top and counts it.
pub(crate) fn on_inbound(ctx: &Ctx, m: &Message) -> Result<(), WriteError> {
    ctx.exec(
        "INSERT INTO conversations (id, tenant_pk, device_pk, chat, last_message_pk, last_message_at, inbound_count, unread_count, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 1, ?6, ?6) \
         ON CONFLICT (device_pk, chat) DO UPDATE SET inbound_count = inbound_count + 1, unread_count = unread_count + 1, \
         last_message_pk = CASE WHEN excluded.last_message_at >= last_message_at THEN excluded.last_message_pk ELSE last_message_pk END, \
         last_message_at = max(last_message_at, excluded.last_message_at), updated_at = excluded.updated_at",
        params![ConversationId::generate().as_str(), m.tenant_pk.0, m.device_pk.0, m.chat.as_str(), m.pk.0, ms(m.created_at)],
    )?;
    Ok(())
}

/// A message sent to a chat that has a conversation becomes its last message and answers
/// what was unread. Chats that only ever received sends (notifications) get no row.
pub(crate) fn on_sent(ctx: &Ctx, m: &Message, at: Timestamp) -> Result<(), WriteError> {
    ctx.exec(
        "UPDATE conversations SET last_message_pk = ?1, last_message_at = max(last_message_at, ?2), unread_count = 0, updated_at = ?2 \
         WHERE device_pk = ?3 AND chat = ?4",
        params![m.pk.0, ms(at), m.device_pk.0, m.chat.as_str()],
    )?;
    Ok(())
}

type AssignInput = (TenantPk, MessageId, Option<AgentRef>, Timestamp);

pub(crate) fn assign(ctx: &mut Ctx, (tenant, message, agent_ref, at): &AssignInput) -> Result<AssignOutcome, OpError> {
    let found = ctx.opt(concat!(select_message!(), " WHERE m.tenant_pk = ? AND m.id = ?"), params![tenant.0, message.as_str()], |row| {
        Ok(rows::message(row, None)?)
    })?;
    let Some(message) = found else { return Ok(AssignOutcome::MessageNotFound) };
    let agent = match agent_ref {
        Some(r) => match agents::find(ctx, *tenant, r)? {
            Some(a) if a.active => Some(a),
            Some(_) => return Ok(AssignOutcome::AgentInactive),
            None => return Ok(AssignOutcome::AgentNotFound),
        },
        None => None,
    };
    let at_ms = ms(*at);
    let pk = ctx.one(
        "INSERT INTO conversations (id, tenant_pk, device_pk, chat, last_message_pk, last_message_at, inbound_count, unread_count, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, ?7, ?7) \
         ON CONFLICT (device_pk, chat) DO UPDATE SET pk = pk RETURNING pk",
        params![
            ConversationId::generate().as_str(),
            tenant.0,
            message.device_pk.0,
            message.chat.as_str(),
            message.pk.0,
            ms(message.created_at),
            at_ms
        ],
        |row| Ok(row.int("pk")?),
    )?;
    let before = load(ctx, pk)?;
    let previous = before.assignee.as_ref().map(|a| a.id.clone());
    if previous.as_ref() == agent.as_ref().map(|a| &a.id) {
        return Ok(AssignOutcome::Done(Box::new(before)));
    }
    ctx.exec(
        "UPDATE conversations SET agent_pk = ?1, assigned_at = ?2, updated_at = ?3 WHERE pk = ?4",
        params![agent.as_ref().map(|a| a.pk.0), agent.as_ref().map(|_| at_ms), at_ms, pk],
    )?;
    let after = load(ctx, pk)?;
    append(ctx, assignment_event(&after, previous.as_ref(), Some(&message.id), *at));
    Ok(AssignOutcome::Done(Box::new(after)))
}

/// Unassigns every conversation of an agent about to be deleted, each with its event.
pub(crate) fn unassign_all(ctx: &mut Ctx, agent: &Agent, at: Timestamp) -> Result<(), WriteError> {
    let pks = ctx.all("SELECT pk FROM conversations WHERE agent_pk = ?", [agent.pk.0], |row| Ok(row.int("pk")?))?;
    for pk in pks {
        ctx.exec("UPDATE conversations SET agent_pk = NULL, assigned_at = NULL, updated_at = ? WHERE pk = ?", params![ms(at), pk])?;
        let after = load(ctx, pk)?;
        append(ctx, assignment_event(&after, Some(&agent.id), None, at));
    }
    Ok(())
}

fn conditions(tenant: TenantPk, f: &ConversationFilter, sql: &mut String, args: &mut Vec<Arg>) {
    sql.push_str(" WHERE c.tenant_pk = ?");
    args.push(Arg::Int(tenant.0));
    if let Some(d) = f.device {
        sql.push_str(" AND c.device_pk = ?");
        args.push(Arg::Int(d.0));
    }
    match &f.agent {
        AgentScope::Any => {}
        AgentScope::Unassigned => sql.push_str(" AND c.agent_pk IS NULL"),
        AgentScope::Agent(id) => {
            sql.push_str(" AND c.agent_pk = (SELECT pk FROM agents WHERE tenant_pk = ? AND id = ?)");
            args.push(Arg::Int(tenant.0));
            args.push(Arg::Text(id.as_str().to_owned()));
        }
    }
}

/// Rows with their last messages, read in one more query.
async fn with_last_messages(store: &SqliteStore, found: Vec<(Conversation, i64)>) -> StoreResult<Vec<Conversation>> {
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{} WHERE m.pk IN ({})", select_message!(), vec!["?"; found.len()].join(", "));
    let args = found.iter().map(|(_, last)| Arg::Int(*last)).collect();
    // Only placeholders are concatenated; every value is bound.
    let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_all(store.read()).await.read()?;
    let mut last: HashMap<i64, Message> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let m = rows::message(row, None).read()?;
        last.insert(m.pk.0, m);
    }
    Ok(found
        .into_iter()
        .map(|(mut c, pk)| {
            c.last_message = last.remove(&pk);
            c
        })
        .collect())
}

pub(crate) async fn get(store: &SqliteStore, tenant: TenantPk, id: &ConversationId) -> StoreResult<Option<Conversation>> {
    let row = sqlx::query(concat!(select_conversation!(), " WHERE c.tenant_pk = ? AND c.id = ?"))
        .bind(tenant.0)
        .bind(id.as_str())
        .fetch_optional(store.read())
        .await
        .read()?;
    let Some(row) = row else { return Ok(None) };
    Ok(with_last_messages(store, vec![conversation(&row).read()?]).await?.pop())
}

pub(crate) async fn list(store: &SqliteStore, tenant: TenantPk, f: &ConversationFilter) -> StoreResult<Vec<Conversation>> {
    let mut sql = String::from(select_conversation!());
    let mut args = Vec::new();
    conditions(tenant, f, &mut sql, &mut args);
    sql.push_str(" ORDER BY c.last_message_at DESC, c.pk DESC LIMIT ? OFFSET ?");
    args.push(Arg::Int(i64::from(f.limit.clamp(1, 1000))));
    args.push(Arg::Int(i64::try_from(f.offset).unwrap_or(i64::MAX)));
    // Only fixed fragments are concatenated; every value is bound.
    let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_all(store.read()).await.read()?;
    let found = rows.iter().map(conversation).collect::<Result<Vec<_>, _>>().read()?;
    with_last_messages(store, found).await
}

pub(crate) async fn count(store: &SqliteStore, tenant: TenantPk, f: &ConversationFilter) -> StoreResult<u64> {
    let mut sql = String::from("SELECT count(*) AS n FROM conversations c");
    let mut args = Vec::new();
    conditions(tenant, f, &mut sql, &mut args);
    // Only fixed fragments are concatenated; every value is bound.
    let row = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), args).fetch_one(store.read()).await.read()?;
    u64::try_from(row.int("n").read()?).map_err(|_| decode("a negative count")).read()
}
