//! Protocol store scenarios: sender-key devices, LID↔PN, base keys, device lists, group
//! metadata, trusted-contact tokens.

use std::sync::Arc;

use whatsapp_rust::wacore::store::traits::{Backend, DeviceInfo, DeviceListRecord, LidPnMappingEntry, TcTokenEntry};

use super::{Log, sorted};

const GROUP: &str = "120363021033254949@g.us";
const GROUP_LONGER: &str = "120363021033254949@g.us2";
const DEV_A: &str = "5511999990000:2@s.whatsapp.net";
const DEV_B: &str = "100000012345678:3@lid";

async fn key_devices(b: &Arc<dyn Backend>, group: &str) -> Vec<(String, bool)> {
    sorted(b.get_sender_key_devices(group).await.unwrap())
}

pub async fn sender_key_devices(b: Arc<dyn Backend>, log: &mut Log) {
    assert_eq!(log.see("none", key_devices(&b, GROUP).await), vec![]);
    b.set_sender_key_status(GROUP, &[(DEV_A, true), (DEV_B, false)]).await.unwrap();
    b.set_sender_key_status(GROUP_LONGER, &[(DEV_A, true)]).await.unwrap();
    b.set_sender_key_status("other@g.us", &[(DEV_B, true)]).await.unwrap();
    b.set_sender_key_status(GROUP, &[(DEV_B, true)]).await.unwrap();
    let devices = log.see("after set", key_devices(&b, GROUP).await);
    assert_eq!(devices, vec![(DEV_B.to_owned(), true), (DEV_A.to_owned(), true)]);
    b.set_sender_key_status(GROUP, &[(DEV_A, false)]).await.unwrap();
    log.see("forget one", key_devices(&b, GROUP).await);

    b.delete_sender_key_device_rows(&[DEV_B]).await.unwrap();
    b.delete_sender_key_device_rows(&[]).await.unwrap();
    assert_eq!(log.see("rows of a device go from every group", key_devices(&b, GROUP).await), vec![(DEV_A.to_owned(), false)]);
    assert_eq!(log.see("other group", key_devices(&b, "other@g.us").await), vec![]);

    b.clear_sender_key_devices(GROUP).await.unwrap();
    assert_eq!(log.see("after clear", key_devices(&b, GROUP).await), vec![]);
    assert_eq!(log.see("longer group kept", key_devices(&b, GROUP_LONGER).await), vec![(DEV_A.to_owned(), true)]);
    b.clear_all_sender_key_devices().await.unwrap();
    assert_eq!(log.see("after clear all", key_devices(&b, GROUP_LONGER).await), vec![]);
}

fn mapping(lid: &str, phone: &str, at: i64, source: &str) -> LidPnMappingEntry {
    LidPnMappingEntry { lid: lid.into(), phone_number: phone.into(), created_at: at, updated_at: at, learning_source: source.into() }
}

fn lid_view(entry: Option<LidPnMappingEntry>) -> Option<(String, String, i64, i64, String)> {
    entry.map(|e| (e.lid, e.phone_number, e.created_at, e.updated_at, e.learning_source))
}

