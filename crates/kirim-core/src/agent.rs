//! Agents (a tenant's users who answer chats) and conversations (one chat of one device),
//! which can be assigned to an agent by the id of any of their messages, as the reference
//! products do it.

use async_trait::async_trait;
use serde_json::json;

use crate::event::NewEvent;
use crate::id::{AgentPk, ConversationPk, DevicePk, TenantPk};
use crate::message::Message;
use crate::store::StoreResult;
use crate::{AgentId, ConversationId, DeviceId, EventId, MessageId, PhoneNumber, Recipient, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub pk: AgentPk,
    pub id: AgentId,
    pub tenant_pk: TenantPk,
    pub name: String,
    /// Lowercased; unique within the tenant.
    pub email: Option<String>,
    /// Unique within the tenant.
    pub phone: Option<PhoneNumber>,
    /// An inactive agent keeps its conversations but is given no new ones.
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewAgent {
    pub id: AgentId,
    pub tenant_pk: TenantPk,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<PhoneNumber>,
    pub active: bool,
    pub created_at: Timestamp,
}

/// A change to an agent; `None` keeps a field, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<PhoneNumber>>,
    pub active: Option<bool>,
}

impl AgentPatch {
    /// `agent` with the patch applied (the store checks uniqueness).
    pub fn apply(&self, agent: &Agent) -> Agent {
        let mut a = agent.clone();
        if let Some(name) = &self.name {
            a.name = name.clone();
        }
        if let Some(email) = &self.email {
            a.email = email.clone();
        }
        if let Some(phone) = &self.phone {
            a.phone = phone.clone();
        }
        if let Some(active) = self.active {
            a.active = active;
        }
        a
    }
}

/// An agent named by id, email or number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentRef {
    Id(AgentId),
    Email(String),
    Phone(PhoneNumber),
}

/// How a create or update ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentWrite {
    Written(Agent),
    /// Another agent of the tenant has this email; nothing was written.
    EmailTaken,
    /// Another agent of the tenant has this number; nothing was written.
    PhoneTaken,
    NotFound,
}

#[derive(Debug, Clone, Default)]
pub struct AgentFilter {
    pub active: Option<bool>,
    /// By id (oldest first), after this one.
    pub after: Option<AgentId>,
    pub limit: u32,
}

/// Who a conversation is assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignee {
    pub id: AgentId,
    pub name: String,
    pub assigned_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub pk: ConversationPk,
    pub id: ConversationId,
    pub tenant_pk: TenantPk,
    pub device_pk: DevicePk,
    pub device_id: DeviceId,
    pub chat: Recipient,
    pub assignee: Option<Assignee>,
    /// The latest message received from the chat or sent to it.
    pub last_message: Option<Message>,
    pub last_message_at: Timestamp,
    pub inbound_count: u64,
    /// Inbound messages since the device last sent to the chat.
    pub unread_count: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Which agent filter a conversation list applies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AgentScope {
    #[default]
    Any,
    Unassigned,
    Agent(AgentId),
}

#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub device: Option<DevicePk>,
    pub agent: AgentScope,
    pub offset: u64,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AssignOutcome {
    /// The conversation as it is now (also when it already had that assignee: no event then).
    Done(Box<Conversation>),
    MessageNotFound,
    AgentNotFound,
    /// The agent exists but is not active.
    AgentInactive,
}

pub mod types {
    pub const CONVERSATION_ASSIGNED: &str = "conversation.assigned";
    pub const CONVERSATION_UNASSIGNED: &str = "conversation.unassigned";
}

/// `conversation.assigned` (with an agent) or `conversation.unassigned`; `previous` is the
/// agent it had before.
pub fn assignment_event(c: &Conversation, previous: Option<&AgentId>, message: Option<&MessageId>, at: Timestamp) -> NewEvent {
    let event_type = if c.assignee.is_some() { types::CONVERSATION_ASSIGNED } else { types::CONVERSATION_UNASSIGNED };
    NewEvent {
        id: EventId::generate(),
        tenant_pk: c.tenant_pk,
        device_pk: Some(c.device_pk),
        event_type,
        data: json!({
            "conversation_id": c.id,
            "device_id": c.device_id,
            "chat": c.chat,
            "agent_id": c.assignee.as_ref().map(|a| &a.id),
            "agent_name": c.assignee.as_ref().map(|a| &a.name),
            "previous_agent_id": previous,
            "message_id": message,
        }),
        created_at: at,
    }
}

#[async_trait]
pub trait AgentStore: Send + Sync {
    /// `EmailTaken` / `PhoneTaken` when another agent of the tenant has them.
    async fn create_agent(&self, agent: NewAgent) -> StoreResult<AgentWrite>;
    async fn get_agent(&self, tenant: TenantPk, agent: &AgentRef) -> StoreResult<Option<Agent>>;
    async fn list_agents(&self, tenant: TenantPk, filter: &AgentFilter) -> StoreResult<Vec<Agent>>;
    async fn update_agent(&self, tenant: TenantPk, id: &AgentId, patch: AgentPatch, at: Timestamp) -> StoreResult<AgentWrite>;
    /// Deletes an agent; its conversations become unassigned, each with a
    /// `conversation.unassigned` event, in the same transaction.
    async fn delete_agent(&self, tenant: TenantPk, id: &AgentId, at: Timestamp) -> StoreResult<Option<Agent>>;

    /// Assigns the conversation of the tenant's message `message` (its device and chat) to an
    /// active agent, or unassigns it (`agent: None`), creating the conversation if the chat has
    /// none yet. A change writes its event in the same transaction.
    async fn assign_conversation(
        &self,
        tenant: TenantPk,
        message: &MessageId,
        agent: Option<AgentRef>,
        at: Timestamp,
    ) -> StoreResult<AssignOutcome>;
    async fn get_conversation(&self, tenant: TenantPk, id: &ConversationId) -> StoreResult<Option<Conversation>>;
    /// Most recent activity first, with the last message and the assignee.
    async fn list_conversations(&self, tenant: TenantPk, filter: &ConversationFilter) -> StoreResult<Vec<Conversation>>;
    /// How many conversations the filter covers (offset and limit ignored).
    async fn count_conversations(&self, tenant: TenantPk, filter: &ConversationFilter) -> StoreResult<u64>;
}
