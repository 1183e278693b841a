//! Contact groups and their members, the blacklist with its `blacklist.added` event, and the
//! opt-out settings; each with tenant isolation.

use std::collections::HashSet;
use std::sync::Arc;

use kirim_core::contact::{
    BlacklistAdd, BlacklistEntry, BlacklistSettings, ContactFilter, ContactRef, GroupRef, MemberAdd, MemberRemove, NewContactGroup,
};
use kirim_core::event::types;
use kirim_core::store::{Store, StoreError};
use kirim_core::tenant::Tenant;
use kirim_core::{ContactGroupId, PhoneNumber, Timestamp};

use crate::Harness;
use crate::contacts::{new_contact, number};
use crate::fixtures::{at, event_types, events, tenant};

fn new_group(tenant: &Tenant, name: &str) -> NewContactGroup {
    NewContactGroup { id: ContactGroupId::generate(), tenant_pk: tenant.pk, name: name.into(), created_at: at(0) }
}

fn entry(tenant: &Tenant, phone: PhoneNumber, reason: Option<&str>, when: Timestamp) -> BlacklistEntry {
    BlacklistEntry { tenant_pk: tenant.pk, phone, reason: reason.map(str::to_owned), created_at: when }
}

async fn phones_on_list(store: &dyn Store, tenant: &Tenant, after: Option<&PhoneNumber>, limit: u32) -> Vec<PhoneNumber> {
    store.list_blacklist(tenant.pk, after, limit).await.unwrap().into_iter().map(|e| e.phone).collect()
}

pub async fn contact_groups_crud_names_and_isolation(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let vip = store.create_contact_group(new_group(&a, "VIP")).await.unwrap();
    assert_eq!((vip.name.as_str(), vip.member_count, vip.created_at), ("VIP", 0, at(0)));
    let dup = store.create_contact_group(new_group(&a, "vip")).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "names are unique ignoring case: {dup:?}");
    let theirs = store.create_contact_group(new_group(&b, "VIP")).await.unwrap();
    assert_ne!(theirs.id, vip.id, "another tenant may use the same name");
    assert_eq!(store.get_contact_group(a.pk, &GroupRef::Name("vIp".into())).await.unwrap(), Some(vip.clone()));
    assert_eq!(store.get_contact_group(a.pk, &GroupRef::Id(vip.id.clone())).await.unwrap(), Some(vip.clone()));
    assert_eq!(store.get_contact_group(b.pk, &GroupRef::Id(vip.id.clone())).await.unwrap(), None);
    assert_eq!(store.get_contact_group(b.pk, &GroupRef::Name("VIP".into())).await.unwrap().map(|g| g.id), Some(theirs.id.clone()));

    let staff = store.create_contact_group(new_group(&a, "Staff")).await.unwrap();
    let leads = store.create_contact_group(new_group(&a, "Leads")).await.unwrap();
    let ids = |gs: Vec<kirim_core::contact::ContactGroup>| gs.into_iter().map(|g| g.id).collect::<Vec<_>>();
    // By id: creation order, up to the order of ids made in the same millisecond.
    let mut expected = vec![vip.id.clone(), staff.id.clone(), leads.id.clone()];
    expected.sort();
    assert_eq!(ids(store.list_contact_groups(a.pk, None, 10).await.unwrap()), expected);
    assert_eq!(ids(store.list_contact_groups(a.pk, Some(&expected[0]), 1).await.unwrap()), vec![expected[1].clone()]);
    assert_eq!(ids(store.list_contact_groups(a.pk, Some(&expected[2]), 5).await.unwrap()), Vec::new());
    assert_eq!(ids(store.list_contact_groups(b.pk, None, 10).await.unwrap()), vec![theirs.id.clone()]);

    let renamed = store.rename_contact_group(a.pk, &staff.id, "Team".into(), at(5)).await.unwrap().expect("renamed");
    assert_eq!((renamed.name.as_str(), renamed.updated_at), ("Team", at(5)));
    let same = store.rename_contact_group(a.pk, &staff.id, "TEAM".into(), at(6)).await.unwrap().expect("a group may change its own case");
    assert_eq!(same.name, "TEAM");
    assert!(matches!(store.rename_contact_group(a.pk, &staff.id, "leads".into(), at(6)).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.rename_contact_group(b.pk, &staff.id, "Stolen".into(), at(6)).await.unwrap(), None);

    store.add_group_members(a.pk, &leads.id, vec![number(1)], at(7)).await.unwrap();
    assert_eq!(store.delete_contact_group(b.pk, &leads.id).await.unwrap(), None, "another tenant cannot delete it");
    let deleted = store.delete_contact_group(a.pk, &leads.id).await.unwrap().expect("deleted");
    assert_eq!(deleted.member_count, 1);
    assert_eq!(store.get_contact_group(a.pk, &GroupRef::Id(leads.id.clone())).await.unwrap(), None);
    assert!(store.get_contact(a.pk, &ContactRef::Phone(number(1))).await.unwrap().is_some(), "its contacts stay");
    // The name is free again.
    store.create_contact_group(new_group(&a, "Leads")).await.unwrap();
}

