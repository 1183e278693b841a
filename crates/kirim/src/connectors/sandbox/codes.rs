//! The strings the simulated network hands out: QR codes, pairing codes, phone numbers for
//! phones that scan without saying who they are, and ids of messages written to a device.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kirim_core::PhoneNumber;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

/// Letters and digits a person can type from a screen without confusing them (no 0/O, 1/I/L, U/V).
const PAIR_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTWXYZ23456789";

fn random_base64(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

/// The keys a linking attempt advertises; they stay the same while its QR codes refresh.
#[derive(Debug, Clone)]
pub(super) struct QrKeys {
    noise: String,
    identity: String,
    secret: String,
}

impl QrKeys {
    pub(super) fn generate() -> Self {
        Self { noise: random_base64(32), identity: random_base64(32), secret: random_base64(16) }
    }

    /// A QR payload as WhatsApp shows it: `2@<ref>,<noise key>,<identity key>,<secret>`, with a
    /// fresh ref each time.
    pub(super) fn code(&self) -> String {
        format!("2@{},{},{},{}", random_base64(36), self.noise, self.identity, self.secret)
    }
}

/// An 8-character pairing code, written `ABCD-EFGH`.
pub(super) fn pair_code() -> String {
    let mut rng = rand::thread_rng();
    let mut code = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            code.push('-');
        }
        code.push(PAIR_ALPHABET[rng.gen_range(0..PAIR_ALPHABET.len())] as char);
    }
    code
}

/// The number of the phone that scans for `device_id` when the scan does not name one: a valid
/// Malaysian mobile number (`+601[1-5]…`, 8 digits after `11`), the same for the same device,
/// `attempt` picking another one if it is taken.
pub(super) fn phone_for(device_id: &str, attempt: u32) -> Option<PhoneNumber> {
    let digest = Sha256::digest(format!("{device_id}/{attempt}").as_bytes());
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest[..8]);
    let n = u64::from_le_bytes(word);
    let first = 1 + n % 5;
    let rest = (n / 5) % 10_000_000;
    PhoneNumber::parse(&format!("+6011{first}{rest:07}"), None).ok()
}

/// A network id for a message written on a phone, like WhatsApp's (`3EB0` and 16 hex digits).
pub(super) fn inbound_id() -> String {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("3EB0{}", hex::encode_upper(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_codes_look_like_whatsapp_and_keep_their_keys() {
        let keys = QrKeys::generate();
        let (a, b) = (keys.code(), keys.code());
        let parts: Vec<&str> = a.strip_prefix("2@").expect("starts with 2@").split(',').collect();
        assert_eq!(parts.len(), 4);
        let sizes: Vec<usize> = parts.iter().map(|p| STANDARD.decode(p).expect("base64").len()).collect();
        assert_eq!(sizes[1..], [32, 32, 16]);
        assert_ne!(a, b, "each refresh gets a new ref");
        assert_eq!(a.split_once(',').unwrap().1, b.split_once(',').unwrap().1, "same keys while linking");
    }

    #[test]
    fn pairing_codes_are_easy_to_type() {
        for _ in 0..100 {
            let code = pair_code();
            assert_eq!(code.len(), 9);
            assert_eq!(&code[4..5], "-");
            assert!(code.chars().filter(|c| *c != '-').all(|c| PAIR_ALPHABET.contains(&(c as u8))));
        }
    }

    #[test]
    fn generated_phones_are_valid_and_stable() {
        for i in 0..200 {
            let id = format!("dev_{i:026}");
            let phone = phone_for(&id, 0).expect("a valid number");
            assert!(phone.as_str().starts_with("+6011") && phone.as_str().len() == 13, "{phone}");
            assert_eq!(phone_for(&id, 0), Some(phone));
        }
        assert_ne!(phone_for("dev_a", 0), phone_for("dev_a", 1));
    }
}
