//! The HTTP edge: the native API `/v1`, operations endpoints, and their shared plumbing.

pub mod agents;
pub mod auth;
pub mod auto_replies;
pub mod blacklist;
pub mod contact_groups;
pub mod contacts;
pub mod conversations;
pub mod devices;
pub mod error;
pub mod events;
pub mod extract;
pub mod groups;
pub mod jobs;
pub mod media;
pub mod message_body;
pub mod messages;
pub mod multipart;
pub mod numbers;
pub mod openapi;
pub mod presence;
pub mod profile;
pub mod qr;
pub mod rate_limit;
pub mod reminders;
pub mod reports;
pub mod sandbox;
pub mod sandbox_signals;
pub mod send;
pub mod sending;
pub mod system;
pub mod templates;
pub mod tenants;
pub mod usage;
pub mod webhooks;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::{Deserializer, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::metrics::HttpLabels;
use error::ApiError;

/// A page of results; `next` is the cursor for the following page, absent on the last.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
    pub next: Option<String>,
}

/// Parses `limit` (query strings arrive as text), within `1..=max`.
pub fn parse_limit(raw: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::field("limit", format!("`limit` must be a whole number from 1 to {max}"))),
    }
}

/// Accepts `"60123456789"` and `60123456789` alike: clients send phone numbers both ways.
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a phone number as a string, e.g. \"+60123456789\"")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(Visitor)
}

