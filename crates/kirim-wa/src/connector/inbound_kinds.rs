//! The received messages that are not a text or a file: reactions, edits, deletions, polls
//! and contact cards.
//!
//! Reactions, edits and deletions name the message they act on by its WhatsApp id; they are
//! handed to Kirim that way, and the sink turns the id into Kirim's own where it knows the
//! message (as it does for the sandbox), so an inbound reaction points at the message it
//! reacts to on either side.

use std::sync::Arc;

use kirim_core::message::{ContactCard, EditContent, MessageContent, PollContent, ReactionContent, RevokeContent};
use whatsapp_rust::features::message_edit;
use whatsapp_rust::proto_helpers::MessageExt;
use whatsapp_rust::types::message::MessageInfo;
use whatsapp_rust::wacore_binary::Jid;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::waproto::whatsapp::message::protocol_message::Type as ProtocolType;

use super::inbound::Skip;

/// The id of the message a key names, if it names one.
fn target_id(key: &wa::MessageKey) -> Result<String, Skip> {
    key.id.clone().filter(|id| !id.is_empty()).ok_or(Skip::Unsupported("reaction, edit or deletion without the message it refers to"))
}

/// A reaction; an empty emoji takes the reaction back, as in Kirim's own reactions.
fn reaction(m: &wa::message::ReactionMessage) -> Result<MessageContent, Skip> {
    let key = m.key.as_option().ok_or(Skip::Unsupported("reaction without the message it refers to"))?;
    let reaction = ReactionContent { message_id: target_id(key)?, emoji: m.text.clone().unwrap_or_default() };
    Ok(MessageContent::Reaction { reaction })
}

/// Edits and deletions for everyone; the other protocol messages (disappearing-message
/// settings, key shares, history sync …) are the library's business, not messages.
fn protocol(m: &wa::message::ProtocolMessage) -> Result<MessageContent, Skip> {
    let key = || m.key.as_option().ok_or(Skip::Unsupported("edit or deletion without the message it refers to"));
    match m.r#type {
        Some(ProtocolType::REVOKE) => Ok(MessageContent::Revoke { revoke: RevokeContent { message_id: target_id(key()?)? } }),
        Some(ProtocolType::MESSAGE_EDIT) => {
            let edited = m.edited_message.as_option().ok_or(Skip::Unsupported("edit without its new text"))?;
            // A text's new text, or a file's new caption: what WhatsApp lets people edit.
            let text = edited.text_content().or_else(|| edited.get_caption()).unwrap_or_default();
            if text.is_empty() {
                return Err(Skip::Unsupported("edit without its new text"));
            }
            Ok(MessageContent::Edit { edit: EditContent { message_id: target_id(key()?)?, text: text.to_owned() } })
        }
        _ => Err(Skip::Unsupported("protocol message (a setting or sync, not a message)")),
    }
}

/// A poll someone created. `selectable_options_count` 0 means "as many as you like" on
/// WhatsApp, which is every option in Kirim's terms.
fn poll(m: &wa::message::PollCreationMessage) -> Result<MessageContent, Skip> {
    let options: Vec<String> = m.options.iter().filter_map(|o| o.option_name.clone()).collect();
    let question = m.name.clone().unwrap_or_default();
    if question.is_empty() || options.is_empty() {
        return Err(Skip::Unsupported("poll without a question or options"));
    }
    let max_selections = match m.selectable_options_count {
        Some(n) if n > 0 => n.min(options.len() as u32),
        _ => options.len() as u32,
    };
    Ok(MessageContent::Poll { poll: PollContent { question, options, max_selections } })
}

/// The value of a vCard line (after the first unescaped `:`), unescaped.
fn vcard_value(line: &str) -> Option<String> {
    let (_, value) = line.split_once(':')?;
    let value = value.trim().replace("\\,", ",").replace("\\;", ";").replace("\\n", " ");
    (!value.is_empty()).then_some(value)
}

