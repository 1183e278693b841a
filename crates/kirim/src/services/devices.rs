//! Device lifecycle: create, link, unlink, change, delete — all through the device's connector.

use std::sync::Arc;

use kirim_core::Secret;
use kirim_core::connector::{Connector, ConnectorError, LinkMethod};
use kirim_core::device::{ConnectorKind, Device, DevicePatch, DeviceSettings, NewDevice, SettingsPatch};
use kirim_core::id::DeviceId;

use super::detached;
use crate::app::AppState;
use crate::http::auth::{DEVICE_TOKEN_PREFIX, TenantAuth};
use crate::http::error::{ApiError, ApiResult};

pub const MAX_NAME_LEN: usize = 100;

pub fn validate_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::field("name", format!("`name` must be 1 to {MAX_NAME_LEN} characters")));
    }
    Ok(name.to_owned())
}

pub fn validate_settings(settings: &DeviceSettings) -> ApiResult<()> {
    if !(1..=100).contains(&settings.max_attempts) {
        return Err(ApiError::field("settings.max_attempts", "`settings.max_attempts` must be between 1 and 100"));
    }
    if settings.pacing_ms > 3_600_000 || settings.pacing_jitter_ms > 3_600_000 {
        return Err(ApiError::field("settings.pacing_ms", "pacing values must be at most 3600000 ms (one hour)"));
    }
    if let Some(reply) = &settings.call_reply
        && reply.chars().count() > kirim_core::message::MAX_TEXT_CHARS
    {
        return Err(ApiError::field("settings.call_reply", "`settings.call_reply` must be at most 4096 characters"));
    }
    Ok(())
}

/// The settings a new device gets when the request names none.
pub fn default_settings(state: &AppState) -> DeviceSettings {
    let s = &state.config.sending;
    DeviceSettings {
        pacing_ms: s.pacing_ms,
        pacing_jitter_ms: s.pacing_jitter_ms,
        max_attempts: s.max_attempts,
        ..DeviceSettings::default()
    }
}

fn connector_for(state: &AppState, kind: ConnectorKind) -> ApiResult<Arc<dyn Connector>> {
    state.connectors.get(kind).ok_or_else(|| {
        ApiError::field(
            "connector",
            format!("the `{}` connector is not available on this server; available: {}", kind.as_str(), available(state)),
        )
    })
}

fn available(state: &AppState) -> String {
    let mut kinds: Vec<&str> = state.connectors.kinds().iter().map(ConnectorKind::as_str).collect();
    kinds.sort_unstable();
    kinds.join(", ")
}

/// A tenant's device, or 404 (also for a device token asking about another device).
pub async fn get(state: &AppState, auth: &TenantAuth, id: &DeviceId) -> ApiResult<Device> {
    if !auth.may_use_device(id) {
        return Err(ApiError::not_found("device"));
    }
    state.store.get_device(auth.tenant_pk(), id).await?.ok_or_else(|| ApiError::not_found("device"))
}

pub struct Created {
    pub device: Device,
    pub token: Secret,
}

pub async fn create(
    state: &AppState,
    auth: &TenantAuth,
    name: &str,
    kind: ConnectorKind,
    settings: Option<SettingsPatch>,
    connector_config: serde_json::Value,
) -> ApiResult<Created> {
    auth.require_tenant_key()?;
    let name = validate_name(name)?;
    let settings = settings.unwrap_or_default().apply_to(&default_settings(state));
    validate_settings(&settings)?;
    connector_for(state, kind)?;
    let token = Secret::generate(DEVICE_TOKEN_PREFIX);
    let new = NewDevice {
        id: DeviceId::generate(),
        tenant_pk: auth.tenant_pk(),
        name,
        connector: kind,
        settings,
        connector_config,
        token_hash: token.hash(),
        created_at: state.clock.now(),
    };
    let state = state.clone();
    let device = detached(async move {
        let device = state.store.create_device(new).await?;
        state.devices.upsert(device.clone());
        state.lanes.ensure(device.pk);
        Ok(device)
    })
    .await?;
    Ok(Created { device, token })
}

/// Longest workspace label.
pub const MAX_WORKSPACE: usize = 50;

/// A workspace label: trimmed, 1–50 characters; blank clears it.
pub fn check_workspace(raw: Option<String>) -> ApiResult<Option<String>> {
    let label = raw.map(|w| w.trim().to_owned()).filter(|w| !w.is_empty());
    if label.as_ref().is_some_and(|w| w.chars().count() > MAX_WORKSPACE) {
        return Err(ApiError::field("workspace", format!("`workspace` must be at most {MAX_WORKSPACE} characters, e.g. `Marketing`")));
    }
    Ok(label)
}

