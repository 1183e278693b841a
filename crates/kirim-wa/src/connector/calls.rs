//! Calls that ring on a linked device. A gateway number has nobody to pick up, so a device set
//! to `reject_calls` declines each call at once (the caller sees it declined rather than
//! ringing out); either way the call is reported to the sink, which records it.
//!
//! Each call is handled on a task of its own: asking the sink for the device's policy and
//! reporting the call are sink calls, which never run on the library's event path.

use std::sync::Arc;

use kirim_core::PhoneNumber;
use kirim_core::connector::{CallPolicy, IncomingCall as KirimCall};
use whatsapp_rust::Client;
use whatsapp_rust::types::call::{CallAction, IncomingCall};
use whatsapp_rust::wacore_binary::{Jid, JidExt};

use super::link::phone_of;
use super::state::DeviceState;

/// The call Kirim records for a ringing offer; `None` for the other call signals (accept,
/// terminate, transport …), which are not calls of their own. `known` is the caller's number
/// when only its LID is in the offer and the library knew the mapping.
pub fn describe(call: &IncomingCall, rejected: bool, known: Option<PhoneNumber>) -> Option<KirimCall> {
    let CallAction::Offer { call_id, call_creator, caller_pn, is_video, group_jid, .. } = &call.action else {
        return None;
    };
    // The caller as a number where WhatsApp gives one (calls increasingly come from a LID).
    let from = [caller_pn.as_ref(), Some(call_creator), Some(&call.from)]
        .into_iter()
        .flatten()
        .find_map(phone_of)
        .or(known)
        .map(|p| p.to_string())
        .unwrap_or_else(|| call_creator.to_non_ad().to_string());
    let group = group_jid.as_ref().filter(|g| g.is_group()).map(Jid::to_string);
    Some(KirimCall { call_id: call_id.clone(), from, video: *is_video, group, rejected, at: call.timestamp })
}

/// Handles one call signal: an offer is declined if the device's settings say so, then
/// reported. A sink that cannot answer leaves the call ringing (declining a call the user
/// wanted is worse than letting it ring out).
pub(crate) fn spawn(device: Arc<DeviceState>, client: Arc<Client>, call: IncomingCall) {
    if !matches!(call.action, CallAction::Offer { .. }) || call.offline {
        return;
    }
    tokio::spawn(async move {
        let policy = match device.sink.call_policy(device.pk).await {
            Ok(policy) => policy,
            Err(error) => {
                tracing::warn!(device = device.pk.0, %error, "whatsapp-web: could not read the device's call settings; the call rings on");
                CallPolicy::default()
            }
        };
        let mut rejected = false;
        if policy.reject {
            match client.voip().reject(&call).await {
                Ok(()) => rejected = true,
                Err(error) => tracing::warn!(device = device.pk.0, %error, "whatsapp-web: could not decline a call"),
            }
        }
        let known = match &call.action {
            CallAction::Offer { call_creator, .. } if call_creator.is_lid() => client
                .get_lid_pn_entry(&call_creator.to_non_ad())
                .await
                .ok()
                .flatten()
                .and_then(|e| phone_of(&Jid::pn(e.phone_number.as_ref()))),
            _ => None,
        };
        let Some(report) = describe(&call, rejected, known) else { return };
        if let Err(error) = device.sink.call(device.pk, report).await {
            tracing::warn!(device = device.pk.0, %error, "whatsapp-web: could not record a call");
        }
        device.counters.add(|c| &c.calls);
    });
}
