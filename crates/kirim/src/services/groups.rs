//! WhatsApp groups and number checks: asked of the device's connector, live. Nothing here is
//! stored by Kirim: groups are the network's, so the answer is always the network's.

use std::sync::Arc;

use axum::http::StatusCode;
use kirim_core::PhoneNumber;
use kirim_core::connector::{Connector, ConnectorError};
use kirim_core::device::{ConnectorKind, Device, DeviceStatus};
use kirim_core::group::{
    CreatedGroup, GroupInfo, GroupJid, MAX_GROUP_SIZE, MAX_SUBJECT_CHARS, NumberCheck, ParticipantAction, ParticipantResult,
};
use kirim_core::id::DeviceId;

use super::Actor;
use crate::app::AppState;
use crate::http::error::{ApiError, ApiResult};

/// Most numbers one request may add, remove, promote or demote (a group's size, less its creator).
pub const MAX_PARTICIPANTS: usize = MAX_GROUP_SIZE - 1;
/// Most numbers one `POST /v1/numbers/check` may ask about.
pub const MAX_CHECK: usize = 100;

/// A device the caller may use, with its connector.
pub struct Target {
    pub device: Device,
    pub connector: Arc<dyn Connector>,
}

/// The caller's device `id` and its connector; another tenant's device (or, for a device
/// token, another device) is a 404.
pub fn target(state: &AppState, actor: &Actor, id: &DeviceId) -> ApiResult<Target> {
    let entry = state
        .devices
        .get_for_tenant(actor.tenant_pk(), id)
        .filter(|_| actor.may_use_device(id))
        .ok_or_else(|| ApiError::not_found("device"))?;
    connect_target(state, entry.snapshot())
}

pub fn connect_target(state: &AppState, device: Device) -> ApiResult<Target> {
    let disabled = device.connector == ConnectorKind::Sandbox && !state.config.sandbox.enabled;
    let connector = state.connectors.get(device.connector).filter(|_| !disabled).ok_or_else(|| {
        ApiError::conflict("connector_disabled", format!("the `{}` connector is disabled on this server", device.connector.as_str()))
    })?;
    Ok(Target { device, connector })
}

/// How a connector's refusal reads at the API.
pub fn connector_error(error: ConnectorError) -> ApiError {
    match error {
        ConnectorError::Unsupported(what) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "capability_unsupported", format!("this device's connector cannot {what}"))
        }
        ConnectorError::NotConnected => ApiError::conflict(
            "device_not_connected",
            "the device is not connected to WhatsApp; link or reconnect it (POST /v1/devices/{id}/connect), then try again",
        ),
        ConnectorError::NotFound(why) => ApiError::new(StatusCode::NOT_FOUND, "not_found", why),
        ConnectorError::Forbidden(why) => ApiError::new(StatusCode::FORBIDDEN, "group_admin_required", why),
        ConnectorError::Banned => ApiError::conflict("device_banned", "WhatsApp has banned this number"),
        ConnectorError::NotOnWhatsapp => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_on_whatsapp", "the number is not on WhatsApp")
        }
        ConnectorError::RateLimited { retry_after } => {
            let mut e =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "WhatsApp is rate limiting this device; try again later");
            e.retry_after_secs = Some(retry_after.map_or(30, |d| d.as_secs().max(1)));
            e
        }
        ConnectorError::Transient(why) => {
            let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "connector_unavailable", format!("{why}; try again"));
            e.retry_after_secs = Some(1);
            e
        }
        ConnectorError::Permanent(why) | ConnectorError::PhoneInUse(why) => ApiError::new(StatusCode::BAD_GATEWAY, "connector_error", why),
    }
}

/// A group id from a path (`…@g.us` or the bare id); anything else names no group.
pub fn parse_jid(raw: &str) -> ApiResult<GroupJid> {
    GroupJid::parse(raw).ok_or_else(|| ApiError::not_found("group"))
}

pub fn validate_subject(subject: &str) -> ApiResult<String> {
    let subject = subject.trim();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err(ApiError::field("subject", format!("`subject` must be 1 to {MAX_SUBJECT_CHARS} characters")));
    }
    Ok(subject.to_owned())
}

/// Normalizes numbers given in any form, naming the one at fault (`participants[2]`);
/// repeats are dropped, order kept.
pub fn parse_phones(state: &AppState, field: &str, raw: &[String], min: usize, max: usize) -> ApiResult<Vec<PhoneNumber>> {
    if raw.len() < min || raw.len() > max {
        let range = if min == 0 { format!("at most {max}") } else { format!("{min} to {max}") };
        return Err(ApiError::field(field, format!("`{field}` must list {range} phone numbers (got {})", raw.len())));
    }
    let mut phones: Vec<PhoneNumber> = Vec::with_capacity(raw.len());
    for (i, input) in raw.iter().enumerate() {
        let phone = PhoneNumber::parse(input, state.config.default_country)
            .map_err(|e| ApiError::field(format!("{field}[{i}]"), format!("`{field}[{i}]` {e}")))?;
        if !phones.contains(&phone) {
            phones.push(phone);
        }
    }
    Ok(phones)
}

pub async fn list(state: &AppState, actor: &Actor, id: &DeviceId) -> ApiResult<(Device, Vec<GroupInfo>)> {
    let t = target(state, actor, id)?;
    let groups = t.connector.list_groups(&t.device).await.map_err(connector_error)?;
    Ok((t.device, groups))
}

