//! Error bodies as Laravel applications answer them, which PHP gateways' clients parse:
//! `{"message": "..."}`, and for failed validation `422 {"message", "errors": {field: [...]}}`
//! whose message is the first error plus "(and N more errors)".

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Validation errors in the order they were found, grouped by field.
#[derive(Debug, Default)]
pub struct Validation {
    fields: Vec<(String, Vec<String>)>,
}

impl Validation {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        match self.fields.iter_mut().find(|(f, _)| f == field) {
            Some((_, messages)) => messages.push(message),
            None => self.fields.push((field.to_owned(), vec![message])),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|(f, _)| f == field)
    }

    /// The summary line: the first message, and how many more there are.
    pub fn summary(&self) -> String {
        let count: usize = self.fields.iter().map(|(_, m)| m.len()).sum();
        let first = self.fields.first().and_then(|(_, m)| m.first()).cloned().unwrap_or_default();
        match count.saturating_sub(1) {
            0 => first,
            1 => format!("{first} (and 1 more error)"),
            n => format!("{first} (and {n} more errors)"),
        }
    }
}

impl IntoResponse for Validation {
    fn into_response(self) -> Response {
        let message = self.summary();
        let errors: Map<String, Value> = self.fields.into_iter().map(|(f, m)| (f, json!(m))).collect();
        (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"message": message, "errors": errors}))).into_response()
    }
}

/// `{"message": …}` with a status, and `Retry-After` when given.
pub fn message(status: StatusCode, message: impl Into<String>, retry_after_secs: Option<u64>) -> Response {
    let mut response = (status, Json(json!({"message": message.into()}))).into_response();
    if let Some(secs) = retry_after_secs {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// A field's name as Laravel writes it in messages: `phone_number` → "phone number".
pub fn attribute(field: &str) -> String {
    field.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_every_further_message() {
        let mut v = Validation::default();
        v.add("phone_number", "The phone number field is required.");
        assert_eq!(v.summary(), "The phone number field is required.");
        v.add("url", "The url field is required when type is image.");
        assert_eq!(v.summary(), "The phone number field is required. (and 1 more error)");
        v.add("url", "The url field must be a valid URL.");
        v.add("mimetype", "The mimetype field must be a string.");
        assert_eq!(v.summary(), "The phone number field is required. (and 3 more errors)");
        assert!(v.has("url") && !v.has("message"));
    }
}
