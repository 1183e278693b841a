//! Kirim's domain, free of HTTP and SQL: the types every other crate speaks and
//! the two boundaries the gateway is built around, [`store`] and [`connector`].

pub mod agent;
pub mod auto_reply;
pub mod clock;
pub mod connector;
pub mod contact;
pub mod content;
pub mod device;
pub mod event;
pub mod group;
pub mod id;
pub mod job;
pub mod media;
pub mod message;
pub mod phone;
pub mod reminder;
pub mod report;
pub mod rules_store;
pub mod secret;
pub mod sending;
pub mod session;
pub mod store;
pub mod template;
pub mod tenant;
pub mod usage;
pub mod webhook;

pub use clock::{Clock, ManualClock, SystemClock};
pub use id::{
    AgentId, AutoReplyId, ContactGroupId, ContactId, ConversationId, DeliveryId, DeviceId, EventId, JobId, KeyId, MediaId, MessageId,
    ReminderId, TemplateId, TenantId, WebhookId,
};
pub use phone::{PhoneError, PhoneNumber, Recipient};
pub use secret::{Secret, TokenHash};

/// Timestamps are UTC everywhere inside Kirim; time zones exist only at the edges.
pub type Timestamp = chrono::DateTime<chrono::Utc>;
