//! Webhook endpoints: validated (the URL through the outbound guard), scoped by tenant, with
//! a secret shown once and rotatable (the old one signs for 24 more hours), test events, and
//! the delivery log with manual retries.

use kirim_core::event::NewEvent;
use kirim_core::id::WebhookPk;
use kirim_core::store::DeliveryFilter;
use kirim_core::webhook::{Attempt, Delivery, NewWebhook, Webhook, WebhookFormat, WebhookPatch, own_types, subscribable_types};
use kirim_core::{DeliveryId, DeviceId, EventId, Secret, WebhookId};

use super::{Actor, detached};
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};
use crate::outbound::OutboundUrl;
use crate::webhooks::signing;

/// Endpoints one tenant may have.
pub const MAX_PER_TENANT: usize = 50;
pub const MAX_DESCRIPTION: usize = 200;
/// How long the secret before a rotation keeps signing.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// What a request may set; `None` leaves a field unchanged on update.
#[derive(Debug, Clone, Default)]
pub struct WebhookInput {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Option<Vec<String>>>,
    pub device_ids: Option<Option<Vec<String>>>,
    pub auto_reply: Option<bool>,
    pub enabled: Option<bool>,
    /// The body shape (`None`: standard on create, unchanged on update).
    pub format: Option<WebhookFormat>,
}

pub struct WithSecret {
    pub webhook: Webhook,
    pub secret: Secret,
}

fn require_key(auth: &Actor) -> ApiResult<()> {
    match auth.device {
        None => Ok(()),
        Some(_) => Err(ApiError::forbidden("webhooks belong to the account; use the tenant's API key, not a device token")),
    }
}

/// Parses and checks a URL: well-formed, and not pointing inside the network Kirim runs in.
pub async fn check_url(state: &AppState, raw: &str) -> ApiResult<String> {
    let url = OutboundUrl::parse(raw.trim()).map_err(|e| ApiError::field("url", format!("`url`: {e}")))?;
    state.webhooks.outbound.guard().check_url(&url).await.map_err(|blocked| {
        ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed", format!("`url`: {blocked}")).with_field("url")
    })?;
    Ok(url.as_str().to_owned())
}

fn check_description(description: Option<String>) -> ApiResult<Option<String>> {
    let description = description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ApiError::field("description", format!("`description` must be at most {MAX_DESCRIPTION} characters")));
    }
    Ok(description)
}