/// The card a contact message carries. The number is the `waid` WhatsApp puts on the
/// telephone line (its digits, as E.164), else the line's value as written.
fn contact(m: &wa::message::ContactMessage) -> Result<MessageContent, Skip> {
    let vcard = m.vcard.as_deref().unwrap_or_default();
    let (mut name, mut phone, mut email, mut organization) = (m.display_name.clone().filter(|n| !n.is_empty()), None, None, None);
    for line in vcard.lines().map(str::trim) {
        let upper = line.to_ascii_uppercase();
        let field = upper.split([';', ':']).next().unwrap_or_default();
        // Grouped properties (`item1.TEL`) are how iPhones write them.
        let field = field.rsplit('.').next().unwrap_or(field);
        match field {
            "FN" if name.is_none() => name = vcard_value(line),
            "TEL" if phone.is_none() => {
                let waid = upper.find("WAID=").map(|at| line[at + 5..].chars().take_while(char::is_ascii_digit).collect::<String>());
                phone = match waid.filter(|d| !d.is_empty()) {
                    Some(digits) => Some(format!("+{digits}")),
                    None => vcard_value(line),
                };
            }
            "EMAIL" if email.is_none() => email = vcard_value(line),
            "ORG" if organization.is_none() => organization = vcard_value(line).map(|o| o.trim_end_matches(';').to_owned()),
            _ => {}
        }
    }
    let (Some(name), Some(phone)) = (name, phone) else {
        return Err(Skip::Unsupported("contact card without a name or number"));
    };
    Ok(MessageContent::Contact { contact: ContactCard { name, phone, email, organization } })
}

/// The content of `base` if it is one of the kinds handled here; `None` for any other kind.
pub(super) fn content_of(base: &wa::Message) -> Option<Result<MessageContent, Skip>> {
    if let Some(m) = base.reaction_message.as_option() {
        return Some(reaction(m));
    }
    if let Some(m) = base.protocol_message.as_option() {
        return Some(protocol(m));
    }
    let polls = [
        &base.poll_creation_message,
        &base.poll_creation_message_v2,
        &base.poll_creation_message_v3,
        &base.poll_creation_message_v5,
        &base.poll_creation_message_v6,
    ];
    if let Some(m) = polls.into_iter().find_map(|p| p.as_option()) {
        return Some(poll(m));
    }
    if let Some(m) = base.poll_creation_message_v4.as_option().and_then(|w| w.message.as_option()) {
        return content_of(m);
    }
    if base.poll_update_message.is_set() {
        // A vote is encrypted with the poll's secret, and the library leaves decrypting it to
        // the application; Kirim has no type for a vote to hand it over as.
        return Some(Err(Skip::Unsupported("poll vote (encrypted; Kirim does not record votes)")));
    }
    if let Some(m) = base.contact_message.as_option() {
        return Some(contact(m));
    }
    if let Some(m) = base.contacts_array_message.as_option() {
        return Some(match m.contacts.as_slice() {
            [one] => contact(one),
            _ => Err(Skip::Unsupported("several contact cards in one message (Kirim's contact holds one)")),
        });
    }
    None
}

/// The secret a message was sent with (for opening later edits of it).
fn secret_of(message: &wa::Message) -> Option<&[u8]> {
    fn of(m: &wa::Message) -> Option<&[u8]> {
        m.message_context_info.as_option().and_then(|c| c.message_secret.as_deref()).filter(|s| !s.is_empty())
    }
    of(message).or_else(|| of(message.get_base_message()))
}

/// Opens an edit that newer WhatsApp clients send encrypted with the edited message's secret.
/// `None` if `message` is no such edit; else the edit in the older, plain form that
/// [`content_of`] reads. `parent` finds the edited message by its id, if the device still
/// remembers it (the connector keeps the recent ones); without it the edit cannot be read.
pub fn open_encrypted_edit(
    message: &wa::Message,
    info: &MessageInfo,
    parent: &dyn Fn(&str) -> Option<Arc<wa::Message>>,
) -> Option<Result<wa::Message, Skip>> {
    if info.source.is_from_me {
        return None; // skipped as this account's own, like its plain edits
    }
    let envelope = message_edit::extract_envelope(message)?;
    let opened = (|| {
        let target = envelope.target_id().ok_or(Skip::Unsupported("encrypted edit without the message it refers to"))?;
        let parent = parent(target);
        let secret = parent
            .as_deref()
            .and_then(secret_of)
            .ok_or(Skip::Unsupported("encrypted edit of a message this device no longer remembers"))?;
        // Only the author edits a message, so the editor is also the original sender; the
        // other addressing (phone number or LID) is tried too, as WhatsApp Web does.
        let editor = info.source.sender.to_non_ad();
        let alt = info.source.sender_alt.as_ref().map(Jid::to_non_ad);
        let inner = message_edit::decrypt_with_fallback(
            envelope.enc_payload,
            envelope.enc_iv,
            secret,
            target,
            &editor,
            &editor,
            alt.as_ref(),
            alt.as_ref(),
        )
        .map_err(|_| Skip::Unsupported("encrypted edit that does not open with its message's secret"))?;
        message_edit::rewrap_as_legacy_edit(inner).ok_or(Skip::Unsupported("encrypted edit without its new text"))
    })();
    Some(opened)
}
