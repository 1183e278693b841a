//! Checking what a message carries before it is accepted: WhatsApp's own limits per type, so
//! a message Kirim commits is one the network will take. Numbers inside the content (mentions,
//! contact cards, call buttons) are rewritten to E.164 on the way, as `to` is.

use kirim_core::PhoneNumber;
use kirim_core::message::{
    Button, ButtonsContent, ButtonsHeader, ContactCard, ListContent, MAX_CAPTION_CHARS, MAX_TEXT_CHARS, MediaContent, MessageContent,
    PollContent,
};
use kirim_core::phone::DefaultCountry;

use crate::http::error::{ApiError, ApiResult};

/// The most contacts one text may mention.
pub const MAX_MENTIONS: usize = 256;

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `value` must be non-blank and at most `max` characters.
fn required(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.trim().is_empty() {
        return Err(ApiError::field(field, format!("`{field}` is empty; write it")));
    }
    at_most(field, value, max)
}

fn at_most(field: &str, value: &str, max: usize) -> ApiResult<()> {
    let n = chars(value);
    if n > max {
        return Err(ApiError::field(field, format!("`{field}` has {n} characters; WhatsApp accepts at most {max}")));
    }
    Ok(())
}

fn optional(field: &str, value: &Option<String>, max: usize) -> ApiResult<()> {
    value.as_deref().map_or(Ok(()), |v| at_most(field, v, max))
}

fn phone(field: &str, raw: &mut String, country: Option<DefaultCountry>) -> ApiResult<()> {
    let parsed = PhoneNumber::parse(raw, country).map_err(|e| ApiError::field(field, format!("`{field}` {e}")))?;
    *raw = parsed.as_str().to_owned();
    Ok(())
}

/// An `http` or `https` URL with a host.
pub fn web_url(field: &str, raw: &str) -> ApiResult<()> {
    match url::Url::parse(raw.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ApiError::field(field, format!("`{field}` must be an http or https URL such as https://example.com/file.jpg"))),
    }
}

/// Checks `content` and normalises the numbers in it.
pub fn validate(content: &mut MessageContent, country: Option<DefaultCountry>) -> ApiResult<()> {
    match content {
        MessageContent::Text { text } => {
            required("text.body", &text.body, MAX_TEXT_CHARS)?;
            if text.mentions.len() > MAX_MENTIONS {
                return Err(ApiError::field(
                    "text.mentions",
                    format!("`text.mentions` names {} numbers; at most {MAX_MENTIONS}", text.mentions.len()),
                ));
            }
            for (i, m) in text.mentions.iter_mut().enumerate() {
                phone(&format!("text.mentions[{i}]"), m, country)?;
            }
        }
        MessageContent::Image { image: m } => media("image", m, true)?,
        MessageContent::Video { video: m } => media("video", m, true)?,
        MessageContent::Audio { audio: m } => media("audio", m, false)?,
        MessageContent::Document { document: m } => media("document", m, true)?,
        MessageContent::Sticker { sticker: m } => media("sticker", m, false)?,
        MessageContent::Location { location } => {
            if !(-90.0..=90.0).contains(&location.latitude) {
                return Err(ApiError::field("location.latitude", "`location.latitude` must be between -90 and 90"));
            }
            if !(-180.0..=180.0).contains(&location.longitude) {
                return Err(ApiError::field("location.longitude", "`location.longitude` must be between -180 and 180"));
            }
            optional("location.name", &location.name, 1000)?;
            optional("location.address", &location.address, 1000)?;
        }
        MessageContent::Contact { contact } => contact_card(contact, country)?,
        MessageContent::List { list } => list_message(list)?,
        MessageContent::Buttons { buttons } => buttons_message(buttons, country)?,
        MessageContent::Poll { poll } => poll_message(poll)?,
        MessageContent::Reaction { reaction } => {
            required("reaction.message_id", &reaction.message_id, 255)?;
            // One emoji is a few code points at most (flags, skin tones, families).
            if chars(&reaction.emoji) > 16 {
                return Err(ApiError::field("reaction.emoji", "`reaction.emoji` must be one emoji, or empty to remove a reaction"));
            }
        }
        MessageContent::Edit { edit } => {
            required("edit.message_id", &edit.message_id, 255)?;
            required("edit.text", &edit.text, MAX_TEXT_CHARS)?;
        }
        MessageContent::Revoke { revoke } => required("revoke.message_id", &revoke.message_id, 255)?,
    }
    Ok(())
}