pub async fn group_members_add_remove_and_fan_out(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    store.write_contacts(a.pk, vec![new_contact(1, "Known")], false, at(1)).await.unwrap();
    let g = store.create_contact_group(new_group(&a, "Broadcast")).await.unwrap();
    let out = store.add_group_members(a.pk, &g.id, vec![number(1), number(2), number(2)], at(2)).await.unwrap().expect("the group exists");
    assert!(matches!(&out[0], MemberAdd::Added { created_contact: false, .. }), "{:?}", out[0]);
    assert!(matches!(&out[1], MemberAdd::Added { created_contact: true, .. }), "{:?}", out[1]);
    assert!(matches!(&out[2], MemberAdd::AlreadyMember { .. }), "{:?}", out[2]);
    let bare = store.get_contact(a.pk, &ContactRef::Phone(number(2))).await.unwrap().expect("a bare contact was created");
    assert_eq!(bare.name, number(2).as_str(), "named after its number");
    let now = store.get_contact_group(a.pk, &GroupRef::Id(g.id.clone())).await.unwrap().unwrap();
    assert_eq!((now.member_count, now.updated_at), (2, at(2)));
    assert_eq!(store.group_member_phones(a.pk, &g.id).await.unwrap(), vec![number(1), number(2)]);

    // Another tenant's group does not exist for them, and adds nothing to it.
    assert_eq!(store.add_group_members(b.pk, &g.id, vec![number(3)], at(3)).await.unwrap(), None);
    assert_eq!(store.remove_group_members(b.pk, &g.id, vec![number(1)], at(3)).await.unwrap(), None);
    assert!(store.group_member_phones(b.pk, &g.id).await.unwrap().is_empty());
    assert!(store.get_contact(b.pk, &ContactRef::Phone(number(3))).await.unwrap().is_none());
    assert_eq!(store.add_group_members(a.pk, &ContactGroupId::generate(), vec![number(3)], at(3)).await.unwrap(), None);

    let out = store.remove_group_members(a.pk, &g.id, vec![number(1), number(1), number(9)], at(4)).await.unwrap().unwrap();
    assert_eq!(out, vec![MemberRemove::Removed, MemberRemove::NotMember, MemberRemove::NotMember]);
    assert!(store.get_contact(a.pk, &ContactRef::Phone(number(1))).await.unwrap().is_some(), "removing a member keeps the contact");
    // Deleting a contact takes it out of its groups.
    store.add_group_members(a.pk, &g.id, vec![number(1)], at(5)).await.unwrap();
    store.delete_contacts(a.pk, vec![ContactRef::Phone(number(2))]).await.unwrap();
    assert_eq!(store.group_member_phones(a.pk, &g.id).await.unwrap(), vec![number(1)]);
    let members = store.list_contacts(a.pk, &ContactFilter { group: Some(g.id.clone()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(members.len(), 1);
    let store = h.reopen(store).await;
    assert_eq!(store.group_member_phones(a.pk, &g.id).await.unwrap(), vec![number(1)], "memberships survive a restart");
}

pub async fn blacklist_is_idempotent_and_announced(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let first = store.add_to_blacklist(entry(&a, number(2), Some("complained"), at(1))).await.unwrap();
    assert_eq!(first, BlacklistAdd::Added(entry(&a, number(2), Some("complained"), at(1))));
    let again = store.add_to_blacklist(entry(&a, number(2), Some("opt_out"), at(2))).await.unwrap();
    assert_eq!(again, BlacklistAdd::Existing(first.entry().clone()), "the first entry stays as it was");
    let logged = events(&*store, &a).await;
    assert_eq!(logged.iter().filter(|e| e.event_type == types::BLACKLIST_ADDED).count(), 1, "one event, for the first add");
    let event = logged.iter().find(|e| e.event_type == types::BLACKLIST_ADDED).unwrap();
    assert_eq!(
        (event.data["phone"].as_str(), event.data["reason"].as_str(), event.created_at),
        (Some(number(2).as_str()), Some("complained"), at(1))
    );
    assert!(event_types(&*store, &b).await.is_empty(), "another tenant hears nothing");

    store.add_to_blacklist(entry(&a, number(1), None, at(3))).await.unwrap();
    store.add_to_blacklist(entry(&a, number(3), None, at(3))).await.unwrap();
    store.add_to_blacklist(entry(&b, number(9), None, at(3))).await.unwrap();
    assert!(store.is_blacklisted(a.pk, &number(2)).await.unwrap());
    assert!(!store.is_blacklisted(b.pk, &number(2)).await.unwrap(), "per tenant");
    assert!(!store.is_blacklisted(a.pk, &number(9)).await.unwrap());
    let asked: Vec<PhoneNumber> = (0..1200).map(number).collect();
    let hits = store.blacklisted_among(a.pk, &asked).await.unwrap();
    assert_eq!(hits, HashSet::from([number(1), number(2), number(3)]), "found across chunks, only the tenant's");
    assert!(store.blacklisted_among(a.pk, &[]).await.unwrap().is_empty());

    assert_eq!(phones_on_list(&*store, &a, None, 10).await, vec![number(1), number(2), number(3)], "sorted by number");
    assert_eq!(phones_on_list(&*store, &a, Some(&number(1)), 1).await, vec![number(2)]);
    assert_eq!(phones_on_list(&*store, &b, None, 10).await, vec![number(9)]);

    assert_eq!(store.remove_from_blacklist(b.pk, &number(2)).await.unwrap(), None, "another tenant cannot remove it");
    assert_eq!(store.remove_from_blacklist(a.pk, &number(2)).await.unwrap().map(|e| e.reason), Some(Some("complained".into())));
    assert_eq!(store.remove_from_blacklist(a.pk, &number(2)).await.unwrap(), None);
    assert!(!store.is_blacklisted(a.pk, &number(2)).await.unwrap());
    // Blacklisted again later: a new entry and a new event.
    assert!(matches!(store.add_to_blacklist(entry(&a, number(2), None, at(9))).await.unwrap(), BlacklistAdd::Added(_)));
    assert_eq!(event_types(&*store, &a).await.iter().filter(|t| *t == types::BLACKLIST_ADDED).count(), 4);
    let store = h.reopen(store).await;
    assert!(store.is_blacklisted(a.pk, &number(2)).await.unwrap(), "survives a restart");
}

pub async fn blacklist_settings_default_put_and_isolation(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    assert_eq!(store.get_blacklist_settings(a.pk).await.unwrap(), BlacklistSettings::default());
    let wanted =
        BlacklistSettings { opt_out_keywords: vec!["STOP".into(), "Berhenti".into()], confirmation: Some("Bye".into()), updated_at: None };
    let saved = store.put_blacklist_settings(a.pk, wanted.clone(), at(1)).await.unwrap();
    assert_eq!(saved, BlacklistSettings { updated_at: Some(at(1)), ..wanted });
    assert_eq!(store.get_blacklist_settings(a.pk).await.unwrap(), saved);
    assert_eq!(store.get_blacklist_settings(b.pk).await.unwrap(), BlacklistSettings::default(), "per tenant");
    let replaced = store.put_blacklist_settings(a.pk, BlacklistSettings::default(), at(2)).await.unwrap();
    assert_eq!((replaced.opt_out_keywords.len(), replaced.confirmation, replaced.updated_at), (0, None, Some(at(2))));
}
