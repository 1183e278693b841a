//! Wablas (reference 001) message shapes: the categories its webhook auto-replies and its
//! schedule/send endpoints use, as Kirim message content. Each function reads one category's
//! fields; `None` when a required field is missing (the caller reports or skips it).

use kirim_core::message::{
    Button, ButtonsContent, ButtonsHeader, ListContent, ListRow, ListSection, MediaContent, MessageContent, TextContent,
};
use serde_json::Value;

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Wablas nests the structured categories as a JSON string in `message`; an object is taken too.
fn nested(item: &Value) -> Option<Value> {
    match item.get("message")? {
        Value::String(s) => serde_json::from_str(s).ok(),
        v @ Value::Object(_) => Some(v.clone()),
        _ => None,
    }
}

/// `{"category": …, "message" | "urlFile" | "caption" …}` as content; `Err(category)` for a
/// category Kirim does not know or an item missing what its category needs.
pub fn reply_item(item: &Value) -> Result<MessageContent, String> {
    let category = item.get("category").and_then(Value::as_str).unwrap_or("text").to_owned();
    let content = match category.as_str() {
        "text" => {
            text(item, "message").map(|body| MessageContent::Text { text: TextContent { body, preview_url: false, mentions: Vec::new() } })
        }
        "image" | "video" | "audio" | "document" => text(item, "urlFile").and_then(|link| {
            let caption = if matches!(category.as_str(), "image" | "video" | "document") { text(item, "caption") } else { None };
            MessageContent::media(&category, MediaContent { link: Some(link.trim().to_owned()), caption, ..MediaContent::default() })
        }),
        "button" => nested(item).and_then(|m| buttons(&m)),
        "template" => nested(item).and_then(|m| template(&m)),
        "list" => nested(item).and_then(|m| list(&m)),
        _ => None,
    };
    content.ok_or(category)
}

/// `{"buttons": ["a", "b"], "content": "…", "footer": "…"}`: quick replies.
pub fn buttons(m: &Value) -> Option<MessageContent> {
    let buttons = m
        .get("buttons")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .map(|title| Button::Reply { id: None, title: title.to_owned() })
        .collect();
    Some(MessageContent::Buttons {
        buttons: ButtonsContent { header: None, body: text(m, "content")?, footer: text(m, "footer"), buttons },
    })
}

/// `{"title": {"type": "image", "content": url}, "buttons": {"url": {"display", "link"},
/// "call": {"display", "phone"}, "quickReply": […]}, "content", "footer"}`.
pub fn template(m: &Value) -> Option<MessageContent> {
    let header = m.get("title").and_then(|t| {
        let content = text(t, "content")?;
        let kind = t.get("type").and_then(Value::as_str).unwrap_or("text");
        let media = || MediaContent { link: Some(content.clone()), ..MediaContent::default() };
        Some(match kind {
            "image" => ButtonsHeader::Image { image: media() },
            "video" => ButtonsHeader::Video { video: media() },
            "document" => ButtonsHeader::Document { document: media() },
            _ => ButtonsHeader::Text { text: content.clone() },
        })
    });
    let mut buttons = Vec::new();
    if let Some(b) = m.get("buttons") {
        if let Some(url) = b.get("url") {
            buttons.push(Button::Url { title: text(url, "display")?, url: text(url, "link")? });
        }
        if let Some(call) = b.get("call") {
            let phone = text(call, "phone").or_else(|| text(call, "link"))?;
            buttons.push(Button::Call { title: text(call, "display")?, phone });
        }
        for title in b.get("quickReply").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            buttons.push(Button::Reply { id: None, title: title.to_owned() });
        }
    }
    Some(MessageContent::Buttons { buttons: ButtonsContent { header, body: text(m, "content")?, footer: text(m, "footer"), buttons } })
}

/// `{"title", "description", "buttonText", "lists": [{"title", "description"}], "footer"}`.
pub fn list(m: &Value) -> Option<MessageContent> {
    let rows = m
        .get("lists")?
        .as_array()?
        .iter()
        .filter_map(|row| Some(ListRow { id: None, title: text(row, "title")?, description: text(row, "description") }))
        .collect();
    Some(MessageContent::List {
        list: ListContent {
            header: text(m, "title"),
            body: text(m, "description")?,
            footer: text(m, "footer"),
            button: text(m, "buttonText")?,
            sections: vec![ListSection { title: None, rows }],
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_documented_auto_reply_categories_map_onto_content() {
        let image = reply_item(&json!({"category": "image", "caption": "c", "urlFile": "https://e.com/a.jpg"})).unwrap();
        assert_eq!(
            serde_json::to_value(&image).unwrap(),
            json!({"type": "image", "image": {"link": "https://e.com/a.jpg", "caption": "c"}})
        );
        let audio = reply_item(&json!({"category": "audio", "caption": "ignored", "urlFile": "https://e.com/a.mp3"})).unwrap();
        assert_eq!(audio.media_content().unwrap().caption, None, "audio has no caption");
        let button = json!({"category": "button", "message": "{\"buttons\":[\"b1\",\"b2\"],\"content\":\"pick\",\"footer\":\"f\"}"});
        let MessageContent::Buttons { buttons: b } = reply_item(&button).unwrap() else { panic!("buttons") };
        assert_eq!((b.body.as_str(), b.footer.as_deref(), b.buttons.len()), ("pick", Some("f"), 2));
        let template = json!({"category": "template", "message": "{\"title\":{\"type\":\"image\",\"content\":\"https://e.com/t.jpg\"},\"buttons\":{\"url\":{\"display\":\"site\",\"link\":\"https://e.com\"},\"call\":{\"display\":\"call us\",\"phone\":\"081223644660\"},\"quickReply\":[\"r1\",\"r2\"]},\"content\":\"hello\",\"footer\":\"ft\"}"});
        let MessageContent::Buttons { buttons: t } = reply_item(&template).unwrap() else { panic!("template") };
        assert!(matches!(&t.header, Some(ButtonsHeader::Image { image }) if image.link.as_deref() == Some("https://e.com/t.jpg")));
        assert_eq!(t.buttons.iter().map(Button::title).collect::<Vec<_>>(), ["site", "call us", "r1", "r2"]);
        let list = json!({"category": "list", "message": {"title": "t", "description": "d", "buttonText": "menu", "lists": [{"title": "1", "description": "promo 1"}], "footer": "f"}});
        let MessageContent::List { list: l } = reply_item(&list).unwrap() else { panic!("list") };
        assert_eq!((l.body.as_str(), l.button.as_str(), l.sections[0].rows[0].description.as_deref()), ("d", "menu", Some("promo 1")));
        assert_eq!(reply_item(&json!({"category": "hologram"})), Err("hologram".to_owned()));
        assert_eq!(reply_item(&json!({"category": "image"})), Err("image".to_owned()), "no file");
    }
}