pub async fn get(state: &AppState, actor: &Actor, id: &DeviceId, jid: &GroupJid) -> ApiResult<GroupInfo> {
    let t = target(state, actor, id)?;
    t.connector.group_info(&t.device, jid).await.map_err(connector_error)
}

pub async fn create(state: &AppState, actor: &Actor, id: &DeviceId, subject: &str, participants: &[String]) -> ApiResult<CreatedGroup> {
    let subject = validate_subject(subject)?;
    let phones = parse_phones(state, "participants", participants, 0, MAX_PARTICIPANTS)?;
    let t = target(state, actor, id)?;
    t.connector.create_group(&t.device, &subject, &phones).await.map_err(connector_error)
}

pub async fn update_participants(
    state: &AppState,
    actor: &Actor,
    id: &DeviceId,
    jid: &GroupJid,
    action: ParticipantAction,
    participants: &[String],
) -> ApiResult<Vec<ParticipantResult>> {
    let phones = parse_phones(state, "participants", participants, 1, MAX_PARTICIPANTS)?;
    let t = target(state, actor, id)?;
    t.connector.update_participants(&t.device, jid, action, &phones).await.map_err(connector_error)
}

pub async fn invite_link(state: &AppState, actor: &Actor, id: &DeviceId, jid: &GroupJid, reset: bool) -> ApiResult<String> {
    let t = target(state, actor, id)?;
    t.connector.group_invite_link(&t.device, jid, reset).await.map_err(connector_error)
}

pub async fn leave(state: &AppState, actor: &Actor, id: &DeviceId, jid: &GroupJid) -> ApiResult<()> {
    let t = target(state, actor, id)?;
    t.connector.leave_group(&t.device, jid).await.map_err(connector_error)
}

/// One number as asked, with the answer.
pub struct Checked {
    pub input: String,
    pub check: NumberCheck,
}

/// Checks numbers through `device_id`, or the caller's own device (device token), or a
/// connected device of the tenant.
pub async fn check_numbers(
    state: &AppState,
    actor: &Actor,
    device_id: Option<&DeviceId>,
    raw: &[String],
) -> ApiResult<(Device, Vec<Checked>)> {
    let mut parsed = Vec::with_capacity(raw.len());
    if raw.is_empty() || raw.len() > MAX_CHECK {
        return Err(ApiError::field("phones", format!("`phones` must list 1 to {MAX_CHECK} phone numbers (got {})", raw.len())));
    }
    for (i, input) in raw.iter().enumerate() {
        let phone = PhoneNumber::parse(input, state.config.default_country)
            .map_err(|e| ApiError::field(format!("phones[{i}]"), format!("`phones[{i}]` {e}")))?;
        parsed.push(phone);
    }
    let t = match (&actor.device, device_id) {
        (Some((_, own)), Some(asked)) if own != asked => {
            return Err(ApiError::not_found("device").with_field("device_id"));
        }
        (Some((_, own)), _) => target(state, actor, own),
        (None, Some(id)) => target(state, actor, id).map_err(|e| e.with_field("device_id")),
        (None, None) => {
            let entry = state.devices.pick_for_send(actor.tenant_pk()).filter(|e| e.status() == DeviceStatus::Connected).ok_or_else(|| {
                ApiError::conflict(
                    "no_connected_device",
                    "this account has no connected device to check numbers with; link one (POST /v1/devices/{id}/connect) or name a `device_id`",
                )
            })?;
            connect_target(state, entry.snapshot())
        }
    }?;
    let mut distinct: Vec<PhoneNumber> = Vec::with_capacity(parsed.len());
    for phone in &parsed {
        if !distinct.contains(phone) {
            distinct.push(phone.clone());
        }
    }
    let answers = t.connector.check_numbers(&t.device, &distinct).await.map_err(connector_error)?;
    let checked = raw
        .iter()
        .zip(parsed)
        .map(|(input, phone)| {
            let check = answers.iter().find(|a| a.phone == phone).cloned().unwrap_or(NumberCheck { phone, on_whatsapp: false, jid: None });
            Checked { input: input.clone(), check }
        })
        .collect();
    Ok((t.device, checked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_refusals_read_as_api_errors() {
        let cases = [
            (ConnectorError::Unsupported("list WhatsApp groups".into()), StatusCode::UNPROCESSABLE_ENTITY, "capability_unsupported"),
            (ConnectorError::NotConnected, StatusCode::CONFLICT, "device_not_connected"),
            (ConnectorError::NotFound("no such group".into()), StatusCode::NOT_FOUND, "not_found"),
            (ConnectorError::Forbidden("admins only".into()), StatusCode::FORBIDDEN, "group_admin_required"),
            (ConnectorError::RateLimited { retry_after: None }, StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            (ConnectorError::Transient("timeout".into()), StatusCode::SERVICE_UNAVAILABLE, "connector_unavailable"),
            (ConnectorError::Permanent("refused".into()), StatusCode::BAD_GATEWAY, "connector_error"),
        ];
        for (error, status, code) in cases {
            let api = connector_error(error.clone());
            assert_eq!((api.status, api.code()), (status, code), "{error:?}");
            assert!(!api.detail.message.is_empty());
        }
        assert!(
            connector_error(ConnectorError::Unsupported("list WhatsApp groups".into())).detail.message.contains("list WhatsApp groups")
        );
    }
}
