//! Services: the only layer that combines the store, the lanes and the connectors.
//! The native API and every compat layer call these, so behaviour is defined once.

pub mod devices;
pub mod messages;
pub mod tenants;

use std::future::Future;

use crate::http::error::{ApiError, ApiResult};

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
