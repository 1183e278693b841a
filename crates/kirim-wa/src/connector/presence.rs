//! Chat states ("typing…", "recording audio…") and the typing pause before a text send.
//!
//! A person types before a message appears; a number whose texts arrive instantly, one after
//! another, looks like what it is. With a typing pause the connector shows "typing…" in the
//! chat, waits about as long as the text takes to type, clears it, then sends. The pause is
//! taken inside `send` (which is where the send worker paces a device anyway) and never waits
//! on the sink.

use std::time::Duration;

use kirim_core::connector::{ConnectorError, Presence};
use whatsapp_rust::Client;
use whatsapp_rust::features::{ChatStateError, ChatStateType};
use whatsapp_rust::wacore_binary::Jid;

use super::errors;

/// How long the connector "types" before a text. Off (`base` zero) by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypingPause {
    /// The pause for a text of up to [`CHARS_PER_STEP`] characters; zero turns pauses off.
    pub base: Duration,
    /// The longest pause, however long the text.
    pub max: Duration,
}

/// Each started block of this many characters adds `base` to the pause.
pub const CHARS_PER_STEP: usize = 100;

impl TypingPause {
    /// The pause before sending `text`: `base` per started 100 characters, at most `max`.
    pub fn for_text(&self, text: &str) -> Duration {
        if self.base.is_zero() {
            return Duration::ZERO;
        }
        let steps = text.chars().count().div_ceil(CHARS_PER_STEP).max(1) as u32;
        self.base.saturating_mul(steps).min(self.max.max(self.base))
    }
}

fn chat_state(presence: Presence) -> ChatStateType {
    match presence {
        Presence::Typing => ChatStateType::Composing,
        Presence::Recording => ChatStateType::Recording,
        Presence::Paused => ChatStateType::Paused,
    }
}

fn chat_state_error(error: &ChatStateError) -> ConnectorError {
    match error {
        ChatStateError::Client(e) => errors::client_error(e),
        other => ConnectorError::Transient(other.to_string()),
    }
}

/// Shows `presence` in the chat with `to`.
pub(crate) async fn show(client: &Client, to: &Jid, presence: Presence) -> Result<(), ConnectorError> {
    client.chatstate().send(to, chat_state(presence)).await.map_err(|e| chat_state_error(&e))
}

/// "Types" for `pause` in the chat with `to`, then clears the indicator. A chat state that
/// cannot be sent does not stop the message: it is only a courtesy, and the send that
/// follows reports any real trouble with the connection.
pub(crate) async fn type_for(client: &Client, to: &Jid, pause: Duration) {
    if pause.is_zero() {
        return;
    }
    if let Err(error) = show(client, to, Presence::Typing).await {
        tracing::debug!(%error, "whatsapp-web: could not show typing before a send");
        return;
    }
    tokio::time::sleep(pause).await;
    if let Err(error) = show(client, to, Presence::Paused).await {
        tracing::debug!(%error, "whatsapp-web: could not clear typing before a send");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_grows_with_the_text_up_to_its_cap() {
        let pause = TypingPause { base: Duration::from_millis(800), max: Duration::from_secs(3) };
        assert_eq!(pause.for_text("ok"), Duration::from_millis(800));
        assert_eq!(pause.for_text(&"a".repeat(100)), Duration::from_millis(800));
        assert_eq!(pause.for_text(&"a".repeat(101)), Duration::from_millis(1600));
        assert_eq!(pause.for_text(&"é".repeat(250)), Duration::from_millis(2400), "characters, not bytes");
        assert_eq!(pause.for_text(&"a".repeat(4096)), Duration::from_secs(3));
        assert_eq!(TypingPause::default().for_text("anything"), Duration::ZERO, "off by default");
        let uncapped = TypingPause { base: Duration::from_secs(2), max: Duration::ZERO };
        assert_eq!(uncapped.for_text("x"), Duration::from_secs(2), "a cap below the base is the base");
    }
}
