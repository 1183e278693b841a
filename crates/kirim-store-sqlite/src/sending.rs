//! Operations on many of a tenant's messages at once: cancelling by ids, and every pending one.

use async_trait::async_trait;
use kirim_core::event::types;
use kirim_core::id::{DevicePk, TenantPk};
use kirim_core::message::Message;
use kirim_core::sending::SendingStore;
use kirim_core::store::{CancelOutcome, StoreResult};
use kirim_core::{MessageId, Timestamp};
use rusqlite::params;

use crate::SqliteStore;
use crate::error::OpError;
use crate::queue::announce;
use crate::rows::{self, ms, select_message};
use crate::writer::Ctx;

type CancelIds = (TenantPk, Option<DevicePk>, Vec<MessageId>, Timestamp);

fn cancel_ids(ctx: &mut Ctx, (tenant, device, ids, at): &CancelIds) -> Result<Vec<CancelOutcome>, OpError> {
    let device = device.map(|d| d.0);
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let sql = "UPDATE messages SET status = 'cancelled', cancelled_at = ?1, next_attempt_at = NULL, updated_at = ?1 \
                   WHERE tenant_pk = ?2 AND id = ?3 AND (?4 IS NULL OR device_pk = ?4) AND status IN ('pending', 'scheduled') \
                   RETURNING *";
        let cancelled = announce(ctx, sql, params![ms(*at), tenant.0, id.as_str(), device], types::MESSAGE_CANCELLED, *at)?.pop();
        let outcome = match cancelled {
            Some(message) => CancelOutcome::Cancelled(message),
            None => {
                let found = ctx.opt(
                    concat!(select_message!(), " WHERE m.tenant_pk = ?1 AND m.id = ?2 AND (?3 IS NULL OR m.device_pk = ?3)"),
                    params![tenant.0, id.as_str(), device],
                    |row| Ok(rows::message(row, None)?),
                )?;
                found.map_or(CancelOutcome::NotFound, CancelOutcome::TooLate)
            }
        };
        out.push(outcome);
    }
    Ok(out)
}

fn cancel_pending(
    ctx: &mut Ctx,
    (tenant, device, limit, at): &(TenantPk, Option<DevicePk>, u32, Timestamp),
) -> Result<Vec<Message>, OpError> {
    let sql = "UPDATE messages SET status = 'cancelled', cancelled_at = ?1, next_attempt_at = NULL, updated_at = ?1 WHERE pk IN \
               (SELECT pk FROM messages WHERE tenant_pk = ?2 AND status = 'pending' AND (?3 IS NULL OR device_pk = ?3) \
                ORDER BY pk LIMIT ?4) RETURNING *";
    Ok(announce(ctx, sql, params![ms(*at), tenant.0, device.map(|d| d.0), limit], types::MESSAGE_CANCELLED, *at)?)
}

#[async_trait]
impl SendingStore for SqliteStore {
    async fn cancel_messages(
        &self,
        tenant: TenantPk,
        device: Option<DevicePk>,
        ids: Vec<MessageId>,
        at: Timestamp,
    ) -> StoreResult<Vec<CancelOutcome>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.writer().call((tenant, device, ids, at), cancel_ids).await
    }

    async fn cancel_pending(&self, tenant: TenantPk, device: Option<DevicePk>, limit: u32, at: Timestamp) -> StoreResult<Vec<Message>> {
        self.writer().call((tenant, device, limit.max(1), at), cancel_pending).await
    }
}
