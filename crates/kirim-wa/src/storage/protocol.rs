//! WhatsApp Web protocol state: sender-key distribution, LID↔PN mappings, base keys,
//! device lists, group metadata and trusted-contact tokens. Sent messages and the pending
//! inbound buffer are in `messages.rs`.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use whatsapp_rust::wacore::store::error::Result;
use whatsapp_rust::wacore::store::traits::{
    DeviceListRecord, LidPnMappingEntry, PendingInboundKey, PendingInboundRow, ProtocolStore, TcTokenEntry,
};

use super::keys::{self, ns};
use super::{KirimBackend, bad_entry, codec, delete, delete_prefix, put};

impl KirimBackend {
    /// The phone a LID maps to now. An undecodable entry counts as none: it is about to be
    /// replaced, and a reverse entry it leaves behind is ignored by [`Self::pn_mapping`].
    async fn stored_phone(&self, lid: &str) -> Result<Option<String>> {
        let key = keys::key(&[lid]);
        let Some(value) = self.get(ns::LID, &key).await? else { return Ok(None) };
        match codec::decode_lid_entry(lid.to_owned(), &value) {
            Ok(entry) => Ok(Some(entry.phone_number)),
            Err(e) => {
                tracing::warn!(key, error = %e, "replacing an undecodable LID mapping");
                Ok(None)
            }
        }
    }

    /// The reverse index only nominates candidates; the forward entry has the last word, so
    /// a reverse entry left stale by anything still yields the right answer.
    async fn pn_mapping(&self, phone: &str) -> Result<Option<LidPnMappingEntry>> {
        let mut best: Option<LidPnMappingEntry> = None;
        for (key, _) in self.scan(ns::PN, &keys::prefix(&[phone])).await? {
            let [_, lid] = keys::split::<2>(&key).map_err(|e| bad_entry(ns::PN, &key, e))?;
            let Some(entry) = self.get_lid_mapping(&lid).await? else { continue };
            if entry.phone_number == phone && best.as_ref().is_none_or(|b| entry.updated_at >= b.updated_at) {
                best = Some(entry);
            }
        }
        Ok(best)
    }

    async fn tc_token(&self, jid: &str) -> Result<Option<TcTokenEntry>> {
        let key = keys::key(&[jid]);
        let Some(value) = self.get(ns::TC_TOKEN, &key).await? else { return Ok(None) };
        codec::decode_tc_token(&value).map(Some).map_err(|e| bad_entry(ns::TC_TOKEN, &key, e))
    }

    async fn put_tc_token_locked(&self, jid: &str, entry: &TcTokenEntry) -> Result<()> {
        self.put_one(ns::TC_TOKEN, keys::key(&[jid]), codec::encode_tc_token(entry)).await
    }
}