/// A file is named by Kirim's `media_id`, a `link` to fetch, its bytes in `base64`, or the
/// network's own `id`.
fn media(kind: &str, m: &mut MediaContent, captioned: bool) -> ApiResult<()> {
    let sources = [m.media_id.is_some(), m.link.is_some(), m.id.is_some(), m.base64.is_some()].into_iter().filter(|s| *s).count();
    if sources == 0 {
        return Err(ApiError::field(
            kind,
            format!("`{kind}` needs its file: `link` (a URL Kirim fetches), `media_id` (from POST /v1/media) or `base64`"),
        ));
    }
    if sources > 1 {
        return Err(ApiError::field(
            kind,
            format!("`{kind}` names its file more than once; give one of `link`, `media_id`, `base64` or `id`"),
        ));
    }
    if let Some(link) = &m.link {
        web_url(&format!("{kind}.link"), link)?;
    }
    match &m.caption {
        Some(_) if !captioned => {
            return Err(ApiError::field(
                format!("{kind}.caption"),
                format!("WhatsApp shows no caption with {kind}; send the text separately"),
            ));
        }
        Some(caption) => at_most(&format!("{kind}.caption"), caption, MAX_CAPTION_CHARS)?,
        None => {}
    }
    if m.voice && kind != "audio" {
        return Err(ApiError::field(format!("{kind}.voice"), "only `audio` can be a voice note"));
    }
    optional(&format!("{kind}.filename"), &m.filename, 255)?;
    if m.filename.as_deref().is_some_and(|f| f.contains(['/', '\\', '\0'])) {
        return Err(ApiError::field(format!("{kind}.filename"), format!("`{kind}.filename` is a file name, without folders")));
    }
    Ok(())
}

fn contact_card(contact: &mut ContactCard, country: Option<DefaultCountry>) -> ApiResult<()> {
    required("contact.name", &contact.name, 255)?;
    phone("contact.phone", &mut contact.phone, country)?;
    optional("contact.organization", &contact.organization, 255)?;
    if let Some(email) = &contact.email {
        at_most("contact.email", email, 255)?;
        if !email.contains('@') || email.contains(char::is_whitespace) {
            return Err(ApiError::field("contact.email", "`contact.email` must be an email address"));
        }
    }
    Ok(())
}

fn list_message(list: &ListContent) -> ApiResult<()> {
    optional("list.header", &list.header, 60)?;
    required("list.body", &list.body, MAX_TEXT_CHARS)?;
    optional("list.footer", &list.footer, 60)?;
    required("list.button", &list.button, 20)?;
    if list.sections.is_empty() || list.sections.len() > 10 {
        return Err(ApiError::field("list.sections", "`list.sections` must hold 1 to 10 sections"));
    }
    let rows: usize = list.sections.iter().map(|s| s.rows.len()).sum();
    if rows == 0 || rows > 10 {
        return Err(ApiError::field("list.sections", format!("a list holds 1 to 10 rows in all; this one has {rows}")));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, section) in list.sections.iter().enumerate() {
        match &section.title {
            Some(title) => required(&format!("list.sections[{i}].title"), title, 24)?,
            None if list.sections.len() > 1 => {
                return Err(ApiError::field(format!("list.sections[{i}].title"), "every section needs a `title` when there are several"));
            }
            None => {}
        }
        for (j, row) in section.rows.iter().enumerate() {
            let at = format!("list.sections[{i}].rows[{j}]");
            required(&format!("{at}.title"), &row.title, 24)?;
            optional(&format!("{at}.description"), &row.description, 72)?;
            let id = row.id.as_deref().unwrap_or(&row.title);
            at_most(&format!("{at}.id"), id, 200)?;
            if !ids.insert(id.to_owned()) {
                return Err(ApiError::field(
                    format!("{at}.id"),
                    format!("two rows share the id `{id}`; the reply could not tell them apart"),
                ));
            }
        }
    }
    Ok(())
}

