//! Messages: inbound storage, reads, and the `MessageStore` impl. The accept path is in
//! `outbound.rs`, the queue transitions (claim, complete, receipts, cancel) in `queue.rs`.

use async_trait::async_trait;
use kirim_core::event::{self, types};
use kirim_core::id::{DevicePk, MessagePk, TenantPk};
use kirim_core::message::{Message, MessageStatus, NewInbound, NewOutbound, SendOutcome, UnsentPatch};
use kirim_core::store::{CancelOutcome, InsertOutcome, MessageFilter, MessageStore, ReceiptOutcome, StoreError, StoreResult};
use kirim_core::{MessageId, Timestamp};
use rusqlite::params;

use crate::SqliteStore;
use crate::error::{OpError, ReadResult, WriteError};
use crate::events::append;
use crate::queue;
use crate::rows::{self, Cols, ms, select_message};
use crate::writer::Ctx;

/// Reads one message inside the writer's transaction.
pub(crate) fn load(ctx: &Ctx, pk: i64) -> Result<Message, WriteError> {
    ctx.one(concat!(select_message!(), " WHERE m.pk = ?"), [pk], |row| Ok(rows::message(row, None)?))
}

fn content_json(m: &kirim_core::message::MessageContent) -> Result<String, OpError> {
    serde_json::to_string(m).map_err(|e| OpError::Refuse(StoreError::Conflict(format!("unstorable content: {e}"))))
}

fn insert_inbound(ctx: &mut Ctx, m: &NewInbound) -> Result<InsertOutcome, OpError> {
    match ctx.device(m.device_pk)? {
        Some(d) if d.live && d.tenant == m.tenant_pk => {}
        _ => {
            return Err(OpError::Refuse(StoreError::Conflict(
                "the device was deleted, or is not one of this account's devices; send from another device".into(),
            )));
        }
    }
    let at = ms(m.received_at);
    let inserted = ctx.opt(
        "INSERT INTO messages (id, tenant_pk, device_pk, direction, chat, sender, kind, content, status, priority, \
         network_id, reply_to, attempts, max_attempts, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'inbound', ?4, ?5, ?6, ?7, 'received', 0, ?8, ?9, 0, 0, ?10, ?10) \
         ON CONFLICT (device_pk, chat, coalesce(sender, ''), network_id) WHERE direction = 'inbound' DO NOTHING RETURNING pk",
        params![
            m.id.as_str(),
            m.tenant_pk.0,
            m.device_pk.0,
            m.chat.as_str(),
            m.sender.as_deref(),
            m.content.kind(),
            content_json(&m.content)?,
            m.network_id.as_str(),
            m.reply_to.as_deref(),
            at,
        ],
        |row| Ok(row.int("pk")?),
    )?;
    match inserted {
        Some(pk) => {
            let message = load(ctx, pk)?;
            append(ctx, event::for_message(&message, types::MESSAGE_RECEIVED, message.created_at));
            crate::conversations::on_inbound(ctx, &message)?;
            // Received files are downloadable by the `media_id` the sink gave them.
            if let Some(file) = message.content.media_content()
                && let Some(media_id) = &file.media_id
            {
                ctx.exec(
                    "INSERT INTO received_media (media_id, tenant_pk, message_pk) VALUES (?, ?, ?) ON CONFLICT (media_id) DO NOTHING",
                    params![media_id, m.tenant_pk.0, pk],
                )?;
            }
            Ok(InsertOutcome::Inserted(message))
        }
        None => {
            let existing = ctx.one(
                concat!(
                    select_message!(),
                    " WHERE m.device_pk = ? AND m.chat = ? AND coalesce(m.sender, '') = ? AND m.network_id = ? AND m.direction = 'inbound'"
                ),
                params![m.device_pk.0, m.chat.as_str(), m.sender.as_deref().unwrap_or_default(), m.network_id.as_str()],
                |row| Ok(rows::message(row, None)?),
            )?;
            Ok(InsertOutcome::Existing(existing))
        }
    }
}

