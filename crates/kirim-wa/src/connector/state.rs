//! What the connector keeps per device across client restarts: the reporting queues, the
//! counters, the current client (for sends), the linked account, and small caches.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use kirim_core::connector::{ConnectorError, SharedSink};
use kirim_core::device::DeviceStatus;
use kirim_core::id::DevicePk;
use kirim_core::session::{SessionStore, SessionWrite};
use kirim_core::store::StoreResult;
use serde::{Deserialize, Serialize};
use whatsapp_rust::Client;
use whatsapp_rust::wacore::store::traits::DeviceStore;
use whatsapp_rust::wacore_binary::Jid;
use whatsapp_rust::waproto::whatsapp as wa;

use super::errors;
use super::link::End;
use super::options::WaOptions;
use super::report::{Cells, Counters, LinkReporter, ReceiptReporter};
use super::send::Quoted;
use crate::storage::KirimBackend;

/// The connector's own namespace in the session store (the library's state has its own).
pub const NAMESPACE: &str = "kirim_connector";
/// Key of the linked [`Account`] in [`NAMESPACE`].
pub const ACCOUNT_KEY: &str = "account";

/// How many recent messages a device remembers for quoting in replies.
const RECENT_MESSAGES: usize = 256;
/// How many numbers a device remembers as being on WhatsApp (then it starts over).
const KNOWN_NUMBERS: usize = 10_000;

/// The account a device is linked to: its phone-number JID and its LID. The LID is how
/// WhatsApp increasingly addresses people (`…@lid`); remembering our own lets messages that
/// name this account by LID be attributed to its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub pn: Jid,
    pub lid: Option<Jid>,
}

#[derive(Serialize, Deserialize)]
struct StoredAccount {
    pn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lid: Option<String>,
}

impl Account {
    fn to_bytes(&self) -> Vec<u8> {
        let stored = StoredAccount { pn: self.pn.to_string(), lid: self.lid.as_ref().map(Jid::to_string) };
        serde_json::to_vec(&stored).expect("two strings serialize")
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let stored: StoredAccount = serde_json::from_slice(bytes).ok()?;
        Some(Self { pn: stored.pn.parse().ok()?, lid: stored.lid.and_then(|l| l.parse().ok()) })
    }
}

/// The account `device` is linked to, or `None` if it never was (or was logged out): the
/// connector's own record, else the library's device identity (linked by an earlier version).
pub async fn load_account(sessions: &Arc<dyn SessionStore>, device: DevicePk) -> Result<Option<Account>, ConnectorError> {
    let unreadable = |e: &dyn std::fmt::Display| ConnectorError::Transient(format!("could not read the WhatsApp session: {e}"));
    if let Some(bytes) = sessions.session_get(device, NAMESPACE, ACCOUNT_KEY).await.map_err(|e| unreadable(&e))?
        && let Some(account) = Account::from_bytes(&bytes)
    {
        return Ok(Some(account));
    }
    let identity = KirimBackend::new(sessions.clone(), device).load().await.map_err(|e| unreadable(&e))?;
    Ok(identity.and_then(|d| Some(Account { pn: d.pn?.to_non_ad(), lid: d.lid.map(|l| l.to_non_ad()) })))
}

pub(crate) async fn save_account(sessions: &Arc<dyn SessionStore>, device: DevicePk, account: &Account) -> StoreResult<()> {
    let write = SessionWrite::Put { namespace: NAMESPACE.into(), key: ACCOUNT_KEY.into(), value: account.to_bytes() };
    sessions.session_write(device, vec![write]).await
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a plain field update: a panic elsewhere leaves them whole.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One device, as the connector keeps it.
pub(crate) struct DeviceState {
    pub(crate) pk: DevicePk,
    pub(crate) sink: SharedSink,
    pub(crate) sessions: Arc<dyn SessionStore>,
    pub(crate) options: Arc<WaOptions>,
    pub(crate) links: LinkReporter,
    pub(crate) receipts: ReceiptReporter,
    pub(crate) counters: Counters,
    client: RwLock<Option<Arc<Client>>>,
    ended: Mutex<Option<End>>,
    account: Mutex<Option<Account>>,
    recent: Mutex<VecDeque<(String, Quoted)>>,
    known: Mutex<HashSet<String>>,
}

impl DeviceState {
    pub(crate) fn new(
        pk: DevicePk,
        status: DeviceStatus,
        sink: SharedSink,
        sessions: Arc<dyn SessionStore>,
        options: Arc<WaOptions>,
        totals: Arc<Cells>,
    ) -> Self {
        let counters = Counters::new(totals);
        Self {
            pk,
            links: LinkReporter::spawn(sink.clone(), pk, status),
            receipts: ReceiptReporter::spawn(sink.clone(), pk, counters.clone()),
            counters,
            sink,
            sessions,
            options,
            client: RwLock::new(None),
            ended: Mutex::new(None),
            account: Mutex::new(None),
            recent: Mutex::new(VecDeque::new()),
            known: Mutex::new(HashSet::new()),
        }
    }

    /// The client of the running session, if any (sends go through it).
    pub(crate) fn client(&self) -> Option<Arc<Client>> {
        self.client.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_client(&self, client: Option<Arc<Client>>) {
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = client;
    }

    /// Why the last session ended, if it did (a banned device refuses sends as `Banned`).
    pub(crate) fn ended(&self) -> Option<End> {
        *lock(&self.ended)
    }

    pub(crate) fn set_ended(&self, end: Option<End>) {
        *lock(&self.ended) = end;
    }

    pub(crate) fn account(&self) -> Option<Account> {
        lock(&self.account).clone()
    }

    pub(crate) fn set_account(&self, account: Option<Account>) {
        *lock(&self.account) = account;
    }

    /// Forgets everything learned from the linked account (after a logout).
    pub(crate) fn forget(&self) {
        self.set_account(None);
        lock(&self.recent).clear();
        lock(&self.known).clear();
    }

    /// Remembers a message for quoting it in a reply later.
    pub(crate) fn remember(&self, id: String, participant: String, message: Arc<wa::Message>) {
        let mut recent = lock(&self.recent);
        if recent.len() >= RECENT_MESSAGES {
            recent.pop_front();
        }
        recent.push_back((id, Quoted { participant, message }));
    }

    pub(crate) fn quoted(&self, id: &str) -> Option<Quoted> {
        lock(&self.recent).iter().rev().find(|(known, _)| known == id).map(|(_, q)| q.clone())
    }

    /// Checks once per session and number that `to` is on WhatsApp, so a send to a number that
    /// is not fails as `NotOnWhatsapp` rather than being accepted and going nowhere.
    pub(crate) async fn ensure_on_whatsapp(&self, client: &Client, to: &Jid) -> Result<(), ConnectorError> {
        if !self.options.check_recipients || !to.is_pn() || lock(&self.known).contains(to.user.as_str()) {
            return Ok(());
        }
        let found = client.contacts().is_on_whatsapp(std::slice::from_ref(to)).await.map_err(|e| errors::contact_error(&e))?;
        if !found.iter().any(|r| r.is_registered) {
            return Err(ConnectorError::NotOnWhatsapp);
        }
        let mut known = lock(&self.known);
        if known.len() >= KNOWN_NUMBERS {
            known.clear();
        }
        known.insert(to.user.to_string());
        Ok(())
    }
}
