//! The mapping of the library's events to Kirim link states, built with the library's own event
//! builders.

use std::time::Duration;

use kirim_core::device::{DeviceStatus, LinkCode};
use kirim_core::{PhoneNumber, Timestamp};
use kirim_wa::connector::link::{Effect, End, LinkChange, Linking, map_event};
use whatsapp_rust::pair_code::PairCodeRejection;
use whatsapp_rust::transport::DisconnectReason;
use whatsapp_rust::types::events::{
    ClientOutdated, ConnectFailure, ConnectFailureReason, Connected, Disconnected, Event, LoggedOut, OfflineSyncCompleted, PairError,
    PairSuccess, PairingCode, PairingCodeError, PairingCodeRefresh, PairingQrCode, PairingQrCodesExhausted, QrScannedWithoutMultidevice,
    StreamReplaced, TempBanReason, TemporaryBan,
};
use whatsapp_rust::wacore_binary::Jid;

fn now() -> Timestamp {
    "2025-06-01T12:00:00Z".parse().unwrap()
}

fn map(event: Event) -> Option<LinkChange> {
    map_event(&event, Linking::Qr, now())
}

fn mapped(event: Event) -> LinkChange {
    map(event).expect("the event changes the link")
}

fn status(change: &LinkChange) -> DeviceStatus {
    change.state.as_ref().expect("a state to report").status
}

fn detail(change: &LinkChange) -> String {
    change.state.as_ref().and_then(|s| s.detail.clone()).expect("a detail")
}

fn qr(code: &str, secs: u64) -> Event {
    Event::PairingQrCode(PairingQrCode::builder().code(code.to_owned()).timeout(Duration::from_secs(secs)).build())
}

#[test]
fn a_qr_code_is_shown_with_its_expiry() {
    let change = mapped(qr("2@ref,noise,identity,adv,1", 60));
    let state = change.state.unwrap();
    assert_eq!(state.status, DeviceStatus::AwaitingScan);
    assert_eq!(state.qr, Some(LinkCode { code: "2@ref,noise,identity,adv,1".into(), expires_at: now() + chrono::Duration::seconds(60) }));
    assert_eq!((state.pair_code, state.phone, state.detail), (None, None, None));
    assert_eq!(change.effect, Effect::None);

    let next = mapped(qr("2@next", 20)).state.unwrap();
    assert_eq!(
        next.qr.map(|q| (q.code, q.expires_at)),
        Some(("2@next".into(), now() + chrono::Duration::seconds(20))),
        "a new code replaces the old"
    );
}

#[test]
fn qr_codes_are_not_shown_while_linking_by_pairing_code() {
    assert_eq!(map_event(&qr("2@ref", 60), Linking::PairCode, now()), None);
    assert!(map_event(&qr("2@ref", 60), Linking::Resume, now()).is_some());
}

#[test]
fn running_out_of_qr_codes_expires_the_link() {
    let exhausted = |disconnected| Event::PairingQrCodesExhausted(PairingQrCodesExhausted::builder().disconnected(disconnected).build());
    let change = mapped(exhausted(true));
    assert_eq!((status(&change), change.effect.clone()), (DeviceStatus::LinkExpired, Effect::End(End::LinkExpired)));
    assert!(detail(&change).contains("QR"));
    // With a pairing code outstanding the connection stays, and the code is still good.
    assert_eq!(map_event(&exhausted(false), Linking::PairCode, now()), None);
    assert_eq!(map_event(&exhausted(true), Linking::PairCode, now()).map(|c| c.effect), Some(Effect::End(End::LinkExpired)));
}

#[test]
fn a_pairing_code_is_shown_with_its_expiry() {
    let event = Event::PairingCode(PairingCode::builder().code("ABCD-EFGH".into()).timeout(Duration::from_secs(180)).build());
    let state = map_event(&event, Linking::PairCode, now()).unwrap().state.unwrap();
    assert_eq!(state.status, DeviceStatus::AwaitingPairCode);
    assert_eq!(state.pair_code, Some(LinkCode { code: "ABCD-EFGH".into(), expires_at: now() + chrono::Duration::seconds(180) }));
    assert_eq!(state.qr, None);
}

#[test]
fn a_failed_pairing_code_ends_linking_and_says_how_long_to_wait() {
    let with_backoff = Event::PairingCodeError(
        PairingCodeError::builder()
            .error("bad-request".into())
            .backoff(Duration::from_secs(150))
            .rejection(PairCodeRejection::BadRequest)
            .build(),
    );
    let change = map_event(&with_backoff, Linking::PairCode, now()).unwrap();
    assert_eq!((status(&change), change.effect.clone()), (DeviceStatus::Disconnected, Effect::End(End::LinkFailed)));
    let text = detail(&change);
    assert!(text.contains("bad-request") && text.contains("wait 2m"), "{text}");

    let throttled = Event::PairingCodeError(
        PairingCodeError::builder().error("rate-overlimit".into()).rejection(PairCodeRejection::RateOverlimit).build(),
    );
    assert!(detail(&map_event(&throttled, Linking::PairCode, now()).unwrap()).contains("too many codes"));
    let local = Event::PairingCodeError(PairingCodeError::builder().error("phone number too short".into()).build());
    assert_eq!(detail(&mapped(local)), "the pairing code failed: phone number too short");
}