#[async_trait]
impl ProtocolStore for KirimBackend {
    /// In device order.
    async fn get_sender_key_devices(&self, group_jid: &str) -> Result<Vec<(String, bool)>> {
        let entries = self.scan(ns::SENDER_KEY_DEVICE, &keys::prefix(&[group_jid])).await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let [_, device] = keys::split::<2>(&key).map_err(|e| bad_entry(ns::SENDER_KEY_DEVICE, &key, e))?;
                match value.as_slice() {
                    [0] => Ok((device, false)),
                    [1] => Ok((device, true)),
                    _ => Err(bad_entry(ns::SENDER_KEY_DEVICE, &key, "status is not one byte of 0 or 1")),
                }
            })
            .collect()
    }

    async fn set_sender_key_status(&self, group_jid: &str, entries: &[(&str, bool)]) -> Result<()> {
        let writes = entries
            .iter()
            .map(|(device, has_key)| put(ns::SENDER_KEY_DEVICE, keys::key(&[group_jid, device]), vec![u8::from(*has_key)]))
            .collect();
        self.write("set_sender_key_status", writes).await
    }

    async fn clear_sender_key_devices(&self, group_jid: &str) -> Result<()> {
        self.write("clear_sender_key_devices", vec![delete_prefix(ns::SENDER_KEY_DEVICE, keys::prefix(&[group_jid]))]).await
    }

    /// Rare (a device left or changed identity), so a scan of every group's rows beats a
    /// second index written on every group send.
    async fn delete_sender_key_device_rows(&self, device_jids: &[&str]) -> Result<()> {
        if device_jids.is_empty() {
            return Ok(());
        }
        let targets: HashSet<&str> = device_jids.iter().copied().collect();
        let mut writes = Vec::new();
        for (key, _) in self.scan(ns::SENDER_KEY_DEVICE, "").await? {
            let [_, device] = keys::split::<2>(&key).map_err(|e| bad_entry(ns::SENDER_KEY_DEVICE, &key, e))?;
            if targets.contains(device.as_str()) {
                writes.push(delete(ns::SENDER_KEY_DEVICE, key));
            }
        }
        self.write("delete_sender_key_device_rows", writes).await
    }

    async fn clear_all_sender_key_devices(&self) -> Result<()> {
        self.write("clear_all_sender_key_devices", vec![delete_prefix(ns::SENDER_KEY_DEVICE, String::new())]).await
    }

    async fn get_lid_mapping(&self, lid: &str) -> Result<Option<LidPnMappingEntry>> {
        let key = keys::key(&[lid]);
        let Some(value) = self.get(ns::LID, &key).await? else { return Ok(None) };
        codec::decode_lid_entry(lid.to_owned(), &value).map(Some).map_err(|e| bad_entry(ns::LID, &key, e))
    }

    /// The most recently updated LID that still maps to `phone`.
    async fn get_pn_mapping(&self, phone: &str) -> Result<Option<LidPnMappingEntry>> {
        self.pn_mapping(phone).await
    }

    async fn put_lid_mapping(&self, entry: &LidPnMappingEntry) -> Result<()> {
        self.put_lid_mappings(std::slice::from_ref(entry)).await
    }

    /// Each mapping, its reverse entry and the removal of the reverse entry it replaces, all
    /// in one batch for the whole call.
    async fn put_lid_mappings(&self, entries: &[LidPnMappingEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let _guard = self.locks.lid.lock().await;
        let mut phones: HashMap<&str, String> = HashMap::new();
        let mut writes = Vec::with_capacity(entries.len() * 3);
        for entry in entries {
            let current = match phones.get(entry.lid.as_str()) {
                Some(phone) => Some(phone.clone()),
                None => self.stored_phone(&entry.lid).await?,
            };
            if let Some(old) = current.filter(|old| *old != entry.phone_number) {
                writes.push(delete(ns::PN, keys::key(&[&old, &entry.lid])));
            }
            writes.push(put(ns::LID, keys::key(&[&entry.lid]), codec::encode_lid_entry(entry)));
            writes.push(put(ns::PN, keys::key(&[&entry.phone_number, &entry.lid]), Vec::new()));
            phones.insert(&entry.lid, entry.phone_number.clone());
        }
        self.write("put_lid_mappings", writes).await
    }

    async fn get_all_lid_mappings(&self) -> Result<Vec<LidPnMappingEntry>> {
        let entries = self.scan(ns::LID, "").await?;
        entries
            .into_iter()
            .map(|(key, value)| {
                let [lid] = keys::split::<1>(&key).map_err(|e| bad_entry(ns::LID, &key, e))?;
                codec::decode_lid_entry(lid, &value).map_err(|e| bad_entry(ns::LID, &key, e))
            })
            .collect()
    }

    async fn save_base_key(&self, address: &str, message_id: &str, base_key: &[u8]) -> Result<()> {
        self.put_one(ns::BASE_KEY, keys::key(&[address, message_id]), base_key.to_vec()).await
    }

    async fn has_same_base_key(&self, address: &str, message_id: &str, current_base_key: &[u8]) -> Result<bool> {
        Ok(self.get(ns::BASE_KEY, &keys::key(&[address, message_id])).await?.is_some_and(|saved| saved == current_base_key))
    }

    async fn delete_base_key(&self, address: &str, message_id: &str) -> Result<()> {
        self.delete_one(ns::BASE_KEY, keys::key(&[address, message_id])).await
    }

    async fn update_device_list(&self, record: DeviceListRecord) -> Result<()> {
        self.update_device_lists(vec![record]).await
    }

    async fn update_device_lists(&self, records: Vec<DeviceListRecord>) -> Result<()> {
        let writes = records.iter().map(|r| put(ns::DEVICE_LIST, keys::key(&[&r.user]), codec::encode_device_list(r))).collect();
        self.write("update_device_lists", writes).await
    }

    async fn get_devices(&self, user: &str) -> Result<Option<DeviceListRecord>> {
        let key = keys::key(&[user]);
        let Some(value) = self.get(ns::DEVICE_LIST, &key).await? else { return Ok(None) };
        codec::decode_device_list(user.to_owned(), &value).map(Some).map_err(|e| bad_entry(ns::DEVICE_LIST, &key, e))
    }

    async fn delete_devices(&self, user: &str) -> Result<()> {
        self.delete_one(ns::DEVICE_LIST, keys::key(&[user])).await
    }

    async fn get_group_metadata(&self, group_jid: &str) -> Result<Option<Vec<u8>>> {
        self.get(ns::GROUP_METADATA, &keys::key(&[group_jid])).await
    }

    async fn put_group_metadata(&self, group_jid: &str, blob: &[u8]) -> Result<()> {
        self.put_one(ns::GROUP_METADATA, keys::key(&[group_jid]), blob.to_vec()).await
    }

    async fn delete_group_metadata(&self, group_jid: &str) -> Result<()> {
        self.delete_one(ns::GROUP_METADATA, keys::key(&[group_jid])).await
    }

    async fn get_tc_token(&self, jid: &str) -> Result<Option<TcTokenEntry>> {
        self.tc_token(jid).await
    }

    // Every token write takes the token lock: the two merging writers below read before
    // they write, and a plain put landing in between would be lost.

    async fn put_tc_token(&self, jid: &str, entry: &TcTokenEntry) -> Result<()> {
        let _guard = self.locks.tc_token.lock().await;
        self.put_tc_token_locked(jid, entry).await
    }

    async fn delete_tc_token(&self, jid: &str) -> Result<()> {
        let _guard = self.locks.tc_token.lock().await;
        self.delete_one(ns::TC_TOKEN, keys::key(&[jid])).await
    }

    async fn get_all_tc_token_jids(&self) -> Result<Vec<String>> {
        let entries = self.scan(ns::TC_TOKEN, "").await?;
        entries.into_iter().map(|(key, _)| keys::split::<1>(&key).map(|[jid]| jid).map_err(|e| bad_entry(ns::TC_TOKEN, &key, e))).collect()
    }

    /// A token goes only when both its received token and its sender bucket are stale.
    async fn delete_expired_tc_tokens(&self, token_cutoff: i64, sender_cutoff: i64) -> Result<u32> {
        let _guard = self.locks.tc_token.lock().await;
        let mut writes = Vec::new();
        for (key, value) in self.scan(ns::TC_TOKEN, "").await? {
            let entry = codec::decode_tc_token(&value).map_err(|e| bad_entry(ns::TC_TOKEN, &key, e))?;
            let token_live = !entry.token.is_empty() && entry.token_timestamp >= token_cutoff;
            let sender_live = entry.sender_timestamp.is_some_and(|ts| ts >= sender_cutoff);
            if !token_live && !sender_live {
                writes.push(delete(ns::TC_TOKEN, key));
            }
        }
        let removed = count(writes.len());
        self.write("delete_expired_tc_tokens", writes).await?;
        Ok(removed)
    }

    /// The sender bucket only moves forward; a missing token gets a byte-less placeholder.
    async fn touch_tc_token_sender_timestamp(&self, jid: &str, sender_timestamp: i64) -> Result<()> {
        let _guard = self.locks.tc_token.lock().await;
        let entry = match self.tc_token(jid).await? {
            Some(mut entry) => {
                entry.sender_timestamp = Some(entry.sender_timestamp.map_or(sender_timestamp, |ts| ts.max(sender_timestamp)));
                entry
            }
            None => TcTokenEntry { token: Vec::new(), token_timestamp: sender_timestamp, sender_timestamp: Some(sender_timestamp) },
        };
        self.put_tc_token_locked(jid, &entry).await
    }

    /// Newer wins (a placeholder never blocks a real token); the sender bucket is kept.
    async fn store_received_tc_token(&self, jid: &str, token: &[u8], token_timestamp: i64) -> Result<()> {
        let _guard = self.locks.tc_token.lock().await;
        let existing = self.tc_token(jid).await?;
        if let Some(existing) = &existing
            && !existing.token.is_empty()
            && token_timestamp < existing.token_timestamp
        {
            return Ok(());
        }
        let sender_timestamp = existing.and_then(|e| e.sender_timestamp);
        self.put_tc_token_locked(jid, &TcTokenEntry { token: token.to_vec(), token_timestamp, sender_timestamp }).await
    }

    async fn store_sent_message(&self, chat_jid: &str, message_id: &str, payload: &[u8]) -> Result<()> {
        self.store_sent(chat_jid, message_id, payload).await
    }

    async fn take_sent_message(&self, chat_jid: &str, message_id: &str) -> Result<Option<Vec<u8>>> {
        self.take_sent(chat_jid, message_id).await
    }

    async fn delete_expired_sent_messages(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.delete_expired_sent(cutoff_timestamp).await
    }

    async fn store_pending_inbound(&self, chat: &str, sender: &str, id: &str, message: &[u8]) -> Result<()> {
        self.store_pending_inbound_batch(&[PendingInboundRow { chat, sender, id, message }]).await
    }

    async fn get_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> Result<Option<Vec<u8>>> {
        self.pending_inbound(chat, sender, id).await
    }

    async fn delete_pending_inbound(&self, chat: &str, sender: &str, id: &str) -> Result<()> {
        self.delete_pending_inbound_batch(&[PendingInboundKey { chat, sender, id }]).await
    }

    async fn delete_expired_pending_inbound(&self, cutoff_timestamp: i64) -> Result<u32> {
        self.delete_expired_pending(cutoff_timestamp).await
    }

    async fn store_pending_inbound_batch(&self, rows: &[PendingInboundRow<'_>]) -> Result<()> {
        self.store_pending(rows).await
    }

    async fn delete_pending_inbound_batch(&self, keys: &[PendingInboundKey<'_>]) -> Result<()> {
        self.delete_pending(keys).await
    }
}

/// Counts of deleted rows, as the library's `u32`.
pub(super) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
