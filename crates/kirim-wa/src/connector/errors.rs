//! Library errors as [`ConnectorError`]s, which decide whether Kirim's send worker retries.
//!
//! The rule of thumb: anything about the connection is `NotConnected` (retried once the device
//! is back), a server refusal is permanent unless the server says to slow down or is itself
//! failing, and anything the library cannot classify is transient, because the worker gives up
//! after the device's `max_attempts` anyway while a wrong "permanent" loses a message at once.

use std::time::Duration;

use kirim_core::connector::ConnectorError;
use whatsapp_rust::features::ContactError;
use whatsapp_rust::{ClientError, IqError, PollError, SendError};

/// HTTP-like codes the server uses for "slow down".
const RATE_LIMITED: [u16; 2] = [429, 420];

/// Maps an error of the send pipeline.
pub fn send_error(error: &SendError) -> ConnectorError {
    match error {
        SendError::NotLoggedIn => ConnectorError::NotConnected,
        SendError::Client(client) => client_error(client),
        SendError::Iq(iq) => iq_error(iq),
        SendError::InvalidRequest(why) => ConnectorError::Permanent(format!("WhatsApp cannot send this: {why}")),
        other => ConnectorError::Transient(format!("WhatsApp send failed: {other}")),
    }
}

/// Maps an error of poll creation.
pub fn poll_error(error: &PollError) -> ConnectorError {
    match error {
        PollError::Send(send) => send_error(send),
        PollError::NotLoggedIn => ConnectorError::NotConnected,
        PollError::InvalidPoll(why) => ConnectorError::Permanent(format!("WhatsApp refuses this poll: {why}")),
        other => ConnectorError::Transient(format!("WhatsApp poll failed: {other}")),
    }
}

/// Maps an error of the connection layer.
pub fn client_error(error: &ClientError) -> ConnectorError {
    if error.is_transport_unavailable() {
        return ConnectorError::NotConnected;
    }
    match error {
        ClientError::NotConnected | ClientError::NotLoggedIn => ConnectorError::NotConnected,
        ClientError::Iq(iq) => iq_error(iq),
        other => ConnectorError::Transient(format!("WhatsApp connection error: {other}")),
    }
}

/// Maps a failed request to the server (group metadata, device lists, existence checks).
pub fn iq_error(error: &IqError) -> ConnectorError {
    match error {
        IqError::NotConnected | IqError::Disconnected(_) | IqError::InternalChannelClosed => ConnectorError::NotConnected,
        IqError::ClientState(client) => client_error(client),
        IqError::Timeout => ConnectorError::Transient("WhatsApp did not answer in time".into()),
        IqError::ServerError { code, text, backoff, .. } => server_refusal(*code, text, backoff.map(|s| Duration::from_secs(u64::from(s)))),
        other => ConnectorError::Transient(format!("WhatsApp request failed: {other}")),
    }
}

/// Maps a server's refusal of a request by its code.
pub fn server_refusal(code: u16, text: &str, backoff: Option<Duration>) -> ConnectorError {
    if RATE_LIMITED.contains(&code) || backoff.is_some() && code < 500 {
        return ConnectorError::RateLimited { retry_after: backoff };
    }
    let what = if text.is_empty() { format!("code {code}") } else { format!("{text}, code {code}") };
    match code {
        // The server, or a server behind it, is failing: that passes.
        500.. | 408 => ConnectorError::Transient(format!("WhatsApp had a server error ({what})")),
        // 404 for a group (item-not-found), 403 (not a participant), 406 (not acceptable) …:
        // asking again gets the same answer.
        _ => ConnectorError::Permanent(format!("WhatsApp refused the message ({what})")),
    }
}

/// Maps an error of the existence check that precedes sends to phone numbers.
pub fn contact_error(error: &ContactError) -> ConnectorError {
    match error {
        ContactError::Iq(iq) => iq_error(iq),
        other => ConnectorError::Permanent(format!("WhatsApp cannot look this number up: {other}")),
    }
}

/// Maps a failed media upload (the library reports it as `anyhow`).
pub fn upload_error(error: &anyhow::Error) -> ConnectorError {
    if let Some(client) = error.downcast_ref::<ClientError>() {
        return client_error(client);
    }
    if let Some(iq) = error.downcast_ref::<IqError>() {
        return iq_error(iq);
    }
    ConnectorError::Transient(format!("uploading the file to WhatsApp failed: {error:#}"))
}
