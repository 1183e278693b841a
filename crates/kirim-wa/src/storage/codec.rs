//! Compact encodings of the library's structured values.
//!
//! Opaque records (Signal sessions, sender keys, pre-keys) are stored as the library hands
//! them over. The small structs the library defines (sync keys, hash states, LID mappings,
//! device lists, tokens) get a hand-written, length-checked binary layout with a leading
//! format byte instead of serde: serde's formats are either bulky (JSON writes bytes as number
//! arrays) or positional and broken by the `skip_serializing_if` these types use. Each value is
//! built and taken apart with exhaustive struct literals and patterns, so a library upgrade
//! that adds a field fails to compile here instead of silently dropping it. Decoding never
//! panics: truncated, oversized or trailing bytes are errors.

use std::fmt;

use whatsapp_rust::wacore::appstate::hash::HashState;
use whatsapp_rust::wacore::store::traits::{AppStateSyncKey, DeviceInfo, DeviceListRecord, LidPnMappingEntry, MessageSecret, TcTokenEntry};

/// The only layout so far; a new one gets a new number and both stay readable.
const V1: u8 = 1;

struct Writer(Vec<u8>);

impl Writer {
    fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity + 1);
        buf.push(V1);
        Self(buf)
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn u32(&mut self, v: u32) {
        self.varint(v.into());
    }

    fn i64(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn bool(&mut self, v: bool) {
        self.0.push(v.into());
    }

    fn bytes(&mut self, v: &[u8]) {
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
    }

    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// Bytes whose length the layout already fixes (or that run to the end).
    fn raw(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }

    fn opt<T>(&mut self, v: Option<T>, put: impl FnOnce(&mut Self, T)) {
        self.bool(v.is_some());
        if let Some(v) = v {
            put(self, v);
        }
    }

    fn finish(self) -> Vec<u8> {
        self.0
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn open(buf: &'a [u8]) -> Result<Self, DecodeError> {
        match buf.split_first() {
            Some((&V1, rest)) => Ok(Self { buf: rest }),
            Some((v, _)) => Err(DecodeError(format!("unknown format version {v}"))),
            None => Err(DecodeError("empty value".into())),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError(format!("truncated: wanted {n} bytes, {} left", self.buf.len())));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint longer than 10 bytes".into()))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| DecodeError(format!("{v} does not fit in u32")))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        let v = self.varint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError(format!("invalid bool byte {b}"))),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        self.take(usize::try_from(len).map_err(|_| DecodeError(format!("length {len} too large")))?)
    }

    fn str(&mut self) -> Result<String, DecodeError> {
        let raw = self.bytes()?;
        String::from_utf8(raw.to_vec()).map_err(|e| DecodeError(format!("invalid UTF-8: {e}")))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError(format!("wanted {N} bytes")))
    }

    fn opt<T>(&mut self, get: impl FnOnce(&mut Self) -> Result<T, DecodeError>) -> Result<Option<T>, DecodeError> {
        if self.bool()? { get(self).map(Some) } else { Ok(None) }
    }

    fn rest(self) -> &'a [u8] {
        self.buf
    }

    fn finish(self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError(format!("{n} trailing bytes"))),
        }
    }
}

