//! Devices: one WhatsApp number each, driven through a connector, with a link status machine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{DeviceId, DevicePk, TenantPk};
use crate::{PhoneNumber, Timestamp, TokenHash};

/// Which network a device speaks through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectorKind {
    /// The built-in simulated WhatsApp network, for demos, tests and benchmarks.
    Sandbox,
    /// WhatsApp Web multi-device (a linked phone).
    WhatsappWeb,
    /// The official WhatsApp Cloud API.
    CloudApi,
}

impl ConnectorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::WhatsappWeb => "whatsapp-web",
            Self::CloudApi => "cloud-api",
        }
    }
}

impl FromStr for ConnectorKind {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "sandbox" => Ok(Self::Sandbox),
            "whatsapp-web" => Ok(Self::WhatsappWeb),
            "cloud-api" => Ok(Self::CloudApi),
            _ => Err(()),
        }
    }
}

/// Link status. `disconnected → connecting → awaiting_scan | awaiting_pair_code → connected`,
/// then `disconnected`, `logged_out` or `banned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    Disconnected,
    Connecting,
    AwaitingScan,
    AwaitingPairCode,
    Connected,
    LoggedOut,
    Banned,
    /// Another client took the session over (WhatsApp Web opened elsewhere with the same link).
    Conflict,
    /// Linking stopped: every QR code expired without a scan. Connect again for new ones.
    LinkExpired,
    /// The network refused this client's version; Kirim needs an update.
    Outdated,
}

impl DeviceStatus {
    pub const ALL: [DeviceStatus; 10] = [
        Self::Disconnected,
        Self::Connecting,
        Self::AwaitingScan,
        Self::AwaitingPairCode,
        Self::Connected,
        Self::LoggedOut,
        Self::Banned,
        Self::Conflict,
        Self::LinkExpired,
        Self::Outdated,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Disconnected => "disconnected",
            Self::Connecting => "connecting",
            Self::AwaitingScan => "awaiting_scan",
            Self::AwaitingPairCode => "awaiting_pair_code",
            Self::Connected => "connected",
            Self::LoggedOut => "logged_out",
            Self::Banned => "banned",
            Self::Conflict => "conflict",
            Self::LinkExpired => "link_expired",
            Self::Outdated => "outdated",
        }
    }

    /// Whether a connector may move a device from `self` to `to`.
    /// Any state may fall to disconnected, logged out, banned, conflict or outdated; linking
    /// goes through connecting, and only linking can expire.
    pub fn can_become(self, to: DeviceStatus) -> bool {
        use DeviceStatus::*;
        match to {
            Disconnected | LoggedOut | Banned | Conflict | Outdated => true,
            LinkExpired => matches!(self, Connecting | AwaitingScan | AwaitingPairCode | LinkExpired),
            Connecting => true,
            AwaitingScan | AwaitingPairCode => matches!(self, Connecting | AwaitingScan | AwaitingPairCode),
            Connected => matches!(self, Connecting | AwaitingScan | AwaitingPairCode | Connected),
        }
    }
}

impl FromStr for DeviceStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or(())
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-device sending behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceSettings {
    /// Minimum pause between two sends from this device, in milliseconds. Pacing keeps a
    /// number from looking like a spammer; 0 turns it off (benchmarks).
    pub pacing_ms: u64,
    /// A random extra pause of up to this many milliseconds, added to `pacing_ms`.
    pub pacing_jitter_ms: u64,
    /// How many times a message is tried before it is marked failed.
    pub max_attempts: u32,
    /// Decline every WhatsApp call that rings on the device (event `call.received` says so).
    pub reject_calls: bool,
    /// With `reject_calls`: a text sent to the caller after the call is declined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_reply: Option<String>,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        Self { pacing_ms: 1000, pacing_jitter_ms: 1000, max_attempts: 5, reject_calls: false, call_reply: None }
    }
}

