//! Request extractors that turn every malformed input into an [`ApiError`] naming the field.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// A JSON body, deserialized with the path of the failing field kept for the error.
/// An empty body reads as `{}` so that bodies with only optional fields may be omitted.
pub struct ApiJson<T> {
    pub value: T,
    /// SHA-256 of the raw body, to recognise an idempotent retry.
    pub body_hash: String,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| {
            let mime = v.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        });
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the request body is larger than this server accepts (http.body_limit_bytes); send less, or upload media separately",
                )
            } else {
                ApiError::bad_request("unreadable_body", format!("could not read the request body: {rejection}"))
            }
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        if json_type == Some(false) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let body_hash = hex::encode(Sha256::digest(bytes));
        let value = parse_json(bytes)?;
        Ok(Self { value, body_hash })
    }
}

/// Deserializes JSON, mapping serde's errors onto a 400 (not JSON) or 422 (wrong field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(value) => Ok(value),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(ApiError::bad_request(
                    "invalid_json",
                    format!("the body is not valid JSON ({inner}); check quotes, commas and brackets"),
                ));
            }
            Err(field_error(&path, &inner.to_string()))
        }
    }
}

/// Turns serde's message (`missing field `to``, `invalid type: …`) into a field error.
pub fn field_error(path: &str, message: &str) -> ApiError {
    let message = message.split(" at line ").next().unwrap_or(message).to_owned();
    let base = if path == "." { String::new() } else { path.to_owned() };
    if let Some(name) = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        let field = if base.is_empty() { name.to_owned() } else { format!("{base}.{name}") };
        return ApiError::field(field.clone(), format!("`{field}` is required"));
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        // serde_path_to_error already ends the path with the unknown field's name.
        let field = if base.is_empty() { name.to_owned() } else { base };
        let expected = rest.split_once(", expected ").map(|(_, e)| format!(" (expected {e})")).unwrap_or_default();
        return ApiError::field(field.clone(), format!("`{field}` is not a known field{expected}; remove it or check its spelling"));
    }
    let field = if base.is_empty() { "body".to_owned() } else { base };
    ApiError::field(field.clone(), format!("`{field}`: {message}"))
}

/// Query parameters with the same error treatment as bodies.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_deserializer(query);
        match de {
            Ok(value) => Ok(Self(value)),
            Err((path, message)) => Err(field_error(&path, &message)),
        }
    }
}

fn serde_urlencoded_deserializer<T: DeserializeOwned>(query: &str) -> Result<T, (String, String)> {
    // Query strings are flat: parse them into a JSON object of strings and let serde do the rest,
    // so numbers and booleans given as text are accepted by `StringOr` fields.
    let mut map = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k);
        let v = percent_decode(v);
        map.insert(k, serde_json::Value::String(v));
    }
    let value = serde_json::Value::Object(map);
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| (e.path().to_string(), e.into_inner().to_string()))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], decoded) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One path parameter as text. An id that is not valid UTF-8 once percent-decoded cannot
/// name anything, so it is answered like an unknown id: a JSON 404, not axum's plain text.
pub struct ApiPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "nothing has this id; check the id in the URL")),
        }
    }
}

/// Two path parameters as text (`/webhooks/{id}/deliveries/{delivery_id}`), rejected like
/// [`ApiPath`].
pub struct ApiPath2(pub String, pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiPath2 {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<(String, String)>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path((a, b))) => Ok(Self(a, b)),
            Err(_) => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "nothing has this id; check the ids in the URL")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    #[serde(deny_unknown_fields)]
    struct Body {
        to: String,
        text: Inner,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        body: String,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<Body>(br#"{"text":{"body":"x"}}"#).unwrap_err();
        assert_eq!(e.detail.field.as_deref(), Some("to"));
        let e = parse_json::<Body>(br#"{"to":"1","text":{}}"#).unwrap_err();
        assert_eq!(e.detail.field.as_deref(), Some("text.body"));
        let e = parse_json::<Body>(br#"{"to":5,"text":{"body":"x"}}"#).unwrap_err();
        assert_eq!(e.detail.field.as_deref(), Some("to"));
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        let e = parse_json::<Body>(br#"{"to":"1","text":{"body":"x"},"tx":1}"#).unwrap_err();
        assert_eq!(e.detail.field.as_deref(), Some("tx"));
        let e = parse_json::<Body>(br#"{"to":"1",#"#).unwrap_err();
        assert_eq!(e.code(), "invalid_json");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn percent_decoding_handles_edges() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("%2B60"), "+60");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
