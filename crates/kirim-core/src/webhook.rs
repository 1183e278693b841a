//! Webhook endpoints and their deliveries. Events fan out to endpoints after they are
//! committed; each (event, endpoint) pair is one delivery with a persisted retry schedule,
//! signed per the Standard Webhooks specification.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Timestamp;
use crate::event::types;
use crate::id::{DeliveryId, DeliveryPk, DeviceId, DevicePk, EventId, TenantPk, WebhookId, WebhookPk};
use crate::secret::Secret;

/// Secrets are `whsec_` and base64 of 24 random bytes, as Standard Webhooks libraries expect.
pub const SECRET_PREFIX: &str = "whsec_";

/// Event types only a webhook itself produces.
pub mod own_types {
    /// Sent by `POST /v1/webhooks/{id}/test` to that endpoint only.
    pub const TEST: &str = "webhook.test";
    /// The endpoint was disabled (410 Gone, or failing for too long).
    pub const DISABLED: &str = "webhook.disabled";
}

/// Every event type an endpoint may subscribe to.
pub fn subscribable_types() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = types::ALL.to_vec();
    all.push(own_types::DISABLED);
    all
}

/// The body an endpoint receives. Every delivery is signed the same way (Standard Webhooks
/// headers); the format only shapes the JSON, for receivers written for another product.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{type, timestamp, data}`.
    #[default]
    Standard,
    /// Wablas's payloads (reference 001): its incoming-message, tracking and device-status
    /// bodies, by event type.
    Wablas,
}

impl WebhookFormat {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Wablas => "wablas",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "standard" => Some(Self::Standard),
            "wablas" => Some(Self::Wablas),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub pk: WebhookPk,
    pub id: WebhookId,
    pub tenant_pk: TenantPk,
    pub url: String,
    pub description: Option<String>,
    /// Only these event types; `None` means all.
    pub event_types: Option<Vec<String>>,
    /// Only events of these devices; `None` means all the tenant's devices.
    pub devices: Option<Vec<DeviceId>>,
    pub secret: Secret,
    /// The secret before the last rotation, still signing until it expires.
    pub previous_secret: Option<(Secret, Timestamp)>,
    /// Send the messages a `message.received` delivery's response carries.
    pub auto_reply: bool,
    pub format: WebhookFormat,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Since when every attempt failed; cleared by a success.
    pub failing_since: Option<Timestamp>,
    /// The last failed attempt: a streak with a long quiet gap in it starts over.
    pub last_failure_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Webhook {
    /// Whether this endpoint wants an event (device-less events pass a device filter).
    pub fn wants(&self, event_type: &str, device: Option<&DeviceId>, data: &serde_json::Value) -> bool {
        if event_type == own_types::TEST {
            return data.get("webhook_id").and_then(|v| v.as_str()) == Some(self.id.as_str());
        }
        if let Some(types) = &self.event_types
            && !types.iter().any(|t| t == event_type)
        {
            return false;
        }
        match (&self.devices, device) {
            (Some(devices), Some(device)) => devices.contains(device),
            _ => true,
        }
    }

    /// The secrets to sign with now: the current one, and the previous one until it expires.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&Secret> {
        let mut secrets = vec![&self.secret];
        if let Some((previous, until)) = &self.previous_secret
            && *until > now
        {
            secrets.push(previous);
        }
        secrets
    }
}

#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub id: WebhookId,
    pub tenant_pk: TenantPk,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub devices: Option<Vec<DeviceId>>,
    pub secret: Secret,
    pub auto_reply: bool,
    pub format: WebhookFormat,
    pub created_at: Timestamp,
}

/// Fields to change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Option<Vec<String>>>,
    pub devices: Option<Option<Vec<DeviceId>>>,
    pub auto_reply: Option<bool>,
    pub format: Option<WebhookFormat>,
    /// Re-enabling clears the disabled reason and the failure streak.
    pub enabled: Option<bool>,
    /// A new secret; the old one keeps signing until the given time.
    pub rotate_secret: Option<(Secret, Timestamp)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    Succeeded,
    /// Every scheduled attempt failed, or the endpoint was disabled or deleted.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Succeeded, Self::Failed].into_iter().find(|d| d.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub pk: DeliveryPk,
    pub id: DeliveryId,
    pub webhook_pk: WebhookPk,
    pub tenant_pk: TenantPk,
    pub event_id: EventId,
    pub event_seq: i64,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A claimed delivery with what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryJob {
    pub delivery: Delivery,
    pub event_created_at: Timestamp,
    pub device: Option<DevicePk>,
    /// The event's data; `None` if the event was pruned before the delivery succeeded.
    pub data: Option<serde_json::Value>,
}

/// One HTTP attempt, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Attempt {
    pub attempt: u32,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The response status; absent when no response came (timeout, refused, blocked).
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
    /// The first kilobyte of the response body.
    pub response: Option<String>,
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Succeeded,
    Retry { at: Timestamp },
    Failed,
}

/// What an attempt does to the endpoint's failure streak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Streak {
    /// A success: the streak ends.
    Ended,
    /// A failure, in a streak that began at `since`.
    Failing { since: Timestamp },
    /// Says nothing about the endpoint (e.g. the event was gone before it could be sent).
    Unchanged,
}

/// An attempt's result, recorded with its effect on the delivery and the endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptResult {
    pub attempt: Attempt,
    pub outcome: DeliveryOutcome,
    pub streak: Streak,
    /// Disable the endpoint, with this reason (410 Gone, or failing for too long); a
    /// `webhook.disabled` event is written and its pending deliveries fail.
    pub disable: Option<String>,
}