/// Why stored bytes could not be read back.
#[derive(Debug)]
pub(crate) struct DecodeError(String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A value with a unix time in front of an opaque payload (sent messages, pending inbound).
pub(crate) fn encode_stamped(secs: i64, payload: &[u8]) -> Vec<u8> {
    let mut w = Writer::new(payload.len() + 10);
    w.i64(secs);
    w.raw(payload);
    w.finish()
}

pub(crate) fn decode_stamped(buf: &[u8]) -> Result<(i64, &[u8]), DecodeError> {
    let mut r = Reader::open(buf)?;
    let secs = r.i64()?;
    Ok((secs, r.rest()))
}

/// A pre-key record with the uploaded flag the library sets after uploading it.
pub(crate) fn encode_prekey(uploaded: bool, record: &[u8]) -> Vec<u8> {
    let mut w = Writer::new(record.len() + 1);
    w.bool(uploaded);
    w.raw(record);
    w.finish()
}

/// The uploaded flag, and where the record starts in `buf`.
pub(crate) fn decode_prekey(buf: &[u8]) -> Result<(bool, usize), DecodeError> {
    let mut r = Reader::open(buf)?;
    let uploaded = r.bool()?;
    Ok((uploaded, buf.len() - r.rest().len()))
}

pub(crate) fn encode_sync_key(key: &AppStateSyncKey) -> Vec<u8> {
    let AppStateSyncKey { key_data, fingerprint, timestamp } = key;
    let mut w = Writer::new(key_data.len() + fingerprint.len() + 14);
    w.bytes(key_data);
    w.bytes(fingerprint);
    w.i64(*timestamp);
    w.finish()
}

pub(crate) fn decode_sync_key(buf: &[u8]) -> Result<AppStateSyncKey, DecodeError> {
    let mut r = Reader::open(buf)?;
    let key = AppStateSyncKey { key_data: r.bytes()?.to_vec(), fingerprint: r.bytes()?.to_vec(), timestamp: r.i64()? };
    r.finish()?;
    Ok(key)
}

pub(crate) fn encode_hash_state(state: &HashState) -> Vec<u8> {
    let HashState { version, hash, index_value_map, mac_mismatch_fatal } = state;
    let mut w = Writer::new(hash.len() + index_value_map.len() * 80 + 16);
    w.varint(*version);
    w.raw(hash);
    w.varint(index_value_map.len() as u64);
    // Sorted, so equal states encode to equal bytes.
    let mut entries: Vec<_> = index_value_map.iter().collect();
    entries.sort_unstable();
    for (index, value) in entries {
        w.str(index);
        w.bytes(value);
    }
    w.bool(*mac_mismatch_fatal);
    w.finish()
}

pub(crate) fn decode_hash_state(buf: &[u8]) -> Result<HashState, DecodeError> {
    let mut r = Reader::open(buf)?;
    let version = r.varint()?;
    let hash = r.array()?;
    let count = r.varint()?;
    // Every entry takes at least two bytes: a corrupt count cannot make us allocate much.
    let mut index_value_map = std::collections::HashMap::with_capacity((count as usize).min(buf.len() / 2));
    for _ in 0..count {
        let index = r.str()?;
        index_value_map.insert(index, r.bytes()?.to_vec());
    }
    let state = HashState { version, hash, index_value_map, mac_mismatch_fatal: r.bool()? };
    r.finish()?;
    Ok(state)
}

/// The mapping without its LID, which is the key.
pub(crate) fn encode_lid_entry(entry: &LidPnMappingEntry) -> Vec<u8> {
    let LidPnMappingEntry { lid: _, phone_number, created_at, updated_at, learning_source } = entry;
    let mut w = Writer::new(phone_number.len() + learning_source.len() + 22);
    w.str(phone_number);
    w.i64(*created_at);
    w.i64(*updated_at);
    w.str(learning_source);
    w.finish()
}

pub(crate) fn decode_lid_entry(lid: String, buf: &[u8]) -> Result<LidPnMappingEntry, DecodeError> {
    let mut r = Reader::open(buf)?;
    let entry = LidPnMappingEntry { lid, phone_number: r.str()?, created_at: r.i64()?, updated_at: r.i64()?, learning_source: r.str()? };
    r.finish()?;
    Ok(entry)
}

/// The record without its user, which is the key.
pub(crate) fn encode_device_list(record: &DeviceListRecord) -> Vec<u8> {
    let DeviceListRecord { user: _, devices, timestamp, phash, raw_id } = record;
    let mut w = Writer::new(devices.len() * 4 + phash.as_ref().map_or(0, String::len) + 20);
    w.varint(devices.len() as u64);
    for DeviceInfo { device_id, key_index, is_hosted } in devices {
        w.u32(*device_id);
        w.opt(*key_index, Writer::u32);
        w.bool(*is_hosted);
    }
    w.i64(*timestamp);
    w.opt(phash.as_deref(), Writer::str);
    w.opt(*raw_id, Writer::u32);
    w.finish()
}

pub(crate) fn decode_device_list(user: String, buf: &[u8]) -> Result<DeviceListRecord, DecodeError> {
    let mut r = Reader::open(buf)?;
    let count = r.varint()?;
    let mut devices = Vec::with_capacity((count as usize).min(buf.len() / 3));
    for _ in 0..count {
        devices.push(DeviceInfo { device_id: r.u32()?, key_index: r.opt(Reader::u32)?, is_hosted: r.bool()? });
    }
    let record = DeviceListRecord { user, devices, timestamp: r.i64()?, phash: r.opt(Reader::str)?, raw_id: r.opt(Reader::u32)? };
    r.finish()?;
    Ok(record)
}

pub(crate) fn encode_tc_token(entry: &TcTokenEntry) -> Vec<u8> {
    let TcTokenEntry { token, token_timestamp, sender_timestamp } = entry;
    let mut w = Writer::new(token.len() + 24);
    w.bytes(token);
    w.i64(*token_timestamp);
    w.opt(*sender_timestamp, Writer::i64);
    w.finish()
}

pub(crate) fn decode_tc_token(buf: &[u8]) -> Result<TcTokenEntry, DecodeError> {
    let mut r = Reader::open(buf)?;
    let entry = TcTokenEntry { token: r.bytes()?.to_vec(), token_timestamp: r.i64()?, sender_timestamp: r.opt(Reader::i64)? };
    r.finish()?;
    Ok(entry)
}

/// A message secret row: the secret, its expiry (`0`: never) and the parent message's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SecretRow {
    pub secret: MessageSecret,
    pub expires_at: i64,
    pub message_ts: i64,
}

