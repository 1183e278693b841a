//! Auto-replies: a keyword and the text that answers it, on the caller's device (Kirim's
//! auto-reply rules, matching the whole message, ignoring case).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use kirim_core::AutoReplyId;
use kirim_core::auto_reply::{AutoReply, MatchKind};
use kirim_core::message::MessageContent;
use serde_json::{Value, json};

use super::{refused, required};
use crate::app::AppState;
use crate::compat::wablas::{Call, fail, ok, refusal};
use crate::services::auto_replies::{self, RuleInput};

/// Wablas's names for the native rule fields.
const NAMES: [(&str, &str); 3] = [("reply", "response"), ("reply.text.body", "response"), ("text.body", "response")];
/// Rules read per page while listing.
const PAGE: u32 = 200;

/// A rule as Wablas shows it: `response` is the text (or a file's caption), `file` its file.
fn view(rule: &AutoReply) -> Value {
    let reply = &rule.spec.reply;
    let (response, file) = match reply {
        MessageContent::Text { text } => (text.body.clone(), None),
        other => match other.media_content() {
            Some(m) => (m.caption.clone().unwrap_or_default(), m.link.clone().or_else(|| m.media_id.clone())),
            None => (String::new(), None),
        },
    };
    json!({
        "id": rule.id,
        "device": rule.device.as_ref().map(|(_, id)| id),
        "keyword": rule.spec.keyword,
        "category": reply.kind(),
        "response": response,
        "file": file,
    })
}

fn rule_id(raw: &str) -> Result<AutoReplyId, Response> {
    raw.trim().parse().map_err(|_| fail(StatusCode::NOT_FOUND, "auto-reply not found"))
}

/// `POST /api/v2/autoreply {keyword, response}`.
pub async fn create(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let keyword = or_answer!(required(&call, "keyword", "the message that triggers the reply"));
    let response = or_answer!(required(&call, "response", "the reply's text"));
    let input = RuleInput {
        keyword: Some(keyword),
        match_kind: Some(MatchKind::Exact.as_str().to_owned()),
        reply: Some(MessageContent::text(response)),
        ..RuleInput::default()
    };
    match auto_replies::create(&state, &caller.actor(), input).await {
        Ok(rule) => ok("Auto reply created successfully", view(&rule)),
        Err(e) => refused(e, &NAMES),
    }
}

/// `PUT /api/v2/autoreply/{id} {keyword, response}`: changes the fields given.
pub async fn update(State(state): State<AppState>, Path(id): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let id = or_answer!(rule_id(&id));
    let input = RuleInput { keyword: call.text("keyword"), reply: call.text("response").map(MessageContent::text), ..RuleInput::default() };
    if input.keyword.is_none() && input.reply.is_none() {
        return super::bad_field("keyword", "or `response` is required: what to change");
    }
    match auto_replies::update(&state, &caller.actor(), &id, input).await {
        Ok(rule) => {
            let keyword = rule.spec.keyword.clone().unwrap_or_default();
            ok(format!("update autoreply keyword: {keyword} successfully"), view(&rule))
        }
        Err(e) => refused(e, &NAMES),
    }
}

/// `DELETE /api/v2/autoreply/{id}`.
pub async fn remove(State(state): State<AppState>, Path(id): Path<String>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let id = or_answer!(rule_id(&id));
    match auto_replies::delete(&state, &caller.actor(), &id).await {
        Ok(rule) => {
            let keyword = rule.spec.keyword.clone().unwrap_or_default();
            ok(format!("remove autoreply keyword: {keyword} successfully"), json!({"id": rule.id}))
        }
        Err(e) => refusal(e),
    }
}

/// `GET /api/v2/autoreply/getData?keyword=`: the device's keyword rules (those of the whole
/// account too), those whose keyword contains `keyword` when it is given. Read-only: the
/// device token is enough. The closing message (a rule without keyword) is not listed.
pub async fn list(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let needle = call.text("keyword").map(|k| k.to_lowercase());
    let actor = caller.actor();
    let (mut data, mut after) = (Vec::new(), None);
    loop {
        let page = match auto_replies::list(&state, &actor, Some(&caller.device.id), after.as_ref(), PAGE).await {
            Ok(page) => page,
            Err(e) => return refusal(e),
        };
        for rule in &page {
            let Some(keyword) = rule.spec.keyword.as_deref() else { continue };
            if needle.as_ref().is_none_or(|n| keyword.to_lowercase().contains(n.as_str())) {
                data.push(view(rule));
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => after = Some(last.id.clone()),
            _ => break,
        }
    }
    ok("sucessfully get autoreplies data", Value::Array(data))
}