fn buttons_message(message: &mut ButtonsContent, country: Option<DefaultCountry>) -> ApiResult<()> {
    match &mut message.header {
        Some(ButtonsHeader::Text { text }) => required("buttons.header.text", text, 60)?,
        Some(ButtonsHeader::Image { image: m }) => media("buttons.header.image", m, false)?,
        Some(ButtonsHeader::Video { video: m }) => media("buttons.header.video", m, false)?,
        Some(ButtonsHeader::Document { document: m }) => media("buttons.header.document", m, false)?,
        None => {}
    }
    required("buttons.body", &message.body, MAX_CAPTION_CHARS)?;
    optional("buttons.footer", &message.footer, 60)?;
    if message.buttons.is_empty() || message.buttons.len() > 10 {
        return Err(ApiError::field("buttons.buttons", "`buttons.buttons` must hold 1 to 10 buttons"));
    }
    let replies = message.buttons.iter().filter(|b| matches!(b, Button::Reply { .. })).count();
    if replies > 3 {
        return Err(ApiError::field("buttons.buttons", format!("at most 3 quick replies fit under a message; this one has {replies}")));
    }
    for (i, button) in message.buttons.iter_mut().enumerate() {
        let at = format!("buttons.buttons[{i}]");
        required(&format!("{at}.title"), button.title(), 25)?;
        match button {
            Button::Reply { id, .. } => optional(&format!("{at}.id"), id, 256)?,
            Button::Url { url, .. } => web_url(&format!("{at}.url"), url)?,
            Button::Call { phone: number, .. } => phone(&format!("{at}.phone"), number, country)?,
        }
    }
    Ok(())
}

