//! Signal protocol state: identities, sessions, pre-keys, signed pre-keys, sender keys.
//!
//! These are the hot path: every message sent or received ends in a flush of the sessions,
//! identities and sender keys it touched, through the `*_batch` methods, one batch each.

use std::sync::Arc;

use async_trait::async_trait;
use whatsapp_rust::bytes::Bytes;
use whatsapp_rust::wacore::store::error::Result;
use whatsapp_rust::wacore::store::traits::SignalStore;

use super::keys::{self, ns};
use super::{KirimBackend, bad_entry, codec, delete, put};

impl KirimBackend {
    async fn any_key_starts_with(&self, namespace: &'static str, prefixes: &[String]) -> Result<bool> {
        for prefix in prefixes {
            if !self.scan(namespace, prefix).await?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn prekey_record(key: &str, value: Vec<u8>) -> Result<Bytes> {
        let (_, at) = codec::decode_prekey(&value).map_err(|e| bad_entry(ns::PREKEY, key, e))?;
        Ok(Bytes::from(value).slice(at..))
    }
}

#[async_trait]
impl SignalStore for KirimBackend {
    async fn put_identity(&self, address: &str, key: [u8; 32]) -> Result<()> {
        self.put_one(ns::IDENTITY, keys::key(&[address]), key.to_vec()).await
    }

    async fn put_identities_batch(&self, identities: &[(Arc<str>, [u8; 32])]) -> Result<()> {
        let writes = identities.iter().map(|(address, key)| put(ns::IDENTITY, keys::key(&[address]), key.to_vec())).collect();
        self.write("put_identities_batch", writes).await
    }

    async fn load_identity(&self, address: &str) -> Result<Option<[u8; 32]>> {
        let key = keys::key(&[address]);
        let Some(value) = self.get(ns::IDENTITY, &key).await? else { return Ok(None) };
        let len = value.len();
        value.try_into().map(Some).map_err(|_| bad_entry(ns::IDENTITY, &key, format!("identity key of {len} bytes, not 32")))
    }

    async fn delete_identity(&self, address: &str) -> Result<()> {
        self.delete_one(ns::IDENTITY, keys::key(&[address])).await
    }

    async fn get_session(&self, address: &str) -> Result<Option<Bytes>> {
        Ok(self.get(ns::SESSION, &keys::key(&[address])).await?.map(Bytes::from))
    }

    async fn put_session(&self, address: &str, session: &[u8]) -> Result<()> {
        self.put_one(ns::SESSION, keys::key(&[address]), session.to_vec()).await
    }

    async fn put_sessions_batch(&self, sessions: &[(Arc<str>, Bytes)]) -> Result<()> {
        let writes = sessions.iter().map(|(address, record)| put(ns::SESSION, keys::key(&[address]), record.to_vec())).collect();
        self.write("put_sessions_batch", writes).await
    }

    async fn delete_session(&self, address: &str) -> Result<()> {
        self.delete_one(ns::SESSION, keys::key(&[address])).await
    }

    async fn has_session(&self, address: &str) -> Result<bool> {
        Ok(self.get(ns::SESSION, &keys::key(&[address])).await?.is_some())
    }

    /// Addresses are `user@server` (device 0) or `user:device@server`, so two prefix scans of
    /// each namespace answer it without listing the user's devices.
    async fn has_signal_state_for_user(&self, user: &str) -> Result<bool> {
        let prefixes = [keys::partial(&format!("{user}@")), keys::partial(&format!("{user}:"))];
        Ok(self.any_key_starts_with(ns::SESSION, &prefixes).await? || self.any_key_starts_with(ns::IDENTITY, &prefixes).await?)
    }

    async fn store_prekey(&self, id: u32, record: &[u8], uploaded: bool) -> Result<()> {
        let _guard = self.locks.prekey.lock().await;
        self.put_one(ns::PREKEY, keys::id(id), codec::encode_prekey(uploaded, record)).await
    }

    async fn store_prekeys_batch(&self, prekeys: &[(u32, Bytes)], uploaded: bool) -> Result<()> {
        let writes = prekeys.iter().map(|(id, record)| put(ns::PREKEY, keys::id(*id), codec::encode_prekey(uploaded, record))).collect();
        let _guard = self.locks.prekey.lock().await;
        self.write("store_prekeys_batch", writes).await
    }

    async fn load_prekey(&self, id: u32) -> Result<Option<Bytes>> {
        let key = keys::id(id);
        self.get(ns::PREKEY, &key).await?.map(|value| Self::prekey_record(&key, value)).transpose()
    }

    async fn load_prekeys_batch(&self, ids: &[u32]) -> Result<Vec<(u32, Bytes)>> {
        let mut found = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(record) = self.load_prekey(id).await? {
                found.push((id, record));
            }
        }
        Ok(found)
    }

    /// Rewrites only keys that still exist, under the pre-key lock, so a key consumed since
    /// the upload stays consumed.
    async fn mark_prekeys_uploaded(&self, ids: &[u32]) -> Result<()> {
        let _guard = self.locks.prekey.lock().await;
        let mut writes = Vec::new();
        for &id in ids {
            let key = keys::id(id);
            let Some(value) = self.get(ns::PREKEY, &key).await? else { continue };
            let (uploaded, at) = codec::decode_prekey(&value).map_err(|e| bad_entry(ns::PREKEY, &key, e))?;
            if !uploaded {
                writes.push(put(ns::PREKEY, key, codec::encode_prekey(true, &value[at..])));
            }
        }
        self.write("mark_prekeys_uploaded", writes).await
    }

    async fn remove_prekey(&self, id: u32) -> Result<()> {
        let _guard = self.locks.prekey.lock().await;
        self.delete_one(ns::PREKEY, keys::id(id)).await
    }

    /// Keys are fixed-width hex, so the last one holds the highest id. Only used once per
    /// device, to seed the pre-key counter of devices stored before it existed.
    async fn get_max_prekey_id(&self) -> Result<u32> {
        match self.scan(ns::PREKEY, "").await?.last() {
            Some((key, _)) => keys::parse_id(key).map_err(|e| bad_entry(ns::PREKEY, key, e)),
            None => Ok(0),
        }
    }

    async fn store_signed_prekey(&self, id: u32, record: &[u8]) -> Result<()> {
        self.put_one(ns::SIGNED_PREKEY, keys::id(id), record.to_vec()).await
    }

    async fn load_signed_prekey(&self, id: u32) -> Result<Option<Vec<u8>>> {
        self.get(ns::SIGNED_PREKEY, &keys::id(id)).await
    }

    /// In id order.
    async fn load_all_signed_prekeys(&self) -> Result<Vec<(u32, Vec<u8>)>> {
        let entries = self.scan(ns::SIGNED_PREKEY, "").await?;
        entries
            .into_iter()
            .map(|(key, record)| Ok((keys::parse_id(&key).map_err(|e| bad_entry(ns::SIGNED_PREKEY, &key, e))?, record)))
            .collect()
    }

    async fn remove_signed_prekey(&self, id: u32) -> Result<()> {
        self.delete_one(ns::SIGNED_PREKEY, keys::id(id)).await
    }

    async fn put_sender_key(&self, address: &str, record: &[u8]) -> Result<()> {
        self.put_one(ns::SENDER_KEY, keys::key(&[address]), record.to_vec()).await
    }

    async fn put_sender_keys_batch(&self, sender_keys: &[(Arc<str>, Bytes)]) -> Result<()> {
        let writes = sender_keys.iter().map(|(address, record)| put(ns::SENDER_KEY, keys::key(&[address]), record.to_vec())).collect();
        self.write("put_sender_keys_batch", writes).await
    }

    async fn get_sender_key(&self, address: &str) -> Result<Option<Vec<u8>>> {
        self.get(ns::SENDER_KEY, &keys::key(&[address])).await
    }

    async fn delete_sender_key(&self, address: &str) -> Result<()> {
        self.write("delete_sender_key", vec![delete(ns::SENDER_KEY, keys::key(&[address]))]).await
    }
}
