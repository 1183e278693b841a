//! The event log: every state change writes one event in the same transaction (the outbox).
//! Payloads are built here, once, so every store backend writes identical events.

use serde::Serialize;
use serde_json::{Value, json};

use crate::Timestamp;
use crate::device::{Device, DeviceStatus};
use crate::id::{DeviceId, DevicePk, EventId, TenantPk};
use crate::message::{Direction, Message, MessageStatus};

pub mod types {
    pub const MESSAGE_SCHEDULED: &str = "message.scheduled";
    pub const MESSAGE_QUEUED: &str = "message.queued";
    pub const MESSAGE_SENT: &str = "message.sent";
    pub const MESSAGE_DELIVERED: &str = "message.delivered";
    pub const MESSAGE_READ: &str = "message.read";
    pub const MESSAGE_PLAYED: &str = "message.played";
    pub const MESSAGE_FAILED: &str = "message.failed";
    pub const MESSAGE_CANCELLED: &str = "message.cancelled";
    pub const MESSAGE_RETRYING: &str = "message.retrying";
    pub const MESSAGE_RECEIVED: &str = "message.received";
    pub const DEVICE_CREATED: &str = "device.created";
    pub const DEVICE_STATUS: &str = "device.status";
    pub const DEVICE_DELETED: &str = "device.deleted";
    /// A number was put on the blacklist (by the API, or by an opt-out keyword it sent).
    pub const BLACKLIST_ADDED: &str = "blacklist.added";
    /// A job was created and its message queued to the worker.
    pub const JOB_CREATED: &str = "job.created";
    /// A job's status changed (`from`, `to`, `reason`).
    pub const JOB_UPDATED: &str = "job.updated";
    /// The worker reported arriving at the location.
    pub const JOB_ARRIVED: &str = "job.arrived";
    /// The worker sent a photo, attached to the job as proof.
    pub const JOB_PROOF: &str = "job.proof";
    /// The worker sent a voice note (also written again when its transcription is known).
    pub const JOB_VOICE_NOTE: &str = "job.voice_note";
    /// A note on the job: an issue the worker reported, a quoted remark, a template sent about it.
    pub const JOB_NOTE: &str = "job.note";

    /// A WhatsApp call rang on a device (`from`, `video`, `rejected`: whether it was declined).
    pub const CALL_RECEIVED: &str = "call.received";
    pub const ALL: &[&str] = &[
        MESSAGE_SCHEDULED,
        MESSAGE_QUEUED,
        MESSAGE_SENT,
        MESSAGE_DELIVERED,
        MESSAGE_READ,
        MESSAGE_PLAYED,
        MESSAGE_FAILED,
        MESSAGE_CANCELLED,
        MESSAGE_RETRYING,
        MESSAGE_RECEIVED,
        DEVICE_CREATED,
        DEVICE_STATUS,
        DEVICE_DELETED,
        BLACKLIST_ADDED,
        JOB_CREATED,
        JOB_UPDATED,
        JOB_ARRIVED,
        JOB_PROOF,
        JOB_VOICE_NOTE,
        JOB_NOTE,
        CALL_RECEIVED,
        crate::agent::types::CONVERSATION_ASSIGNED,
        crate::agent::types::CONVERSATION_UNASSIGNED,
    ];
}

/// An event to append; the store gives it its sequence number (the cursor).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub id: EventId,
    pub tenant_pk: TenantPk,
    pub device_pk: Option<DevicePk>,
    pub event_type: &'static str,
    pub data: Value,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Position in the log; `?after=<seq>` resumes after it.
    pub seq: i64,
    pub id: EventId,
    #[serde(skip)]
    pub tenant_pk: TenantPk,
    pub device_id: Option<DeviceId>,
    #[serde(rename = "type")]
    pub event_type: String,
    pub data: Value,
    pub created_at: Timestamp,
}

/// The event type a message status change is announced as.
pub fn message_event_type(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Scheduled => types::MESSAGE_SCHEDULED,
        MessageStatus::Pending => types::MESSAGE_QUEUED,
        MessageStatus::Sending => types::MESSAGE_RETRYING,
        MessageStatus::Sent => types::MESSAGE_SENT,
        MessageStatus::Delivered => types::MESSAGE_DELIVERED,
        MessageStatus::Read => types::MESSAGE_READ,
        MessageStatus::Played => types::MESSAGE_PLAYED,
        MessageStatus::Failed => types::MESSAGE_FAILED,
        MessageStatus::Cancelled => types::MESSAGE_CANCELLED,
        MessageStatus::Received => types::MESSAGE_RECEIVED,
    }
}

/// The event for a message as it is now. Outbound events carry no content (it may be secret);
/// `message.received` carries the content, since that is what a receiver needs.
pub fn for_message(message: &Message, event_type: &'static str, at: Timestamp) -> NewEvent {
    let mut data = json!({
        "id": message.id,
        "device_id": message.device_id,
        "direction": message.direction.as_str(),
        "status": message.status.as_str(),
        "type": message.content.kind(),
        "ref_id": message.ref_id,
        "network_id": message.network_id,
    });
    let map = data.as_object_mut().expect("object");
    match message.direction {
        Direction::Outbound => {
            map.insert("to".into(), json!(message.chat));
            map.insert("attempts".into(), json!(message.attempts));
            if let Some(error) = &message.last_error
                && matches!(message.status, MessageStatus::Failed | MessageStatus::Pending)
            {
                map.insert("error".into(), json!(error));
            }
            if message.status == MessageStatus::Pending {
                map.insert("next_attempt_at".into(), json!(message.next_attempt_at));
            }
            if let Some(schedule) = &message.schedule {
                map.insert("scheduled_at".into(), json!(schedule.at));
            }
            if let Some(source) = &message.options.source {
                map.insert("source".into(), json!(source));
            }
            if let Some(original) = &message.options.resend_of {
                map.insert("resend_of".into(), json!(original));
            }
        }
        Direction::Inbound => {
            map.insert("from".into(), json!(message.chat));
            map.insert("sender".into(), json!(message.sender));
            map.insert("content".into(), serde_json::to_value(&message.content).unwrap_or(Value::Null));
            map.insert("reply_to".into(), json!(message.reply_to));
        }
    }
    NewEvent { id: EventId::generate(), tenant_pk: message.tenant_pk, device_pk: Some(message.device_pk), event_type, data, created_at: at }
}

/// The event for a device's status change.
pub fn for_device_status(device: &Device, previous: DeviceStatus, at: Timestamp) -> NewEvent {
    NewEvent {
        id: EventId::generate(),
        tenant_pk: device.tenant_pk,
        device_pk: Some(device.pk),
        event_type: types::DEVICE_STATUS,
        data: json!({
            "device_id": device.id,
            "status": device.status.as_str(),
            "previous": previous.as_str(),
            "detail": device.status_detail,
            "phone": device.phone,
        }),
        created_at: at,
    }
}

/// `device.created` / `device.deleted`.
pub fn for_device(device: &Device, event_type: &'static str, at: Timestamp) -> NewEvent {
    NewEvent {
        id: EventId::generate(),
        tenant_pk: device.tenant_pk,
        device_pk: Some(device.pk),
        event_type,
        data: json!({
            "device_id": device.id,
            "name": device.name,
            "connector": device.connector.as_str(),
            "status": device.status.as_str(),
        }),
        created_at: at,
    }
}
