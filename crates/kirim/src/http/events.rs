//! `/v1/events`: the tenant's event log, read in order by cursor.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use kirim_core::event::Event;
use kirim_core::id::{DeviceId, DevicePk, TenantPk};
use kirim_core::store::EventFilter;
use kirim_core::webhook::{own_types, subscribable_types};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiQuery;
use crate::app::AppState;

/// How often a caught-up stream looks for events committed by other nodes.
const STREAM_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Cursor: return events after this sequence number (`next_after` of the previous page).
    pub after: Option<String>,
    /// Only this event type, e.g. `message.delivered`.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub device_id: Option<String>,
    /// 1–1000, default 100.
    pub limit: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    #[schema(value_type = Vec<Object>)]
    pub data: Vec<Event>,
    /// Pass as `after` to continue; equal to the request's `after` when there was nothing new.
    pub next_after: i64,
}

fn known_types() -> Vec<&'static str> {
    let mut all = subscribable_types();
    all.push(own_types::TEST);
    all
}

/// The type and device filters shared by the list and the stream. A device token sees only
/// its own device's events.
async fn filters(
    state: &AppState,
    auth: &TenantAuth,
    event_type: Option<String>,
    device_id: Option<String>,
) -> ApiResult<(Option<String>, Option<DevicePk>)> {
    if let Some(t) = &event_type
        && !known_types().contains(&t.as_str())
    {
        return Err(ApiError::field("type", format!("`type` `{t}` is not an event type; known: {}", known_types().join(", "))));
    }
    let device_id = device_id.or_else(|| auth.device.as_ref().map(|(_, id)| id.to_string()));
    let device = match device_id {
        Some(raw) => {
            let id: DeviceId = raw.parse().map_err(|e| ApiError::field("device_id", format!("`device_id`: {e}")))?;
            if !auth.may_use_device(&id) {
                return Err(ApiError::not_found("device").with_field("device_id"));
            }
            let device = state.store.get_device(auth.tenant_pk(), &id).await?;
            Some(device.ok_or_else(|| ApiError::not_found("device").with_field("device_id"))?.pk)
        }
        None => None,
    };
    Ok((event_type, device))
}

fn parse_after(field: &str, raw: &str) -> ApiResult<i64> {
    raw.trim().parse::<i64>().map_err(|_| ApiError::field(field, format!("`{field}` must be an event sequence number (`seq`)")))
}

/// Read the event log in order. Poll with `after=<next_after>` to follow it.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, body = EventPage), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<EventQuery>) -> ApiResult<Json<EventPage>> {
    let after = q.after.as_deref().map(|raw| parse_after("after", raw)).transpose()?;
    let (event_type, device) = filters(&state, &auth, q.event_type, q.device_id).await?;
    let limit = super::parse_limit(q.limit.as_deref(), 100, 1000)?;
    let filter = EventFilter { after, event_type, device, limit };
    let data = state.store.list_events(auth.tenant_pk(), &filter).await?;
    let next_after = data.last().map(|e| e.seq).or(after).unwrap_or(0);
    Ok(Json(EventPage { data, next_after }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    /// Start after this sequence number. Without it (and without `Last-Event-ID`), only
    /// events from now on are sent.
    pub after: Option<String>,
    /// Only this event type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub device_id: Option<String>,
}

/// Where a stream is, between the events it sends.
struct Cursor {
    state: AppState,
    tenant: TenantPk,
    filter: EventFilter,
    buffered: VecDeque<Event>,
    /// The end of the log when the last read found everything: the cursor moves there once
    /// the buffer is sent, so a filtered stream does not rescan what it already passed.
    caught_up_to: i64,
    commits: tokio::sync::watch::Receiver<u64>,
    /// The caller's credential, checked again every [`RECHECK_AUTH`]: revoking it ends the stream.
    token: kirim_core::Secret,
    checked_at: tokio::time::Instant,
}

/// How often an open stream checks that its credential is still valid.
const RECHECK_AUTH: Duration = Duration::from_secs(10);

/// Follow the event log live, as Server-Sent Events. Each event's `id` is its sequence
/// number: a client that reconnects with `Last-Event-ID` resumes exactly after it.
#[utoipa::path(get, path = "/v1/events/stream", tag = "events", params(StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this sequence number (sent by EventSource on reconnect)")),
    responses((status = 200, description = "A `text/event-stream` of events: `id` = seq, `event` = type, `data` = the event as JSON"),
        (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    auth: TenantAuth,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(parse_after("Last-Event-ID", v.to_str().unwrap_or(""))?),
        None => q.after.as_deref().map(|raw| parse_after("after", raw)).transpose()?,
    };
    let (event_type, device) = filters(&state, &auth, q.event_type, q.device_id).await?;
    // Subscribe before reading the end of the log, so nothing committed in between is missed.
    let commits = state.store.event_commits();
    let after = match resume {
        Some(seq) => seq,
        None => state.store.last_event_seq().await?,
    };
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').map(|(_, t)| t.trim().to_owned()))
        .unwrap_or_default();
    let cursor = Cursor {
        tenant: auth.tenant_pk(),
        filter: EventFilter { after: Some(after), event_type, device, limit: 500 },
        buffered: VecDeque::new(),
        caught_up_to: after,
        commits,
        token: kirim_core::Secret::new(token),
        checked_at: tokio::time::Instant::now(),
        state,
    };
    let events = futures::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(event) = c.buffered.pop_front() {
                c.filter.after = Some(event.seq);
                let sse = SseEvent::default().id(event.seq.to_string()).event(event.event_type.clone());
                let sse = sse.json_data(&event).unwrap_or_else(|_| SseEvent::default().comment("unserializable event"));
                return Some((Ok(sse), c));
            }
            if c.checked_at.elapsed() >= RECHECK_AUTH {
                c.checked_at = tokio::time::Instant::now();
                match super::auth::principal_for(&c.state, c.token.expose()).await {
                    Ok(_) => {}
                    Err(e) if e.status == axum::http::StatusCode::UNAUTHORIZED => return None,
                    Err(_) => {} // The store is unreachable: keep the stream, check again later.
                }
            }
            c.filter.after = c.filter.after.max(Some(c.caught_up_to));
            let head = c.state.store.last_event_seq().await;
            match c.state.store.list_events(c.tenant, &c.filter).await {
                Ok(page) => {
                    if (page.len() as u32) < c.filter.limit
                        && let Ok(head) = head
                    {
                        c.caught_up_to = head;
                    }
                    if !page.is_empty() {
                        c.buffered.extend(page);
                        continue;
                    }
                }
                Err(error) => tracing::warn!(%error, "an event stream could not read the log; trying again"),
            }
            // Caught up: wait for a commit here, or poll for other nodes' events.
            tokio::select! {
                _ = c.commits.changed() => {}
                _ = tokio::time::sleep(STREAM_POLL) => {}
                _ = c.state.shutdown.cancelled() => return None,
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
