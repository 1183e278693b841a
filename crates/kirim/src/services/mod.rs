//! Services: the only layer that combines the store, the lanes and the connectors.
//! The native API and every compat layer call these, so behaviour is defined once.

pub mod agents;
pub mod auto_replies;
pub mod blacklist;
pub mod calls;
pub mod contact_groups;
pub mod contact_import;
pub mod contacts;
pub mod content;
pub mod devices;
pub mod groups;
pub mod job_inbox;
pub mod job_replies;
pub mod job_voice;
pub mod jobs;
pub mod media;
pub mod messages;
pub mod received_media;
pub mod reminders;
pub mod reports;
pub mod schedule;
pub mod sending;
pub mod spintax;
pub mod templates;
pub mod tenants;
pub mod transcribe;
pub mod usage;
pub mod webhooks;

use std::future::Future;

use kirim_core::id::{DeviceId, DevicePk, TenantPk};

use crate::http::auth::TenantAuth;
use crate::http::error::{ApiError, ApiResult};

/// Whom a service acts for: a tenant, maybe limited to one of its devices. Requests become
/// actors through their credential; Kirim itself acts for a tenant when it auto-replies.
#[derive(Debug, Clone)]
pub struct Actor {
    pub tenant_pk: TenantPk,
    pub device: Option<(DevicePk, DeviceId)>,
    /// The tenant's daily token budget, as authenticated. `None` for Kirim's own replies
    /// (auto-replies): they are counted, but never refused.
    pub daily_token_limit: Option<u64>,
}

impl Actor {
    pub fn tenant_pk(&self) -> TenantPk {
        self.tenant_pk
    }

    pub fn may_use_device(&self, device: &DeviceId) -> bool {
        self.device.as_ref().is_none_or(|(_, own)| own == device)
    }
}

impl From<&TenantAuth> for Actor {
    fn from(auth: &TenantAuth) -> Self {
        Self { tenant_pk: auth.tenant_pk(), device: auth.device.clone(), daily_token_limit: auth.tenant.daily_token_limit }
    }
}

/// Runs a write and the in-memory steps that must follow it (waking a lane, updating the
/// device registry) on a task of its own. A request future is dropped when the client goes
/// away or the request times out; the commit may still happen, and its follow-up must too.
pub async fn detached<T: Send + 'static>(work: impl Future<Output = ApiResult<T>> + Send + 'static) -> ApiResult<T> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(ApiError::unavailable("the server is shutting down; try again")),
    }
}