fn poll_message(poll: &PollContent) -> ApiResult<()> {
    required("poll.question", &poll.question, 255)?;
    let n = poll.options.len();
    if !(2..=12).contains(&n) {
        return Err(ApiError::field("poll.options", format!("a poll has 2 to 12 options; this one has {n}")));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, option) in poll.options.iter().enumerate() {
        required(&format!("poll.options[{i}]"), option, 100)?;
        if !seen.insert(option.trim().to_lowercase()) {
            return Err(ApiError::field(format!("poll.options[{i}]"), format!("the option `{option}` appears twice")));
        }
    }
    if poll.max_selections == 0 || poll.max_selections as usize > n {
        return Err(ApiError::field(
            "poll.max_selections",
            format!("`poll.max_selections` must be between 1 and {n} (the number of options)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(json: serde_json::Value) -> Result<MessageContent, (String, String)> {
        let mut content: MessageContent = serde_json::from_value(json).expect("well-formed");
        validate(&mut content, DefaultCountry::parse("MY"))
            .map(|_| content)
            .map_err(|e| (e.detail.field.unwrap_or_default(), e.detail.message))
    }

    #[test]
    fn numbers_inside_content_become_e164() {
        let c = check(json!({"type": "contact", "contact": {"name": "Siti", "phone": "012-345 6789"}})).unwrap();
        assert!(matches!(c, MessageContent::Contact { contact } if contact.phone == "+60123456789"));
        let c = check(json!({"type": "text", "text": {"body": "hi @60123456789", "mentions": ["60123456789"]}})).unwrap();
        assert!(matches!(c, MessageContent::Text { text } if text.mentions == ["+60123456789"]));
    }

    #[test]
    fn each_limit_names_the_field_at_fault() {
        let cases = [
            (json!({"type": "text", "text": {"body": "  "}}), "text.body"),
            (json!({"type": "text", "text": {"body": "x", "mentions": ["nope"]}}), "text.mentions[0]"),
            (json!({"type": "image", "image": {}}), "image"),
            (json!({"type": "image", "image": {"link": "ftp://e.com/a.jpg"}}), "image.link"),
            (json!({"type": "image", "image": {"link": "https://e.com/a", "media_id": "med_1"}}), "image"),
            (json!({"type": "audio", "audio": {"link": "https://e.com/a", "caption": "x"}}), "audio.caption"),
            (json!({"type": "document", "document": {"link": "https://e.com/a", "filename": "../etc/passwd"}}), "document.filename"),
            (json!({"type": "location", "location": {"latitude": 91, "longitude": 0}}), "location.latitude"),
            (json!({"type": "contact", "contact": {"name": "A", "phone": "12"}}), "contact.phone"),
            (
                json!({"type": "list", "list": {"body": "b", "button": "a button label too long", "sections": [{"rows": [{"title": "r"}]}]}}),
                "list.button",
            ),
            (
                json!({"type": "list", "list": {"body": "b", "button": "m", "sections": [{"rows": [{"title": "r"}]}, {"rows": [{"title": "s"}]}]}}),
                "list.sections[0].title",
            ),
            (
                json!({"type": "list", "list": {"body": "b", "button": "m", "sections": [{"rows": [{"title": "r"}, {"title": "r"}]}]}}),
                "list.sections[0].rows[1].id",
            ),
            (json!({"type": "buttons", "buttons": {"body": "b", "buttons": []}}), "buttons.buttons"),
            (
                json!({"type": "buttons", "buttons": {"body": "b", "buttons": [{"type": "url", "title": "t", "url": "javascript:alert(1)"}]}}),
                "buttons.buttons[0].url",
            ),
            (
                json!({"type": "buttons", "buttons": {"body": "b", "buttons": [
                {"type": "reply", "title": "1"}, {"type": "reply", "title": "2"}, {"type": "reply", "title": "3"}, {"type": "reply", "title": "4"}]}}),
                "buttons.buttons",
            ),
            (json!({"type": "poll", "poll": {"question": "q", "options": ["a"]}}), "poll.options"),
            (json!({"type": "poll", "poll": {"question": "q", "options": ["a", "A "]}}), "poll.options[1]"),
            (json!({"type": "poll", "poll": {"question": "q", "options": ["a", "b"], "max_selections": 3}}), "poll.max_selections"),
            (json!({"type": "reaction", "reaction": {"message_id": "msg_1", "emoji": "this is not an emoji"}}), "reaction.emoji"),
            (json!({"type": "edit", "edit": {"message_id": "msg_1", "text": ""}}), "edit.text"),
        ];
        for (json, field) in cases {
            let what = json.to_string();
            match check(json) {
                Err((got, message)) => {
                    assert_eq!(got, field, "{what}: {message}");
                    assert!(!message.is_empty());
                }
                Ok(_) => panic!("{what} was accepted"),
            }
        }
    }

    #[test]
    fn well_formed_messages_of_every_kind_pass() {
        for json in [
            json!({"type": "image", "image": {"link": "https://e.com/a.jpg", "caption": "c"}}),
            json!({"type": "audio", "audio": {"media_id": "med_1", "voice": true}}),
            json!({"type": "list", "list": {"body": "b", "button": "Menu", "sections": [{"title": "S", "rows": [{"title": "r", "description": "d"}]}]}}),
            json!({"type": "buttons", "buttons": {"header": {"type": "image", "image": {"link": "https://e.com/a.jpg"}}, "body": "b",
                "footer": "f", "buttons": [{"type": "reply", "title": "Yes"}, {"type": "call", "title": "Call", "phone": "0123456789"}]}}),
            json!({"type": "poll", "poll": {"question": "q", "options": ["a", "b", "c"], "max_selections": 2}}),
            json!({"type": "reaction", "reaction": {"message_id": "msg_1", "emoji": ""}}),
            json!({"type": "revoke", "revoke": {"message_id": "msg_1"}}),
        ] {
            check(json.clone()).unwrap_or_else(|e| panic!("{json}: {e:?}"));
        }
    }
}