/// Renames a device, changes its settings or its workspace (tenant keys only: a device token
/// cannot reconfigure its own device).
pub async fn update(
    state: &AppState,
    auth: &TenantAuth,
    id: &DeviceId,
    name: Option<String>,
    settings: Option<SettingsPatch>,
    workspace: Option<Option<String>>,
) -> ApiResult<Device> {
    auth.require_tenant_key()?;
    let name = name.as_deref().map(validate_name).transpose()?;
    let workspace = workspace.map(check_workspace).transpose()?;
    let current = get(state, auth, id).await?;
    let settings = match settings {
        Some(patch) => {
            let merged = patch.apply_to(&current.settings);
            validate_settings(&merged)?;
            Some(merged)
        }
        None => None,
    };
    let patch = DevicePatch { name, settings, workspace, ..DevicePatch::default() };
    let (state, id, tenant) = (state.clone(), id.clone(), auth.tenant_pk());
    detached(async move {
        let device =
            state.store.update_device(tenant, &id, patch, state.clock.now()).await?.ok_or_else(|| ApiError::not_found("device"))?;
        // Only the profile: the link state in the registry may be newer than this copy.
        if let Some(entry) = state.devices.get(device.pk) {
            entry.set_profile(&device);
        }
        Ok(device)
    })
    .await
}

/// Issues a new device token; the old one stops working at once. Tenant keys only.
pub async fn rotate_token(state: &AppState, auth: &TenantAuth, id: &DeviceId) -> ApiResult<Created> {
    auth.require_tenant_key()?;
    get(state, auth, id).await?;
    let token = Secret::generate(DEVICE_TOKEN_PREFIX);
    let patch = DevicePatch { token_hash: Some(token.hash()), ..DevicePatch::default() };
    let (state, id, tenant) = (state.clone(), id.clone(), auth.tenant_pk());
    let device = detached(async move {
        let device =
            state.store.update_device(tenant, &id, patch, state.clock.now()).await?.ok_or_else(|| ApiError::not_found("device"))?;
        state.auth.invalidate();
        Ok(device)
    })
    .await?;
    Ok(Created { device, token })
}

fn connector_error(e: ConnectorError) -> ApiError {
    match e {
        ConnectorError::Unsupported(what) => ApiError::conflict("capability_unsupported", format!("this device's connector cannot {what}")),
        ConnectorError::Banned => ApiError::conflict("device_banned", "WhatsApp has banned this number"),
        ConnectorError::PhoneInUse(why) => ApiError::conflict("phone_in_use", why).with_field("phone"),
        other => ApiError::new(axum::http::StatusCode::BAD_GATEWAY, "connector_error", other.to_string()),
    }
}

/// Starts linking (or resumes a linked session). Progress is visible on the device's status.
pub async fn connect(state: &AppState, auth: &TenantAuth, id: &DeviceId, method: LinkMethod) -> ApiResult<Device> {
    let device = get(state, auth, id).await?;
    let connector = connector_for(state, device.connector)?;
    connector.connect(&device, method).await.map_err(connector_error)?;
    get(state, auth, id).await
}

pub async fn logout(state: &AppState, auth: &TenantAuth, id: &DeviceId) -> ApiResult<Device> {
    let device = get(state, auth, id).await?;
    let connector = connector_for(state, device.connector)?;
    connector.logout(&device).await.map_err(connector_error)?;
    get(state, auth, id).await
}

pub async fn delete(state: &AppState, auth: &TenantAuth, id: &DeviceId) -> ApiResult<Device> {
    auth.require_tenant_key()?;
    let (state, id, tenant) = (state.clone(), id.clone(), auth.tenant_pk());
    detached(async move {
        let device = state.store.delete_device(tenant, &id, state.clock.now()).await?.ok_or_else(|| ApiError::not_found("device"))?;
        state.devices.remove(device.pk);
        state.lanes.stop(device.pk);
        state.auth.invalidate();
        if let Some(connector) = state.connectors.get(device.connector) {
            // A deleted device gives its number back: unlink it, then stop its session.
            if let Err(error) = connector.logout(&device).await {
                tracing::debug!(device = %device.id, %error, "logging out a deleted device failed");
            }
            connector.stop(device.pk).await;
        }
        Ok(device)
    })
    .await
}
