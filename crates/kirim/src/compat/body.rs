//! Request bodies as the reference products' clients send them: JSON, or an HTML form
//! (`application/x-www-form-urlencoded`, what PHP's `curl` and Laravel's `asForm()` send).
//! Both become one JSON object, so a layer reads its fields once, whatever the encoding.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

/// The fields of a request body. A form's values are strings; a JSON body keeps its types.
#[derive(Debug, Default)]
pub struct Fields(pub Map<String, Value>);

/// Why a body could not be read at all (the layer answers in its own error shape).
#[derive(Debug)]
pub enum BodyError {
    TooLarge,
    NotAnObject,
    Unreadable(String),
}

/// Layers take `Result<Fields, BodyError>` and answer in their own shape; this is the
/// fallback for a handler that takes `Fields` alone.
impl axum::response::IntoResponse for BodyError {
    fn into_response(self) -> axum::response::Response {
        let (status, message) = match self {
            Self::TooLarge => (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "The request is too large.".to_owned()),
            Self::NotAnObject => (axum::http::StatusCode::BAD_REQUEST, "The request body must be a JSON object or a form.".to_owned()),
            Self::Unreadable(why) => (axum::http::StatusCode::BAD_REQUEST, format!("The request body could not be read: {why}")),
        };
        (status, axum::Json(serde_json::json!({"message": message}))).into_response()
    }
}

impl Fields {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A field given as text, or as a number (phone numbers arrive both ways). Empty text
    /// counts as absent, as in Laravel, where empty strings become null.
    pub fn text(&self, key: &str) -> Option<Result<String, ()>> {
        match self.get(key)? {
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(Ok(s.clone())),
            Value::Number(n) => Some(Ok(n.to_string())),
            _ => Some(Err(())),
        }
    }

    /// A field that must be a string (a number is not one).
    pub fn string(&self, key: &str) -> Option<Result<String, ()>> {
        match self.get(key)? {
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(Ok(s.clone())),
            _ => Some(Err(())),
        }
    }

    pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Self, BodyError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::default());
        }
        let mime = content_type.unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let looks_json = bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| *b == b'{' || *b == b'[');
        if mime == "application/x-www-form-urlencoded" || (mime != "application/json" && !looks_json) {
            let map = url::form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect();
            return Ok(Self(map));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(BodyError::NotAnObject),
            Err(e) => Err(BodyError::Unreadable(e.to_string())),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = BodyError;

    async fn from_request(request: Request, state: &S) -> Result<Self, BodyError> {
        let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = Bytes::from_request(request, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE { BodyError::TooLarge } else { BodyError::Unreadable(e.body_text()) }
        })?;
        Self::parse(content_type.as_deref(), &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forms_and_json_read_alike() {
        let form = Fields::parse(Some("application/x-www-form-urlencoded"), b"phone_number=60123456789&message=Hello+world%21").unwrap();
        let json = Fields::parse(Some("application/json"), br#"{"phone_number": 60123456789, "message": "Hello world!"}"#).unwrap();
        for fields in [&form, &json] {
            assert_eq!(fields.text("phone_number"), Some(Ok("60123456789".to_owned())));
            assert_eq!(fields.string("message"), Some(Ok("Hello world!".to_owned())));
        }
        assert_eq!(json.string("phone_number"), Some(Err(())), "a number is not a string");
        // No content type: JSON if it looks like JSON, else a form.
        assert_eq!(Fields::parse(None, br#"{"a": "1"}"#).unwrap().0.get("a"), Some(&json!("1")));
        assert_eq!(Fields::parse(None, b"a=1").unwrap().0.get("a"), Some(&json!("1")));
        assert!(matches!(Fields::parse(Some("application/json"), b"[1]"), Err(BodyError::NotAnObject)));
        assert!(matches!(Fields::parse(Some("application/json"), b"{oops"), Err(BodyError::Unreadable(_))));
        assert_eq!(Fields::parse(Some("application/json"), b"{\"m\": \"  \"}").unwrap().text("m"), None, "blank is absent");
    }
}
