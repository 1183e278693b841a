//! Messages that act on an earlier message (reactions, edits, revokes) and polls. Each goes
//! through the library call made for it, because WhatsApp marks them on the wire in ways a
//! plain send does not (an edit attribute, a poll's message secret).

use kirim_core::connector::{ConnectorError, OutboundMessage, SendReceipt};
use kirim_core::message::{MessageContent, MessageTarget};
use whatsapp_rust::proto_helpers::{MessageBuilderExt, build_reaction_message};
use whatsapp_rust::send::SendOptions;
use whatsapp_rust::wacore_binary::Jid;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::{Client, RevokeType};

use super::{errors, send};

fn target(message: &OutboundMessage) -> Result<&MessageTarget, ConnectorError> {
    message.target.as_ref().ok_or_else(|| ConnectorError::Permanent("the message it refers to is unknown".into()))
}

/// Sends `message` if it is one of the kinds handled here; `None` for every other kind.
pub(crate) async fn send_special(client: &Client, to: Jid, message: &OutboundMessage) -> Option<Result<SendReceipt, ConnectorError>> {
    let result = match &message.content {
        MessageContent::Reaction { reaction } => react(client, to, message, &reaction.emoji).await,
        MessageContent::Edit { edit } => edit_text(client, to, message, &edit.text).await,
        MessageContent::Revoke { .. } => revoke(client, to, message).await,
        MessageContent::Poll { poll } => client
            .polls()
            .create(to, &poll.question, &poll.options, poll.max_selections)
            .await
            // The poll's secret decrypts votes; votes are not read yet, so it is not kept.
            .map(|(sent, _secret)| SendReceipt { network_id: sent.message_id })
            .map_err(|e| errors::poll_error(&e)),
        _ => return None,
    };
    Some(result)
}

/// A reaction, sent under the id derived from Kirim's so a repeat is recognisable.
async fn react(client: &Client, to: Jid, message: &OutboundMessage, emoji: &str) -> Result<SendReceipt, ConnectorError> {
    let key = send::target_key(&to, target(message)?);
    let reaction = build_reaction_message(key, emoji, chrono::Utc::now().timestamp_millis());
    let options = SendOptions::default().with_message_id(send::network_id(&message.id));
    let sent = client.send_message_with_options(to, reaction, options).await.map_err(|e| errors::send_error(&e))?;
    Ok(SendReceipt { network_id: sent.message_id })
}

async fn edit_text(client: &Client, to: Jid, message: &OutboundMessage, text: &str) -> Result<SendReceipt, ConnectorError> {
    let target = target(message)?;
    if !target.from_me {
        return Err(ConnectorError::Permanent("only messages this device sent can be edited".into()));
    }
    let id =
        client.edit_message(to, target.network_id.clone(), wa::Message::text(text.to_owned())).await.map_err(|e| errors::send_error(&e))?;
    Ok(SendReceipt { network_id: id })
}

/// Deletes the target for everyone: as its sender, or (a received group message) as an admin.
async fn revoke(client: &Client, to: Jid, message: &OutboundMessage) -> Result<SendReceipt, ConnectorError> {
    let target = target(message)?;
    let kind = match (&target.sender, target.from_me) {
        (_, true) => RevokeType::Sender,
        (Some(sender), false) => RevokeType::Admin { original_sender: Jid::pn(sender.trim_start_matches('+')) },
        (None, false) => return Err(ConnectorError::Permanent("only messages this device sent can be deleted for everyone".into())),
    };
    client.revoke_message(to, target.network_id.clone(), kind).await.map_err(|e| errors::send_error(&e))?;
    // The library picks the revoke's own stanza id and does not return it; no receipt ever
    // names it, so Kirim's derived id stands in.
    Ok(SendReceipt { network_id: send::network_id(&message.id) })
}
