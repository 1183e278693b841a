//! The network's memory: an append-only JSON-lines journal in the state directory, replayed
//! at open, with an in-memory index so a repeated message id is recognised in O(1).
//!
//! Acceptances and links are flushed before the call returns, so they survive the process
//! being killed. Delivery progress is only buffered: if it is lost, the network re-emits the
//! receipts, which the app ignores when they do not move a message forward.
//!
//! Like a real network, it remembers messages for a while, not forever: the last
//! [`KEEP_MESSAGES`] messages, none older than [`KEEP_FOR`]. That bounds its memory; the
//! journal is rewritten with only what is remembered when it is opened.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kirim_core::id::DevicePk;
use kirim_core::message::MessageContent;
use kirim_core::{PhoneNumber, Recipient, Timestamp};
use serde::{Deserialize, Serialize};

use super::types::NetworkMessage;

const FILE_NAME: &str = "network.jsonl";
/// How many accepted messages the network remembers (for de-duplication, receipts after a
/// restart, and `received`).
pub(super) const KEEP_MESSAGES: usize = 50_000;
/// How long it remembers one.
pub(super) const KEEP_FOR: chrono::Duration = chrono::Duration::hours(1);

/// How far the network got with an accepted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Stage {
    Accepted,
    Delivered,
    Read,
}

/// A message the network accepted, with what it needs to deliver it.
#[derive(Debug, Clone)]
pub(super) struct Accepted {
    pub message: NetworkMessage,
    /// The sender's number when it sent (the chat the recipient sees).
    pub from_phone: PhoneNumber,
    pub reply_to: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Record {
    Linked {
        device: DevicePk,
        phone: String,
        at: Timestamp,
    },
    Unlinked {
        device: DevicePk,
        at: Timestamp,
    },
    Accepted {
        id: String,
        device: DevicePk,
        from: String,
        to: String,
        // Boxed: media content is large, and most records are small.
        content: Box<MessageContent>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        at: Timestamp,
    },
    Progress {
        id: String,
        stage: Stage,
    },
}

struct Entry {
    accepted: Arc<Accepted>,
    stage: Stage,
    /// A delivery task is working on it (or it waits for its recipient to come online).
    claimed: bool,
}

struct Inner {
    out: BufWriter<File>,
    messages: HashMap<String, Entry>,
    by_device: HashMap<DevicePk, VecDeque<Arc<Accepted>>>,
    /// Every remembered message id with its time, oldest first: what to forget first.
    order: VecDeque<(String, Timestamp)>,
}

impl Inner {
    fn apply(&mut self, record: Record, sessions: &mut HashMap<DevicePk, PhoneNumber>) {
        match record {
            Record::Linked { device, phone, .. } => {
                sessions.insert(device, PhoneNumber::from_stored(phone));
            }
            Record::Unlinked { device, .. } => {
                sessions.remove(&device);
            }
            Record::Accepted { id, device, from, to, content, reply_to, at } => {
                let message = NetworkMessage { network_id: id, from_device: device, to: Recipient::from_stored(to), content: *content, at };
                let accepted = Accepted { message, from_phone: PhoneNumber::from_stored(from), reply_to };
                self.insert(Arc::new(accepted), false);
            }
            Record::Progress { id, stage } => {
                if let Some(entry) = self.messages.get_mut(&id) {
                    entry.stage = entry.stage.max(stage);
                }
            }
        }
    }

    /// Indexes a message unless its id is known; returns whether it was new.
    fn insert(&mut self, accepted: Arc<Accepted>, claimed: bool) -> bool {
        let id = &accepted.message.network_id;
        if self.messages.contains_key(id) {
            return false;
        }
        let (device, at) = (accepted.message.from_device, accepted.message.at);
        self.by_device.entry(device).or_default().push_back(accepted.clone());
        self.order.push_back((id.clone(), at));
        self.messages.insert(id.clone(), Entry { accepted, stage: Stage::Accepted, claimed });
        self.forget_old(at);
        true
    }

