//! The one error type at the HTTP edge: a stable code, a message that says what to do,
//! and the field at fault when there is one. Nothing reaches a client as a bare 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kirim_core::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `invalid_field`, `not_found`.
    pub code: &'static str,
    /// What went wrong and what to do about it.
    pub message: String,
    /// The request field at fault, as a path (`text.body`, `to`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Figures that go with some codes (`token_budget_exhausted`: `cost`, `remaining`,
    /// `limit`, `resets_at`), beside `code` in the body.
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: ErrorDetail,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: ErrorDetail { code, message: message.into(), field: None, details: serde_json::Map::new() },
            retry_after_secs: None,
        }
    }

    /// Adds the fields of a JSON object beside `code` (ignored unless it is an object).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        if let serde_json::Value::Object(map) = details {
            self.detail.details.extend(map);
        }
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.detail.field = Some(field.into());
        self
    }

    /// A request field that is missing or wrong (422).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Unknown ids and other tenants' objects look exactly alike.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no {what} with that id exists for this account"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message);
        e.retry_after_secs = Some(1);
        e
    }

    pub fn code(&self) -> &'static str {
        self.detail.code
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::conflict("conflict", what),
            // Callers that know the clock map this themselves (for `Retry-After`).
            StoreError::Refused(refusal) => crate::services::usage::refused(refusal, chrono::Utc::now()),
            StoreError::Unavailable(why) => {
                tracing::error!(error = %why, "store unavailable");
                Self::unavailable("the database is unavailable right now; nothing was written, try again shortly")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(ErrorBody { error: self.detail })).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
