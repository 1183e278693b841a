//! Wablas's sends: v1 (one message to a comma list of phones, form or query), v2 (`data: […]`,
//! up to 100 items, each on its own), files "from local" (base64 in a form, or a multipart
//! file), and v2 group sends (to every member of a contact group). Each item becomes a native
//! send; the answer lists each message as Wablas does.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use kirim_core::message::{LocationContent, MediaContent, Message, MessageContent, TextContent};
use serde_json::{Map, Value, json};

use super::{Call, Caller, chat_name, fail, flag, quota, refusal, status_name, text};

type S = State<AppState>;
use crate::app::AppState;
use crate::compat::body::Fields;
use crate::http::error::ApiError;
use crate::services::Actor;
use crate::services::messages::SendInput;
use crate::services::sending::{self, DeviceChoice, MAX_BATCH};

pub fn routes() -> Router<AppState> {
    let mut router = Router::new().route("/api/send-message", get(send_v1_text).post(send_v1_text));
    for kind in ["image", "video", "audio", "document"] {
        router = router
            .route(&format!("/api/send-{kind}"), post(move |s: S, c: Call| send_v1(s, c, Kind::Url(kind))))
            .route(&format!("/api/send-{kind}-from-local"), post(move |s: S, c: Call| send_v1(s, c, Kind::Local(kind))))
            .route(&format!("/api/v2/send-{kind}"), post(move |s: S, c: Call| send_v2(s, c, Kind::Url(kind))))
            .route(&format!("/api/v2/group/{kind}"), post(move |s: S, c: Call| send_group(s, c, Kind::Url(kind))));
    }
    router
        .route("/api/v2/send-message", post(|s: S, c: Call| send_v2(s, c, Kind::Text)))
        .route("/api/v2/send-link", post(|s: S, c: Call| send_v2(s, c, Kind::Link)))
        .route("/api/v2/send-list", post(|s: S, c: Call| send_v2(s, c, Kind::List)))
        .route("/api/v2/send-location", post(|s: S, c: Call| send_v2(s, c, Kind::Location)))
        .route("/api/v2/group/text", get(|s: S, c: Call| send_group(s, c, Kind::Text)).post(|s: S, c: Call| send_group(s, c, Kind::Text)))
}

/// What an endpoint sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Text,
    /// A file by its URL, in the field named as the type (`image`, `video`, …).
    Url(&'static str),
    /// A file from the caller's disk: base64 in `file`, or a multipart `file`.
    Local(&'static str),
    Link,
    List,
    Location,
}

/// A refusal of one item (the field named), answered as Wablas's `{status: false, message}`.
fn missing(field: &str, what: &str) -> ApiError {
    ApiError::field(field, format!("`{field}` is required: {what}"))
}

/// The last path segment of a URL: how Wablas names a sent file.
fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').find(|s| !s.is_empty()).unwrap_or(path).to_owned()
}