fn check_event_types(types: Option<Vec<String>>) -> ApiResult<Option<Vec<String>>> {
    let Some(types) = types else { return Ok(None) };
    if types.is_empty() {
        return Err(ApiError::field("event_types", "`event_types` is empty; omit it (or send null) to receive every event type"));
    }
    let known = subscribable_types();
    let mut out: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        if !known.contains(&t.as_str()) {
            return Err(ApiError::field(
                "event_types",
                format!("`event_types`: unknown event type `{t}`; known types: {}", known.join(", ")),
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(Some(out))
}

async fn check_devices(state: &AppState, auth: &Actor, ids: Option<Vec<String>>) -> ApiResult<Option<Vec<DeviceId>>> {
    let Some(ids) = ids else { return Ok(None) };
    if ids.is_empty() {
        return Err(ApiError::field("device_ids", "`device_ids` is empty; omit it (or send null) for events of every device"));
    }
    let mut out: Vec<DeviceId> = Vec::with_capacity(ids.len());
    for raw in ids {
        let unknown = || ApiError::not_found("device").with_field("device_ids");
        let id: DeviceId = raw.parse().map_err(|_| unknown())?;
        state.store.get_device(auth.tenant_pk(), &id).await?.ok_or_else(unknown)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(Some(out))
}

pub async fn create(state: &AppState, auth: &Actor, input: WebhookInput) -> ApiResult<WithSecret> {
    require_key(auth)?;
    let url = match &input.url {
        Some(raw) => check_url(state, raw).await?,
        None => return Err(ApiError::field("url", "`url` is required: the https:// address Kirim posts events to")),
    };
    let description = check_description(input.description.flatten())?;
    let event_types = check_event_types(input.event_types.flatten())?;
    let devices = check_devices(state, auth, input.device_ids.flatten()).await?;
    if state.store.list_webhooks(auth.tenant_pk()).await?.len() >= MAX_PER_TENANT {
        return Err(ApiError::conflict(
            "too_many_webhooks",
            format!("an account may have at most {MAX_PER_TENANT} webhook endpoints; delete one, or narrow one endpoint's event_types"),
        ));
    }
    let secret = signing::generate_secret();
    let new = NewWebhook {
        id: WebhookId::generate(),
        tenant_pk: auth.tenant_pk(),
        url,
        description,
        event_types,
        devices,
        secret: secret.clone(),
        auto_reply: input.auto_reply.unwrap_or(false),
        format: input.format.unwrap_or_default(),
        created_at: state.clock.now(),
    };
    let state = state.clone();
    let webhook = detached(async move {
        let webhook = state.store.create_webhook(new).await?;
        state.webhooks.changed(webhook.clone(), state.clock.now());
        Ok(webhook)
    })
    .await?;
    Ok(WithSecret { webhook, secret })
}

pub async fn get(state: &AppState, auth: &Actor, id: &str) -> ApiResult<Webhook> {
    require_key(auth)?;
    let id: WebhookId = id.parse().map_err(|_| ApiError::not_found("webhook"))?;
    state.store.get_webhook(auth.tenant_pk(), &id).await?.ok_or_else(|| ApiError::not_found("webhook"))
}

pub async fn list(state: &AppState, auth: &Actor) -> ApiResult<Vec<Webhook>> {
    require_key(auth)?;
    Ok(state.store.list_webhooks(auth.tenant_pk()).await?)
}

async fn apply(state: &AppState, auth: &Actor, id: &WebhookId, patch: WebhookPatch) -> ApiResult<Webhook> {
    let (state, id, tenant) = (state.clone(), id.clone(), auth.tenant_pk());
    detached(async move {
        let webhook =
            state.store.update_webhook(tenant, &id, patch, state.clock.now()).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
        state.webhooks.changed(webhook.clone(), state.clock.now());
        Ok(webhook)
    })
    .await
}

pub async fn update(state: &AppState, auth: &Actor, id: &str, input: WebhookInput) -> ApiResult<Webhook> {
    let current = get(state, auth, id).await?;
    let url = match &input.url {
        Some(raw) => Some(check_url(state, raw).await?),
        None => None,
    };
    let patch = WebhookPatch {
        url,
        description: input.description.map(check_description).transpose()?,
        event_types: input.event_types.map(check_event_types).transpose()?,
        devices: match input.device_ids {
            Some(ids) => Some(check_devices(state, auth, ids).await?),
            None => None,
        },
        auto_reply: input.auto_reply,
        format: input.format,
        enabled: input.enabled,
        rotate_secret: None,
    };
    apply(state, auth, &current.id, patch).await
}

/// A new secret; the previous one keeps signing for 24 hours so receivers can switch over.
pub async fn rotate_secret(state: &AppState, auth: &Actor, id: &str) -> ApiResult<WithSecret> {
    let current = get(state, auth, id).await?;
    let secret = signing::generate_secret();
    let until = state.clock.now() + ROTATION_OVERLAP;
    let patch = WebhookPatch { rotate_secret: Some((secret.clone(), until)), ..WebhookPatch::default() };
    let webhook = apply(state, auth, &current.id, patch).await?;
    Ok(WithSecret { webhook, secret })
}

pub async fn delete(state: &AppState, auth: &Actor, id: &str) -> ApiResult<Webhook> {
    let current = get(state, auth, id).await?;
    let (state, tenant) = (state.clone(), auth.tenant_pk());
    detached(async move {
        let webhook =
            state.store.delete_webhook(tenant, &current.id, state.clock.now()).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
        state.webhooks.removed(webhook.pk);
        Ok(webhook)
    })
    .await
}

/// Sends a `webhook.test` event to this endpoint only; returns the event id (its `webhook-id`).
pub async fn test(state: &AppState, auth: &Actor, id: &str) -> ApiResult<EventId> {
    let webhook = get(state, auth, id).await?;
    if !webhook.enabled {
        return Err(ApiError::conflict("webhook_disabled", "the endpoint is disabled; enable it (PATCH {\"enabled\": true}) first"));
    }
    let event = NewEvent {
        id: EventId::generate(),
        tenant_pk: webhook.tenant_pk,
        device_pk: None,
        event_type: own_types::TEST,
        data: serde_json::json!({"webhook_id": webhook.id, "message": "a test event from Kirim"}),
        created_at: state.clock.now(),
    };
    let event_id = event.id.clone();
    state.store.append_event(event).await?;
    Ok(event_id)
}

pub async fn deliveries(state: &AppState, auth: &Actor, id: &str, filter: DeliveryFilter) -> ApiResult<Vec<Delivery>> {
    let webhook = get(state, auth, id).await?;
    Ok(state.store.list_deliveries(auth.tenant_pk(), webhook.pk, &filter).await?)
}

/// A delivery of this endpoint, with its attempts.
pub async fn delivery(state: &AppState, auth: &Actor, id: &str, delivery_id: &str) -> ApiResult<(Delivery, Vec<Attempt>)> {
    let webhook = get(state, auth, id).await?;
    let delivery_id: DeliveryId = delivery_id.parse().map_err(|_| ApiError::not_found("delivery"))?;
    let found = state.store.get_delivery(auth.tenant_pk(), &delivery_id).await?;
    found.filter(|(d, _)| d.webhook_pk == webhook.pk).ok_or_else(|| ApiError::not_found("delivery"))
}

/// Makes a delivery due now, whatever it went through: a receiver that was fixed gets it again.
pub async fn retry(state: &AppState, auth: &Actor, id: &str, delivery_id: &str) -> ApiResult<Delivery> {
    let (found, _) = delivery(state, auth, id, delivery_id).await?;
    let webhook_pk: WebhookPk = found.webhook_pk;
    let retried =
        state.store.retry_delivery(auth.tenant_pk(), &found.id, state.clock.now()).await?.ok_or_else(|| ApiError::not_found("delivery"))?;
    state.webhooks.due(webhook_pk, state.clock.now());
    Ok(retried)
}

/// Creates the endpoint whose description is `input.description`, or updates it when the
/// account has one already: how the compat layers keep one endpoint per device and purpose.
/// The secret comes back only when the endpoint is new (it is shown once).
pub async fn put_tagged(state: &AppState, auth: &Actor, input: WebhookInput) -> ApiResult<(Webhook, Option<Secret>)> {
    let tag = input.description.clone().flatten();
    let existing = list(state, auth).await?.into_iter().find(|w| tag.is_some() && w.description == tag);
    match existing {
        Some(w) => update(state, auth, w.id.as_str(), input).await.map(|w| (w, None)),
        None => create(state, auth, input).await.map(|c| (c.webhook, Some(c.secret))),
    }
}