#[test]
fn a_refresh_asks_for_a_new_pairing_code_only_when_linking_by_code() {
    let refresh = Event::PairingCodeRefresh(PairingCodeRefresh::builder().force_manual(false).build());
    assert_eq!(map_event(&refresh, Linking::PairCode, now()), Some(LinkChange { state: None, effect: Effect::RefreshPairCode }));
    assert_eq!(map_event(&refresh, Linking::Qr, now()), None);
}

#[test]
fn pairing_connects_with_the_number_and_keeps_the_lid() {
    let event = Event::PairSuccess(
        PairSuccess::builder()
            .id(Jid::pn_device("60123456789", 3))
            .lid(Jid::lid_device("100000000000001", 3))
            .business_name(String::new())
            .platform("android".into())
            .build(),
    );
    let change = mapped(event);
    let state = change.state.unwrap();
    assert_eq!(state.status, DeviceStatus::Connected);
    assert_eq!(state.phone, Some(PhoneNumber::parse("+60123456789", None).unwrap()));
    assert_eq!(change.effect, Effect::Paired { pn: Jid::pn("60123456789"), lid: Jid::lid("100000000000001") }, "device suffixes dropped");
}

#[test]
fn a_refused_pairing_ends_linking() {
    let event = Event::PairError(
        PairError::builder()
            .id(Jid::pn("60123456789"))
            .lid(Jid::lid("1"))
            .business_name(String::new())
            .platform(String::new())
            .error("HMAC mismatch".into())
            .build(),
    );
    let change = mapped(event);
    assert_eq!((status(&change), change.effect.clone()), (DeviceStatus::Disconnected, Effect::End(End::LinkFailed)));
    assert!(detail(&change).contains("HMAC mismatch"));
}

#[test]
fn connected_and_disconnected_drive_the_watchdog() {
    let up = mapped(Event::Connected(Connected::builder().build()));
    assert_eq!((status(&up), up.effect), (DeviceStatus::Connected, Effect::Up));
    assert_eq!(up.state.unwrap().phone, None, "a phone of None keeps the stored one");

    let down = mapped(Event::Disconnected(Disconnected::builder().reason(DisconnectReason::ReadError("reset by peer".into())).build()));
    assert_eq!((status(&down), down.effect.clone()), (DeviceStatus::Connecting, Effect::Down), "the library reconnects by itself");
    assert!(detail(&down).contains("reset by peer"));
}

#[test]
fn a_logout_ends_the_session() {
    let from_phone = mapped(Event::LoggedOut(LoggedOut::builder().on_connect(false).reason(ConnectFailureReason::LoggedOut).build()));
    assert_eq!((status(&from_phone), from_phone.effect.clone()), (DeviceStatus::LoggedOut, Effect::End(End::LoggedOut)));
    let while_offline = mapped(Event::LoggedOut(LoggedOut::builder().on_connect(true).reason(ConnectFailureReason::LoggedOut).build()));
    assert!(detail(&while_offline).contains("offline"));
    let locked = mapped(Event::LoggedOut(LoggedOut::builder().on_connect(true).reason(ConnectFailureReason::AccountLocked).build()));
    assert!(detail(&locked).contains("locked"));
}

#[test]
fn a_replaced_stream_is_a_conflict() {
    let change = mapped(Event::StreamReplaced(StreamReplaced::builder().build()));
    assert_eq!((status(&change), change.effect), (DeviceStatus::Conflict, Effect::End(End::Conflict)));
}

#[test]
fn a_temporary_ban_names_when_it_ends() {
    let ban = TemporaryBan::builder().code(TempBanReason::SentToTooManyPeople).expire(chrono::Duration::hours(26)).build();
    let change = mapped(Event::TemporaryBan(ban));
    assert_eq!((status(&change), change.effect.clone()), (DeviceStatus::Banned, Effect::End(End::Banned)));
    let text = detail(&change);
    assert!(text.contains("until 2025-06-02T14:00:00Z") && text.contains("1d 2h"), "{text}");
    assert!(text.contains("101"), "the reason code: {text}");
}

#[test]
fn an_outdated_client_is_outdated() {
    let change = mapped(Event::ClientOutdated(ClientOutdated::builder().build()));
    assert_eq!((status(&change), change.effect), (DeviceStatus::Outdated, Effect::End(End::Outdated)));
}

#[test]
fn a_refused_connection_is_disconnected_with_the_reason() {
    let failure = |reason, message: Option<&str>| {
        Event::ConnectFailure(ConnectFailure::builder().reason(reason).maybe_message(message.map(str::to_owned)).build())
    };
    let unavailable = mapped(failure(ConnectFailureReason::ServiceUnavailable, None));
    assert_eq!((status(&unavailable), unavailable.effect.clone()), (DeviceStatus::Disconnected, Effect::Refused { library_retries: true }));
    let generic = mapped(failure(ConnectFailureReason::Generic, Some("bad stanza")));
    assert_eq!(generic.effect, Effect::Refused { library_retries: false });
    let text = detail(&generic);
    assert!(text.contains("400") && text.contains("bad stanza"), "{text}");
}

#[test]
fn events_that_do_not_touch_the_link_are_not_mapped() {
    assert_eq!(map(Event::QrScannedWithoutMultidevice(QrScannedWithoutMultidevice::builder().build())), None);
    assert_eq!(map(Event::OfflineSyncCompleted(OfflineSyncCompleted::builder().count(3).build())), None);
}
