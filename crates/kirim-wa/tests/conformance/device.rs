//! Device store scenario: the linked device's own identity and settings.

use std::sync::{Arc, OnceLock};

use whatsapp_rust::wacore::store::Device;
use whatsapp_rust::wacore::store::device::{CachedNoiseCert, CachedServerCertChain};
use whatsapp_rust::wacore::store::traits::Backend;
use whatsapp_rust::waproto::whatsapp as wa;

use super::Log;

/// One device for every run, so that runs on different backends see the same keys.
pub fn sample() -> &'static Device {
    static SAMPLE: OnceLock<Device> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let mut device = Device::new();
        device.pn = Some("5511999990000:7@s.whatsapp.net".parse().unwrap());
        device.lid = Some("100000012345678:7@lid".parse().unwrap());
        device.push_name = "Kirim \"test\" ✓".into();
        device.account = Some(Arc::new(wa::ADVSignedDeviceIdentity {
            details: Some(b"details".to_vec()),
            account_signature_key: Some(vec![1; 32]),
            account_signature: Some(vec![2; 64]),
            device_signature: Some(vec![3; 64]),
        }));
        let cert = |seed| CachedNoiseCert { key: [seed; 32], not_before: 1_700_000_000, not_after: 1_900_000_000 };
        device.server_cert_chain = Some(CachedServerCertChain { intermediate: cert(0xAA), leaf: cert(0xBB) });
        device.edge_routing_info = Some(vec![9, 8, 7]);
        device.props_hash = Some("hash".into());
        device.next_pre_key_id = 813;
        device.first_unupload_pre_key_id = 800;
        device.server_has_prekeys = true;
        device.nct_salt = Some(vec![4; 16]);
        device.login_counter = 12;
        device.lid_migrated = true;
        device.read_receipts_disabled = true;
        device
    })
}

/// What the library persists of a device: its serde form (runtime-only fields are skipped).
pub fn persisted(device: &Device) -> serde_json::Value {
    serde_json::to_value(device).unwrap()
}

pub async fn device(b: Arc<dyn Backend>, log: &mut Log) {
    assert!(!log.see("exists before create", b.exists().await.unwrap()));
    assert!(log.see("nothing to load", b.load().await.unwrap().is_none()));
    b.create().await.unwrap();
    assert!(log.see("exists after create", b.exists().await.unwrap()));
    let created = persisted(&b.load().await.unwrap().expect("create stores a device"));
    b.create().await.unwrap();
    let again = persisted(&b.load().await.unwrap().unwrap());
    assert!(log.see("create keeps an existing device", again == created));

    b.save(sample()).await.unwrap();
    let loaded = b.load().await.unwrap().unwrap();
    assert_eq!(log.see("after save", persisted(&loaded)), persisted(sample()));
    assert_eq!(loaded.identity_key.public_key.public_key_bytes(), sample().identity_key.public_key.public_key_bytes());
    log.see("device props", &loaded.device_props);
    log.see("client profile", format!("{:?}", loaded.client_profile));

    let mut changed = sample().clone();
    changed.push_name = "renamed".into();
    changed.account = None;
    b.save(&changed).await.unwrap();
    let loaded = b.load().await.unwrap().unwrap();
    assert_eq!(log.see("after second save", persisted(&loaded)), persisted(&changed));
    assert!(log.see("exists", b.exists().await.unwrap()));
}
