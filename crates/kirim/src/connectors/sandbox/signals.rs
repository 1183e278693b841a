//! What passes on the network besides messages: the chat states a device shows ("typing…")
//! and calls that ring on a device. Neither is journaled: like on WhatsApp, a typing
//! indicator is gone once shown, and a call rings only while someone is calling.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::Utc;
use kirim_core::connector::{ConnectorError, IncomingCall, Presence};
use kirim_core::id::DevicePk;
use kirim_core::{PhoneNumber, Recipient, Timestamp};
use serde::Serialize;

use super::codes;
use super::network::{Network, lock};
use super::types::SandboxError;

/// How many chat states the network remembers per device (the most recent).
const PRESENCES_KEPT: usize = 100;

/// A chat state a device showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PresenceShown {
    /// The chat: a number or a group.
    pub to: String,
    /// `typing`, `recording` or `paused`.
    pub state: &'static str,
    pub at: Timestamp,
}

/// A call the simulated world places to a device.
#[derive(Debug, Clone)]
pub struct SimulatedCall {
    pub from: PhoneNumber,
    pub video: bool,
}

/// What became of a simulated call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallOutcome {
    pub call_id: String,
    /// Whether the device declined it (its `reject_calls` setting).
    pub rejected: bool,
}

#[derive(Default)]
pub(super) struct Signals {
    presences: Mutex<HashMap<DevicePk, VecDeque<PresenceShown>>>,
}

impl Signals {
    /// Shows `presence` in the chat with `to`, as the network passes it on.
    pub(super) fn presence(&self, network: &Network, device: DevicePk, to: &Recipient, presence: Presence) -> Result<(), ConnectorError> {
        if network.connected_phone(device).is_none() {
            return Err(ConnectorError::NotConnected);
        }
        let mut all = lock(&self.presences);
        let shown = all.entry(device).or_default();
        if shown.len() >= PRESENCES_KEPT {
            shown.pop_front();
        }
        shown.push_back(PresenceShown { to: to.as_str().to_owned(), state: presence.as_str(), at: Utc::now() });
        Ok(())
    }

    /// The chat states the device showed, oldest first.
    pub(super) fn presences(&self, device: DevicePk) -> Vec<PresenceShown> {
        lock(&self.presences).get(&device).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Someone calls the device. The device declines the call if its settings say so (asked
    /// of the app, as WhatsApp Web does per call), and the call is reported either way.
    pub(super) async fn call(&self, network: &Network, device: DevicePk, call: SimulatedCall) -> Result<CallOutcome, SandboxError> {
        if network.connected_phone(device).is_none() {
            return Err(SandboxError::NotConnected);
        }
        let policy = network.sink.call_policy(device).await.map_err(|e| SandboxError::Sink(e.0))?;
        let call_id = codes::inbound_id();
        let report = IncomingCall {
            call_id: call_id.clone(),
            from: call.from.as_str().to_owned(),
            video: call.video,
            group: None,
            rejected: policy.reject,
            at: Utc::now(),
        };
        network.sink.call(device, report).await.map_err(|e| SandboxError::Sink(e.0))?;
        Ok(CallOutcome { call_id, rejected: policy.reject })
    }
}
