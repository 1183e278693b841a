//! Numbers: which are on WhatsApp, and the blacklist.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kirim_core::contact::BlacklistAdd;
use serde_json::{Value, json};

use super::{bad_field, list, refused, required};
use crate::app::AppState;
use crate::compat::wablas::{Call, ok};
use crate::services::{blacklist, groups};

/// `GET /check-phone-number?phones=a,b` (Wablas serves it on its phone host; here at the
/// layer's root): each number `online` (has WhatsApp) or `offline`, asked through the
/// caller's device. Read-only: the device token is enough.
pub async fn check(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let raw = or_answer!(
        call.text("phones")
            .or_else(|| call.text("phone"))
            .ok_or_else(|| { bad_field("phones", "is required: the numbers to check, separated by commas") })
    );
    match groups::check_numbers(&state, &caller.actor(), None, &list(&raw)).await {
        Ok((_, checked)) => {
            let data: Vec<Value> = checked
                .into_iter()
                .map(|c| json!({"phone": c.check.phone.digits(), "status": if c.check.on_whatsapp { "online" } else { "offline" }}))
                .collect();
            Json(json!({"status": "success", "data": data, "message": "Success"})).into_response()
        }
        Err(mut e) => {
            // `phones[3]` is the fourth number of the list.
            // `phones[3]` is a number of the list (the message quotes it).
            if let Some(field) = e.detail.field.take().filter(|f| f.starts_with("phones[")) {
                e.detail.message = e.detail.message.replace(&format!("`{field}`"), "`phones`");
            }
            refused(e, &[])
        }
    }
}

/// `GET /api/blacklist?phone=`: Kirim sends nothing to the number any more. Adding only
/// stops messages, so the device token is enough (Wablas's own example sends no secret key).
pub async fn blacklist_add(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.caller(&state).await);
    let phone = or_answer!(required(&call, "phone", "the number to blacklist"));
    match blacklist::add(&state, &caller.actor(), &phone, call.text("reason")).await {
        Ok(added) => {
            let number = added.entry().phone.digits().to_owned();
            let message = match added {
                BlacklistAdd::Added(_) => format!("Add {number} to blacklist succesfully"),
                BlacklistAdd::Existing(_) => format!("{number} is already on the blacklist"),
            };
            ok(message, json!({"phone": number}))
        }
        Err(e) => refused(e, &[]),
    }
}

/// `GET /api/blacklist/cancel?phone=` (secret key): messages to the number are allowed again.
pub async fn blacklist_cancel(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let phone = or_answer!(required(&call, "phone", "the number to take off the blacklist"));
    match blacklist::remove(&state, &caller.actor(), &phone).await {
        Ok(entry) => {
            let number = entry.phone.digits().to_owned();
            ok(format!("sucessfully cancel {number} from blacklist"), json!({"phone": number}))
        }
        Err(e) => refused(e, &[]),
    }
}
