//! Per-message scenarios: sent messages, the pending inbound buffer, message secrets.
//! The expiry steps advance the library's clock, so they run under [`super::clock`].

use std::sync::Arc;

use whatsapp_rust::wacore::store::traits::{Backend, MsgSecretEntry, PendingInboundKey, PendingInboundRow};
use whatsapp_rust::wacore::time::now_secs;

use super::{Log, advance_secs};

const CHAT: &str = "5511999990000@s.whatsapp.net";
const GROUP: &str = "120363021033254949@g.us";

pub async fn sent_messages(b: Arc<dyn Backend>, log: &mut Log) {
    assert_eq!(log.see("missing", b.take_sent_message(CHAT, "M1").await.unwrap()), None);
    b.store_sent_message(CHAT, "M1", b"payload-1").await.unwrap();
    b.store_sent_message(GROUP, "M1", b"group-payload").await.unwrap();
    assert_eq!(log.see("take", b.take_sent_message(CHAT, "M1").await.unwrap()), Some(b"payload-1".to_vec()));
    assert_eq!(log.see("taken once", b.take_sent_message(CHAT, "M1").await.unwrap()), None);
    b.store_sent_message(GROUP, "M1", b"group-payload-2").await.unwrap();
    assert_eq!(log.see("overwrite", b.take_sent_message(GROUP, "M1").await.unwrap()), Some(b"group-payload-2".to_vec()));

    // Expiry: M2 is stored 1000 s before M3 and M4; the cutoff falls between them.
    let start = now_secs();
    b.store_sent_message(CHAT, "M2", b"old").await.unwrap();
    b.store_sent_message(CHAT, "M4", b"old, then stored again").await.unwrap();
    advance_secs(1000);
    b.store_sent_message(CHAT, "M3", b"new").await.unwrap();
    b.store_sent_message(CHAT, "M4", b"stored again").await.unwrap();
    assert_eq!(log.see("cutoff before all", b.delete_expired_sent_messages(start - 10).await.unwrap()), 0);
    assert_eq!(log.see("cutoff between", b.delete_expired_sent_messages(start + 500).await.unwrap()), 1);
    assert_eq!(log.see("expired gone", b.take_sent_message(CHAT, "M2").await.unwrap()), None);
    assert_eq!(log.see("stored again kept", b.take_sent_message(CHAT, "M4").await.unwrap()), Some(b"stored again".to_vec()));
    assert_eq!(log.see("cutoff after all", b.delete_expired_sent_messages(now_secs() + 10).await.unwrap()), 1);
    assert_eq!(log.see("all gone", b.take_sent_message(CHAT, "M3").await.unwrap()), None);
}

pub async fn pending_inbound(b: Arc<dyn Backend>, log: &mut Log) {
    assert_eq!(log.see("missing", b.get_pending_inbound(CHAT, CHAT, "M1").await.unwrap()), None);
    b.store_pending_inbound(CHAT, CHAT, "M1", b"msg-1").await.unwrap();
    b.store_pending_inbound(GROUP, CHAT, "M1", b"group-msg").await.unwrap();
    b.store_pending_inbound(CHAT, CHAT, "M1", b"msg-1-again").await.unwrap();
    assert_eq!(log.see("overwrite", b.get_pending_inbound(CHAT, CHAT, "M1").await.unwrap()), Some(b"msg-1-again".to_vec()));
    assert_eq!(log.see("read does not remove", b.get_pending_inbound(CHAT, CHAT, "M1").await.unwrap()), Some(b"msg-1-again".to_vec()));
    log.see("scoped by chat", b.get_pending_inbound(GROUP, CHAT, "M1").await.unwrap());
    b.delete_pending_inbound(CHAT, CHAT, "M1").await.unwrap();
    assert_eq!(log.see("after delete", b.get_pending_inbound(CHAT, CHAT, "M1").await.unwrap()), None);

    let rows: Vec<_> =
        ["A", "B", "C"].iter().map(|id| PendingInboundRow { chat: GROUP, sender: "x@lid", id, message: id.as_bytes() }).collect();
    b.store_pending_inbound_batch(&rows).await.unwrap();
    b.store_pending_inbound_batch(&[]).await.unwrap();
    b.delete_pending_inbound_batch(&[
        PendingInboundKey { chat: GROUP, sender: "x@lid", id: "B" },
        PendingInboundKey { chat: GROUP, sender: "x@lid", id: "Z" },
    ])
    .await
    .unwrap();
    for id in ["A", "B", "C"] {
        log.see(&format!("batch {id}"), b.get_pending_inbound(GROUP, "x@lid", id).await.unwrap());
    }

    // Expiry by the time a row was buffered: "A", "C" and the group row are old.
    let start = now_secs();
    advance_secs(1000);
    b.store_pending_inbound(CHAT, CHAT, "NEW", b"new").await.unwrap();
    assert_eq!(log.see("cutoff before all", b.delete_expired_pending_inbound(start - 10).await.unwrap()), 0);
    assert_eq!(log.see("cutoff between", b.delete_expired_pending_inbound(start + 500).await.unwrap()), 3);
    assert_eq!(log.see("old gone", b.get_pending_inbound(GROUP, "x@lid", "A").await.unwrap()), None);
    assert_eq!(log.see("new kept", b.get_pending_inbound(CHAT, CHAT, "NEW").await.unwrap()), Some(b"new".to_vec()));
}

