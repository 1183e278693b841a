//! Wablas's account calls: device management, contacts and contact groups, the blacklist,
//! auto-replies, agents, reminders, uploads and the number check. Paths are Wablas's own;
//! each handler reads Wablas's fields, calls the service the native API calls, and answers in
//! Wablas's shape. Native refusals keep their status; their messages name Wablas's fields.

mod agents;
mod autoreply;
mod contacts;
mod device;
mod files;
mod numbers;
mod reminders;
mod session;

use std::collections::BTreeMap;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use kirim_core::Timestamp;
use serde_json::{Map, Value};

use super::{Call, fail, refusal};
use crate::app::AppState;
use crate::compat::body::Fields;
use crate::http::error::ApiError;

/// Items in one v2 bulk call, as Wablas documents for its `data: [...]` calls.
pub const MAX_ITEMS: usize = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/device/create", post(device::create))
        .route("/api/device/info", get(device::info))
        .route("/api/list-server", get(device::list_server))
        .route("/api/device/generate-token", get(device::generate_token).post(device::generate_token))
        .route("/api/device/delete", delete(device::delete).post(device::delete))
        .route("/api/device/speed", post(device::speed))
        .route("/api/device/change-closing", post(device::change_closing))
        .route("/api/device/scan", get(session::scan))
        .route("/api/device/change-number", post(session::change_number))
        .route("/api/device/disconnect", get(session::disconnect).post(session::disconnect))
        .route("/api/device/restart", get(session::restart).post(session::restart))
        .route("/check-phone-number", get(numbers::check).post(numbers::check))
        .route("/api/blacklist", get(numbers::blacklist_add).post(numbers::blacklist_add))
        .route("/api/blacklist/cancel", get(numbers::blacklist_cancel).post(numbers::blacklist_cancel))
        .route("/api/v2/contact", post(contacts::add).get(contacts::list))
        .route("/api/v2/contact/update", post(contacts::update))
        .route("/api/contact", delete(contacts::remove))
        .route("/api/group/add", post(contacts::group_add))
        .route("/api/group/delete-phone", post(contacts::group_remove))
        .route("/api/v2/autoreply", post(autoreply::create))
        // Wablas's own example reads the list with `PUT`.
        .route("/api/v2/autoreply/getData", get(autoreply::list).put(autoreply::list))
        .route("/api/v2/autoreply/{id}", put(autoreply::update).delete(autoreply::remove))
        .route("/api/create-agent", post(agents::create))
        .route("/api/v2/create-agent", post(agents::create_many))
        .route("/api/assign-agent", post(agents::assign))
        .route("/api/reminder", post(reminders::create))
        .route("/api/reminder/{id}", post(reminders::update).put(reminders::update).delete(reminders::remove))
        .route("/api/reminder/info/{id}", get(reminders::info))
        .route("/api/upload/{kind}", post(files::upload))
        // Wablas's example deletes with the made-up method `DEL`: taken as `DELETE`.
        .route("/api/v2/media/delete/{id}", delete(files::media_delete).fallback(files::media_delete_other))
        .route("/api/channel/{name}", post(files::channel).get(files::channel))
}

/// A Wablas field that is missing or wrong: `422`, naming it.
pub(super) fn bad_field(field: &str, message: impl std::fmt::Display) -> Response {
    fail(StatusCode::UNPROCESSABLE_ENTITY, format!("`{field}` {message}"))
}

/// A required field's trimmed text.
pub(super) fn required(call: &Call, field: &str, what: &str) -> Result<String, Response> {
    call.text(field).ok_or_else(|| bad_field(field, format!("is required: {what}")))
}

/// A native refusal, its message naming Wablas's fields: each `(native, wablas)` pair
/// renames one field wherever the message names it. A message about a field that does not
/// name it is prefixed with the field.
pub(super) fn refused(mut error: ApiError, names: &[(&str, &str)]) -> Response {
    let native = error.detail.field.clone();
    for (from, to) in names {
        error.detail.message = error.detail.message.replace(&format!("`{from}`"), &format!("`{to}`"));
    }
    let field = native.map(|f| {
        let root = f.split(['.', '[']).next().unwrap_or(&f).to_owned();
        names.iter().find(|(from, _)| *from == f || *from == root).map_or(f, |(_, to)| (*to).to_owned())
    });
    if let Some(field) = field
        && !error.detail.message.contains(field.as_str())
    {
        error.detail.message = format!("`{field}`: {}", error.detail.message);
    }
    refusal(error)
}

