//! The inbound durability hook: the library acknowledges a message to the server only after
//! this hook returns `Ok`, and it returns `Ok` only once Kirim has stored the message. A crash
//! (or a failing store) in between leaves the message unacknowledged, and the server delivers
//! it again on the next connect; the sink de-duplicates.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use kirim_core::PhoneNumber;
use whatsapp_rust::futures::FutureExt as _;
use whatsapp_rust::types::events::InboundMessage as WaInbound;
use whatsapp_rust::wacore_binary::Jid;
use whatsapp_rust::{Client, InboundDurabilityHook};

use super::inbound::{self, Skip};
use super::link::phone_of;
use super::state::DeviceState;

pub(crate) struct InboundHook {
    pub(crate) device: Arc<DeviceState>,
}

impl InboundHook {
    /// Phone numbers for the LIDs of one message: this account's own LID from the linked
    /// account, others from the library's LID↔number mappings (kept in Kirim's store).
    async fn resolve(&self, client: &Client, lids: Vec<Jid>) -> HashMap<String, PhoneNumber> {
        let mut found = HashMap::new();
        let own = self.device.account();
        for lid in lids {
            let own_number = own.as_ref().filter(|a| a.lid.as_ref().is_some_and(|l| l.user == lid.user)).and_then(|a| phone_of(&a.pn));
            let number = match own_number {
                Some(number) => Some(number),
                None => match client.get_lid_pn_entry(&lid).await {
                    Ok(entry) => entry.and_then(|e| phone_of(&Jid::pn(e.phone_number.as_ref()))),
                    Err(error) => {
                        tracing::debug!(device = self.device.pk.0, %error, "whatsapp-web: looking up a LID's number failed");
                        None
                    }
                },
            };
            if let Some(number) = number {
                found.insert(lid.user.to_string(), number);
            }
        }
        found
    }
}

#[async_trait]
impl InboundDurabilityHook for InboundHook {
    async fn on_messages(&self, client: Arc<Client>, batch: &[WaInbound]) -> anyhow::Result<()> {
        let device = &self.device;
        for item in batch {
            let lids = self.resolve(&client, inbound::lids_to_resolve(&item.info)).await;
            let lookup = |jid: &Jid| lids.get(jid.user.as_str()).cloned();
            let parent = |id: &str| device.quoted(id).map(|q| q.message);
            // A message that makes the mapping panic is a bug here, not a reason to stall the
            // device: it is skipped (and logged) like any message Kirim cannot take.
            let mapped =
                std::panic::catch_unwind(AssertUnwindSafe(|| match inbound::open_encrypted_edit(&item.message, &item.info, &parent) {
                    Some(Ok(opened)) => inbound::map_message(&opened, &item.info, &lookup),
                    Some(Err(skip)) => Err(skip),
                    None => inbound::map_message(&item.message, &item.info, &lookup),
                }));
            let message = match mapped {
                Ok(Ok(message)) => message,
                Ok(Err(skip)) => {
                    if !matches!(skip, Skip::FromMe) {
                        tracing::debug!(device = device.pk.0, id = %item.info.id, ?skip, "whatsapp-web: message acknowledged without recording it");
                    }
                    device.counters.add(|c| &c.inbound_skipped);
                    continue;
                }
                Err(_) => {
                    tracing::error!(device = device.pk.0, id = %item.info.id, "whatsapp-web: mapping an inbound message panicked; it is skipped");
                    device.counters.add(|c| &c.inbound_skipped);
                    continue;
                }
            };
            let stored = AssertUnwindSafe(device.sink.inbound(device.pk, message)).catch_unwind().await;
            match stored {
                Ok(Ok(())) => device.counters.add(|c| &c.inbound),
                // Not acknowledged: the server delivers the batch again on the next connect.
                Ok(Err(error)) => anyhow::bail!("recording an inbound message failed: {error}"),
                Err(_) => anyhow::bail!("recording an inbound message panicked"),
            }
            let participant = item.info.source.sender.to_non_ad().to_string();
            device.remember(item.info.id.clone(), participant, item.message.clone());
        }
        Ok(())
    }
}
