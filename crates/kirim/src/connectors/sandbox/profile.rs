//! The simulated accounts' profile names and block lists, by the account's number. Kept in
//! memory only (a restart of the sandbox forgets them), like its chat states.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use kirim_core::PhoneNumber;
use kirim_core::connector::ConnectorError;
use kirim_core::id::DevicePk;

use super::network::{Network, lock};

/// The longest profile name WhatsApp takes.
pub const MAX_NAME_CHARS: usize = 25;

#[derive(Default)]
pub(super) struct Profiles {
    names: Mutex<HashMap<PhoneNumber, String>>,
    blocked: Mutex<HashMap<PhoneNumber, BTreeSet<PhoneNumber>>>,
}

impl Profiles {
    fn account(network: &Network, device: DevicePk) -> Result<PhoneNumber, ConnectorError> {
        network.connected_phone(device).ok_or(ConnectorError::NotConnected)
    }

    pub(super) fn set_name(&self, network: &Network, device: DevicePk, name: &str) -> Result<(), ConnectorError> {
        let account = Self::account(network, device)?;
        if name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ConnectorError::Permanent(format!("a profile name is 1 to {MAX_NAME_CHARS} characters")));
        }
        lock(&self.names).insert(account, name.trim().to_owned());
        Ok(())
    }

    pub(super) fn blocklist(&self, network: &Network, device: DevicePk) -> Result<Vec<String>, ConnectorError> {
        let account = Self::account(network, device)?;
        Ok(lock(&self.blocked).get(&account).map(|set| set.iter().map(|p| p.as_str().to_owned()).collect()).unwrap_or_default())
    }

    pub(super) fn set_blocked(
        &self,
        network: &Network,
        device: DevicePk,
        phone: &PhoneNumber,
        blocked: bool,
    ) -> Result<(), ConnectorError> {
        let account = Self::account(network, device)?;
        let mut all = lock(&self.blocked);
        let set = all.entry(account).or_default();
        if blocked {
            set.insert(phone.clone());
        } else {
            set.remove(phone);
        }
        Ok(())
    }
}
