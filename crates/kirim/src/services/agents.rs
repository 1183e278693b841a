//! Agents and conversations: a tenant's users who answer chats, and the chats (one device,
//! one chat) assigned to them by the id of any message in the chat, as the reference
//! products assign them. Assigning and unassigning write their events in the same transaction.

use kirim_core::agent::{
    Agent, AgentFilter, AgentPatch, AgentRef, AgentScope, AgentWrite, AssignOutcome, Conversation, ConversationFilter, NewAgent,
};
use kirim_core::{AgentId, ConversationId, MessageId};

use super::Actor;
use super::contacts::{check_email, check_len, parse_phone};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

pub const MAX_NAME: usize = 255;

/// An agent as a request gives it; text fields not yet checked.
#[derive(Debug, Default)]
pub struct AgentInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub active: Option<bool>,
}

/// A change as a request gives it: `Some(None)` clears an optional field.
#[derive(Debug, Default)]
pub struct AgentChange {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub active: Option<bool>,
}

fn present(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn check_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ApiError::field("name", "`name` is required: the agent's name (e.g. \"Danu\")"));
    }
    check_len("name", name, MAX_NAME)?;
    Ok(name.to_owned())
}

fn written(result: AgentWrite) -> ApiResult<Agent> {
    match result {
        AgentWrite::Written(a) => Ok(a),
        AgentWrite::EmailTaken => {
            Err(ApiError::conflict("email_taken", "another agent of this account has that `email`; use another").with_field("email"))
        }
        AgentWrite::PhoneTaken => {
            Err(ApiError::conflict("phone_taken", "another agent of this account has that `phone`; use another").with_field("phone"))
        }
        AgentWrite::NotFound => Err(ApiError::not_found("agent")),
    }
}

pub fn agent_id(raw: &str) -> ApiResult<AgentId> {
    raw.parse().map_err(|_| ApiError::not_found("agent"))
}

/// An agent named by its id, email or number (what the reference APIs identify agents by).
pub fn agent_ref(state: &AppState, field: &str, raw: &str) -> ApiResult<AgentRef> {
    let raw = raw.trim();
    if raw.contains('@') {
        return Ok(AgentRef::Email(raw.to_lowercase()));
    }
    if raw.starts_with(&format!("{}_", AgentId::PREFIX)) {
        return raw.parse().map(AgentRef::Id).map_err(|_| ApiError::field(field, format!("`{field}` `{raw}` is not an agent id (agt_…)")));
    }
    parse_phone(state, field, raw)
        .map(AgentRef::Phone)
        .map_err(|_| ApiError::field(field, format!("`{field}` `{raw}` is not an agent id (agt_…), an email or a phone number")))
}

pub async fn create(state: &AppState, actor: &Actor, input: AgentInput) -> ApiResult<Agent> {
    let name = check_name(input.name.as_deref().unwrap_or_default())?;
    let email = present(input.email).map(|e| check_email(&e)).transpose()?;
    let phone = present(input.phone).map(|p| parse_phone(state, "phone", &p)).transpose()?;
    if email.is_none() && phone.is_none() {
        return Err(ApiError::field("email", "give the agent an `email` or a `phone` (or both), so it can be told apart and found"));
    }
    let agent = NewAgent {
        id: AgentId::generate(),
        tenant_pk: actor.tenant_pk(),
        name,
        email,
        phone,
        active: input.active.unwrap_or(true),
        created_at: state.clock.now(),
    };
    written(state.store.create_agent(agent).await?)
}

pub async fn get(state: &AppState, actor: &Actor, raw: &str) -> ApiResult<Agent> {
    let r = agent_ref(state, "id", raw).map_err(|_| ApiError::not_found("agent"))?;
    state.store.get_agent(actor.tenant_pk(), &r).await?.ok_or_else(|| ApiError::not_found("agent"))
}

pub async fn list(state: &AppState, actor: &Actor, filter: AgentFilter) -> ApiResult<Vec<Agent>> {
    Ok(state.store.list_agents(actor.tenant_pk(), &filter).await?)
}

