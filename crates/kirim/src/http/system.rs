//! Health, readiness, metrics, the OpenAPI document and its docs page.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse, Response};
use kirim_core::device::DeviceStatus;
use serde_json::json;
use utoipa::OpenApi;

use crate::app::AppState;
use crate::metrics::StatusLabels;

/// The process is alive.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: the store answers and shutdown has not begun.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "shutting_down"}))).into_response();
    }
    match state.store.get_setting(crate::app::ADMIN_TOKEN_SETTING).await {
        Ok(_) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "store_unavailable", "error": e.to_string()}))).into_response(),
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    if !state.config.metrics.enabled {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Ok(counts) = state.store.queue_depth().await {
        for (status, n) in counts {
            state.metrics.queue_depth.get_or_create(&StatusLabels { status: status.as_str().into() }).set(n as i64);
        }
    }
    let devices = state.devices.count_by_status();
    for status in DeviceStatus::ALL {
        let n = devices.get(&status).copied().unwrap_or(0);
        state.metrics.devices.get_or_create(&StatusLabels { status: status.as_str().into() }).set(n as i64);
    }
    #[cfg(feature = "whatsapp-web")]
    if let Some(wa) = &state.whatsapp_web {
        let t = wa.totals();
        state.metrics.whatsapp_web_connected.set(t.connected as i64);
        for (event, n) in [
            ("reconnects", t.reconnects),
            ("restarts", t.restarts),
            ("inbound", t.inbound),
            ("inbound_skipped", t.inbound_skipped),
            ("receipts", t.receipts),
            ("sent", t.sent),
            ("send_failures", t.send_failures),
            ("calls", t.calls),
        ] {
            state.metrics.catch_up(event, n);
        }
    }
    ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.encode()).into_response()
}

pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(super::openapi::ApiDoc::openapi())
}

/// A self-contained page that renders `/openapi.json` (no CDN: works offline).
pub async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
