//! What the library's events mean for a device's link status.
//!
//! [`map_event`] is a pure function from one library [`Event`] to the [`LinkState`] Kirim should
//! show and what the session has to do about it ([`Effect`]). Keeping it free of I/O lets it be
//! tested with the library's own event builders, and keeps the session supervisor about
//! *doing* things (timers, restarts, clearing state) rather than interpreting the protocol.

use std::time::Duration;

use kirim_core::device::{DeviceStatus, LinkCode, LinkState};
use kirim_core::{PhoneNumber, Timestamp};
use whatsapp_rust::types::events::{ConnectFailureReason, Event};
use whatsapp_rust::wacore_binary::Jid;

/// How the session was started, which decides what some events mean: while linking by pairing
/// code the server still rotates QR codes on the same connection, and showing them would replace
/// the code the user is typing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    /// A linked session resuming; no codes are expected.
    Resume,
    /// Linking by scanning QR codes.
    Qr,
    /// Linking by typing a pairing code into the phone.
    PairCode,
}

/// Why a session is over. The supervisor stops the client and does not restart it: each of
/// these needs a person (to scan again, to update Kirim, to wait out a ban) or would fight
/// another client if retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Unlinked (from the phone, or refused at login): the session must be forgotten.
    LoggedOut,
    /// Another client took the session over; reconnecting would take it back and start a
    /// tug of war, so only an explicit `connect` does.
    Conflict,
    Banned,
    Outdated,
    /// Linking ran out of codes, or the pairing code expired.
    LinkExpired,
    /// Linking failed (pairing refused or the pairing code could not be issued).
    LinkFailed,
}

/// What the session does besides reporting the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// The device is linked to this account: its phone-number JID and LID, to remember.
    Paired { pn: Jid, lid: Jid },
    /// The connection is up: stop watching for a reconnect.
    Up,
    /// The connection dropped and the library reconnects by itself: count it, and watch that
    /// it comes back (the library retries silently, so nothing else would say it did not).
    Down,
    /// The server refused the connection. `library_retries` says whether the library keeps
    /// trying by itself; if not, the supervisor restarts the client with its own backoff.
    Refused { library_retries: bool },
    /// The server asked for a new pairing code (the previous one is void).
    RefreshPairCode,
    /// The session is over.
    End(End),
}

/// The outcome of one event: the state to report (if any) and the effect.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkChange {
    pub state: Option<LinkState>,
    pub effect: Effect,
}

impl LinkChange {
    fn report(state: LinkState, effect: Effect) -> Self {
        Self { state: Some(state), effect }
    }
}

fn at(now: Timestamp, after: Duration) -> Timestamp {
    now + chrono::Duration::from_std(after).unwrap_or_else(|_| chrono::Duration::days(3650))
}

fn state(status: DeviceStatus, detail: impl Into<String>) -> LinkState {
    LinkState::status(status).with_detail(detail)
}

/// The E.164 number of a phone-number JID (`60123456789:3@s.whatsapp.net` → `+60123456789`).
/// WhatsApp user ids are the number's digits; they are trusted as given rather than validated
/// against numbering plans, which lag behind the numbers WhatsApp actually has.
pub fn phone_of(jid: &Jid) -> Option<PhoneNumber> {
    if !jid.is_pn() {
        return None;
    }
    let digits = jid.user.as_str();
    let plausible = (5..=17).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
    plausible.then(|| PhoneNumber::from_stored(format!("+{digits}")))
}

/// A duration as people say it: `45s`, `12m`, `3h 20m`, `2d 4h`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn logged_out_detail(reason: ConnectFailureReason, on_connect: bool) -> String {
    match reason {
        ConnectFailureReason::AccountLocked => "WhatsApp locked the account; unlock it on the phone, then link again".into(),
        _ if on_connect => "the device was unlinked while it was offline; link it again".into(),
        _ => "the device was unlinked (from the phone, or by logout); link it again".into(),
    }
}

