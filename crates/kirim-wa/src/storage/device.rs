//! The linked device's own identity and settings: one JSON value.
//!
//! JSON through the type's own serde, as the library round-trips it: the struct grows a field
//! most releases (each `#[serde(default)]`), and a self-describing format reads values written
//! before the field existed. It is written when the device changes, not per message.

use std::sync::Arc;

use async_trait::async_trait;
use whatsapp_rust::wacore::store::Device;
use whatsapp_rust::wacore::store::device::DEVICE_PROPS;
use whatsapp_rust::wacore::store::error::{Result, StoreError};
use whatsapp_rust::wacore::store::traits::DeviceStore;

use super::keys::{self, ns};
use super::{KirimBackend, bad_entry};

#[async_trait]
impl DeviceStore for KirimBackend {
    async fn save(&self, device: &Device) -> Result<()> {
        let json = serde_json::to_vec(device).map_err(|e| StoreError::Serialization(Box::new(e)))?;
        self.put_one(ns::META, keys::DEVICE.into(), json).await
    }

    /// Fields the library does not persist (`#[serde(skip)]`) come back as the library's own
    /// store restores them: default device props, the web client profile.
    async fn load(&self) -> Result<Option<Device>> {
        let Some(json) = self.get(ns::META, keys::DEVICE).await? else { return Ok(None) };
        let mut device: Device = serde_json::from_slice(&json).map_err(|e| bad_entry(ns::META, keys::DEVICE, e))?;
        device.device_props = Arc::new(DEVICE_PROPS.clone());
        Ok(Some(device))
    }

    async fn exists(&self) -> Result<bool> {
        Ok(self.get(ns::META, keys::DEVICE).await?.is_some())
    }

    /// Stores a fresh identity right away, so that keys generated before pairing are the keys
    /// found after a restart. Returns the device's key, which the library only logs.
    async fn create(&self) -> Result<i32> {
        if !self.exists().await? {
            self.save(&Device::new()).await?;
        }
        Ok(i32::try_from(self.device.0).unwrap_or(i32::MAX))
    }
}