/// [`string_or_number`] for a field that may be left out (with `#[serde(default)]`).
pub fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string_or_number(d).map(Some)
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.config.http.body_limit_bytes;
    let timeout = Duration::from_secs(state.config.http.request_timeout_secs);
    // A CSV import may be larger than any other request.
    let import_limit = body_limit.max(crate::services::contact_import::MAX_BODY_BYTES);
    // Uploads, and messages with a file in base64, may be as large as the largest file allowed.
    let media_limit = crate::services::media::body_limit(&state.config);
    let v1 = Router::new()
        .route("/tenants", post(tenants::create).get(tenants::list))
        .route("/tenants/{id}", get(tenants::get).patch(usage::update_tenant))
        .route("/tenants/{id}/keys", post(tenants::create_key).get(tenants::list_keys))
        .route("/keys/{id}", delete(tenants::revoke_key))
        .route("/devices", post(devices::create).get(devices::list))
        .route("/devices/{id}", get(devices::get).patch(devices::update).delete(devices::delete))
        .route("/devices/{id}/connect", post(devices::connect))
        .route("/devices/{id}/pair-code", post(devices::pair_code))
        .route("/devices/{id}/qr", get(devices::qr_code))
        .route("/devices/{id}/logout", post(devices::logout))
        .route("/devices/{id}/token", post(devices::rotate_token))
        .route("/devices/{id}/presence", post(presence::send))
        .route("/devices/{id}/profile", put(profile::set_name))
        .route("/devices/{id}/blocklist", get(profile::list).post(profile::block))
        .route("/devices/{id}/blocklist/{phone}", delete(profile::unblock))
        .route("/devices/{id}/limits", put(usage::put_device_limits))
        .route("/usage", get(usage::get))
        .route("/devices/{id}/groups", get(groups::list).post(groups::create))
        .route("/devices/{id}/groups/{jid}", get(groups::get))
        .route("/devices/{id}/groups/{jid}/participants", post(groups::participants))
        .route("/devices/{id}/groups/{jid}/invite-link", get(groups::invite_link))
        .route("/devices/{id}/groups/{jid}/invite-link/reset", post(groups::reset_invite_link))
        .route("/devices/{id}/groups/{jid}/leave", post(groups::leave))
        .route("/numbers/check", post(numbers::check))
        .route("/messages", post(send::send).layer(DefaultBodyLimit::max(media_limit)).get(messages::list))
        .route("/messages/{id}", get(messages::get).patch(messages::update).delete(messages::delete))
        .route("/messages/{id}/cancel", post(messages::cancel))
        .route("/messages/batch", post(sending::batch))
        .route("/messages/cancel", post(sending::cancel))
        .route("/messages/{id}/resend", post(sending::resend))
        .route("/messages/resend", post(sending::resend_many))
        .route("/events", get(events::list))
        .route("/events/stream", get(events::stream))
        .route("/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/webhooks/{id}", get(webhooks::get).patch(webhooks::update).delete(webhooks::delete))
        .route("/webhooks/{id}/secret", post(webhooks::rotate_secret))
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/deliveries/{delivery_id}", get(webhooks::delivery))
        .route("/webhooks/{id}/deliveries/{delivery_id}/retry", post(webhooks::retry))
        .route("/contacts", post(contacts::create).get(contacts::list).delete(contacts::delete_many))
        .route("/contacts/batch", post(contacts::batch))
        .route("/contacts/import", post(contacts::import).layer(DefaultBodyLimit::max(import_limit)))
        .route("/contacts/{id}", get(contacts::get).patch(contacts::update).delete(contacts::delete))
        .route("/contact-groups", post(contact_groups::create).get(contact_groups::list))
        .route("/contact-groups/{id}", get(contact_groups::get).patch(contact_groups::update).delete(contact_groups::delete))
        .route(
            "/contact-groups/{id}/members",
            post(contact_groups::add_members).get(contact_groups::members).delete(contact_groups::remove_members),
        )
        .route("/blacklist", post(blacklist::add).get(blacklist::list))
        .route("/blacklist/settings", get(blacklist::get_settings).put(blacklist::put_settings))
        .route("/blacklist/{phone}", delete(blacklist::remove))
        .route("/reports/messages", get(reports::messages))
        .route("/reports/realtime", get(reports::realtime))
        .route("/reports/daily", get(reports::daily))
        .route("/agents", post(agents::create).get(agents::list))
        .route("/agents/{id}", get(agents::get).patch(agents::update).delete(agents::delete))
        .route("/conversations", get(conversations::list))
        .route("/conversations/assign", post(conversations::assign))
        .route("/conversations/unassign", post(conversations::unassign))
        .route("/conversations/{id}", get(conversations::get))
        .route("/reminders", post(reminders::create).get(reminders::list))
        .route("/reminders/{id}", get(reminders::get).patch(reminders::update).delete(reminders::delete))
        .route("/auto-replies", post(auto_replies::create).get(auto_replies::list))
        .route("/auto-replies/{id}", get(auto_replies::get).patch(auto_replies::update).delete(auto_replies::delete))
        .route("/jobs", post(jobs::create).get(jobs::list))
        .route("/jobs/{id}", get(jobs::get))
        .route("/templates", post(templates::create).get(templates::list))
        .route("/templates/{id}", get(templates::get).patch(templates::update).delete(templates::delete))
        .route("/templates/{id}/send", post(templates::send))
        .route("/media", post(media::upload).layer(DefaultBodyLimit::max(media_limit)).get(media::list))
        .route("/media/{id}", get(media::download).delete(media::delete))
        .route("/media/{id}/info", get(media::info))
        .route("/sandbox/devices/{id}/scan", post(sandbox::scan))
        .route("/sandbox/devices/{id}/inbound", post(sandbox::inbound))
        .route("/sandbox/devices/{id}/disconnect", post(sandbox::disconnect))
        .route("/sandbox/devices/{id}/received", get(sandbox::received))
        .route("/sandbox/devices/{id}/call", post(sandbox_signals::call))
        .route("/sandbox/devices/{id}/presence", get(sandbox_signals::presences));
    let router = Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .route("/openapi.json", get(system::openapi))
        .route("/docs", get(system::docs));
    crate::compat::mount(router, &state.config)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::headers))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, timeout))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route_not_found", "no such endpoint; see /docs for the API")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not accept that method; see /docs")
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an unexpected error occurred; nothing was half-written, please report it")
        .into_response()
}

/// Records latency by matched route and logs failures.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // Known methods only: a label per made-up method would let clients grow the registry.
    let method = match *request.method() {
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE | Method::HEAD | Method::OPTIONS => {
            request.method().as_str().to_owned()
        }
        _ => "other".to_owned(),
    };
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.http.get_or_create(&HttpLabels { method, route, status }).observe(started.elapsed().as_secs_f64());
    response
}