/// Settings as a request gives them: the fields present replace the device's current ones
/// (or the server defaults, for a new device); absent fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsPatch {
    /// Minimum pause between two sends, in milliseconds (0 to 3600000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pacing_ms: Option<u64>,
    /// A random extra pause of up to this many milliseconds (0 to 3600000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pacing_jitter_ms: Option<u64>,
    /// Attempts before a message is marked failed (1 to 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Decline every call that rings on the device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_calls: Option<bool>,
    /// A text (at most 4,096 characters) sent to a caller whose call was declined; `""`
    /// removes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_reply: Option<String>,
}

impl SettingsPatch {
    pub fn apply_to(&self, base: &DeviceSettings) -> DeviceSettings {
        let call_reply = match &self.call_reply {
            Some(text) if text.trim().is_empty() => None,
            Some(text) => Some(text.clone()),
            None => base.call_reply.clone(),
        };
        DeviceSettings {
            pacing_ms: self.pacing_ms.unwrap_or(base.pacing_ms),
            pacing_jitter_ms: self.pacing_jitter_ms.unwrap_or(base.pacing_jitter_ms),
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            reject_calls: self.reject_calls.unwrap_or(base.reject_calls),
            call_reply,
        }
    }
}

/// A short-lived linking code shown to the user (a QR string or a pairing code).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkCode {
    pub code: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub pk: DevicePk,
    pub id: DeviceId,
    pub tenant_pk: TenantPk,
    pub name: String,
    pub connector: ConnectorKind,
    pub status: DeviceStatus,
    /// Why the device is in its status, in words (e.g. "banned until …", "QR codes exhausted").
    pub status_detail: Option<String>,
    /// The linked number, once known.
    pub phone: Option<PhoneNumber>,
    pub qr: Option<LinkCode>,
    pub pair_code: Option<LinkCode>,
    pub settings: DeviceSettings,
    /// Connector-specific configuration (e.g. Cloud API credentials), opaque to the core.
    pub connector_config: serde_json::Value,
    pub token_hash: TokenHash,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Quota and expiry, set by the operator (none by default).
    pub limits: crate::usage::DeviceLimits,
    /// A label that groups the account's devices (a team, a branch), to list them by.
    pub workspace: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: DeviceId,
    pub tenant_pk: TenantPk,
    pub name: String,
    pub connector: ConnectorKind,
    pub settings: DeviceSettings,
    pub connector_config: serde_json::Value,
    pub token_hash: TokenHash,
    pub created_at: Timestamp,
}

/// Fields a tenant may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DevicePatch {
    pub name: Option<String>,
    pub settings: Option<DeviceSettings>,
    pub connector_config: Option<serde_json::Value>,
    pub token_hash: Option<TokenHash>,
    /// `Some(None)` clears it.
    pub workspace: Option<Option<String>>,
}

/// What a connector reports about a device's link. Codes and phone are replaced as given:
/// `None` clears a code, and a phone of `None` keeps the stored one.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkState {
    pub status: DeviceStatus,
    pub detail: Option<String>,
    pub qr: Option<LinkCode>,
    pub pair_code: Option<LinkCode>,
    pub phone: Option<PhoneNumber>,
}

impl LinkState {
    pub fn status(status: DeviceStatus) -> Self {
        Self { status, detail: None, qr: None, pair_code: None, phone: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_machine_allows_linking_and_falls() {
        use DeviceStatus::*;
        assert!(Disconnected.can_become(Connecting));
        assert!(Connecting.can_become(AwaitingScan));
        assert!(AwaitingScan.can_become(AwaitingScan), "a refreshed QR");
        assert!(AwaitingScan.can_become(Connected));
        assert!(!Disconnected.can_become(Connected), "must connect first");
        assert!(!LoggedOut.can_become(AwaitingScan));
        assert!(Connected.can_become(Banned));
        for s in DeviceStatus::ALL {
            assert_eq!(s.as_str().parse::<DeviceStatus>(), Ok(s));
        }
    }
}