/// The content of one item (a v1 call's fields, or a v2 data item).
fn content(item: &Fields, kind: Kind, files: &[crate::http::multipart::Part]) -> Result<MessageContent, ApiError> {
    let media = |kind: &str, link: Option<String>, base64: Option<String>, filename: Option<String>| {
        let caption = if kind == "audio" { None } else { text(item, "caption") };
        let filename = if kind == "document" { filename } else { None };
        MessageContent::media(kind, MediaContent { link, base64, caption, filename, ..MediaContent::default() })
            .ok_or_else(|| ApiError::field("type", format!("`{kind}` is not a file type")))
    };
    match kind {
        Kind::Text => {
            let body = item.string("message").and_then(Result::ok).ok_or_else(|| missing("message", "the text to send"))?;
            Ok(MessageContent::Text { text: TextContent { body, preview_url: false, mentions: Vec::new() } })
        }
        Kind::Url(kind) => {
            let url = text(item, kind).ok_or_else(|| missing(kind, &format!("the URL of the {kind} to send")))?;
            let name = text(item, "filename").or_else(|| text(item, "name_file")).unwrap_or_else(|| file_name(&url));
            media(kind, Some(url), None, Some(name))
        }
        Kind::Local(kind) => {
            // A multipart file, else base64 in `file` with its name in `data` ($_FILES' JSON).
            let named = text(item, "filename").or_else(|| text(item, "name_file"));
            if let Some(part) = files.iter().find(|p| p.name == "file") {
                let name = named.or_else(|| part.filename.clone());
                let encoded = base64::engine::general_purpose::STANDARD.encode(&part.data);
                return media(kind, None, Some(encoded), name);
            }
            let encoded =
                text(item, "file").ok_or_else(|| missing("file", &format!("the {kind} itself, base64-encoded (or a multipart file)")))?;
            let from_data = text(item, "data")
                .and_then(|d| serde_json::from_str::<Value>(&d).ok())
                .and_then(|d| d.get("name").and_then(Value::as_str).map(str::to_owned));
            media(kind, None, Some(encoded), named.or(from_data))
        }
        Kind::Link => {
            let message = item.get("message").ok_or_else(|| missing("message", "`{\"text\": …, \"link\": …}`"))?;
            let link = message.get("link").and_then(Value::as_str).map(str::trim).filter(|l| !l.is_empty());
            let link = link.ok_or_else(|| missing("message.link", "the URL to preview"))?;
            let body = match message.get("text").and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty()) {
                Some(t) => format!("{t}\n{link}"),
                None => link.to_owned(),
            };
            Ok(MessageContent::Text { text: TextContent { body, preview_url: true, mentions: Vec::new() } })
        }
        Kind::List => {
            let message =
                item.get("message").ok_or_else(|| missing("message", "the list: title, description, buttonText, lists, footer"))?;
            super::content::list(message).ok_or_else(|| {
                ApiError::field("message", "`message` must have `description`, `buttonText` and `lists` (each with a `title`)")
            })
        }
        Kind::Location => {
            let message = item.get("message").ok_or_else(|| missing("message", "the place: name, address, latitude, longitude"))?;
            let degrees = |key: &str| match message.get(key) {
                Some(Value::Number(n)) => n.as_f64(),
                Some(Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            };
            let (Some(latitude), Some(longitude)) = (degrees("latitude"), degrees("longitude")) else {
                return Err(ApiError::field("message", "`message.latitude` and `message.longitude` must be numbers (degrees)"));
            };
            let words = |key: &str| message.get(key).and_then(Value::as_str).map(str::to_owned).filter(|s| !s.trim().is_empty());
            Ok(MessageContent::Location {
                location: LocationContent { latitude, longitude, name: words("name"), address: words("address") },
            })
        }
    }
}

/// The content of a data item (no multipart files).
pub fn item_content(item: &Fields, kind: Kind) -> Result<MessageContent, ApiError> {
    content(item, kind, &[])
}

/// Who sends: the caller's device; with `random` and the secret key, a connected device of
/// the account at random (a device token alone may use only its own device).
fn sender(caller: &Caller, item: &Fields) -> (Actor, SendInput) {
    let random = flag(item, "random") && caller.manager.is_some();
    let actor = match (&caller.manager, random) {
        (Some(manager), true) => Actor::from(manager),
        _ => caller.actor(),
    };
    let mut input = SendInput::plain(if random { None } else { Some(caller.device.id.clone()) }, String::new(), MessageContent::text(""));
    input.to = None;
    if random {
        input.choices.device = DeviceChoice::Random;
    }
    (actor, input)
}

/// The options every Wablas send takes: `ref_id`, `priority`, `secret`, `retry`, `spintax`,
/// `source`.
fn options(input: &mut SendInput, item: &Fields) {
    input.ref_id = text(item, "ref_id");
    input.priority = if flag(item, "priority") { 10 } else { 0 };
    input.choices.options.secret = flag(item, "secret");
    input.choices.options.source = text(item, "source");
    input.choices.spintax = flag(item, "spintax");
    if item.get("retry").is_some() {
        input.choices.max_attempts = Some(if flag(item, "retry") { 3 } else { 1 });
    }
}

