//! Standard Webhooks signatures: `v1,` then base64 of HMAC-SHA256 over `id.timestamp.body`,
//! keyed with the base64-decoded part of a `whsec_…` secret. Several signatures (during a
//! secret rotation) are separated by spaces; a receiver accepts any one it can verify.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kirim_core::Secret;
use kirim_core::webhook::SECRET_PREFIX;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// HMAC-SHA256 (RFC 2104), small enough to write out rather than add a dependency.
pub fn hmac_sha256(key: &[u8], message: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in message {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// A new endpoint secret: `whsec_` and base64 of 24 random bytes.
pub fn generate_secret() -> Secret {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    Secret::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// The HMAC key inside a secret (the spec's libraries accept it with or without the prefix).
fn key_of(secret: &Secret) -> Vec<u8> {
    let raw = secret.expose();
    let b64 = raw.strip_prefix(SECRET_PREFIX).unwrap_or(raw);
    STANDARD.decode(b64).unwrap_or_else(|_| b64.as_bytes().to_vec())
}

/// One `v1,<base64>` signature.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(&key_of(secret), &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", STANDARD.encode(mac))
}

/// The `webhook-signature` header value for every secret given.
pub fn signature_header(secrets: &[&Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| sign(s, id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Checks a `webhook-signature` header the way a receiver does (used by tests and by the
/// `kirim` CLI's users as a reference). Timestamps more than `tolerance` seconds away from
/// `now` are refused, against replays.
pub fn verify(secret: &Secret, id: &str, timestamp: i64, body: &[u8], header: &str, now: i64, tolerance: i64) -> bool {
    if (now - timestamp).abs() > tolerance {
        return false;
    }
    let expected = sign(secret, id, timestamp, body);
    header.split(' ').any(|candidate| candidate.as_bytes().ct_eq(expected.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let long_key = [0xaau8; 131];
        let mac = hmac_sha256(&long_key, &[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        assert_eq!(hex::encode(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    }

    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        // The example from the Standard Webhooks specification's test suite.
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verification_accepts_any_listed_signature_within_tolerance() {
        let old = generate_secret();
        let new = generate_secret();
        assert!(new.expose().starts_with("whsec_") && new.expose().len() == 6 + 32);
        let header = signature_header(&[&new, &old], "evt_1", 1000, b"{}");
        assert!(verify(&old, "evt_1", 1000, b"{}", &header, 1000, 300), "a receiver still on the old secret");
        assert!(verify(&new, "evt_1", 1000, b"{}", &header, 1200, 300));
        assert!(!verify(&new, "evt_1", 1000, b"{}", &header, 1400, 300), "too old: a replay");
        assert!(!verify(&new, "evt_2", 1000, b"{}", &header, 1000, 300), "the id is signed");
        assert!(!verify(&new, "evt_1", 1000, b"{ }", &header, 1000, 300), "the body is signed");
        assert!(!verify(&generate_secret(), "evt_1", 1000, b"{}", &header, 1000, 300));
    }
}
