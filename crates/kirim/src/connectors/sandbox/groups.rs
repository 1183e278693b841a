//! Groups on the simulated network. A group belongs to no device: its members are numbers,
//! and a device sees the groups its linked number is in, as on WhatsApp. The rules are
//! WhatsApp's where a client would notice: only admins change members or see the invite link,
//! the creator is a superadmin, a group holds at most [`MAX_GROUP_SIZE`] members, and when the
//! last admin leaves the longest-standing member becomes one.
//!
//! Groups are journaled in `groups.jsonl` next to the network journal, one whole group per
//! line (they are small), the last line of a group winning; so they survive restarts.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::Utc;
use kirim_core::connector::ConnectorError;
use kirim_core::group::{
    CreatedGroup, GroupInfo, GroupJid, MAX_GROUP_SIZE, NumberCheck, Participant, ParticipantAction, ParticipantOutcome, ParticipantResult,
    ParticipantRole,
};
use kirim_core::{PhoneNumber, Timestamp};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::{Deserialize, Serialize};

use super::network::Network;

const FILE_NAME: &str = "groups.jsonl";
const INVITE_BASE: &str = "https://chat.whatsapp.com/";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Role {
    Member,
    Admin,
    Superadmin,
}

impl Role {
    fn core(self) -> ParticipantRole {
        match self {
            Self::Member => ParticipantRole::Member,
            Self::Admin => ParticipantRole::Admin,
            Self::Superadmin => ParticipantRole::Superadmin,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Member {
    phone: String,
    role: Role,
}

/// One group as the journal holds it. `gone`: its last member left.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Group {
    jid: String,
    subject: String,
    owner: String,
    created_at: Timestamp,
    invite: String,
    members: Vec<Member>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    gone: bool,
}

impl Group {
    fn member(&self, phone: &PhoneNumber) -> Option<&Member> {
        self.members.iter().find(|m| m.phone == phone.as_str())
    }

    fn info(&self) -> GroupInfo {
        GroupInfo {
            jid: GroupJid::from_stored(self.jid.clone()),
            subject: self.subject.clone(),
            description: None,
            owner: Some(PhoneNumber::from_stored(self.owner.clone())),
            created_at: Some(self.created_at),
            announce: false,
            participants: self
                .members
                .iter()
                .map(|m| Participant {
                    jid: format!("{}@s.whatsapp.net", m.phone.trim_start_matches('+')),
                    phone: Some(PhoneNumber::from_stored(m.phone.clone())),
                    role: m.role.core(),
                })
                .collect(),
        }
    }
}

struct Inner {
    out: BufWriter<File>,
    groups: HashMap<String, Group>,
}

/// The groups of the network and their journal.
pub(super) struct GroupBook {
    inner: Mutex<Inner>,
}

fn line(group: &Group) -> Vec<u8> {
    let mut line = serde_json::to_vec(group).expect("groups always serialize");
    line.push(b'\n');
    line
}

fn invite_code() -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(22).map(char::from).collect()
}

fn new_jid() -> String {
    let n: u64 = rand::thread_rng().gen_range(100_000_000_000..1_000_000_000_000);
    format!("120363{n}@g.us")
}

impl GroupBook {
    /// Opens (or creates) the journal in `dir` and replays it; rewrites it when it holds many
    /// superseded lines. Returns the book and how many lines could not be read.
    pub(super) fn open(dir: &Path) -> io::Result<(Self, usize)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(FILE_NAME);
        let file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let mut groups: HashMap<String, Group> = HashMap::new();
        let (mut lines, mut skipped) = (0usize, 0usize);
        for raw in BufReader::new(&file).split(b'\n') {
            let raw = raw?;
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines += 1;
            match serde_json::from_slice::<Group>(&raw) {
                Ok(group) if group.gone => {
                    groups.remove(&group.jid);
                }
                Ok(group) => {
                    groups.insert(group.jid.clone(), group);
                }
                Err(_) => skipped += 1,
            }
        }
        let out = if lines > 2 * groups.len() + 100 || skipped > 0 {
            let tmp = dir.join(format!("{FILE_NAME}.tmp"));
            {
                let mut out = BufWriter::new(File::create(&tmp)?);
                for group in groups.values() {
                    out.write_all(&line(group))?;
                }
                out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
            BufWriter::new(OpenOptions::new().append(true).open(&path)?)
        } else {
            BufWriter::new(file)
        };
        Ok((Self { inner: Mutex::new(Inner { out, groups }) }, skipped))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` on the group `jid` as seen by `phone` (who must be a member), journaling
    /// the group if `change` returns `true` with its result.
    fn change<T>(
        &self,
        jid: &GroupJid,
        phone: &PhoneNumber,
        change: impl FnOnce(&mut Group) -> Result<(T, bool), ConnectorError>,
    ) -> Result<T, ConnectorError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let group = inner.groups.get_mut(jid.as_str()).filter(|g| g.member(phone).is_some()).ok_or_else(not_found)?;
        let mut copy = group.clone();
        let (result, changed) = change(&mut copy)?;
        if changed {
            write(&mut inner.out, &copy)?;
            if copy.gone {
                inner.groups.remove(jid.as_str());
            } else {
                *group = copy;
            }
        }
        Ok(result)
    }

    /// The members' numbers of a group the network knows, `None` for an unknown group.
    pub(super) fn members(&self, jid: &str) -> Option<Vec<PhoneNumber>> {
        let inner = self.lock();
        inner.groups.get(jid).map(|g| g.members.iter().map(|m| PhoneNumber::from_stored(m.phone.clone())).collect())
    }

    pub(super) fn flush(&self) {
        if let Err(error) = self.lock().out.flush() {
            tracing::warn!(%error, "sandbox: could not flush the groups journal");
        }
    }
}

fn write(out: &mut BufWriter<File>, group: &Group) -> Result<(), ConnectorError> {
    out.write_all(&line(group))
        .and_then(|()| out.flush())
        .map_err(|e| ConnectorError::Transient(format!("the sandbox network could not record the group: {e}")))
}

fn not_found() -> ConnectorError {
    ConnectorError::NotFound("this device's number is not in that group (or it does not exist)".into())
}

fn require_admin(group: &Group, phone: &PhoneNumber) -> Result<(), ConnectorError> {
    match group.member(phone) {
        Some(m) if m.role != Role::Member => Ok(()),
        _ => Err(ConnectorError::Forbidden("only the group's admins can do this; this device's number is a member, not an admin".into())),
    }
}

impl Network {
    fn group_phone(&self, device: kirim_core::id::DevicePk) -> Result<PhoneNumber, ConnectorError> {
        self.connected_phone(device).ok_or(ConnectorError::NotConnected)
    }

    pub(super) fn list_groups(&self, device: kirim_core::id::DevicePk) -> Result<Vec<GroupInfo>, ConnectorError> {
        let phone = self.group_phone(device)?;
        let inner = self.groups.lock();
        let mut groups: Vec<&Group> = inner.groups.values().filter(|g| g.member(&phone).is_some()).collect();
        groups.sort_by(|a, b| (a.created_at, &a.jid).cmp(&(b.created_at, &b.jid)));
        Ok(groups.into_iter().map(Group::info).collect())
    }

    pub(super) fn group_info(&self, device: kirim_core::id::DevicePk, jid: &GroupJid) -> Result<GroupInfo, ConnectorError> {
        let phone = self.group_phone(device)?;
        self.groups.change(jid, &phone, |group| Ok((group.info(), false)))
    }

    pub(super) fn create_group(
        &self,
        device: kirim_core::id::DevicePk,
        subject: &str,
        participants: &[PhoneNumber],
    ) -> Result<CreatedGroup, ConnectorError> {
        let phone = self.group_phone(device)?;
        let mut group = Group {
            jid: new_jid(),
            subject: subject.to_owned(),
            owner: phone.as_str().to_owned(),
            created_at: Utc::now(),
            invite: invite_code(),
            members: vec![Member { phone: phone.as_str().to_owned(), role: Role::Superadmin }],
            gone: false,
        };
        let results = participants.iter().map(|p| self.add_member(&mut group, p)).collect();
        let mut inner = self.groups.lock();
        write(&mut inner.out, &group)?;
        let info = group.info();
        inner.groups.insert(group.jid.clone(), group);
        Ok(CreatedGroup { group: info, participants: results })
    }

    fn add_member(&self, group: &mut Group, phone: &PhoneNumber) -> ParticipantResult {
        let outcome = if self.is_not_on_whatsapp(phone) {
            ParticipantOutcome::NotOnWhatsapp
        } else if group.member(phone).is_some() {
            ParticipantOutcome::AlreadyMember
        } else if group.members.len() >= MAX_GROUP_SIZE {
            ParticipantOutcome::GroupFull
        } else {
            group.members.push(Member { phone: phone.as_str().to_owned(), role: Role::Member });
            ParticipantOutcome::Ok
        };
        ParticipantResult::new(phone.clone(), outcome)
    }

    pub(super) fn update_participants(
        &self,
        device: kirim_core::id::DevicePk,
        jid: &GroupJid,
        action: ParticipantAction,
        phones: &[PhoneNumber],
    ) -> Result<Vec<ParticipantResult>, ConnectorError> {
        let own = self.group_phone(device)?;
        self.groups.change(jid, &own, |group| {
            require_admin(group, &own)?;
            let results: Vec<ParticipantResult> = phones.iter().map(|p| self.apply(group, action, p)).collect();
            let changed = results.iter().any(|r| r.outcome == ParticipantOutcome::Ok);
            Ok((results, changed))
        })
    }

    fn apply(&self, group: &mut Group, action: ParticipantAction, phone: &PhoneNumber) -> ParticipantResult {
        let index = group.members.iter().position(|m| m.phone == phone.as_str());
        let outcome = match (action, index) {
            (ParticipantAction::Add, _) => return self.add_member(group, phone),
            (_, None) => ParticipantOutcome::NotMember,
            (ParticipantAction::Promote, Some(i)) => {
                group.members[i].role = group.members[i].role.max_admin();
                ParticipantOutcome::Ok
            }
            (_, Some(i)) if group.members[i].role == Role::Superadmin => {
                let mut result = ParticipantResult::new(phone.clone(), ParticipantOutcome::Failed);
                result.detail = Some("the group's creator cannot be removed or demoted".into());
                return result;
            }
            (ParticipantAction::Demote, Some(i)) => {
                group.members[i].role = Role::Member;
                ParticipantOutcome::Ok
            }
            (ParticipantAction::Remove, Some(i)) => {
                group.members.remove(i);
                ParticipantOutcome::Ok
            }
        };
        ParticipantResult::new(phone.clone(), outcome)
    }

    pub(super) fn group_invite_link(
        &self,
        device: kirim_core::id::DevicePk,
        jid: &GroupJid,
        reset: bool,
    ) -> Result<String, ConnectorError> {
        let own = self.group_phone(device)?;
        self.groups.change(jid, &own, |group| {
            require_admin(group, &own)?;
            if reset {
                group.invite = invite_code();
            }
            Ok((format!("{INVITE_BASE}{}", group.invite), reset))
        })
    }

    pub(super) fn leave_group(&self, device: kirim_core::id::DevicePk, jid: &GroupJid) -> Result<(), ConnectorError> {
        let own = self.group_phone(device)?;
        self.groups.change(jid, &own, |group| {
            group.members.retain(|m| m.phone != own.as_str());
            if group.members.is_empty() {
                group.gone = true;
            } else if group.members.iter().all(|m| m.role == Role::Member) {
                group.members[0].role = Role::Admin;
            }
            Ok(((), true))
        })
    }

    pub(super) fn check_numbers(
        &self,
        device: kirim_core::id::DevicePk,
        phones: &[PhoneNumber],
    ) -> Result<Vec<NumberCheck>, ConnectorError> {
        self.group_phone(device)?;
        Ok(phones
            .iter()
            .map(|phone| {
                let on_whatsapp = !self.is_not_on_whatsapp(phone);
                let jid = on_whatsapp.then(|| format!("{}@s.whatsapp.net", phone.digits()));
                NumberCheck { phone: phone.clone(), on_whatsapp, jid }
            })
            .collect())
    }
}

impl Role {
    /// Promoting a superadmin leaves them one.
    fn max_admin(self) -> Self {
        match self {
            Self::Superadmin => Self::Superadmin,
            _ => Self::Admin,
        }
    }
}
