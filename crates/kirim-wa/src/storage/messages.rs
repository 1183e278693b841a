//! Per-message state: sent messages kept for retry receipts, the pending inbound buffer of
//! the durability hook, and message secrets.
//!
//! Times are the library's clock (`wacore::time`), the same one its sweeps compute cutoffs from.

use std::collections::HashMap;

use async_trait::async_trait;
use whatsapp_rust::wacore::store::error::Result;
use whatsapp_rust::wacore::store::traits::{
    MsgSecretEntry, MsgSecretStore, PendingInboundKey, PendingInboundRow, merge_msg_secret_expiry, merge_msg_secret_message_ts,
};
use whatsapp_rust::wacore::time::now_secs;

use super::codec::{self, SecretRow};
use super::keys::{self, ns};
use super::protocol::count;
use super::{KirimBackend, bad_entry, delete, put};

impl KirimBackend {
    /// The message and its age index in one batch, under the sent lock so a concurrent take
    /// or sweep sees either both or neither.
    pub(super) async fn store_sent(&self, chat: &str, id: &str, payload: &[u8]) -> Result<()> {
        let now = now_secs();
        let writes = vec![
            put(ns::SENT, keys::key(&[chat, id]), codec::encode_stamped(now, payload)),
            put(ns::SENT_BY_TIME, keys::key(&[&keys::time(now), chat, id]), Vec::new()),
        ];
        let _guard = self.locks.sent.lock().await;
        self.write("store_sent_message", writes).await
    }

    /// Read and delete under the lock: of two retry receipts for one message, one gets it.
    pub(super) async fn take_sent(&self, chat: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let key = keys::key(&[chat, id]);
        let _guard = self.locks.sent.lock().await;
        let Some(value) = self.get(ns::SENT, &key).await? else { return Ok(None) };
        let (stored_at, payload) = codec::decode_stamped(&value).map_err(|e| bad_entry(ns::SENT, &key, e))?;
        let writes = vec![delete(ns::SENT, key.clone()), delete(ns::SENT_BY_TIME, keys::key(&[&keys::time(stored_at), chat, id]))];
        self.write("take_sent_message", writes).await?;
        Ok(Some(payload.to_vec()))
    }

    /// Walks the age index (keys only, oldest first) instead of every payload. A message
    /// stored again since has a newer index entry; only its stale entry goes.
    pub(super) async fn delete_expired_sent(&self, cutoff: i64) -> Result<u32> {
        let _guard = self.locks.sent.lock().await;
        let mut writes = Vec::new();
        let mut removed = 0;
        for (index_key, _) in self.scan(ns::SENT_BY_TIME, "").await? {
            let [time, chat, id] = keys::split::<3>(&index_key).map_err(|e| bad_entry(ns::SENT_BY_TIME, &index_key, e))?;
            if keys::parse_time(&time).map_err(|e| bad_entry(ns::SENT_BY_TIME, &index_key, e))? >= cutoff {
                break;
            }
            let key = keys::key(&[&chat, &id]);
            if let Some(value) = self.get(ns::SENT, &key).await? {
                let (stored_at, _) = codec::decode_stamped(&value).map_err(|e| bad_entry(ns::SENT, &key, e))?;
                if stored_at < cutoff {
                    writes.push(delete(ns::SENT, key));
                    removed += 1;
                }
            }
            writes.push(delete(ns::SENT_BY_TIME, index_key));
        }
        self.write("delete_expired_sent_messages", writes).await?;
        Ok(count(removed))
    }

    pub(super) async fn pending_inbound(&self, chat: &str, sender: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let key = keys::key(&[chat, sender, id]);
        let Some(value) = self.get(ns::PENDING_INBOUND, &key).await? else { return Ok(None) };
        let (_, message) = codec::decode_stamped(&value).map_err(|e| bad_entry(ns::PENDING_INBOUND, &key, e))?;
        Ok(Some(message.to_vec()))
    }

    // Writes to the buffer take its lock so the sweep cannot delete a row stored again
    // between its scan and its delete.

