//! Chat states and calls over the fake WhatsApp server: the typing pause before a text, chat
//! states asked for by the API, and calls declined (or not) as the device's settings say.
//! On a paused clock, like the other connector tests.

use std::time::Duration;

use kirim_core::connector::{Connector, ConnectorError, Presence};
use kirim_core::{PhoneNumber, Recipient};
use kirim_wa::fake::{FakeServer, ReceivedNode, nodes};
use whatsapp_rust::NodeBuilder;
use whatsapp_rust::wacore_binary::Node;

mod world;
use world::{LONG, Seen, World, device, text_to};

const CALLER: &str = "60123456789";

fn chat_state(node: &ReceivedNode, state: &str) -> bool {
    let n = &node.node;
    n.tag == "chatstate"
        && nodes::attr(n, "to").as_deref() == Some(&format!("{CALLER}@s.whatsapp.net"))
        && nodes::describe(n).contains(&format!("<{state}"))
}

/// With a typing pause, a text is preceded by "typing…" in its chat for the pause, then by
/// "paused"; only then does the send go on.
#[tokio::test(start_paused = true)]
async fn a_text_is_typed_for_the_pause_before_it_is_sent() {
    let pause = Duration::from_secs(2);
    let world = World::with(FakeServer::new(), |o| o.with_recipient_check(false).with_typing_pause(pause, Duration::from_secs(10)));
    let device = device(40);
    let next = world.link(&device).await;
    world.logged_in(&device, next).await;

    let started = tokio::time::Instant::now();
    let sending = {
        let message = text_to(&format!("+{CALLER}"));
        let (connector, device) = (&world.connector, device.clone());
        async move { connector.send(&device, &message).await }
    };
    let watch = async {
        world.server.wait_for_node(LONG, "typing", |n| chat_state(n, "composing")).await.expect("typing is shown");
        let typed_at = tokio::time::Instant::now();
        world.server.wait_for_node(LONG, "paused", |n| chat_state(n, "paused")).await.expect("typing is cleared");
        (typed_at, tokio::time::Instant::now())
    };
    let (_, (typed_at, paused_at)) = tokio::join!(sending, watch);
    assert!(paused_at - typed_at >= pause, "typed for {:?}", paused_at - typed_at);
    assert!(typed_at - started < pause, "typing starts at once");
    let received = world.server.received();
    let typing = received.iter().position(|n| chat_state(n, "composing")).unwrap();
    let paused = received.iter().position(|n| chat_state(n, "paused")).unwrap();
    assert!(typing < paused);
    world.connector.stop(device.pk).await;
}

/// Without a typing pause (the default) nothing but the message goes to the chat.
#[tokio::test(start_paused = true)]
async fn without_a_pause_no_chat_state_is_sent() {
    let world = World::with(FakeServer::new(), |o| o.with_recipient_check(false));
    let device = device(41);
    let next = world.link(&device).await;
    world.logged_in(&device, next).await;
    let _ = world.connector.send(&device, &text_to(&format!("+{CALLER}"))).await;
    assert!(!world.server.received().iter().any(|n| n.node.tag == "chatstate"));
    world.connector.stop(device.pk).await;
}

/// `send_presence` shows a chat state at once; a device that is not connected cannot.
#[tokio::test(start_paused = true)]
async fn presence_goes_to_the_chat_while_connected() {
    let world = World::new(FakeServer::new());
    let device = device(42);
    let to = Recipient::Phone(PhoneNumber::parse(&format!("+{CALLER}"), None).unwrap());
    assert_eq!(world.connector.send_presence(&device, &to, Presence::Typing).await, Err(ConnectorError::NotConnected));

    let next = world.link(&device).await;
    world.logged_in(&device, next).await;
    world.connector.send_presence(&device, &to, Presence::Recording).await.unwrap();
    let recording = world.server.wait_for_node(LONG, "recording", |n| chat_state(n, "composing")).await.unwrap();
    assert_eq!(
        nodes::describe(&recording.node),
        format!(r#"<chatstate to="{CALLER}@s.whatsapp.net"><composing media="audio"/></chatstate>"#)
    );
    world.connector.send_presence(&device, &to, Presence::Paused).await.unwrap();
    world.server.wait_for_node(LONG, "paused", |n| chat_state(n, "paused")).await.unwrap();
    world.connector.stop(device.pk).await;
}

/// A call offer as WhatsApp's server delivers it.
fn offer(call_id: &str) -> Node {
    let caller = format!("{CALLER}@s.whatsapp.net");
    NodeBuilder::new("call")
        .attr("from", caller.as_str())
        .attr("id", format!("STANZA-{call_id}"))
        .attr("t", "1766847151")
        .children([NodeBuilder::new("offer").attr("call-id", call_id).attr("call-creator", caller.as_str()).build()])
        .build()
}

fn is_reject(node: &ReceivedNode, call_id: &str) -> bool {
    let text = nodes::describe(&node.node);
    node.node.tag == "call" && text.contains("<reject ") && text.contains(&format!(r#"call-id="{call_id}""#))
}

/// A device set to decline calls declines each offer on the wire, and the call is reported as
/// declined; a device that is not lets it ring, and reports it as not declined.
#[tokio::test(start_paused = true)]
async fn calls_are_declined_when_the_device_says_so_and_reported_either_way() {
    let world = World::new(FakeServer::new());
    let device = device(43);
    let next = world.link(&device).await;
    let next = world.logged_in(&device, next).await;

    *world.sink.reject_calls.lock().unwrap() = true;
    world.server.send_node(offer("CALL-1")).unwrap();
    let declined = world.server.wait_for_node(LONG, "the decline", |n| is_reject(n, "CALL-1")).await;
    let calls: Vec<String> = world.server.received().iter().filter(|n| n.node.tag == "call").map(|n| nodes::describe(&n.node)).collect();
    declined.unwrap_or_else(|e| panic!("{e}; the client sent {calls:?}; the sink saw {:?}", world.sink.links().len()));
    let pick = |s: &Seen| if let Seen::Call(c) = s { Some(c.clone()) } else { None };
    let (call, next) = world.sink.wait(next, "a call", pick).await;
    assert_eq!((call.call_id.as_str(), call.from.as_str(), call.video, call.rejected), ("CALL-1", "+60123456789", false, true));

    *world.sink.reject_calls.lock().unwrap() = false;
    world.server.send_node(offer("CALL-2")).unwrap();
    let (call, _) = world.sink.wait(next, "a second call", pick).await;
    assert_eq!((call.call_id.as_str(), call.rejected), ("CALL-2", false));
    assert!(!world.server.received().iter().any(|n| is_reject(n, "CALL-2")), "a call the device takes is not declined");
    assert_eq!(world.connector.metrics(device.pk).unwrap().calls, 2);
    world.connector.stop(device.pk).await;
}