/// A comma-separated list (`phone=a,b,c`), trimmed, blanks dropped.
pub(super) fn list(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

/// A time as Wablas writes it: `2025-05-20 13:20:00` (UTC).
pub(super) fn stamp(at: Timestamp) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The `data: [...]` items of a v2 bulk call: a JSON array, an array JSON-encoded into a form
/// field, or PHP's `http_build_query` keys (`data[0][name]=…`). 1 to [`MAX_ITEMS`] objects.
pub(super) fn items(call: &Call) -> Result<Vec<Map<String, Value>>, Response> {
    let given = match call.fields.get("data") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|_| bad_field("data", "must be a list of objects"))?,
        Some(v) => v.clone(),
        None => php_items(&call.fields),
    };
    let Value::Array(array) = given else { return Err(bad_field("data", "must be a list of objects, e.g. [{\"phone\": …}]")) };
    if array.is_empty() || array.len() > MAX_ITEMS {
        return Err(bad_field("data", format!("must hold 1 to {MAX_ITEMS} items (got {})", array.len())));
    }
    array
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(map) => Ok(map),
            _ => Err(bad_field(&format!("data[{i}]"), "must be an object")),
        })
        .collect()
}

/// `data[0][name]=…&data[0][phone]=…` as a JSON array (`Null` when there are none).
fn php_items(fields: &Fields) -> Value {
    let mut rows: BTreeMap<usize, Map<String, Value>> = BTreeMap::new();
    for (key, value) in &fields.0 {
        let Some(rest) = key.strip_prefix("data[") else { continue };
        let Some((index, rest)) = rest.split_once(']') else { continue };
        let (Ok(index), Some(field)) = (index.parse::<usize>(), rest.strip_prefix('[').and_then(|r| r.strip_suffix(']'))) else {
            continue;
        };
        rows.entry(index).or_default().insert(field.to_owned(), value.clone());
    }
    if rows.is_empty() { Value::Null } else { Value::Array(rows.into_values().map(Value::Object).collect()) }
}

/// A field of a bulk item as trimmed text (numbers read as text); blank is absent.
pub(super) fn item_text(item: &Map<String, Value>, key: &str) -> Option<String> {
    match item.get(key)? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_field_names_become_wablas_names() {
        let error = ApiError::field("start_at", "`start_at` must be a time such as 2026-05-20 13:20:00");
        let response = refused(error, &[("start_at", "start_date")]);
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let error = ApiError::field("repeat.days", "must be 1 to 1000");
        // A message that does not name its field gets it in front.
        let body = refusal_text(refused(error, &[("repeat", "custom_day")]));
        assert!(body.starts_with("`custom_day`: must be 1 to 1000"), "{body}");
    }

    fn refusal_text(response: Response) -> String {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let bytes = rt.block_on(axum::body::to_bytes(response.into_body(), 1 << 16)).unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        v["message"].as_str().unwrap().to_owned()
    }

    #[test]
    fn php_form_keys_make_bulk_items() {
        let form = b"data%5B1%5D%5Bname%5D=B&data%5B0%5D%5Bname%5D=A&data%5B0%5D%5Bphone%5D=0812&token=x";
        let fields = Fields::parse(Some("application/x-www-form-urlencoded"), form).unwrap();
        assert_eq!(php_items(&fields), serde_json::json!([{"name": "A", "phone": "0812"}, {"name": "B"}]));
        assert_eq!(php_items(&Fields::default()), Value::Null);
    }

    #[test]
    fn lists_split_on_commas() {
        assert_eq!(list(" 0814, ,0815 "), ["0814", "0815"]);
        assert!(list(" , ").is_empty());
    }
}