/// `phone` as chats: a comma list; group ids when `isGroup` is true.
fn recipients(item: &Fields) -> Result<Vec<String>, ApiError> {
    let phones = text(item, "phone").ok_or_else(|| missing("phone", "the number to send to (a comma list for several)"))?;
    let group = flag(item, "isGroup");
    Ok(phones
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| if group && !p.ends_with("@g.us") { format!("{p}@g.us") } else { p.to_owned() })
        .collect())
}

/// One message as Wablas lists it.
pub fn listed(message: &Message) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(message.id));
    out.insert("phone".into(), json!(chat_name(&message.chat)));
    match &message.content {
        MessageContent::Text { text } => {
            out.insert("message".into(), json!(text.body));
        }
        content => match content.media_content() {
            Some(media) => {
                out.insert("message".into(), Value::Null);
                out.insert("caption".into(), json!(media.caption));
                // A file sent from local has no name but its stored id (Wablas names it by a hash too).
                let name = media.filename.clone().or_else(|| media.link.as_deref().map(file_name)).or_else(|| media.media_id.clone());
                out.insert(content.kind().to_owned(), json!(name));
            }
            None => {
                out.insert("message".into(), json!(serde_json::to_value(content).ok().map(|v| v.to_string())));
            }
        },
    }
    out.insert("status".into(), json!(status_name(message.status)));
    out.insert("ref_id".into(), json!(message.ref_id));
    Value::Object(out)
}

/// Wablas's answer to a send: `data.{device_id, quota, messages}`; with several devices
/// (`random`), one entry per message with its device. Items that were not queued are
/// listed with `status: false` and why.
async fn answer(state: &AppState, caller: &Caller, accepted: Vec<Message>, refused: Vec<Value>, what: &str) -> Response {
    if accepted.is_empty() {
        let why = refused.first().and_then(|r| r["message"].as_str()).unwrap_or("nothing was queued").to_owned();
        let body = json!({"status": false, "message": why, "data": {"messages": refused}});
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response();
    }
    let message = format!("{what} is pending and waiting to be processed");
    let several = accepted.iter().any(|m| m.device_id != caller.device.id);
    let mut quotas = std::collections::HashMap::new();
    for m in &accepted {
        if !quotas.contains_key(&m.device_id) {
            quotas.insert(m.device_id.clone(), fresh_quota(state, caller, &m.device_id).await);
        }
    }
    let device_quota = |id: &kirim_core::DeviceId| quotas.get(id).cloned().unwrap_or_else(|| json!("unlimited"));
    if several {
        let data: Vec<Value> = accepted
            .iter()
            .map(|m| json!({"device_id": m.device_id, "quota": device_quota(&m.device_id), "messages": listed(m)}))
            .chain(refused.into_iter().map(|r| json!({"messages": r})))
            .collect();
        return super::ok(message, Value::Array(data));
    }
    let mut messages: Vec<Value> = accepted.iter().map(listed).collect();
    messages.extend(refused);
    super::ok(message, json!({"device_id": caller.device.id, "quota": device_quota(&caller.device.id), "messages": messages}))
}

/// A device's quota left after the send. The registry's copy of a device does not follow
/// its quota (the store debits it), so a device with a quota is read from the store.
async fn fresh_quota(state: &AppState, caller: &Caller, id: &kirim_core::DeviceId) -> Value {
    let Some(entry) = state.devices.get_for_tenant(caller.auth.tenant_pk(), id) else { return json!("unlimited") };
    let device = entry.snapshot();
    if device.limits.quota.is_none() {
        return quota(&device);
    }
    match state.store.get_device(caller.auth.tenant_pk(), id).await {
        Ok(Some(stored)) => quota(&stored),
        _ => quota(&device),
    }
}