fn secret(chat: &str, sender: &str, id: &str, seed: u8, expires_at: i64, message_ts: i64) -> MsgSecretEntry {
    MsgSecretEntry { chat: chat.into(), sender: sender.into(), msg_id: id.into(), secret: [seed; 32], expires_at, message_ts }
}

pub async fn msg_secrets(b: Arc<dyn Backend>, log: &mut Log) {
    assert_eq!(log.see("missing", b.get_msg_secret(CHAT, CHAT, "M1").await.unwrap()), None);
    b.put_msg_secret(CHAT, CHAT, "M1", &[1; 32]).await.unwrap();
    assert_eq!(log.see("get", b.get_msg_secret(CHAT, CHAT, "M1").await.unwrap()), Some(vec![1; 32]));
    assert_eq!(log.see("unknown parent time", b.get_msg_secret_with_ts(CHAT, CHAT, "M1").await.unwrap()), Some((vec![1; 32], 0)));
    for (chat, sender, id) in [(CHAT, GROUP, "M1"), (GROUP, CHAT, "M1"), (CHAT, CHAT, "M2")] {
        log.see(&format!("keyed by all three: {chat} {sender} {id}"), b.get_msg_secret(chat, sender, id).await.unwrap());
    }

    // Merges: the secret is replaced, the later deadline (0 = never) and known parent time kept.
    let stored = b
        .put_msg_secrets(vec![
            secret(GROUP, CHAT, "E1", 2, 1000, 50),
            secret(GROUP, CHAT, "E2", 3, 2000, 0),
            secret(GROUP, CHAT, "E1", 4, 900, 0),
            secret(GROUP, CHAT, "E3", 5, 1500, 70),
            secret(GROUP, CHAT, "E4", 6, 0, 80),
        ])
        .await
        .unwrap();
    assert_eq!(log.see("stored", stored), 5);
    assert_eq!(log.see("merged within a batch", b.get_msg_secret_with_ts(GROUP, CHAT, "E1").await.unwrap()), Some((vec![4; 32], 50)));
    b.put_msg_secrets(vec![
        secret(GROUP, CHAT, "E2", 7, 1200, 60),
        secret(GROUP, CHAT, "E3", 8, 0, 0),
        secret(CHAT, CHAT, "M1", 9, 500, 0),
    ])
    .await
    .unwrap();
    assert_eq!(log.see("merged with stored", b.get_msg_secret_with_ts(GROUP, CHAT, "E2").await.unwrap()), Some((vec![7; 32], 60)));
    assert_eq!(log.see("empty batch", b.put_msg_secrets(vec![]).await.unwrap()), 0);

    // Deadlines now: E1 1000, E2 2000, E3 never (0 won), E4 never, M1 never (0 won).
    assert_eq!(log.see("nothing due", b.delete_expired_msg_secrets(999).await.unwrap()), 0);
    assert_eq!(log.see("due at the cutoff", b.delete_expired_msg_secrets(1000).await.unwrap()), 1);
    assert_eq!(log.see("far future", b.delete_expired_msg_secrets(i64::MAX).await.unwrap()), 1);
    for id in ["E1", "E2", "E3", "E4"] {
        log.see(&format!("left {id}"), b.get_msg_secret_with_ts(GROUP, CHAT, id).await.unwrap());
    }
    assert_eq!(log.see("left M1", b.get_msg_secret(CHAT, CHAT, "M1").await.unwrap()), Some(vec![9; 32]));
}