pub async fn lid_mappings(b: Arc<dyn Backend>, log: &mut Log) {
    assert_eq!(log.see("missing lid", lid_view(b.get_lid_mapping("100").await.unwrap())), None);
    assert_eq!(log.see("missing pn", lid_view(b.get_pn_mapping("5511").await.unwrap())), None);
    b.put_lid_mapping(&mapping("100", "5511", 10, "usync")).await.unwrap();
    let by_lid = log.see("by lid", lid_view(b.get_lid_mapping("100").await.unwrap()));
    assert_eq!(by_lid, Some(("100".into(), "5511".into(), 10, 10, "usync".into())));
    assert_eq!(log.see("by pn", lid_view(b.get_pn_mapping("5511").await.unwrap())), by_lid);
    assert_eq!(log.see("pn prefix is not a pn", lid_view(b.get_pn_mapping("551").await.unwrap())), None);

    // The LID moves to another number: the old number no longer resolves.
    b.put_lid_mapping(&mapping("100", "5522", 20, "peer_pn_message")).await.unwrap();
    assert_eq!(log.see("old pn", lid_view(b.get_pn_mapping("5511").await.unwrap())), None);
    assert_eq!(log.see("new pn", lid_view(b.get_pn_mapping("5522").await.unwrap())).unwrap().0, "100");

    // Several LIDs learned for one number: the most recent one answers.
    b.put_lid_mappings(&[mapping("200", "5533", 30, "usync"), mapping("201", "5533", 31, "usync"), mapping("300", "5544", 32, "history")])
        .await
        .unwrap();
    assert_eq!(log.see("most recent lid of a pn", lid_view(b.get_pn_mapping("5533").await.unwrap())).unwrap().0, "201");
    // A batch that moves a LID twice leaves only its last number behind.
    b.put_lid_mappings(&[mapping("300", "5555", 40, "a"), mapping("300", "5566", 41, "b")]).await.unwrap();
    assert_eq!(log.see("moved twice: first", lid_view(b.get_pn_mapping("5555").await.unwrap())), None);
    assert_eq!(log.see("moved twice: origin", lid_view(b.get_pn_mapping("5544").await.unwrap())), None);
    assert_eq!(log.see("moved twice: last", lid_view(b.get_pn_mapping("5566").await.unwrap())).unwrap().4, "b");
    b.put_lid_mappings(&[]).await.unwrap();

    let all: Vec<_> = b.get_all_lid_mappings().await.unwrap().into_iter().map(|e| lid_view(Some(e))).collect();
    let all = log.see("all", sorted(all));
    assert_eq!(all.len(), 4);
}

pub async fn base_keys(b: Arc<dyn Backend>, log: &mut Log) {
    assert!(!log.see("missing", b.has_same_base_key(DEV_A, "M1", b"key").await.unwrap()));
    b.save_base_key(DEV_A, "M1", b"key-1").await.unwrap();
    b.save_base_key(DEV_A, "M2", b"key-2").await.unwrap();
    assert!(log.see("same", b.has_same_base_key(DEV_A, "M1", b"key-1").await.unwrap()));
    assert!(!log.see("different", b.has_same_base_key(DEV_A, "M1", b"key-2").await.unwrap()));
    assert!(!log.see("other address", b.has_same_base_key(DEV_B, "M1", b"key-1").await.unwrap()));
    b.save_base_key(DEV_A, "M1", b"key-3").await.unwrap();
    assert!(log.see("overwrite", b.has_same_base_key(DEV_A, "M1", b"key-3").await.unwrap()));
    b.delete_base_key(DEV_A, "M1").await.unwrap();
    assert!(!log.see("after delete", b.has_same_base_key(DEV_A, "M1", b"key-3").await.unwrap()));
    assert!(log.see("other message kept", b.has_same_base_key(DEV_A, "M2", b"key-2").await.unwrap()));
}

fn device_list(user: &str, devices: &[u32], timestamp: i64) -> DeviceListRecord {
    DeviceListRecord {
        user: user.into(),
        devices: devices.iter().map(|&d| DeviceInfo::new(d, d.checked_sub(1))).collect(),
        timestamp,
        phash: None,
        raw_id: None,
    }
}

pub async fn device_lists(b: Arc<dyn Backend>, log: &mut Log) {
    assert!(log.see("missing", b.get_devices("5511").await.unwrap()).is_none());
    b.update_device_list(device_list("5511", &[0, 2], 100)).await.unwrap();
    let got = log.see("after update", b.get_devices("5511").await.unwrap()).unwrap();
    assert_eq!((got.user.as_str(), got.devices.len(), got.timestamp), ("5511", 2, 100));
    let full = DeviceListRecord {
        phash: Some("2:Xyz+/=".into()),
        raw_id: Some(77),
        devices: vec![DeviceInfo::new(0, None), DeviceInfo::new(5, Some(4)).with_hosting(true)],
        ..device_list("5511", &[], 200)
    };
    b.update_device_lists(vec![full, device_list("100000012345678", &[0, 1, 2, 3], 300)]).await.unwrap();
    let got = log.see("overwrite", b.get_devices("5511").await.unwrap()).unwrap();
    assert_eq!((got.raw_id, got.phash.as_deref(), got.devices[1].is_hosted), (Some(77), Some("2:Xyz+/="), true));
    log.see("batch", b.get_devices("100000012345678").await.unwrap());
    b.update_device_lists(vec![]).await.unwrap();
    b.delete_devices("5511").await.unwrap();
    assert!(log.see("after delete", b.get_devices("5511").await.unwrap()).is_none());
}

