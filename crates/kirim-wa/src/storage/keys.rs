//! Namespaces and key encodings of the WhatsApp session state.
//!
//! The session store orders keys byte-wise and can read or delete by prefix, so every key is
//! laid out for the queries the library makes: composite keys join their parts with `/`, and
//! each part is escaped (`%` → `%25`, `/` → `%2F`, NUL → `%00`) so a part can never be
//! mistaken for a separator. The escape is prefix-free, which keeps prefix scans exact:
//! `escape(a)` starts with `escape(p) + "/"` exactly when the first part of the key is `p`.
//! Numbers in keys are fixed-width hex so that key order is numeric order.

use std::fmt;

/// One namespace per kind of state. Short names: the store repeats them on every row.
pub(crate) mod ns {
    /// `address` → the remote identity key (32 bytes).
    pub const IDENTITY: &str = "identity";
    /// `address` → the Signal session record, as the library serialized it.
    pub const SESSION: &str = "session";
    /// `id:08x` → format byte, uploaded flag, pre-key record.
    pub const PREKEY: &str = "prekey";
    /// `id:08x` → the signed pre-key record.
    pub const SIGNED_PREKEY: &str = "signed_prekey";
    /// `address` → the sender key record.
    pub const SENDER_KEY: &str = "sender_key";
    /// `hex(key_id)` → app-state sync key.
    pub const SYNC_KEY: &str = "sync_key";
    /// `collection` → app-state hash state (version, ltHash, index → value MAC map).
    pub const SYNC_VERSION: &str = "sync_version";
    /// `collection/hex(index_mac)` → value MAC.
    pub const MUTATION_MAC: &str = "mutation_mac";
    /// `group/device` → whether the device holds our sender key (one byte).
    pub const SENDER_KEY_DEVICE: &str = "sender_key_device";
    /// `lid` → the LID↔PN mapping.
    pub const LID: &str = "lid";
    /// `phone/lid` → nothing: the reverse index of [`LID`], written in the same batch.
    pub const PN: &str = "pn";
    /// `address/message_id` → base key saved for retry collision detection.
    pub const BASE_KEY: &str = "base_key";
    /// `user` → the user's device list.
    pub const DEVICE_LIST: &str = "device_list";
    /// `group` → the library's opaque group metadata blob.
    pub const GROUP_METADATA: &str = "group_metadata";
    /// `jid` → trusted-contact token.
    pub const TC_TOKEN: &str = "tc_token";
    /// `chat/message_id` → stored-at time and the sent message, kept for retry receipts.
    pub const SENT: &str = "sent";
    /// `time/chat/message_id` → nothing: [`SENT`] by age, so the sweep reads no payloads.
    pub const SENT_BY_TIME: &str = "sent_by_time";
    /// `chat/sender/id` → buffered-at time and a decrypted message awaiting the durability hook.
    pub const PENDING_INBOUND: &str = "pending_inbound";
    /// `chat/sender/message_id` → message secret, expiry and parent message time.
    pub const MSG_SECRET: &str = "msg_secret";
    /// Singletons: [`super::DEVICE`] and [`super::LATEST_SYNC_KEY`].
    pub const META: &str = "meta";
}

/// Key of the device's own identity and settings in [`ns::META`].
pub(crate) const DEVICE: &str = "device";
/// Key of the most recently stored app-state sync key id in [`ns::META`].
pub(crate) const LATEST_SYNC_KEY: &str = "latest_sync_key";

const SEP: char = '/';

fn push_escaped(out: &mut String, part: &str) {
    if !part.contains(['%', SEP, '\0']) {
        out.push_str(part);
        return;
    }
    for c in part.chars() {
        match c {
            '%' => out.push_str("%25"),
            SEP => out.push_str("%2F"),
            '\0' => out.push_str("%00"),
            c => out.push(c),
        }
    }
}

fn unescape(part: &str) -> Result<String, KeyError> {
    if !part.contains('%') {
        return Ok(part.to_owned());
    }
    let mut out = String::with_capacity(part.len());
    let mut rest = part;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).ok_or_else(|| KeyError::new(part, "truncated escape"))?;
        out.push(match escape {
            "%25" => '%',
            "%2F" => SEP,
            "%00" => '\0',
            _ => return Err(KeyError::new(part, "unknown escape")),
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The key of the given parts, e.g. `key(&[chat, id])`.
pub(crate) fn key(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(SEP);
        }
        push_escaped(&mut out, part);
    }
    out
}