/// A recipient a broadcast left out, as a refused item.
fn skipped(s: &sending::Skipped) -> Value {
    let why = match s.reason {
        "blacklisted" => "the number is on the blacklist".to_owned(),
        "duplicate" => "the number is listed twice; it gets one message".to_owned(),
        other => other.replace('_', " "),
    };
    json!({"phone": chat_name(&s.to), "message": why, "status": false})
}

/// v1: one message to each phone of `phone`.
async fn send_v1(State(state): State<AppState>, call: Call, kind: Kind) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let content = or_answer!(content(&call.fields, kind, &call.files).map_err(refusal));
    let to = or_answer!(recipients(&call.fields).map_err(refusal));
    let (actor, mut input) = sender(&caller, &call.fields);
    input.content = content;
    options(&mut input, &call.fields);
    match sending::send_many(&state, &actor, input, to, None).await {
        Ok(broadcast) => {
            let accepted = broadcast.accepted.into_iter().map(|a| a.message).collect();
            answer(&state, &caller, accepted, broadcast.skipped.iter().map(skipped).collect(), "Message").await
        }
        Err(e) => refusal(e),
    }
}

async fn send_v1_text(state: State<AppState>, call: Call) -> Response {
    send_v1(state, call, Kind::Text).await
}

/// The items of a v2 call's `data`: at most [`MAX_BATCH`], each an object.
pub fn items(call: &Call) -> Result<Vec<Fields>, Response> {
    let data = match call.fields.get("data") {
        Some(Value::Array(items)) => items.clone(),
        // A form can carry the array as JSON text.
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(items)) => items,
            _ => return Err(fail(StatusCode::UNPROCESSABLE_ENTITY, "`data` must be an array of messages")),
        },
        _ => {
            return Err(fail(
                StatusCode::UNPROCESSABLE_ENTITY,
                "`data` is required: an array of messages, e.g. [{\"phone\": …, \"message\": …}]",
            ));
        }
    };
    if data.is_empty() || data.len() > MAX_BATCH {
        return Err(fail(StatusCode::UNPROCESSABLE_ENTITY, format!("`data` must hold 1 to {MAX_BATCH} messages (it has {})", data.len())));
    }
    data.into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(map) => Ok(Fields(map)),
            _ => Err(fail(StatusCode::UNPROCESSABLE_ENTITY, format!("`data[{i}]` must be an object"))),
        })
        .collect()
}

/// A refused item of a v2 call, naming its index.
fn refused_item(i: usize, item: &Fields, error: &ApiError) -> Value {
    json!({"phone": text(item, "phone"), "message": format!("data[{i}]: {}", error.detail.message), "status": false})
}

/// v2: each item of `data` is a message of its own; a bad item refuses only itself.
async fn send_v2(State(state): State<AppState>, call: Call, kind: Kind) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let items = or_answer!(items(&call));
    // `random` may be given for the whole call (as the PHP examples do) or per item.
    let random_all = call.flag("random");
    let mut inputs = Vec::with_capacity(items.len());
    let mut actor = caller.actor();
    for item in &items {
        let mut item_fields = Fields(item.0.clone());
        if random_all {
            item_fields.0.insert("random".into(), json!(true));
        }
        let (a, mut input) = sender(&caller, &item_fields);
        actor = a;
        options(&mut input, &item_fields);
        let built = content(&item_fields, kind, &[]).and_then(|c| {
            let to = recipients(&item_fields)?;
            match to.as_slice() {
                [one] => Ok((c, one.clone())),
                _ => Err(ApiError::field("phone", "`phone` must be one number per item in v2 (give each its own item)")),
            }
        });
        inputs.push(built.map(|(c, to)| {
            input.content = c;
            input.to = Some(to);
            input
        }));
    }
    let results = match sending::batch(&state, &actor, inputs).await {
        Ok(results) => results,
        Err(e) => return refusal(e),
    };
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for (i, (result, item)) in results.into_iter().zip(&items).enumerate() {
        match result {
            Ok(a) => accepted.push(a.message),
            Err(e) => refused.push(refused_item(i, item, &e)),
        }
    }
    let what = if kind == Kind::Link { "Link Preview Message" } else { "Message" };
    answer(&state, &caller, accepted, refused, what).await
}