pub async fn group_metadata(b: Arc<dyn Backend>, log: &mut Log) {
    assert_eq!(log.see("missing", b.get_group_metadata(GROUP).await.unwrap()), None);
    b.put_group_metadata(GROUP, b"blob-v1").await.unwrap();
    b.put_group_metadata(GROUP, b"blob-v2").await.unwrap();
    b.put_group_metadata(GROUP_LONGER, b"other").await.unwrap();
    assert_eq!(log.see("overwrite", b.get_group_metadata(GROUP).await.unwrap()), Some(b"blob-v2".to_vec()));
    b.delete_group_metadata(GROUP).await.unwrap();
    assert_eq!(log.see("after delete", b.get_group_metadata(GROUP).await.unwrap()), None);
    assert_eq!(log.see("other kept", b.get_group_metadata(GROUP_LONGER).await.unwrap()), Some(b"other".to_vec()));
}

fn token(bytes: &[u8], at: i64, sender: Option<i64>) -> TcTokenEntry {
    TcTokenEntry { token: bytes.to_vec(), token_timestamp: at, sender_timestamp: sender }
}

pub async fn tc_tokens(b: Arc<dyn Backend>, log: &mut Log) {
    assert!(log.see("missing", b.get_tc_token("u1").await.unwrap()).is_none());
    assert_eq!(log.see("no jids", b.get_all_tc_token_jids().await.unwrap()), Vec::<String>::new());
    b.put_tc_token("u1@lid", &token(&[1, 2], 100, None)).await.unwrap();
    b.put_tc_token("u1@lid", &token(&[3], 200, Some(5))).await.unwrap();
    log.see("overwrite", b.get_tc_token("u1@lid").await.unwrap());

    // The sender bucket only advances; a placeholder is created when there is no token.
    b.touch_tc_token_sender_timestamp("u1@lid", 4).await.unwrap();
    b.touch_tc_token_sender_timestamp("u2@lid", 1000).await.unwrap();
    b.touch_tc_token_sender_timestamp("u2@lid", 3000).await.unwrap();
    assert_eq!(log.see("touch keeps later", b.get_tc_token("u1@lid").await.unwrap()).unwrap().sender_timestamp, Some(5));
    let placeholder = log.see("placeholder", b.get_tc_token("u2@lid").await.unwrap()).unwrap();
    assert_eq!((placeholder.token.len(), placeholder.sender_timestamp), (0, Some(3000)));

    // Newer wins; a placeholder never blocks a real token; the sender bucket survives.
    b.store_received_tc_token("u2@lid", &[9, 9], 500).await.unwrap();
    assert_eq!(log.see("real token over placeholder", b.get_tc_token("u2@lid").await.unwrap()).unwrap().sender_timestamp, Some(3000));
    b.store_received_tc_token("u2@lid", &[8], 400).await.unwrap();
    assert_eq!(log.see("stale write ignored", b.get_tc_token("u2@lid").await.unwrap()).unwrap().token, vec![9, 9]);
    b.store_received_tc_token("u2@lid", &[7], 600).await.unwrap();
    b.store_received_tc_token("u3@lid", &[6], 50).await.unwrap();
    log.see("newer wins", b.get_tc_token("u2@lid").await.unwrap());
    log.see("fresh token", b.get_tc_token("u3@lid").await.unwrap());

    // Pruned only when both the token and the sender bucket are stale (cutoffs 1000 / 2000).
    b.put_tc_token("stale_placeholder", &token(&[], 100, Some(100))).await.unwrap();
    b.put_tc_token("live_sender", &token(&[1], 1, Some(2500))).await.unwrap();
    b.put_tc_token("orphan", &token(&[2], 1, None)).await.unwrap();
    b.put_tc_token("fresh", &token(&[3], 5000, None)).await.unwrap();
    let jids = log.see("all jids", sorted(b.get_all_tc_token_jids().await.unwrap()));
    assert_eq!(jids.len(), 7);
    let removed = log.see("pruned", b.delete_expired_tc_tokens(1000, 2000).await.unwrap());
    assert_eq!(removed, 4, "u1, u3, stale_placeholder, orphan go; u2, live_sender, fresh stay");
    assert_eq!(log.see("left", sorted(b.get_all_tc_token_jids().await.unwrap())), ["fresh", "live_sender", "u2@lid"]);
    b.delete_tc_token("fresh").await.unwrap();
    assert!(log.see("after delete", b.get_tc_token("fresh").await.unwrap()).is_none());
}
