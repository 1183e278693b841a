//! `/v1/conversations`: chats (one device, one chat) with their last message, counts and
//! assignee; assigned to an agent by the id of any message in the chat.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use kirim_core::agent::{Conversation, ConversationFilter};
use kirim_core::{AgentId, ConversationId, DeviceId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::TenantAuth;
use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::messages::MessageView;
use crate::app::AppState;
use crate::services::Actor;
use crate::services::agents as service;
use crate::services::reports::{Paging, device_filter};

#[derive(Debug, Serialize, ToSchema)]
pub struct AssigneeView {
    pub id: AgentId,
    pub name: String,
    pub assigned_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    pub id: ConversationId,
    pub device_id: DeviceId,
    /// The other side: a phone number (E.164) or a group JID.
    pub chat: String,
    /// `null` when unassigned.
    pub assignee: Option<AssigneeView>,
    pub last_message: Option<MessageView>,
    pub last_message_at: DateTime<Utc>,
    /// Messages received from the chat.
    pub inbound_count: u64,
    /// Messages received since the device last sent to the chat.
    pub unread_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Conversation> for ConversationView {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id,
            device_id: c.device_id,
            chat: c.chat.to_string(),
            assignee: c.assignee.map(|a| AssigneeView { id: a.id, name: a.name, assigned_at: a.assigned_at }),
            last_message: c.last_message.map(|m| MessageView::new(m, false)),
            last_message_at: c.last_message_at,
            inbound_count: c.inbound_count,
            unread_count: c.unread_count,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// Any message of the chat (sent or received).
    pub message_id: String,
    /// The agent: its id, email or number.
    pub agent_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnassignBody {
    /// Any message of the chat.
    pub message_id: String,
}

/// Assign the conversation a message belongs to (its device and chat) to an active agent.
#[utoipa::path(post, path = "/v1/conversations/assign", tag = "agents", request_body = AssignBody,
    responses((status = 200, body = ConversationView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn assign(State(state): State<AppState>, auth: TenantAuth, body: ApiJson<AssignBody>) -> ApiResult<Json<ConversationView>> {
    let b = body.value;
    Ok(Json(service::assign(&state, &(&auth).into(), &b.message_id, Some(&b.agent_id)).await?.into()))
}

/// Unassign the conversation a message belongs to.
#[utoipa::path(post, path = "/v1/conversations/unassign", tag = "agents", request_body = UnassignBody,
    responses((status = 200, body = ConversationView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn unassign(State(state): State<AppState>, auth: TenantAuth, body: ApiJson<UnassignBody>) -> ApiResult<Json<ConversationView>> {
    Ok(Json(service::assign(&state, &(&auth).into(), &body.value.message_id, None).await?.into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// An agent (id, email or number), or `none` for unassigned conversations.
    pub agent_id: Option<String>,
    pub device_id: Option<String>,
    /// From 1; default 1.
    pub page: Option<String>,
    /// 1–1000, default 50.
    #[serde(alias = "perPage")]
    pub per_page: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub data: Vec<ConversationView>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
    pub total_pages: u64,
}

/// Conversations, most recent activity first.
#[utoipa::path(get, path = "/v1/conversations", tag = "agents", params(ListQuery),
    responses((status = 200, body = ConversationPage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list(State(state): State<AppState>, auth: TenantAuth, ApiQuery(q): ApiQuery<ListQuery>) -> ApiResult<Json<ConversationPage>> {
    let actor: Actor = (&auth).into();
    let paging = Paging::parse(q.page.as_deref(), q.per_page.as_deref())?;
    let filter = ConversationFilter {
        device: device_filter(&state, &actor, q.device_id.as_deref()).await?,
        agent: service::agent_scope(&state, &actor, q.agent_id.as_deref()).await?,
        offset: paging.offset(),
        limit: paging.per_page,
    };
    let (rows, total) = service::conversations(&state, &actor, filter).await?;
    Ok(Json(ConversationPage {
        data: rows.into_iter().map(ConversationView::from).collect(),
        page: paging.page,
        per_page: paging.per_page,
        total,
        total_pages: paging.total_pages(total),
    }))
}

/// One conversation.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = ConversationView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, auth: TenantAuth, ApiPath(id): ApiPath) -> ApiResult<Json<ConversationView>> {
    Ok(Json(service::get_conversation(&state, &(&auth).into(), &id).await?.into()))
}
