//! The network outlives the process: sessions, accepted messages and unfinished receipts.

use std::io::Write;
use std::time::Duration;

use kirim_core::connector::{Connector, LinkMethod, OutboundMessage};
use kirim_core::device::DeviceStatus::*;
use kirim_core::message::MessageStatus::*;
use kirim_core::message::{MediaContent, MessageContent};

use super::{Net, device, eventually, phone, sleep, text_to};

#[tokio::test]
async fn a_restarted_network_resumes_sessions_and_remembers_messages() {
    let before = Net::new(|_| {}).await;
    let dev = device(1);
    let linked = before.link(&dev).await;
    let to = phone("+60123456789");
    let (first, second) = (text_to(&to, "one"), text_to(&to, "two"));
    before.sandbox.send(&dev, &first).await.unwrap();
    before.sandbox.send(&dev, &second).await.unwrap();
    eventually("all receipts reported", || before.sink.receipts(dev.pk).len() == 4).await;
    let dir = before.dir.clone();
    drop(before);

    let after = Net::on(dir, |_| {}).await;
    after.sandbox.start(&dev).await.unwrap();
    assert_eq!(after.sink.statuses(dev.pk), [Connecting, Connected], "no new QR code");
    assert_eq!(after.sink.last_link(dev.pk).phone, Some(linked));
    let ids: Vec<String> = after.sandbox.received(dev.pk).into_iter().map(|m| m.network_id).collect();
    assert_eq!(ids, [first.id.to_string(), second.id.to_string()]);

    let resent = after.sandbox.send(&dev, &first).await.unwrap();
    assert_eq!(resent.network_id, first.id.as_str());
    assert_eq!(after.sandbox.received(dev.pk).len(), 2, "a resent id is still recognised");
    sleep(300).await;
    assert!(after.sink.receipts(dev.pk).is_empty(), "finished receipts are not reported again");
}

#[tokio::test]
async fn an_accepted_message_is_on_disk_when_send_returns() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    net.link(&dev).await;
    let msg = text_to(&phone("+60123456789"), "durable");
    net.sandbox.send(&dev, &msg).await.unwrap();
    // Read while the sandbox is still running, as a process killed right now would leave it.
    let journal = std::fs::read_to_string(net.dir.path().join("network.jsonl")).unwrap();
    assert!(journal.contains(msg.id.as_str()));
}

#[tokio::test]
async fn receipts_pending_at_a_crash_are_reported_after_restart() {
    let before = Net::new(|c| c.delivered_after = Duration::from_secs(3600)).await;
    let dev = device(1);
    before.link(&dev).await;
    let msg = text_to(&phone("+60123456789"), "in flight");
    before.sandbox.send(&dev, &msg).await.unwrap();
    let dir = before.dir.clone();
    drop(before);

    let after = Net::on(dir, |_| {}).await;
    sleep(300).await;
    assert!(after.sink.receipts(dev.pk).is_empty(), "reported for resumed devices only");
    after.sandbox.start(&dev).await.unwrap();
    eventually("receipts reported", || after.sink.receipts(dev.pk).len() >= 2).await;
    assert_eq!(after.sink.receipts(dev.pk), [(msg.id.to_string(), Delivered), (msg.id.to_string(), Read)]);
}

#[tokio::test]
async fn a_logged_out_device_stays_logged_out_after_restart() {
    let before = Net::new(|_| {}).await;
    let dev = device(1);
    before.link(&dev).await;
    before.sandbox.logout(&dev).await.unwrap();
    let dir = before.dir.clone();
    drop(before);

    let after = Net::on(dir, |_| {}).await;
    after.sandbox.start(&dev).await.unwrap();
    assert!(after.sink.links(dev.pk).is_empty());
    after.sandbox.connect(&dev, LinkMethod::Qr).await.unwrap();
    assert_eq!(after.sink.statuses(dev.pk), [Connecting, AwaitingScan]);
}

#[tokio::test]
async fn a_line_cut_short_by_a_crash_is_skipped() {
    let before = Net::new(|c| c.receipts = false).await;
    let dev = device(1);
    before.link(&dev).await;
    let first = text_to(&phone("+60123456789"), "before the crash");
    before.sandbox.send(&dev, &first).await.unwrap();
    let dir = before.dir.clone();
    drop(before);
    let path = dir.path().join("network.jsonl");
    let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(br#"{"t":"accepted","id":"msg_01"#).unwrap();
    drop(file);

    let middle = Net::on(dir.clone(), |c| c.receipts = false).await;
    middle.sandbox.start(&dev).await.unwrap();
    let second = text_to(&phone("+60123456789"), "after the crash");
    middle.sandbox.send(&dev, &second).await.unwrap();
    drop(middle);

    let after = Net::on(dir, |c| c.receipts = false).await;
    let ids: Vec<String> = after.sandbox.received(dev.pk).into_iter().map(|m| m.network_id).collect();
    assert_eq!(ids, [first.id.to_string(), second.id.to_string()], "both survive the torn line");
}

#[tokio::test]
async fn media_content_survives_a_restart_of_the_network() {
    let before = Net::new(|_| {}).await;
    let dev = device(1);
    before.link(&dev).await;
    let document = MessageContent::Document {
        document: MediaContent {
            link: Some("https://example.com/invoice.pdf".into()),
            mime_type: Some("application/pdf".into()),
            filename: Some("invoice.pdf".into()),
            ..MediaContent::default()
        },
    };
    let msg = OutboundMessage { content: document.clone(), ..text_to(&phone("+60123456789"), "") };
    before.sandbox.send(&dev, &msg).await.unwrap();
    let dir = before.dir.clone();
    drop(before);

    let after = Net::on(dir, |_| {}).await;
    let received = after.sandbox.received(dev.pk);
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].content, document);
}

#[tokio::test]
async fn the_network_forgets_old_messages_and_compacts_its_journal() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let dev = device(1);
    let record = |id: &str, at: chrono::DateTime<chrono::Utc>| {
        serde_json::json!({"t": "accepted", "id": id, "device": dev.pk, "from": "+60111111111", "to": "+60123456789",
            "content": {"type": "text", "text": {"body": "x"}}, "at": at})
        .to_string()
    };
    let old = chrono::Utc::now() - chrono::Duration::hours(2);
    let mut journal = std::fs::File::create(dir.path().join("network.jsonl")).unwrap();
    for i in 0..3000 {
        writeln!(journal, "{}", record(&format!("old-{i}"), old)).unwrap();
    }
    writeln!(journal, "{}", record("recent", chrono::Utc::now())).unwrap();
    drop(journal);
    let size_before = std::fs::metadata(dir.path().join("network.jsonl")).unwrap().len();

    let net = Net::on(dir.clone(), |_| {}).await;
    let ids: Vec<String> = net.sandbox.received(dev.pk).into_iter().map(|m| m.network_id).collect();
    assert_eq!(ids, ["recent"], "messages older than an hour are forgotten");
    let size_after = std::fs::metadata(dir.path().join("network.jsonl")).unwrap().len();
    assert!(size_after * 100 < size_before, "the journal was rewritten: {size_before} → {size_after} bytes");
    drop(net);
    let again = Net::on(dir, |_| {}).await;
    assert_eq!(again.sandbox.received(dev.pk).len(), 1, "the rewritten journal replays");
}