    pub(super) async fn store_pending(&self, rows: &[PendingInboundRow<'_>]) -> Result<()> {
        let now = now_secs();
        let writes = rows
            .iter()
            .map(|row| put(ns::PENDING_INBOUND, keys::key(&[row.chat, row.sender, row.id]), codec::encode_stamped(now, row.message)))
            .collect();
        let _guard = self.locks.pending_inbound.lock().await;
        self.write("store_pending_inbound", writes).await
    }

    pub(super) async fn delete_pending(&self, rows: &[PendingInboundKey<'_>]) -> Result<()> {
        let writes = rows.iter().map(|row| delete(ns::PENDING_INBOUND, keys::key(&[row.chat, row.sender, row.id]))).collect();
        let _guard = self.locks.pending_inbound.lock().await;
        self.write("delete_pending_inbound", writes).await
    }

    /// Scans the payloads too: rows live only until their hook commits, so there are few.
    pub(super) async fn delete_expired_pending(&self, cutoff: i64) -> Result<u32> {
        let _guard = self.locks.pending_inbound.lock().await;
        let mut writes = Vec::new();
        for (key, value) in self.scan(ns::PENDING_INBOUND, "").await? {
            let (stored_at, _) = codec::decode_stamped(&value).map_err(|e| bad_entry(ns::PENDING_INBOUND, &key, e))?;
            if stored_at < cutoff {
                writes.push(delete(ns::PENDING_INBOUND, key));
            }
        }
        let removed = count(writes.len());
        self.write("delete_expired_pending_inbound", writes).await?;
        Ok(removed)
    }

    /// The stored row, for merging. An undecodable row counts as none: it is replaced.
    async fn secret_row(&self, key: &str) -> Result<Option<SecretRow>> {
        let Some(value) = self.get(ns::MSG_SECRET, key).await? else { return Ok(None) };
        match codec::decode_msg_secret(&value) {
            Ok(row) => Ok(Some(row)),
            Err(e) => {
                tracing::warn!(key, error = %e, "replacing an undecodable message secret");
                Ok(None)
            }
        }
    }
}

#[async_trait]
impl MsgSecretStore for KirimBackend {
    /// An upsert that merges with the stored row (and with earlier rows of the same batch):
    /// the secret is replaced, the later expiry and the known parent time are kept. One get per
    /// distinct key, then one batch.
    async fn put_msg_secrets(&self, entries: Vec<MsgSecretEntry>) -> Result<usize> {
        let stored = entries.len();
        let _guard = self.locks.msg_secret.lock().await;
        let mut rows: HashMap<String, SecretRow> = HashMap::with_capacity(entries.len());
        let mut order = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = keys::key(&[&entry.chat, &entry.sender, &entry.msg_id]);
            let existing = match rows.get(&key) {
                Some(row) => Some(*row),
                None => self.secret_row(&key).await?,
            };
            let row = match existing {
                Some(old) => SecretRow {
                    secret: entry.secret,
                    expires_at: merge_msg_secret_expiry(old.expires_at, entry.expires_at),
                    message_ts: merge_msg_secret_message_ts(old.message_ts, entry.message_ts),
                },
                None => SecretRow { secret: entry.secret, expires_at: entry.expires_at, message_ts: entry.message_ts },
            };
            if rows.insert(key.clone(), row).is_none() {
                order.push(key);
            }
        }
        let writes = order
            .into_iter()
            .filter_map(|key| rows.remove(&key).map(|row| put(ns::MSG_SECRET, key, codec::encode_msg_secret(&row))))
            .collect();
        self.write("put_msg_secrets", writes).await?;
        Ok(stored)
    }

    async fn get_msg_secret(&self, chat: &str, sender: &str, msg_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_msg_secret_with_ts(chat, sender, msg_id).await?.map(|(secret, _)| secret))
    }

    async fn get_msg_secret_with_ts(&self, chat: &str, sender: &str, msg_id: &str) -> Result<Option<(Vec<u8>, i64)>> {
        let key = keys::key(&[chat, sender, msg_id]);
        let Some(value) = self.get(ns::MSG_SECRET, &key).await? else { return Ok(None) };
        let row = codec::decode_msg_secret(&value).map_err(|e| bad_entry(ns::MSG_SECRET, &key, e))?;
        Ok(Some((row.secret.to_vec(), row.message_ts)))
    }

    /// Rows whose deadline is set and passed. A full scan: rows are ~60 bytes, and an age
    /// index would cost as much to read as the rows themselves.
    async fn delete_expired_msg_secrets(&self, cutoff_timestamp: i64) -> Result<u32> {
        let _guard = self.locks.msg_secret.lock().await;
        let mut writes = Vec::new();
        for (key, value) in self.scan(ns::MSG_SECRET, "").await? {
            let row = codec::decode_msg_secret(&value).map_err(|e| bad_entry(ns::MSG_SECRET, &key, e))?;
            if row.expires_at != 0 && row.expires_at <= cutoff_timestamp {
                writes.push(delete(ns::MSG_SECRET, key));
            }
        }
        let removed = count(writes.len());
        self.write("delete_expired_msg_secrets", writes).await?;
        Ok(removed)
    }
}
