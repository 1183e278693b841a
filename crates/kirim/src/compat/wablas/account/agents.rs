//! Agents: the account's people who answer chats, and assigning a chat to one by the id of a
//! message in it. Kirim's agents do not sign in, so `password` is taken and not kept.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use kirim_core::agent::{Agent, AgentFilter};
use serde_json::{Map, Value, json};

use super::{bad_field, item_text, items, refused, required};
use crate::app::AppState;
use crate::compat::wablas::{Call, chat_name, ok};
use crate::http::error::ApiError;
use crate::services::Actor;
use crate::services::agents::{self, AgentInput};

fn info(agent: &Agent) -> Value {
    json!({"id": agent.id, "name": agent.name, "email": agent.email, "phone": agent.phone.as_ref().map(|p| p.digits().to_owned())})
}

fn input(item: &Map<String, Value>) -> AgentInput {
    AgentInput { name: item_text(item, "name"), email: item_text(item, "email"), phone: item_text(item, "phone"), active: None }
}

/// How many agents the account has (Kirim has no limit: no slots remain to count).
async fn total(state: &AppState, actor: &Actor) -> Result<u64, ApiError> {
    let (mut count, mut after) = (0u64, None);
    loop {
        let page = agents::list(state, actor, AgentFilter { active: None, after: after.clone(), limit: 500 }).await?;
        count += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == 500 => after = Some(last.id.clone()),
            _ => return Ok(count),
        }
    }
}

/// Wablas's answer: the count, and the agents made (each with `status`, and `message` when refused).
async fn answer(state: &AppState, actor: &Actor, made: Vec<Value>) -> Response {
    let total = match total(state, actor).await {
        Ok(n) => n,
        Err(e) => return refused(e, &[]),
    };
    let any = made.iter().any(|m| m["status"] == json!(true));
    let message = if any { "Create Agent Success" } else { "no agent was created" };
    let status = if any { axum::http::StatusCode::OK } else { axum::http::StatusCode::UNPROCESSABLE_ENTITY };
    let body = json!({
        "status": any,
        "message": message,
        "data": {"Total Agent": total, "Remaining Slot": null},
        "Info Agent": made,
    });
    (status, Json(body)).into_response()
}

/// `POST /api/create-agent {name, phone, email, password}`.
pub async fn create(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let actor = caller.actor();
    let fields = call.fields.0.clone();
    match agents::create(&state, &actor, input(&fields)).await {
        Ok(agent) => {
            let mut made = info(&agent);
            made["status"] = json!(true);
            answer(&state, &actor, vec![made]).await
        }
        Err(e) => refused(e, &[]),
    }
}

/// `POST /api/v2/create-agent {data: [{name, phone, email, password}]}`: each item on its own.
pub async fn create_many(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let given = or_answer!(items(&call));
    let actor = caller.actor();
    let mut made = Vec::with_capacity(given.len());
    for item in &given {
        made.push(match agents::create(&state, &actor, input(item)).await {
            Ok(agent) => {
                let mut v = info(&agent);
                v["status"] = json!(true);
                v
            }
            Err(e) if e.status.is_client_error() => {
                json!({"name": item_text(item, "name"), "email": item_text(item, "email"), "phone": item_text(item, "phone"),
                       "status": false, "message": e.detail.message})
            }
            Err(e) => return refused(e, &[]),
        });
    }
    answer(&state, &actor, made).await
}

/// `POST /api/assign-agent {email | phone, message_id}`: the chat of `message_id` goes to the
/// agent with that email (else that number).
pub async fn assign(State(state): State<AppState>, call: Call) -> Response {
    let caller = or_answer!(call.manager(&state).await);
    let message = or_answer!(required(&call, "message_id", "the id of a message in the chat (msg_…)"));
    let Some(agent) = call.text("email").or_else(|| call.text("phone")) else {
        return bad_field("email", "or `phone` is required: the agent to assign the chat to");
    };
    let field = if call.text("email").is_some() { "email" } else { "phone" };
    match agents::assign(&state, &caller.actor(), &message, Some(&agent)).await {
        Ok(c) => {
            let name = c.assignee.as_ref().map(|a| a.name.clone()).unwrap_or_default();
            let chat = chat_name(&c.chat);
            ok(
                format!("Message from phone {chat} succesfully assigned to agent {name}"),
                json!({"conversation_id": c.id, "phone": chat, "agent": c.assignee.map(|a| a.id)}),
            )
        }
        Err(e) => refused(e, &[("agent_id", field)]),
    }
}
