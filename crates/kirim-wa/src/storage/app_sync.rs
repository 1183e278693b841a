//! App-state sync: sync keys, collection versions (hash states) and mutation MACs.

use async_trait::async_trait;
use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::appstate::processor::AppStateMutationMAC;
use whatsapp_rust::wacore::store::error::Result;
use whatsapp_rust::wacore::store::traits::{AppStateSyncKey, AppSyncStore};

use super::keys::{self, ns};
use super::{KirimBackend, bad_entry, codec, delete, delete_prefix, put};

#[async_trait]
impl AppSyncStore for KirimBackend {
    async fn get_sync_key(&self, key_id: &[u8]) -> Result<Option<AppStateSyncKey>> {
        let key = keys::bytes(key_id);
        let Some(value) = self.get(ns::SYNC_KEY, &key).await? else { return Ok(None) };
        codec::decode_sync_key(&value).map(Some).map_err(|e| bad_entry(ns::SYNC_KEY, &key, e))
    }

    /// The key and the "latest key" pointer in one batch: the pointer never names a key
    /// that is not stored.
    async fn set_sync_key(&self, key_id: &[u8], key: AppStateSyncKey) -> Result<()> {
        let writes = vec![
            put(ns::SYNC_KEY, keys::bytes(key_id), codec::encode_sync_key(&key)),
            put(ns::META, keys::LATEST_SYNC_KEY.into(), key_id.to_vec()),
        ];
        self.write("set_sync_key", writes).await
    }

    /// A collection never synced is at the default (empty) state, as the library expects.
    async fn get_version(&self, name: &str) -> Result<HashState> {
        let key = keys::key(&[name]);
        match self.get(ns::SYNC_VERSION, &key).await? {
            Some(value) => codec::decode_hash_state(&value).map_err(|e| bad_entry(ns::SYNC_VERSION, &key, e)),
            None => Ok(HashState::default()),
        }
    }

    async fn set_version(&self, name: &str, state: HashState) -> Result<()> {
        self.put_one(ns::SYNC_VERSION, keys::key(&[name]), codec::encode_hash_state(&state)).await
    }

    /// Keyed by collection and index MAC, the library's only lookups; the version is not
    /// a query dimension (a later version of the same index replaces the MAC), so it is not stored.
    async fn put_mutation_macs(&self, name: &str, _version: u64, mutations: &[AppStateMutationMAC]) -> Result<()> {
        let writes =
            mutations.iter().map(|m| put(ns::MUTATION_MAC, keys::key(&[name, &keys::bytes(&m.index_mac)]), m.value_mac.clone())).collect();
        self.write("put_mutation_macs", writes).await
    }

    async fn get_mutation_mac(&self, name: &str, index_mac: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(ns::MUTATION_MAC, &keys::key(&[name, &keys::bytes(index_mac)])).await
    }

    async fn delete_mutation_macs(&self, name: &str, index_macs: &[Vec<u8>]) -> Result<()> {
        let writes = index_macs.iter().map(|index_mac| delete(ns::MUTATION_MAC, keys::key(&[name, &keys::bytes(index_mac)]))).collect();
        self.write("delete_mutation_macs", writes).await
    }

    async fn clear_mutation_macs(&self, name: &str) -> Result<()> {
        self.write("clear_mutation_macs", vec![delete_prefix(ns::MUTATION_MAC, keys::prefix(&[name]))]).await
    }

    async fn get_latest_sync_key_id(&self) -> Result<Option<Vec<u8>>> {
        self.get(ns::META, keys::LATEST_SYNC_KEY).await
    }
}
