//! `/v1/events`: the tenant's event log, read in order by cursor.

use axum::Json;
use axum::extract::State;
use kirim_core::event::Event;
use kirim_core::id::DeviceId;
use kirim_core::store::EventFilter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiQuery;
use crate::app::AppState;

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

/// Read the event log in order. Poll with `after=<next_after>` to follow it.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, body = EventPage), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<EventQuery>) -> ApiResult<Json<EventPage>> {
    let after = match q.after.as_deref() {
        Some(raw) => Some(raw.parse::<i64>().map_err(|_| ApiError::field("after", "`after` must be a sequence number from `next_after`"))?),
        None => None,
    };
    if let Some(t) = &q.event_type
        && !kirim_core::event::types::ALL.contains(&t.as_str())
    {
        return Err(ApiError::field(
            "type",
            format!("`type` `{t}` is not an event type; known: {}", kirim_core::event::types::ALL.join(", ")),
        ));
    }
    let device_id = q.device_id.or_else(|| auth.device.as_ref().map(|(_, id)| id.to_string()));
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
    let limit = super::parse_limit(q.limit.as_deref(), 100, 1000)?;
    let filter = EventFilter { after, event_type: q.event_type, device, limit };
    let data = state.store.list_events(auth.tenant_pk(), &filter).await?;
    let next_after = data.last().map(|e| e.seq).or(after).unwrap_or(0);
    Ok(Json(EventPage { data, next_after }))
}
