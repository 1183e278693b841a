//! Wablas's account calls: device management, contacts and contact groups, the blacklist,
//! auto-replies, agents, reminders, uploads and the number check.

use axum::Router;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