pub(crate) fn encode_msg_secret(row: &SecretRow) -> Vec<u8> {
    let SecretRow { secret, expires_at, message_ts } = row;
    let mut w = Writer::new(secret.len() + 20);
    w.raw(secret);
    w.i64(*expires_at);
    w.i64(*message_ts);
    w.finish()
}

pub(crate) fn decode_msg_secret(buf: &[u8]) -> Result<SecretRow, DecodeError> {
    let mut r = Reader::open(buf)?;
    let row = SecretRow { secret: r.array()?, expires_at: r.i64()?, message_ts: r.i64()? };
    r.finish()?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_at_their_edges() {
        for v in [0, 1, -1, 63, -64, 64, i64::MIN, i64::MAX, 1_700_000_000] {
            let mut w = Writer::new(10);
            w.i64(v);
            w.u32(u32::MAX);
            let buf = w.finish();
            let mut r = Reader::open(&buf).unwrap();
            assert_eq!((r.i64().unwrap(), r.u32().unwrap()), (v, u32::MAX));
            r.finish().unwrap();
        }
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        let row = SecretRow { secret: [7; 32], expires_at: 5, message_ts: -3 };
        let good = encode_msg_secret(&row);
        assert_eq!(decode_msg_secret(&good).unwrap(), row);
        for cut in 0..good.len() {
            assert!(decode_msg_secret(&good[..cut]).is_err(), "truncated at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_msg_secret(&trailing).is_err());
        let mut version = good;
        version[0] = 9;
        assert!(decode_msg_secret(&version).is_err());
        // A huge declared length or entry count must fail without allocating it.
        assert!(decode_sync_key(&[V1, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        let mut huge_map = vec![V1, 0];
        huge_map.extend_from_slice(&[0; 128]);
        huge_map.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(decode_hash_state(&huge_map).is_err());
        assert!(decode_hash_state(&[V1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert!(decode_tc_token(&[V1, 0, 0, 2]).is_err(), "an option flag must be 0 or 1");
    }

    #[test]
    fn structs_round_trip() {
        let record = DeviceListRecord {
            user: "u".into(),
            devices: vec![DeviceInfo::new(0, None), DeviceInfo::new(7, Some(3)).with_hosting(true)],
            timestamp: 42,
            phash: Some("2:abc".into()),
            raw_id: Some(9),
        };
        let back = decode_device_list("u".into(), &encode_device_list(&record)).unwrap();
        assert_eq!(format!("{back:?}"), format!("{record:?}"));
        let token = TcTokenEntry { token: vec![], token_timestamp: -1, sender_timestamp: None };
        assert_eq!(format!("{:?}", decode_tc_token(&encode_tc_token(&token)).unwrap()), format!("{token:?}"));
        let stamped = encode_stamped(-9, b"xyz");
        let (secs, payload) = decode_stamped(&stamped).unwrap();
        assert_eq!((secs, payload), (-9, &b"xyz"[..]));
        let buf = encode_prekey(true, b"rec");
        let (uploaded, at) = decode_prekey(&buf).unwrap();
        assert!(uploaded);
        assert_eq!(&buf[at..], b"rec");
    }
}
