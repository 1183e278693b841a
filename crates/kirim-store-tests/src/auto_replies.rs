//! Auto-reply rules: scope by tenant and device, the order rules apply in, and the reply log
//! that limits replies per chat and recognises this server's own replies.

use std::sync::Arc;

use kirim_core::auto_reply::{AutoReplySent, MatchKind, NewAutoReply, RuleSpec};
use kirim_core::device::Device;
use kirim_core::message::MessageContent;
use kirim_core::store::Store;
use kirim_core::{AutoReplyId, MessageId};

use crate::Harness;
use crate::fixtures::{at, device, phone, t0, tenant};

fn spec(keyword: &str) -> RuleSpec {
    RuleSpec {
        keyword: Some(keyword.into()),
        match_kind: MatchKind::Contains,
        reply: MessageContent::text(format!("about {keyword}")),
        groups: false,
        enabled: true,
        cooldown_secs: 0,
    }
}

async fn rule(store: &dyn Store, d: &Device, device_wide: bool, keyword: &str) -> kirim_core::auto_reply::AutoReply {
    rule_with(store, d, device_wide, keyword, AutoReplyId::generate()).await
}

/// Ids made in the same millisecond are not ordered among themselves: a test of the listing
/// order hands out ids made and sorted in advance.
async fn rule_with(store: &dyn Store, d: &Device, device_wide: bool, keyword: &str, id: AutoReplyId) -> kirim_core::auto_reply::AutoReply {
    let new = NewAutoReply { id, tenant_pk: d.tenant_pk, device_pk: device_wide.then_some(d.pk), spec: spec(keyword), created_at: t0() };
    store.create_auto_reply(new).await.expect("create rule")
}

pub async fn auto_replies_crud_scope_and_order(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let (a, b) = (tenant(&*store, "a").await, tenant(&*store, "b").await);
    let (d1, d2, db) = (device(&*store, &a, "1").await, device(&*store, &a, "2").await, device(&*store, &b, "b").await);
    let mut ids: Vec<AutoReplyId> = (0..3).map(|_| AutoReplyId::generate()).collect();
    ids.sort();
    let mut ids = ids.into_iter();
    let mut next = || ids.next().expect("an id");
    let tenant_wide = rule_with(&*store, &d1, false, "price", next()).await;
    let own = rule_with(&*store, &d1, true, "hours", next()).await;
    let other = rule_with(&*store, &d2, true, "menu", next()).await;
    rule(&*store, &db, false, "elsewhere").await;
    assert_eq!(tenant_wide.device, None);
    assert_eq!(own.device, Some((d1.pk, d1.id.clone())));
    assert_eq!(store.get_auto_reply(a.pk, &own.id).await.unwrap(), Some(own.clone()), "read back as returned");
    assert_eq!(store.get_auto_reply(b.pk, &own.id).await.unwrap(), None, "another tenant's rule does not exist");

    let applies: Vec<_> = store.rules_for_device(a.pk, d1.pk).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(applies, vec![own.id.clone(), tenant_wide.id.clone()], "the device's own rules first, then the tenant's");
    let all: Vec<_> = store.list_auto_replies(a.pk, None, None, 10).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(all, vec![tenant_wide.id.clone(), own.id.clone(), other.id.clone()]);
    let for_d2: Vec<_> = store.list_auto_replies(a.pk, Some(d2.pk), None, 10).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(for_d2, vec![tenant_wide.id.clone(), other.id.clone()]);
    let page: Vec<_> = store.list_auto_replies(a.pk, None, Some(&tenant_wide.id), 1).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(page, vec![own.id.clone()]);

    let disabled = RuleSpec { enabled: false, ..spec("hours") };
    let updated = store.update_auto_reply(a.pk, &own.id, disabled.clone(), at(5)).await.unwrap().expect("updated");
    assert_eq!((updated.spec, updated.updated_at), (disabled, at(5)));
    assert_eq!(store.update_auto_reply(b.pk, &own.id, spec("x"), at(6)).await.unwrap(), None);
    assert_eq!(store.rules_for_device(a.pk, d1.pk).await.unwrap().len(), 1, "a disabled rule does not apply");
    assert_eq!(store.delete_auto_reply(b.pk, &tenant_wide.id).await.unwrap(), None);
    assert!(store.delete_auto_reply(a.pk, &tenant_wide.id).await.unwrap().is_some());
    assert!(store.rules_for_device(a.pk, d1.pk).await.unwrap().is_empty());

    let foreign = NewAutoReply { id: AutoReplyId::generate(), tenant_pk: a.pk, device_pk: Some(db.pk), spec: spec("x"), created_at: t0() };
    assert!(store.create_auto_reply(foreign).await.is_err(), "another tenant's device is refused");
}

pub async fn auto_reply_log_counts_per_chat_and_knows_its_replies(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let r = rule(&*store, &d, true, "price").await;
    let sent = |secs: i64, chat: u32| AutoReplySent {
        tenant_pk: a.pk,
        rule: r.pk,
        device_pk: d.pk,
        chat: phone(chat),
        inbound: MessageId::generate(),
        message: MessageId::generate(),
        at: at(secs),
    };
    let first = sent(10, 1);
    store.record_auto_reply(first.clone()).await.unwrap();
    store.record_auto_reply(first.clone()).await.unwrap();
    store.record_auto_reply(sent(20, 1)).await.unwrap();
    store.record_auto_reply(sent(30, 2)).await.unwrap();
    let recent = store.recent_auto_replies(d.pk, &phone(1), at(0)).await.unwrap();
    assert_eq!(recent.len(), 2, "one record per reply, per chat");
    assert_eq!(recent[1], first, "newest first");
    assert_eq!(store.recent_auto_replies(d.pk, &phone(1), at(15)).await.unwrap().len(), 1);
    assert!(store.is_auto_reply(first.message.as_str()).await.unwrap());
    assert!(!store.is_auto_reply(first.inbound.as_str()).await.unwrap());
    let store = h.reopen(store).await;
    assert!(store.is_auto_reply(first.message.as_str()).await.unwrap(), "kept across a reopen");
}