/// The prefix shared by every key whose leading parts are `parts`.
pub(crate) fn prefix(parts: &[&str]) -> String {
    let mut out = key(parts);
    out.push(SEP);
    out
}

/// The prefix of single-part keys that start with `start` (not a whole part).
pub(crate) fn partial(start: &str) -> String {
    key(&[start])
}

/// The parts of a key written by [`key`]; errors unless there are exactly `N`.
pub(crate) fn split<const N: usize>(key: &str) -> Result<[String; N], KeyError> {
    let parts = key.split(SEP).map(unescape).collect::<Result<Vec<_>, _>>()?;
    parts.try_into().map_err(|_| KeyError::new(key, "wrong number of parts"))
}

/// A pre-key id as a key: fixed-width hex, so the last key holds the highest id.
pub(crate) fn id(id: u32) -> String {
    format!("{id:08x}")
}

pub(crate) fn parse_id(key: &str) -> Result<u32, KeyError> {
    if key.len() != 8 {
        return Err(KeyError::new(key, "not an 8-digit hex id"));
    }
    u32::from_str_radix(key, 16).map_err(|_| KeyError::new(key, "not an 8-digit hex id"))
}

/// A unix time as a key part that sorts like the signed number (the sign bit flipped).
pub(crate) fn time(secs: i64) -> String {
    format!("{:016x}", (secs as u64) ^ (1 << 63))
}

pub(crate) fn parse_time(part: &str) -> Result<i64, KeyError> {
    if part.len() != 16 {
        return Err(KeyError::new(part, "not a 16-digit hex time"));
    }
    let raw = u64::from_str_radix(part, 16).map_err(|_| KeyError::new(part, "not a 16-digit hex time"))?;
    Ok((raw ^ (1 << 63)) as i64)
}

/// Binary ids (sync key ids, index MACs) as lowercase hex.
pub(crate) fn bytes(raw: &[u8]) -> String {
    hex::encode(raw)
}

/// A stored key that does not have the shape its namespace promises.
#[derive(Debug)]
pub(crate) struct KeyError {
    key: String,
    reason: &'static str,
}

impl KeyError {
    fn new(key: &str, reason: &'static str) -> Self {
        Self { key: key.to_owned(), reason }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed key {:?}: {}", self.key, self.reason)
    }
}

impl std::error::Error for KeyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_round_trip_through_escaping() {
        let k = key(&["a/b%c", "", "d\0e"]);
        assert_eq!(k, "a%2Fb%25c//d%00e");
        let [a, b, c] = split::<3>(&k).unwrap();
        assert_eq!((a.as_str(), b.as_str(), c.as_str()), ("a/b%c", "", "d\0e"));
        assert!(split::<2>(&k).is_err());
        assert!(split::<1>("bad%2").is_err());
        assert!(split::<1>("bad%41").is_err());
    }

    #[test]
    fn prefixes_match_whole_parts_only() {
        let p = prefix(&["123"]);
        assert!(key(&["123", "x"]).starts_with(&p));
        assert!(!key(&["1234", "x"]).starts_with(&p));
        assert!(!key(&["123/", "x"]).starts_with(&p));
        assert!(key(&["123@s.whatsapp.net"]).starts_with(&partial("123@")));
    }

    #[test]
    fn numbers_sort_numerically() {
        assert!(id(9) < id(10) && id(0xff) < id(0x100));
        assert_eq!(parse_id(&id(u32::MAX)).unwrap(), u32::MAX);
        assert!(parse_id("12").is_err() && parse_id("0000000g").is_err());
        let times = [i64::MIN, -5, 0, 7, 1_700_000_000, i64::MAX];
        for pair in times.windows(2) {
            assert!(time(pair[0]) < time(pair[1]));
        }
        for t in times {
            assert_eq!(parse_time(&time(t)).unwrap(), t);
        }
    }
}
