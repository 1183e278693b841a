//! Public identifiers: a type prefix and a time-ordered, 128-bit body
//! (48 bits of milliseconds, 80 random bits) in Crockford base32, like ULIDs.
//! Internal integer keys never leave the store; these are what the API shows.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Length of the encoded body (128 bits / 5 bits per character, rounded up).
const BODY_LEN: usize = 26;

fn encode_body(millis: u64, random: u128) -> String {
    let value: u128 = (u128::from(millis & 0xFFFF_FFFF_FFFF) << 80) | (random & ((1u128 << 80) - 1));
    let mut out = [0u8; BODY_LEN];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 5 * (BODY_LEN - 1 - i);
        *slot = ALPHABET[((value >> shift) & 0x1F) as usize];
    }
    String::from_utf8(out.to_vec()).expect("alphabet is ascii")
}

fn valid_body(body: &str) -> bool {
    // The first character carries only 3 bits (128 = 25*5 + 3), so it is at most '7'.
    body.len() == BODY_LEN && body.bytes().all(|b| ALPHABET.contains(&b)) && body.as_bytes()[0] <= b'7'
}

/// Generates a fresh id body for `now_millis`.
pub fn new_body(now_millis: u64) -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    encode_body(now_millis, u128::from_le_bytes(bytes))
}

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected an id like `{prefix}_…` ({BODY_LEN} base32 characters after the underscore)")]
pub struct IdError {
    pub prefix: &'static str,
}

macro_rules! public_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new, time-ordered id.
            pub fn generate() -> Self {
                let millis = chrono::Utc::now().timestamp_millis().max(0) as u64;
                Self(format!("{}_{}", $prefix, new_body(millis)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                match s.strip_prefix(concat!($prefix, "_")) {
                    Some(body) if valid_body(body) => Ok(Self(s.to_owned())),
                    _ => Err(IdError { prefix: $prefix }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .examples([serde_json::Value::String(format!("{}_01jd3w5x8mq2v7h4k9r6t0b1cz", $prefix))])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

public_id!(/// A tenant: one customer of the gateway.
    TenantId, "ten");
public_id!(/// An API key (the id, not the secret).
    KeyId, "key");
public_id!(/// A linked (or to-be-linked) WhatsApp number.
    DeviceId, "dev");
public_id!(/// A message, outbound or inbound. Also passed to connectors as the network message id.
    MessageId, "msg");
public_id!(/// An entry of the event log. Also the `webhook-id` of its deliveries, the same on every retry.
    EventId, "evt");
public_id!(/// A webhook endpoint.
    WebhookId, "wh");
public_id!(/// One event to deliver to one webhook endpoint, with all its attempts.
    DeliveryId, "dlv");
public_id!(/// A contact in a tenant's address book.
    ContactId, "ct");
public_id!(/// A contact group: a named broadcast list of contacts.
    ContactGroupId, "cg");
public_id!(/// An agent: one of a tenant's users who answer chats.
    AgentId, "agt");
public_id!(/// A conversation: one chat of one device.
    ConversationId, "cv");
public_id!(/// A reminder: a message repeated on a calendar.
    ReminderId, "rem");
public_id!(/// An auto-reply rule.
    AutoReplyId, "ar");
public_id!(/// A stored media file (an upload, a fetched link, or inbound media).
    MediaId, "med");
public_id!(/// A field job dispatched to a worker.
    JobId, "job");
public_id!(/// A message template with named variables.
    TemplateId, "tpl");

/// Internal integer keys, typed so a device key can never be used as a tenant key.
macro_rules! pk {
    ($name:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);
    };
}
pk!(TenantPk);
pk!(KeyPk);
pk!(DevicePk);
pk!(MessagePk);
pk!(WebhookPk);
pk!(DeliveryPk);
pk!(ContactPk);
pk!(ContactGroupPk);
pk!(AgentPk);
pk!(ConversationPk);
pk!(ReminderPk);
pk!(AutoReplyPk);
pk!(MediaPk);
pk!(JobPk);
pk!(TemplatePk);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_sort_by_time() {
        let a = MessageId(format!("msg_{}", encode_body(1_000, u128::MAX)));
        let b = MessageId(format!("msg_{}", encode_body(1_001, 0)));
        assert!(a < b, "a later millisecond sorts after");
        let parsed: MessageId = a.as_str().parse().unwrap();
        assert_eq!(parsed, a);
        let fresh = DeviceId::generate();
        assert!(fresh.as_str().starts_with("dev_"));
        assert_eq!(fresh.as_str().parse::<DeviceId>().unwrap(), fresh);
    }

    #[test]
    fn wrong_prefix_or_body_is_refused() {
        let dev = DeviceId::generate();
        assert!(dev.as_str().parse::<MessageId>().is_err());
        assert!("dev_short".parse::<DeviceId>().is_err());
        assert!("dev_8zzzzzzzzzzzzzzzzzzzzzzzzz".parse::<DeviceId>().is_err(), "overflowing first char");
        assert!("dev_0ILOU00000000000000000000".parse::<DeviceId>().is_err());
    }
}