/// v2 group sends: one message to every member of the contact group `group_id` (Wablas's
/// "phone group"), from the call's fields (GET) or each `data` item (POST).
async fn send_group(State(state): State<AppState>, call: Call, kind: Kind) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let items = match call.fields.get("data") {
        Some(_) => or_answer!(items(&call)),
        None => vec![Fields(call.fields.0.clone())],
    };
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    let mut groups = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(group) = text(item, "group_id") else {
            refused.push(refused_item(i, item, &missing("group_id", "the contact group to send to")));
            continue;
        };
        let built = match content(item, kind, &[]) {
            Ok(c) => c,
            Err(e) => {
                refused.push(refused_item(i, item, &e));
                continue;
            }
        };
        let (actor, mut input) = sender(&caller, item);
        input.content = built;
        options(&mut input, item);
        match sending::send_many(&state, &actor, input, Vec::new(), Some(group.as_str())).await {
            Ok(b) => {
                accepted.extend(b.accepted.into_iter().map(|a| a.message));
                refused.extend(b.skipped.iter().map(skipped));
                groups.push(group);
            }
            Err(e) => refused.push(json!({"group_id": group, "message": e.detail.message, "status": false})),
        }
    }
    answer(&state, &caller, accepted, refused, &format!("Message to Group {}", groups.join(", "))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Fields {
        Fields(v.as_object().unwrap().clone())
    }

    #[test]
    fn items_map_onto_native_content() {
        let link = content(&fields(json!({"message": {"text": "WABLAS", "link": "https://wablas.com"}})), Kind::Link, &[]).unwrap();
        assert_eq!(
            serde_json::to_value(&link).unwrap(),
            json!({"type": "text", "text": {"body": "WABLAS\nhttps://wablas.com", "preview_url": true}})
        );
        let place = json!({"message": {"name": "place name", "address": "street", "latitude": 24.121231, "longitude": "55.1121221"}});
        let MessageContent::Location { location } = content(&fields(place), Kind::Location, &[]).unwrap() else { panic!() };
        assert_eq!((location.latitude, location.longitude, location.name.as_deref()), (24.121231, 55.1121221, Some("place name")));
        let doc = content(&fields(json!({"document": "https://pdfobject.com/pdf/sample.pdf", "caption": "c"})), Kind::Url("document"), &[])
            .unwrap();
        assert_eq!(doc.media_content().unwrap().filename.as_deref(), Some("sample.pdf"));
        let audio = content(&fields(json!({"audio": "https://e.com/a.mp3", "caption": "x"})), Kind::Url("audio"), &[]).unwrap();
        assert_eq!(audio.media_content().unwrap().caption, None, "audio has no caption on WhatsApp");
        let local = json!({"file": "aGVsbG8=", "data": "{\"name\":\"your_pdf_file.pdf\",\"type\":\"application/pdf\"}"});
        let local = content(&fields(local), Kind::Local("document"), &[]).unwrap();
        assert_eq!(local.media_content().unwrap().filename.as_deref(), Some("your_pdf_file.pdf"));
        let e = content(&fields(json!({"caption": "x"})), Kind::Url("image"), &[]).unwrap_err();
        assert_eq!(e.detail.field.as_deref(), Some("image"));
    }

    #[test]
    fn is_group_makes_group_ids_of_the_phones() {
        let to = recipients(&fields(json!({"phone": "6281218444-87687324, 120363064449269", "isGroup": "true"}))).unwrap();
        assert_eq!(to, ["6281218444-87687324@g.us", "120363064449269@g.us"]);
        let to = recipients(&fields(json!({"phone": "08238264001,08238264002", "isGroup": "false"}))).unwrap();
        assert_eq!(to, ["08238264001", "08238264002"]);
    }
}