pub async fn update(state: &AppState, actor: &Actor, id: &AgentId, change: AgentChange) -> ApiResult<Agent> {
    let patch = AgentPatch {
        name: change.name.as_deref().map(check_name).transpose()?,
        email: change.email.map(|e| present(e).map(|e| check_email(&e)).transpose()).transpose()?,
        phone: change.phone.map(|p| present(p).map(|p| parse_phone(state, "phone", &p)).transpose()).transpose()?,
        active: change.active,
    };
    let clears_both = matches!((&patch.email, &patch.phone), (Some(None), Some(None)));
    if clears_both {
        return Err(ApiError::field("email", "an agent keeps an `email` or a `phone`; clear one of them, not both"));
    }
    if matches!(patch.email, Some(None)) || matches!(patch.phone, Some(None)) {
        // Clearing one is fine only if the other stays (or is being set).
        let current =
            state.store.get_agent(actor.tenant_pk(), &AgentRef::Id(id.clone())).await?.ok_or_else(|| ApiError::not_found("agent"))?;
        let next = patch.apply(&current);
        if next.email.is_none() && next.phone.is_none() {
            let field = if matches!(patch.email, Some(None)) { "email" } else { "phone" };
            return Err(ApiError::field(
                field,
                format!("`{field}` is the agent's only contact detail; set the other one before clearing it"),
            ));
        }
    }
    written(state.store.update_agent(actor.tenant_pk(), id, patch, state.clock.now()).await?)
}

pub async fn delete(state: &AppState, actor: &Actor, id: &AgentId) -> ApiResult<Agent> {
    state.store.delete_agent(actor.tenant_pk(), id, state.clock.now()).await?.ok_or_else(|| ApiError::not_found("agent"))
}

/// Assigns (or with `agent: None` unassigns) the conversation the message belongs to.
pub async fn assign(state: &AppState, actor: &Actor, message: &str, agent: Option<&str>) -> ApiResult<Conversation> {
    let message: MessageId = message
        .trim()
        .parse()
        .map_err(|_| ApiError::field("message_id", format!("`message_id` `{message}` is not a message id (msg_…)")))?;
    let agent = agent.map(|a| agent_ref(state, "agent_id", a)).transpose()?;
    let not_found = || ApiError::not_found("message").with_field("message_id");
    if actor.device.is_some() {
        // A device token sees only its own device's chats: checked before anything is written.
        let found = state.store.get_message(actor.tenant_pk(), &message).await?.ok_or_else(not_found)?;
        if !actor.may_use_device(&found.device_id) {
            return Err(not_found());
        }
    }
    let outcome = state.store.assign_conversation(actor.tenant_pk(), &message, agent, state.clock.now()).await?;
    match outcome {
        AssignOutcome::Done(c) => Ok(*c),
        AssignOutcome::MessageNotFound => Err(not_found()),
        AssignOutcome::AgentNotFound => Err(ApiError::not_found("agent").with_field("agent_id")),
        AssignOutcome::AgentInactive => Err(ApiError::conflict(
            "agent_inactive",
            "that agent is not active; activate it (PATCH /v1/agents/{id} {\"active\": true}) or pick another",
        )
        .with_field("agent_id")),
    }
}

pub async fn get_conversation(state: &AppState, actor: &Actor, raw: &str) -> ApiResult<Conversation> {
    let id: ConversationId = raw.parse().map_err(|_| ApiError::not_found("conversation"))?;
    let found = state.store.get_conversation(actor.tenant_pk(), &id).await?;
    found.filter(|c| actor.may_use_device(&c.device_id)).ok_or_else(|| ApiError::not_found("conversation"))
}

/// A page of conversations and how many the filter covers.
pub async fn conversations(state: &AppState, actor: &Actor, filter: ConversationFilter) -> ApiResult<(Vec<Conversation>, u64)> {
    let total = state.store.count_conversations(actor.tenant_pk(), &filter).await?;
    let rows = state.store.list_conversations(actor.tenant_pk(), &filter).await?;
    Ok((rows, total))
}

/// `agent_id` of a conversation list: an agent, or `none` for the unassigned ones.
pub async fn agent_scope(state: &AppState, actor: &Actor, raw: Option<&str>) -> ApiResult<AgentScope> {
    match raw.map(str::trim) {
        None => Ok(AgentScope::Any),
        Some("none") => Ok(AgentScope::Unassigned),
        Some(raw) => {
            let r = agent_ref(state, "agent_id", raw)?;
            let agent =
                state.store.get_agent(actor.tenant_pk(), &r).await?.ok_or_else(|| ApiError::not_found("agent").with_field("agent_id"))?;
            Ok(AgentScope::Agent(agent.id))
        }
    }
}
