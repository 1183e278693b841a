//! Tenants, API keys and settings.

use std::sync::Arc;

use kirim_core::tenant::NewApiKey;
use kirim_core::{KeyId, Secret, TenantId};

use crate::Harness;
use crate::fixtures::{at, t0, tenant};

pub async fn tenants_create_get_list(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let c = tenant(&*store, "c").await;
    assert_eq!(a.name, "a");
    assert_eq!(a.created_at, t0());
    assert_eq!(store.get_tenant(&b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(store.get_tenant(&TenantId::generate()).await.unwrap(), None);

    let all = store.list_tenants(None, 100).await.unwrap();
    assert_eq!(all, vec![a.clone(), b.clone(), c.clone()], "oldest first");
    let page = store.list_tenants(Some(&a.id), 1).await.unwrap();
    assert_eq!(page, vec![b.clone()]);
    let rest = store.list_tenants(Some(&b.id), 100).await.unwrap();
    assert_eq!(rest, vec![c.clone()]);
    assert!(store.list_tenants(Some(&c.id), 100).await.unwrap().is_empty());
}

fn key(tenant: &kirim_core::tenant::Tenant, name: &str) -> (NewApiKey, Secret) {
    let secret = Secret::generate("kk_");
    let key = NewApiKey {
        id: KeyId::generate(),
        tenant_pk: tenant.pk,
        name: name.into(),
        prefix: secret.expose()[..7].to_owned(),
        hash: secret.hash(),
        created_at: t0(),
    };
    (key, secret)
}

pub async fn api_keys_find_revoke_and_scope(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let (ka, sa) = key(&a, "main");
    let (kb, sb) = key(&b, "main");
    let (ka2, sa2) = key(&a, "second");
    let ka = store.create_api_key(ka).await.unwrap();
    let kb = store.create_api_key(kb).await.unwrap();
    let ka2 = store.create_api_key(ka2).await.unwrap();
    assert_eq!(ka.revoked_at, None);
    assert_eq!(ka.last_used_at, None);

    let (found, owner) = store.find_api_key(&sa.hash()).await.unwrap().expect("a's key");
    assert_eq!(found, ka);
    assert_eq!(owner, a);
    assert!(store.find_api_key(&Secret::new("kk_unknown").hash()).await.unwrap().is_none());

    assert_eq!(store.list_api_keys(a.pk).await.unwrap(), vec![ka.clone(), ka2.clone()]);
    assert_eq!(store.list_api_keys(b.pk).await.unwrap(), vec![kb.clone()]);

    assert!(!store.revoke_api_key(Some(b.pk), &ka.id, at(1)).await.unwrap(), "b cannot revoke a's key");
    assert!(store.find_api_key(&sa.hash()).await.unwrap().is_some());
    assert!(store.revoke_api_key(Some(a.pk), &ka.id, at(1)).await.unwrap());
    assert!(store.find_api_key(&sa.hash()).await.unwrap().is_none(), "a revoked key is not found");
    assert!(!store.revoke_api_key(Some(a.pk), &ka.id, at(2)).await.unwrap(), "already revoked");
    assert!(!store.revoke_api_key(None, &KeyId::generate(), at(2)).await.unwrap(), "unknown key");

    let listed = store.list_api_keys(a.pk).await.unwrap();
    assert_eq!(listed.len(), 2, "revoked keys stay listed");
    assert_eq!(listed[0].revoked_at, Some(at(1)));
    assert!(store.find_api_key(&sa2.hash()).await.unwrap().is_some(), "other keys are untouched");

    assert!(store.revoke_api_key(None, &kb.id, at(3)).await.unwrap(), "the operator may revoke any key");
    assert!(store.find_api_key(&sb.hash()).await.unwrap().is_none());
}

pub async fn api_keys_touch_moves_forward(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let (k1, _) = key(&a, "one");
    let (k2, _) = key(&a, "two");
    let k1 = store.create_api_key(k1).await.unwrap();
    let k2 = store.create_api_key(k2).await.unwrap();
    store.touch_api_keys(&[(k1.pk, at(10)), (k2.pk, at(20))]).await.unwrap();
    store.touch_api_keys(&[(k1.pk, at(5))]).await.unwrap();
    store.touch_api_keys(&[]).await.unwrap();
    let keys = store.list_api_keys(a.pk).await.unwrap();
    assert_eq!(keys[0].last_used_at, Some(at(10)), "an older touch never moves it back");
    assert_eq!(keys[1].last_used_at, Some(at(20)));
}

pub async fn settings_init_and_put(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    assert_eq!(store.get_setting("admin_hash").await.unwrap(), None);
    assert!(store.init_setting("admin_hash", "one").await.unwrap());
    assert!(!store.init_setting("admin_hash", "two").await.unwrap(), "init never overwrites");
    assert_eq!(store.get_setting("admin_hash").await.unwrap().as_deref(), Some("one"));
    store.put_setting("admin_hash", "three").await.unwrap();
    assert_eq!(store.get_setting("admin_hash").await.unwrap().as_deref(), Some("three"));
    store.put_setting("other", "x").await.unwrap();
    assert_eq!(store.get_setting("other").await.unwrap().as_deref(), Some("x"));
    assert_eq!(store.get_setting("admin_hash").await.unwrap().as_deref(), Some("three"));
}

pub async fn a_tenant_and_its_first_key_commit_together(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let (first, secret) = key(&a, "default");
    let new = |name: &str| kirim_core::tenant::NewTenant {
        id: TenantId::generate(),
        name: name.into(),
        created_at: t0(),
        daily_token_limit: None,
    };
    let (b, b_key) = store.create_tenant_with_key(new("b"), first.clone()).await.expect("created");
    assert_eq!(b_key.tenant_pk, b.pk, "the key belongs to the new tenant, whatever tenant_pk it was given");
    let (found, owner) = store.find_api_key(&secret.hash()).await.unwrap().expect("the key works");
    assert_eq!((found.id, owner.id), (b_key.id, b.id.clone()));
    // The same key hash again: the key fails, so the tenant is not created either.
    let before = store.list_tenants(None, 100).await.unwrap().len();
    assert!(store.create_tenant_with_key(new("c"), first).await.is_err());
    assert_eq!(store.list_tenants(None, 100).await.unwrap().len(), before, "no tenant without its key");
}