/// Maps one library event to a link change; `None` for events that do not touch the link.
///
/// Not mapped, on purpose: `QrScannedWithoutMultidevice` (it carries no code, and reporting it
/// would clear the QR on screen), `StreamError` (the library handles it; what follows is a
/// `Disconnected` or a logout), passkey linking events (Kirim does not offer passkey linking).
pub fn map_event(event: &Event, linking: Linking, now: Timestamp) -> Option<LinkChange> {
    use DeviceStatus::*;
    let change = match event {
        Event::PairingQrCode(qr) => {
            if linking == Linking::PairCode {
                return None;
            }
            let code = LinkCode { code: qr.code.clone(), expires_at: at(now, qr.timeout) };
            LinkChange::report(LinkState { qr: Some(code), ..LinkState::status(AwaitingScan) }, Effect::None)
        }
        Event::PairingQrCodesExhausted(exhausted) => {
            // While a pairing code is outstanding the library keeps the connection (the code
            // stays valid past the QR rotation), so for that flow this is not the end.
            if linking == Linking::PairCode && !exhausted.disconnected {
                return None;
            }
            let detail = "every QR code expired without a scan; connect again for new codes";
            LinkChange::report(state(LinkExpired, detail), Effect::End(End::LinkExpired))
        }
        Event::PairingCode(pc) => {
            let code = LinkCode { code: pc.code.clone(), expires_at: at(now, pc.timeout) };
            LinkChange::report(LinkState { pair_code: Some(code), ..LinkState::status(AwaitingPairCode) }, Effect::None)
        }
        Event::PairingCodeRefresh(_) => {
            if linking != Linking::PairCode {
                return None;
            }
            LinkChange { state: None, effect: Effect::RefreshPairCode }
        }
        Event::PairingCodeError(error) => {
            let mut detail = format!("the pairing code failed: {}", error.error);
            if let Some(backoff) = error.backoff {
                detail.push_str(&format!("; WhatsApp asks to wait {} before requesting another", human_duration(backoff)));
            } else if error.rejection.is_some_and(|r| r.is_throttled()) {
                detail.push_str("; too many codes were requested for this number, wait before requesting another");
            }
            LinkChange::report(state(Disconnected, detail), Effect::End(End::LinkFailed))
        }
        Event::PairSuccess(success) => {
            let phone = phone_of(&success.id);
            let linked = LinkState { phone, ..LinkState::status(Connected) };
            LinkChange::report(linked, Effect::Paired { pn: success.id.to_non_ad(), lid: success.lid.to_non_ad() })
        }
        Event::PairError(error) => {
            let detail = format!("linking failed: {}", error.error);
            LinkChange::report(state(Disconnected, detail), Effect::End(End::LinkFailed))
        }
        Event::Connected(_) => LinkChange::report(LinkState::status(Connected), Effect::Up),
        Event::Disconnected(lost) => {
            let detail = format!("connection lost ({}); reconnecting", lost.reason);
            LinkChange::report(state(Connecting, detail), Effect::Down)
        }
        Event::LoggedOut(out) => {
            LinkChange::report(state(LoggedOut, logged_out_detail(out.reason, out.on_connect)), Effect::End(End::LoggedOut))
        }
        Event::StreamReplaced(_) => {
            let detail = "another WhatsApp Web client took over this session; connect again to take it back";
            LinkChange::report(state(Conflict, detail), Effect::End(End::Conflict))
        }
        Event::TemporaryBan(ban) => {
            let until = now + ban.expire;
            let detail = format!(
                "temporarily banned by WhatsApp until {} ({} from now): {}",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                human_duration(ban.expire.to_std().unwrap_or_default()),
                ban.code
            );
            LinkChange::report(state(Banned, detail), Effect::End(End::Banned))
        }
        Event::ClientOutdated(_) => {
            let detail = "WhatsApp refused this client version; update Kirim (or its configured WhatsApp Web version)";
            LinkChange::report(state(Outdated, detail), Effect::End(End::Outdated))
        }
        Event::ConnectFailure(failure) => {
            let library_retries = failure.reason.should_reconnect();
            let mut detail = format!("WhatsApp refused the connection ({:?}, code {})", failure.reason, failure.reason.code());
            if let Some(message) = failure.message.as_deref().filter(|m| !m.is_empty()) {
                detail.push_str(&format!(": {message}"));
            }
            LinkChange::report(state(Disconnected, detail), Effect::Refused { library_retries })
        }
        _ => return None,
    };
    Some(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_speech() {
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
        assert_eq!(human_duration(Duration::from_secs(12 * 60 + 5)), "12m");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600 + 20 * 60)), "3h 20m");
        assert_eq!(human_duration(Duration::from_secs(2 * 86_400 + 4 * 3600)), "2d 4h");
    }

    #[test]
    fn only_phone_number_jids_give_phones() {
        assert_eq!(phone_of(&Jid::pn("60123456789")).map(|p| p.to_string()), Some("+60123456789".into()));
        assert_eq!(phone_of(&Jid::lid("100000000000001")), None);
        assert_eq!(phone_of(&Jid::pn("12")), None);
    }
}