    /// Forgets the oldest messages beyond [`KEEP_MESSAGES`] or [`KEEP_FOR`] before `now`.
    fn forget_old(&mut self, now: Timestamp) {
        while let Some((id, at)) = self.order.front() {
            if self.order.len() <= KEEP_MESSAGES && *at >= now - KEEP_FOR {
                break;
            }
            let id = id.clone();
            self.order.pop_front();
            let Some(entry) = self.messages.remove(&id) else { continue };
            let device = entry.accepted.message.from_device;
            if let Some(sent) = self.by_device.get_mut(&device) {
                // Per device, messages are in acceptance order too: the oldest is in front.
                match sent.front() {
                    Some(first) if first.message.network_id == id => {
                        sent.pop_front();
                    }
                    _ => sent.retain(|a| a.message.network_id != id),
                }
                if sent.is_empty() {
                    self.by_device.remove(&device);
                }
            }
        }
    }

    /// The records that rebuild what is remembered, for rewriting the journal.
    fn snapshot(&self, sessions: &HashMap<DevicePk, PhoneNumber>) -> Vec<Record> {
        let now = chrono::Utc::now();
        let mut records: Vec<Record> =
            sessions.iter().map(|(device, phone)| Record::Linked { device: *device, phone: phone.as_str().to_owned(), at: now }).collect();
        for (id, _) in &self.order {
            let Some(entry) = self.messages.get(id) else { continue };
            let (a, m) = (&entry.accepted, &entry.accepted.message);
            records.push(Record::Accepted {
                id: id.clone(),
                device: m.from_device,
                from: a.from_phone.as_str().to_owned(),
                to: m.to.as_str().to_owned(),
                content: Box::new(m.content.clone()),
                reply_to: a.reply_to.clone(),
                at: m.at,
            });
            if entry.stage > Stage::Accepted {
                records.push(Record::Progress { id: id.clone(), stage: entry.stage });
            }
        }
        records
    }
}

fn line(record: &Record) -> Vec<u8> {
    let mut line = serde_json::to_vec(record).expect("journal records always serialize");
    line.push(b'\n');
    line
}

/// The journal and its index. One lock, held only for map operations and a small buffered write.
pub(super) struct Ledger {
    inner: Mutex<Inner>,
}

/// What `open` found.
pub(super) struct Loaded {
    pub ledger: Ledger,
    /// Linked sessions: device → phone.
    pub sessions: HashMap<DevicePk, PhoneNumber>,
    /// Journal lines that could not be read (e.g. a line cut short by a crash).
    pub skipped: usize,
}

impl Ledger {
    /// Opens (or creates) the journal in `dir` and replays it.
    pub(super) fn open(dir: &Path) -> io::Result<Loaded> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let mut inner =
            Inner { out: BufWriter::new(file.try_clone()?), messages: HashMap::new(), by_device: HashMap::new(), order: VecDeque::new() };
        let mut sessions = HashMap::new();
        let mut skipped = 0;
        let mut lines = 0usize;
        let mut ends_with_newline = true;
        let mut reader = BufReader::new(&mut file);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            ends_with_newline = buf.ends_with(b"\n");
            let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines += 1;
            match serde_json::from_slice::<Record>(text) {
                Ok(record) => inner.apply(record, &mut sessions),
                Err(_) => skipped += 1,
            }
        }
        inner.forget_old(chrono::Utc::now());
        // Mostly forgotten records: rewrite the journal with what is remembered, atomically.
        if lines > 2 * (inner.messages.len() * 2 + sessions.len()) + 1_000 {
            let tmp = dir.join(format!("{FILE_NAME}.tmp"));
            {
                let mut out = BufWriter::new(File::create(&tmp)?);
                for record in inner.snapshot(&sessions) {
                    out.write_all(&line(&record))?;
                }
                out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
            let file = OpenOptions::new().append(true).open(&path)?;
            inner.out = BufWriter::new(file);
            return Ok(Loaded { ledger: Ledger { inner: Mutex::new(inner) }, sessions, skipped });
        }
        if !ends_with_newline {
            // A line cut short by a crash: end it so the next record starts on its own line.
            inner.out.write_all(b"\n")?;
            inner.out.flush()?;
        }
        Ok(Loaded { ledger: Ledger { inner: Mutex::new(inner) }, sessions, skipped })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append_durably(&self, record: &Record) -> io::Result<()> {
        let line = line(record);
        let mut inner = self.lock();
        inner.out.write_all(&line)?;
        inner.out.flush()
    }

    pub(super) fn link(&self, device: DevicePk, phone: &PhoneNumber) -> io::Result<()> {
        self.append_durably(&Record::Linked { device, phone: phone.as_str().to_owned(), at: chrono::Utc::now() })
    }

    pub(super) fn unlink(&self, device: DevicePk) -> io::Result<()> {
        self.append_durably(&Record::Unlinked { device, at: chrono::Utc::now() })
    }

    /// Records an accepted message before returning. `None` if its id was accepted before (it
    /// is then not written again); otherwise the indexed message, claimed for delivery if `claim`.
    pub(super) fn accept(&self, accepted: Accepted, claim: bool) -> io::Result<Option<Arc<Accepted>>> {
        let message = &accepted.message;
        let line = line(&Record::Accepted {
            id: message.network_id.clone(),
            device: message.from_device,
            from: accepted.from_phone.as_str().to_owned(),
            to: message.to.as_str().to_owned(),
            content: Box::new(message.content.clone()),
            reply_to: accepted.reply_to.clone(),
            at: message.at,
        });
        let accepted = Arc::new(accepted);
        let mut inner = self.lock();
        if inner.messages.contains_key(&accepted.message.network_id) {
            return Ok(None);
        }
        inner.out.write_all(&line)?;
        inner.out.flush()?;
        inner.insert(accepted.clone(), claim);
        Ok(Some(accepted))
    }

    /// Records that a message reached `stage`; reaching `Read` ends its delivery.
    pub(super) fn advance(&self, id: &str, stage: Stage) {
        let line = line(&Record::Progress { id: id.to_owned(), stage });
        let mut inner = self.lock();
        if let Some(entry) = inner.messages.get_mut(id) {
            entry.stage = entry.stage.max(stage);
            if entry.stage == Stage::Read {
                entry.claimed = false;
            }
        }
        // Buffered only: flushed with the next acceptance, or when the sandbox closes.
        if let Err(error) = inner.out.write_all(&line) {
            tracing::warn!(%error, id, "sandbox: could not record delivery progress");
        }
    }

    /// Ends the delivery task of a message that needs no more work for now.
    pub(super) fn release(&self, id: &str) {
        if let Some(entry) = self.lock().messages.get_mut(id) {
            entry.claimed = false;
        }
    }

    /// Claims `device`'s messages accepted since `since` whose delivery did not finish (no
    /// task works on them), e.g. because the process stopped. With `receipts` off, only
    /// undelivered ones still have something to do.
    pub(super) fn claim_unfinished(&self, device: DevicePk, since: Timestamp, receipts: bool) -> Vec<(Arc<Accepted>, Stage)> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(sent) = inner.by_device.get(&device) else {
            return Vec::new();
        };
        let mut claimed = Vec::new();
        for accepted in sent.iter().filter(|a| a.message.at >= since) {
            let Some(entry) = inner.messages.get_mut(&accepted.message.network_id) else {
                continue;
            };
            let unfinished = if receipts { entry.stage < Stage::Read } else { entry.stage == Stage::Accepted };
            if unfinished && !entry.claimed {
                entry.claimed = true;
                claimed.push((entry.accepted.clone(), entry.stage));
            }
        }
        claimed
    }

    /// A message and how far it got.
    pub(super) fn get(&self, id: &str) -> Option<(Arc<Accepted>, Stage)> {
        self.lock().messages.get(id).map(|e| (e.accepted.clone(), e.stage))
    }

    /// What the network accepted from `device`, in order.
    pub(super) fn received(&self, device: DevicePk) -> Vec<NetworkMessage> {
        let inner = self.lock();
        inner.by_device.get(&device).map(|sent| sent.iter().map(|a| a.message.clone()).collect()).unwrap_or_default()
    }

    pub(super) fn flush(&self) {
        if let Err(error) = self.lock().out.flush() {
            tracing::warn!(%error, "sandbox: could not flush the network journal");
        }
    }
}
