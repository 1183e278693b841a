//! Auto-reply rules and the log of the replies they queued.

use async_trait::async_trait;
use kirim_core::auto_reply::{AutoReply, AutoReplySent, MatchKind, NewAutoReply, RuleSpec};
use kirim_core::id::{AutoReplyPk, DevicePk, TenantPk};
use kirim_core::message::MessageContent;
use kirim_core::rules_store::AutoReplyStore;
use kirim_core::store::{StoreError, StoreResult};
use kirim_core::{AutoReplyId, DeviceId, MessageId, Recipient, Timestamp};
use rusqlite::params;

use crate::SqliteStore;
use crate::contacts::to_json;
use crate::error::{Bad, OpError, ReadResult, WriteError, decode};
use crate::rows::{self, Cols, ms, parsed, time};
use crate::writer::Ctx;

const SELECT: &str = "SELECT a.*, d.id AS device_id FROM auto_replies a LEFT JOIN devices d ON d.pk = a.device_pk";

fn rule(row: &impl Cols) -> Result<AutoReply, Bad> {
    let device = match row.opt_int("device_pk")? {
        Some(pk) => Some((DevicePk(pk), parsed::<DeviceId>(row, "device_id")?)),
        None => None,
    };
    Ok(AutoReply {
        pk: AutoReplyPk(row.int("pk")?),
        id: parsed::<AutoReplyId>(row, "id")?,
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        device,
        spec: RuleSpec {
            keyword: row.opt_text("keyword")?,
            match_kind: parsed::<MatchKind>(row, "match_kind")?,
            reply: rows::json::<MessageContent>(row, "reply")?,
            groups: row.flag("groups")?,
            enabled: row.flag("enabled")?,
            cooldown_secs: u32::try_from(row.int("cooldown_secs")?).map_err(|_| decode("cooldown_secs out of range"))?,
        },
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

fn sent(row: &impl Cols) -> Result<AutoReplySent, Bad> {
    Ok(AutoReplySent {
        tenant_pk: TenantPk(row.int("tenant_pk")?),
        rule: AutoReplyPk(row.int("rule_pk")?),
        device_pk: DevicePk(row.int("device_pk")?),
        chat: Recipient::from_stored(row.text("chat")?),
        inbound: parsed::<MessageId>(row, "inbound_id")?,
        message: parsed::<MessageId>(row, "message_id")?,
        at: time(row, "created_at")?,
    })
}

fn load(ctx: &Ctx, pk: i64) -> Result<Option<AutoReply>, WriteError> {
    ctx.opt(&format!("{SELECT} WHERE a.pk = ?"), [pk], |row| Ok(rule(row)?))
}

fn create_op(ctx: &mut Ctx, r: &NewAutoReply) -> Result<AutoReply, OpError> {
    if let Some(device) = r.device_pk
        && !ctx.device(device)?.is_some_and(|d| d.live && d.tenant == r.tenant_pk)
    {
        return Err(OpError::Refuse(StoreError::Conflict("the device was deleted, or is not one of this account's devices".into())));
    }
    let s = &r.spec;
    let at = ms(r.created_at);
    let pk: i64 = ctx.one(
        "INSERT INTO auto_replies (id, tenant_pk, device_pk, keyword, match_kind, kind, reply, groups, enabled, cooldown_secs, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING pk",
        params![
            r.id.as_str(),
            r.tenant_pk.0,
            r.device_pk.map(|d| d.0),
            s.keyword.as_deref(),
            s.match_kind.as_str(),
            s.reply.kind(),
            to_json(&s.reply)?,
            s.groups,
            s.enabled,
            s.cooldown_secs,
            at,
            at
        ],
        |row| Ok(row.int("pk")?),
    )?;
    Ok(load(ctx, pk)?.ok_or_else(|| decode("a rule just written is missing"))?)
}

fn update_op(ctx: &mut Ctx, (tenant, id, s, at): &(TenantPk, AutoReplyId, RuleSpec, Timestamp)) -> Result<Option<AutoReply>, OpError> {
    let pk: Option<i64> = ctx.opt(
        "UPDATE auto_replies SET keyword = ?, match_kind = ?, kind = ?, reply = ?, groups = ?, enabled = ?, cooldown_secs = ?, \
         updated_at = ? WHERE tenant_pk = ? AND id = ? RETURNING pk",
        params![
            s.keyword.as_deref(),
            s.match_kind.as_str(),
            s.reply.kind(),
            to_json(&s.reply)?,
            s.groups,
            s.enabled,
            s.cooldown_secs,
            ms(*at),
            tenant.0,
            id.as_str()
        ],
        |row| Ok(row.int("pk")?),
    )?;
    match pk {
        Some(pk) => Ok(load(ctx, pk)?),
        None => Ok(None),
    }
}

fn delete_op(ctx: &mut Ctx, (tenant, id): &(TenantPk, AutoReplyId)) -> Result<Option<AutoReply>, OpError> {
    let found = ctx.opt(&format!("{SELECT} WHERE a.tenant_pk = ? AND a.id = ?"), params![tenant.0, id.as_str()], |row| Ok(rule(row)?))?;
    if let Some(found) = &found {
        ctx.exec("DELETE FROM auto_replies WHERE pk = ?", [found.pk.0])?;
    }
    Ok(found)
}

fn record_op(ctx: &mut Ctx, s: &AutoReplySent) -> Result<(), OpError> {
    ctx.exec(
        "INSERT INTO auto_reply_log (message_id, tenant_pk, rule_pk, device_pk, chat, inbound_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING",
        params![s.message.as_str(), s.tenant_pk.0, s.rule.0, s.device_pk.0, s.chat.as_str(), s.inbound.as_str(), ms(s.at)],
    )?;
    Ok(())
}

#[async_trait]
impl AutoReplyStore for SqliteStore {
    async fn create_auto_reply(&self, rule: NewAutoReply) -> StoreResult<AutoReply> {
        self.writer().call(rule, create_op).await
    }

    async fn get_auto_reply(&self, tenant: TenantPk, id: &AutoReplyId) -> StoreResult<Option<AutoReply>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE a.tenant_pk = ? AND a.id = ?")))
            .bind(tenant.0)
            .bind(id.as_str())
            .fetch_optional(self.read())
            .await
            .read()?;
        row.as_ref().map(rule).transpose().read()
    }

    async fn list_auto_replies(
        &self,
        tenant: TenantPk,
        device: Option<DevicePk>,
        after: Option<&AutoReplyId>,
        limit: u32,
    ) -> StoreResult<Vec<AutoReply>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE a.tenant_pk = ? AND a.id > ? AND (? IS NULL OR a.device_pk IS NULL OR a.device_pk = ?) ORDER BY a.id LIMIT ?"
        )))
        .bind(tenant.0)
        .bind(after.map_or("", |a| a.as_str()))
        .bind(device.map(|d| d.0))
        .bind(device.map(|d| d.0))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(self.read())
        .await
        .read()?;
        rows.iter().map(rule).collect::<Result<_, _>>().read()
    }

    async fn update_auto_reply(&self, tenant: TenantPk, id: &AutoReplyId, spec: RuleSpec, at: Timestamp) -> StoreResult<Option<AutoReply>> {
        self.writer().call((tenant, id.clone(), spec, at), update_op).await
    }

    async fn delete_auto_reply(&self, tenant: TenantPk, id: &AutoReplyId) -> StoreResult<Option<AutoReply>> {
        self.writer().call((tenant, id.clone()), delete_op).await
    }

    async fn rules_for_device(&self, tenant: TenantPk, device: DevicePk) -> StoreResult<Vec<AutoReply>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE a.tenant_pk = ? AND a.enabled = 1 AND (a.device_pk IS NULL OR a.device_pk = ?) \
             ORDER BY a.device_pk IS NULL, a.id LIMIT 1000"
        )))
        .bind(tenant.0)
        .bind(device.0)
        .fetch_all(self.read())
        .await
        .read()?;
        rows.iter().map(rule).collect::<Result<_, _>>().read()
    }

    async fn record_auto_reply(&self, sent: AutoReplySent) -> StoreResult<()> {
        self.writer().call(sent, record_op).await
    }

    async fn recent_auto_replies(&self, device: DevicePk, chat: &Recipient, since: Timestamp) -> StoreResult<Vec<AutoReplySent>> {
        let rows = sqlx::query(
            "SELECT * FROM auto_reply_log WHERE device_pk = ? AND chat = ? AND created_at >= ? ORDER BY created_at DESC LIMIT 1000",
        )
        .bind(device.0)
        .bind(chat.as_str())
        .bind(ms(since))
        .fetch_all(self.read())
        .await
        .read()?;
        rows.iter().map(sent).collect::<Result<_, _>>().read()
    }

    async fn is_auto_reply(&self, message_id: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 AS hit FROM auto_reply_log WHERE message_id = ?")
            .bind(message_id)
            .fetch_optional(self.read())
            .await
            .read()?;
        Ok(row.is_some())
    }
}
