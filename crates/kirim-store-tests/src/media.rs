//! Media records: what an insert returns is what a read returns, tenant isolation, listing by
//! id, deletion, and survival across a reopen.

use std::sync::Arc;

use kirim_core::MediaId;
use kirim_core::media::{MediaDirection, MediaKind, NewMedia};
use kirim_core::store::StoreError;
use kirim_core::tenant::Tenant;

use crate::Harness;
use crate::fixtures::{at, tenant};

fn new_media(tenant: &Tenant, kind: MediaKind, direction: MediaDirection, filename: Option<&str>) -> NewMedia {
    NewMedia {
        id: MediaId::generate(),
        tenant_pk: tenant.pk,
        kind,
        direction,
        mime_type: "application/pdf".into(),
        filename: filename.map(str::to_owned),
        size: 5_000_000_000,
        sha256: "ab".repeat(32),
        created_at: at(3),
    }
}

pub async fn media_records_round_trip_and_are_isolated(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let new = new_media(&a, MediaKind::Document, MediaDirection::Upload, Some("invoice.pdf"));
    let stored = store.insert_media(new.clone()).await.unwrap();
    assert_eq!(
        (&stored.id, stored.tenant_pk, stored.kind, stored.direction, stored.mime_type.as_str()),
        (&new.id, a.pk, MediaKind::Document, MediaDirection::Upload, "application/pdf")
    );
    assert_eq!(
        (stored.filename.as_deref(), stored.size, stored.sha256.as_str(), stored.created_at),
        (Some("invoice.pdf"), 5_000_000_000, new.sha256.as_str(), at(3)),
        "sizes beyond 32 bits survive"
    );
    assert_eq!(store.get_media(a.pk, &new.id).await.unwrap(), Some(stored.clone()), "a read returns what the write returned");
    assert_eq!(store.get_media(b.pk, &new.id).await.unwrap(), None, "another tenant's file does not exist for them");
    assert!(store.get_media(a.pk, &MediaId::generate()).await.unwrap().is_none());

    let again = store.insert_media(new.clone()).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "an id is used once: {again:?}");
    let other_b = store.insert_media(new_media(&b, MediaKind::Image, MediaDirection::Fetched, None)).await.unwrap();
    assert_eq!((other_b.kind, other_b.direction, other_b.filename), (MediaKind::Image, MediaDirection::Fetched, None));

    assert_eq!(store.delete_media(b.pk, &new.id).await.unwrap(), None, "another tenant cannot delete it");
    assert!(store.get_media(a.pk, &new.id).await.unwrap().is_some());
    assert_eq!(store.delete_media(a.pk, &new.id).await.unwrap(), Some(stored));
    assert_eq!(store.get_media(a.pk, &new.id).await.unwrap(), None);
    assert_eq!(store.delete_media(a.pk, &new.id).await.unwrap(), None, "deleting twice finds nothing the second time");
}

pub async fn media_lists_by_id_and_survives_reopen(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let mut ids = Vec::new();
    for (kind, direction) in [
        (MediaKind::Image, MediaDirection::Upload),
        (MediaKind::Audio, MediaDirection::Inbound),
        (MediaKind::Sticker, MediaDirection::Fetched),
    ] {
        ids.push(store.insert_media(new_media(&a, kind, direction, None)).await.unwrap().id);
    }
    store.insert_media(new_media(&b, MediaKind::Video, MediaDirection::Upload, None)).await.unwrap();
    ids.sort();
    let listed = |v: Vec<kirim_core::media::Media>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(listed(store.list_media(a.pk, None, 10).await.unwrap()), ids);
    assert_eq!(listed(store.list_media(a.pk, Some(&ids[0]), 1).await.unwrap()), vec![ids[1].clone()]);
    assert_eq!(listed(store.list_media(a.pk, Some(&ids[2]), 10).await.unwrap()), Vec::<MediaId>::new());

    let before = store.get_media(a.pk, &ids[1]).await.unwrap();
    let store = h.reopen(store).await;
    assert_eq!(store.get_media(a.pk, &ids[1]).await.unwrap(), before);
    assert_eq!(store.list_media(a.pk, None, 10).await.unwrap().len(), 3);
}