impl SqliteStore {
    async fn fetch_message(
        &self,
        query: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> StoreResult<Option<Message>> {
        let row = query.fetch_optional(self.read()).await.read()?;
        row.map(|r| rows::message(&r, None)).transpose().read()
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn insert_outbound(&self, messages: Vec<NewOutbound>) -> StoreResult<Vec<InsertOutcome>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        self.writer().insert_outbound(messages).await
    }

    async fn get_message(&self, tenant: TenantPk, id: &MessageId) -> StoreResult<Option<Message>> {
        self.fetch_message(sqlx::query(concat!(select_message!(), " WHERE m.tenant_pk = ? AND m.id = ?")).bind(tenant.0).bind(id.as_str()))
            .await
    }

    async fn find_by_idempotency_key(&self, tenant: TenantPk, key: &str) -> StoreResult<Option<Message>> {
        let query = sqlx::query(concat!(select_message!(), " WHERE m.tenant_pk = ? AND m.idempotency_key = ?")).bind(tenant.0).bind(key);
        self.fetch_message(query).await
    }

    async fn list_messages(&self, tenant: TenantPk, filter: &MessageFilter) -> StoreResult<Vec<Message>> {
        let mut sql = String::from(concat!(select_message!(), " WHERE m.tenant_pk = ?"));
        let clauses = [
            (filter.status.is_some(), " AND m.status = ?"),
            (filter.device.is_some(), " AND m.device_pk = ?"),
            (filter.chat.is_some(), " AND m.chat = ?"),
            (filter.ref_id.is_some(), " AND m.ref_id = ?"),
            (filter.network_id.is_some(), " AND m.network_id = ?"),
            (filter.direction.is_some(), " AND m.direction = ?"),
            (filter.since.is_some(), " AND m.created_at >= ?"),
            (filter.until.is_some(), " AND m.created_at < ?"),
            (filter.before.is_some(), " AND m.pk < (SELECT pk FROM messages WHERE tenant_pk = ? AND id = ?)"),
            (filter.source.is_some(), " AND m.source = ?"),
        ];
        for (on, clause) in clauses {
            if on {
                sql.push_str(clause);
            }
        }
        sql.push_str(" ORDER BY m.pk DESC LIMIT ?");
        // Only fixed fragments are concatenated above; every value is bound.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant.0);
        if let Some(s) = filter.status {
            q = q.bind(s.as_str());
        }
        if let Some(d) = filter.device {
            q = q.bind(d.0);
        }
        if let Some(c) = &filter.chat {
            q = q.bind(c.as_str().to_owned());
        }
        if let Some(r) = &filter.ref_id {
            q = q.bind(r.clone());
        }
        if let Some(n) = &filter.network_id {
            q = q.bind(n.clone());
        }
        if let Some(d) = filter.direction {
            q = q.bind(d.as_str());
        }
        if let Some(t) = filter.since {
            q = q.bind(ms(t));
        }
        if let Some(t) = filter.until {
            q = q.bind(ms(t));
        }
        if let Some(b) = &filter.before {
            q = q.bind(tenant.0).bind(b.as_str().to_owned());
        }
        if let Some(source) = &filter.source {
            q = q.bind(source.clone());
        }
        let rows = q.bind(i64::from(filter.limit.clamp(1, 500))).fetch_all(self.read()).await.read()?;
        rows.iter().map(|r| rows::message(r, None)).collect::<Result<_, _>>().read()
    }

    async fn claim_next(&self, device: DevicePk, now: Timestamp) -> StoreResult<Option<Message>> {
        self.writer().call((device, now), queue::claim_next).await
    }

    async fn next_due_at(&self, device: DevicePk) -> StoreResult<Option<Timestamp>> {
        queue::next_due_at(self, device).await
    }

    async fn complete_send(&self, message: MessagePk, outcome: SendOutcome, at: Timestamp) -> StoreResult<Option<Message>> {
        self.writer().call((message, outcome, at), queue::complete_send).await
    }

    async fn apply_receipt(&self, device: DevicePk, network_id: &str, status: MessageStatus, at: Timestamp) -> StoreResult<ReceiptOutcome> {
        if !matches!(status, MessageStatus::Sent | MessageStatus::Delivered | MessageStatus::Read | MessageStatus::Played) {
            return Ok(ReceiptOutcome::Stale);
        }
        self.writer().call((device, network_id.to_owned(), status, at), queue::apply_receipt).await
    }

    async fn cancel_message(&self, tenant: TenantPk, id: &MessageId, at: Timestamp) -> StoreResult<CancelOutcome> {
        self.writer().call((tenant, id.clone(), at), queue::cancel).await
    }

    async fn update_unsent(&self, tenant: TenantPk, id: &MessageId, patch: UnsentPatch, at: Timestamp) -> StoreResult<CancelOutcome> {
        self.writer().call((tenant, id.clone(), patch, at), queue::update_unsent).await
    }

    async fn delete_unsent(&self, tenant: TenantPk, id: &MessageId, at: Timestamp) -> StoreResult<CancelOutcome> {
        self.writer().call((tenant, id.clone(), at), queue::delete_unsent).await
    }

    async fn promote_due(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<DevicePk>> {
        self.writer().call((now, limit), queue::promote_due).await
    }

    async fn next_scheduled_at(&self) -> StoreResult<Option<Timestamp>> {
        queue::next_scheduled_at(self).await
    }

    async fn release_in_flight(&self, device: Option<DevicePk>) -> StoreResult<u64> {
        self.writer().call(device, queue::release_in_flight).await
    }

    async fn devices_with_pending(&self) -> StoreResult<Vec<DevicePk>> {
        queue::devices_with_pending(self).await
    }

    async fn insert_inbound(&self, message: NewInbound) -> StoreResult<InsertOutcome> {
        self.writer().call(message, insert_inbound).await
    }

    async fn queue_depth(&self) -> StoreResult<Vec<(MessageStatus, u64)>> {
        queue::queue_depth(self).await
    }
}
