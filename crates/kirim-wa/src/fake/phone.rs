//! The primary phone's half of QR linking, as the server relays it: scanning a code yields a
//! `pair-success` carrying an ADV device identity signed by the account key and MACed with the
//! code's ADV secret — exactly what the client verifies before it considers itself paired.

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use whatsapp_rust::NodeBuilder;
use whatsapp_rust::buffa::Message as _;
use whatsapp_rust::wacore::libsignal::crypto::hmac_sha256;
use whatsapp_rust::wacore::libsignal::protocol::KeyPair;
use whatsapp_rust::wacore_binary::{Jid, Node, SERVER_JID};
use whatsapp_rust::waproto::whatsapp as wa;

/// Prefix of the message the account key signs (`ADV_PREFIX_ACCOUNT_SIGNATURE` in whatsapp-rust).
const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];

/// The fields of a scanned QR code the phone uses.
pub(super) struct ScannedCode {
    pub(super) reference: String,
    pub(super) noise_key: [u8; 32],
    pub(super) identity_key: [u8; 32],
    pub(super) adv_secret: Vec<u8>,
}

impl ScannedCode {
    /// Parses `ref,noise-pub,identity-pub,adv-secret[,client-type]`.
    pub(super) fn parse(code: &str) -> anyhow::Result<Self> {
        let fields: Vec<&str> = code.split(',').collect();
        if fields.len() < 4 {
            bail!("a QR code has at least 4 comma-separated fields: {code}");
        }
        let decode = |i: usize| BASE64.decode(fields[i]).with_context(|| format!("QR field {i} is not base64"));
        let key =
            |i: usize| -> anyhow::Result<[u8; 32]> { decode(i)?.try_into().map_err(|_| anyhow!("QR field {i} is not a 32-byte key")) };
        Ok(Self { reference: fields[0].to_owned(), noise_key: key(1)?, identity_key: key(2)?, adv_secret: decode(3)? })
    }
}

/// A linked device, as the phone assigned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedDevice {
    /// `<phone>:<device>@s.whatsapp.net`, `PairSuccess::id`.
    pub jid: Jid,
    /// `<lid>:<device>@lid`, `PairSuccess::lid`.
    pub lid: Jid,
}

/// The account the fake's phone belongs to.
pub(super) struct Phone {
    account_key: KeyPair,
    pub(super) number: String,
    pub(super) lid: String,
    next_device: u16,
}

impl Phone {
    pub(super) fn new(number: &str, lid: &str) -> Self {
        Self { account_key: KeyPair::generate(&mut rand_wa::rng()), number: number.to_owned(), lid: lid.to_owned(), next_device: 1 }
    }

    /// Links a new device for `code`: returns its JIDs and the `pair-success` iq to send it.
    pub(super) fn link(&mut self, code: &ScannedCode, iq_id: &str) -> anyhow::Result<(LinkedDevice, Node)> {
        let device = self.next_device;
        self.next_device += 1;
        let linked = LinkedDevice { jid: Jid::pn_device(self.number.as_str(), device), lid: Jid::lid_device(self.lid.as_str(), device) };

        let details = wa::ADVDeviceIdentity {
            raw_id: Some(rand_wa::random()),
            timestamp: Some(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs()),
            key_index: Some(u32::from(device)),
            ..Default::default()
        }
        .encode_to_vec();
        let signed_message = [&ACCOUNT_SIGNATURE_PREFIX[..], &details, &code.identity_key].concat();
        let account_signature = self.account_key.calculate_signature(&signed_message, &mut rand_wa::rng())?;
        let signed = wa::ADVSignedDeviceIdentity {
            details: Some(details),
            account_signature_key: Some(self.account_key.public_key.public_key_bytes().to_vec()),
            account_signature: Some(account_signature.to_vec()),
            device_signature: None,
        }
        .encode_to_vec();
        let hmac = hmac_sha256(&code.adv_secret, &signed).to_vec();
        let container = wa::ADVSignedDeviceIdentityHMAC { details: Some(signed), hmac: Some(hmac), ..Default::default() }.encode_to_vec();

        let success = NodeBuilder::new("pair-success")
            .children([
                NodeBuilder::new("device-identity").bytes(container).build(),
                NodeBuilder::new("platform").attr("name", "android").build(),
                NodeBuilder::new("device").attr("jid", linked.jid.clone()).attr("lid", linked.lid.clone()).build(),
            ])
            .build();
        let iq = NodeBuilder::new("iq")
            .attr("from", SERVER_JID)
            .attr("type", "set")
            .attr("id", iq_id)
            .attr("xmlns", "md")
            .children([success])
            .build();
        Ok((linked, iq))
    }
}
