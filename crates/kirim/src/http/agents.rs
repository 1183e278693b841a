//! `/v1/agents`: the account's users who answer chats (name, email and/or number, active).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kirim_core::AgentId;
use kirim_core::agent::{Agent, AgentFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::List;
use super::auth::TenantAuth;
use super::contacts::optional_phone;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::webhooks::nullable;
use crate::app::AppState;
use crate::services::agents::{self as service, AgentChange, AgentInput};

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: AgentId,
    pub name: String,
    pub email: Option<String>,
    #[schema(value_type = Option<String>, example = "+60123456789")]
    pub phone: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Agent> for AgentView {
    fn from(a: Agent) -> Self {
        Self {
            id: a.id,
            name: a.name,
            email: a.email,
            phone: a.phone.map(|p| p.to_string()),
            active: a.active,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// 1–255 characters.
    pub name: Option<String>,
    /// Unique in the account (ignoring case); give an email, a phone, or both.
    pub email: Option<String>,
    /// Any phone form; unique in the account.
    #[serde(default, deserialize_with = "super::opt_string_or_number")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<String>,
    /// Default true. Inactive agents are given no conversations.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateAgent {
    pub name: Option<String>,
    /// `null` clears it (the agent must keep an email or a phone).
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(deserialize_with = "optional_phone")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub active: Option<bool>,
}

/// Create an agent.
#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = CreateAgent,
    responses((status = 201, body = AgentView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: TenantAuth,
    body: ApiJson<CreateAgent>,
) -> ApiResult<(StatusCode, Json<AgentView>)> {
    auth.require_tenant_key()?;
    let b = body.value;
    let input = AgentInput { name: b.name, email: b.email, phone: b.phone, active: b.active };
    Ok((StatusCode::CREATED, Json(service::create(&state, &(&auth).into(), input).await?.into())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `true` or `false`: only active (or inactive) agents.
    pub active: Option<String>,
    /// Cursor: the `next` of the previous page.
    pub after: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<String>,
}

/// The agents, oldest first.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", params(ListQuery),
    responses((status = 200, body = List<AgentView>), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<List<AgentView>>> {
    let limit = super::parse_limit(q.limit.as_deref(), 50, 500)?;
    let active = match q.active.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(ApiError::field("active", format!("`active` `{other}` must be `true` or `false`"))),
    };
    let after = q
        .after
        .as_deref()
        .map(|a| a.parse::<AgentId>().map_err(|_| ApiError::field("after", "`after` must be an agent id from a previous page's `next`")))
        .transpose()?;
    let rows = service::list(&state, &(&auth).into(), AgentFilter { active, after, limit }).await?;
    let next = (rows.len() == limit as usize).then(|| rows.last().map(|a| a.id.to_string())).flatten();
    Ok(Json(List { data: rows.into_iter().map(AgentView::from).collect(), next }))
}

/// One agent, by id, email or number.
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path, description = "An agent id, email or number")),
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<AgentView>> {
    Ok(Json(service::get(&state, &(&auth).into(), &id).await?.into()))
}

/// Change an agent; fields left out stay as they are.
#[utoipa::path(patch, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path)), request_body = UpdateAgent,
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: TenantAuth,
    ApiPath(id): ApiPath,
    body: ApiJson<UpdateAgent>,
) -> ApiResult<Json<AgentView>> {
    auth.require_tenant_key()?;
    let b = body.value;
    let change = AgentChange { name: b.name, email: b.email, phone: b.phone, active: b.active };
    Ok(Json(service::update(&state, &(&auth).into(), &service::agent_id(&id)?, change).await?.into()))
}

/// Delete an agent; its conversations become unassigned (a `conversation.unassigned` event each).
#[utoipa::path(delete, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<StatusCode> {
    auth.require_tenant_key()?;
    service::delete(&state, &(&auth).into(), &service::agent_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
