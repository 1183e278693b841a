//! Contacts: batch writes with per-item outcomes, patches, deletes by id or number, search,
//! group filters, cursors and tenant isolation.

use std::sync::Arc;

use chrono::NaiveDate;
use kirim_core::contact::{
    ContactFilter, ContactPatch, ContactRef, ContactUpdate, ContactWrite, GroupRef, NewContact, NewContactGroup, ids_in_order,
};
use kirim_core::store::Store;
use kirim_core::tenant::Tenant;
use kirim_core::{ContactGroupId, ContactId, PhoneNumber};

use crate::Harness;
use crate::fixtures::{at, tenant};

pub fn number(n: u32) -> PhoneNumber {
    PhoneNumber::parse(&format!("+6013{:07}", 4_000_000 + n), None).expect("a valid number")
}

pub fn new_contact(n: u32, name: &str) -> NewContact {
    NewContact { name: name.into(), ..NewContact::bare(number(n)) }
}

/// The batch with increasing ids, as the app gives them, so lists show it in this order.
pub fn in_order(mut batch: Vec<NewContact>) -> Vec<NewContact> {
    let ids = ids_in_order(batch.len());
    for (c, id) in batch.iter_mut().zip(ids) {
        c.id = id;
    }
    batch
}

fn all() -> ContactFilter {
    ContactFilter { limit: 1000, ..Default::default() }
}

fn created(w: &ContactWrite) -> &kirim_core::contact::Contact {
    match w {
        ContactWrite::Created(c) => c,
        other => panic!("expected a created contact, got {other:?}"),
    }
}

async fn names(store: &dyn Store, tenant: &Tenant, filter: ContactFilter) -> Vec<String> {
    store.list_contacts(tenant.pk, &filter).await.expect("list contacts").into_iter().map(|c| c.name).collect()
}

pub async fn contacts_batch_write_reports_each_item(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let mut full = new_contact(2, "Karina");
    full.email = Some("karina@example.com".into());
    full.address = Some("Jalan Ampang 1".into());
    full.birthday = NaiveDate::from_ymd_opt(1992, 3, 12);
    full.custom.insert("tier".into(), "gold".into());
    let batch = in_order(vec![new_contact(1, "Danu"), full.clone(), new_contact(1, "Danu again")]);
    let out = store.write_contacts(a.pk, batch, false, at(1)).await.unwrap();
    assert_eq!(out.len(), 3);
    let danu = created(&out[0]).clone();
    let karina = created(&out[1]).clone();
    assert_eq!(out[2], ContactWrite::Existing(danu.clone()), "a repeat within the batch is the first one, unchanged");
    assert_eq!(
        (karina.email.as_deref(), karina.birthday, karina.custom.get("tier").map(String::as_str)),
        (Some("karina@example.com"), NaiveDate::from_ymd_opt(1992, 3, 12), Some("gold"))
    );
    assert_eq!((danu.created_at, danu.updated_at), (at(1), at(1)));
    assert_eq!(store.get_contact(a.pk, &ContactRef::Id(danu.id.clone())).await.unwrap(), Some(danu.clone()), "a read equals the write");

    // Upsert: given fields replace, omitted ones stay.
    let mut again = new_contact(2, "Karina Setya");
    again.address = Some("Boyolali".into());
    let out = store.write_contacts(a.pk, vec![again, new_contact(3, "New")], true, at(2)).await.unwrap();
    let ContactWrite::Updated(k) = &out[0] else { panic!("expected an update, got {:?}", out[0]) };
    assert_eq!((k.id.clone(), k.name.as_str(), k.address.as_deref()), (karina.id.clone(), "Karina Setya", Some("Boyolali")));
    assert_eq!((k.email.as_deref(), k.custom.len(), k.birthday), (Some("karina@example.com"), 1, karina.birthday), "kept");
    assert_eq!((k.created_at, k.updated_at), (at(1), at(2)));
    created(&out[1]);

    // The same number in another tenant is another contact.
    let theirs = store.write_contacts(b.pk, vec![new_contact(1, "B's Danu")], false, at(3)).await.unwrap();
    assert_ne!(created(&theirs[0]).id, danu.id);
    let mut listed = names(&*store, &a, all()).await;
    assert_eq!(listed[..2], ["Danu", "Karina Setya"], "a batch is listed in its order");
    listed.sort();
    assert_eq!(listed, vec!["Danu", "Karina Setya", "New"]);
    assert_eq!(names(&*store, &b, all()).await, vec!["B's Danu"]);
    assert!(store.write_contacts(a.pk, Vec::new(), false, at(4)).await.unwrap().is_empty());
}

pub async fn contacts_get_update_delete_by_id_or_number(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let mut first = new_contact(1, "Siti");
    first.email = Some("siti@example.com".into());
    let out = store.write_contacts(a.pk, vec![first, new_contact(2, "Ali")], false, at(1)).await.unwrap();
    let (siti, ali) = (created(&out[0]).clone(), created(&out[1]).clone());
    let by_phone = ContactRef::Phone(number(1));
    assert_eq!(store.get_contact(a.pk, &by_phone).await.unwrap(), Some(siti.clone()));
    assert_eq!(store.get_contact(b.pk, &by_phone).await.unwrap(), None, "another tenant's contact");
    assert_eq!(store.get_contact(b.pk, &ContactRef::Id(siti.id.clone())).await.unwrap(), None);
    assert_eq!(store.get_contact(a.pk, &ContactRef::Id(ContactId::generate())).await.unwrap(), None);

    let clear = ContactPatch {
        name: Some("Siti Aminah".into()),
        email: Some(None),
        birthday: Some(NaiveDate::from_ymd_opt(1990, 1, 31)),
        custom: Some([("city".to_owned(), "Ipoh".to_owned())].into()),
        ..ContactPatch::default()
    };
    let updates = vec![
        (by_phone.clone(), clear),
        (ContactRef::Id(ali.id.clone()), ContactPatch { phone: Some(number(1)), ..ContactPatch::default() }),
        (ContactRef::Phone(number(9)), ContactPatch { name: Some("ghost".into()), ..ContactPatch::default() }),
        (ContactRef::Id(ali.id.clone()), ContactPatch { phone: Some(number(3)), ..ContactPatch::default() }),
    ];
    let out = store.update_contacts(a.pk, updates, at(2)).await.unwrap();
    let ContactUpdate::Updated(s) = &out[0] else { panic!("{:?}", out[0]) };
    assert_eq!((s.name.as_str(), s.email.as_deref(), s.custom.len(), s.updated_at), ("Siti Aminah", None, 1, at(2)));
    assert!(matches!(&out[1], ContactUpdate::PhoneTaken(other) if other.id == siti.id), "{:?}", out[1]);
    assert_eq!(out[2], ContactUpdate::NotFound);
    let ContactUpdate::Updated(moved) = &out[3] else { panic!("{:?}", out[3]) };
    assert_eq!(moved.phone, number(3), "a number can change to a free one");
    assert_eq!(store.get_contact(a.pk, &ContactRef::Phone(number(3))).await.unwrap().map(|c| c.id), Some(ali.id.clone()));
    let searched = store.list_contacts(a.pk, &ContactFilter { search: Some("aminah".into()), ..all() }).await.unwrap();
    assert_eq!(searched.len(), 1, "search follows an update");
    let foreign = store.update_contacts(b.pk, vec![(by_phone.clone(), ContactPatch::default())], at(3)).await.unwrap();
    assert_eq!(foreign, vec![ContactUpdate::NotFound], "another tenant cannot update it");

    assert_eq!(store.delete_contacts(b.pk, vec![by_phone.clone()]).await.unwrap(), vec![None], "nor delete it");
    let gone = store.delete_contacts(a.pk, vec![by_phone.clone(), ContactRef::Id(ali.id.clone()), by_phone.clone()]).await.unwrap();
    assert_eq!(
        gone.iter().map(|c| c.as_ref().map(|c| c.name.clone())).collect::<Vec<_>>(),
        vec![Some("Siti Aminah".into()), Some("Ali".into()), None]
    );
    assert!(store.list_contacts(a.pk, &all()).await.unwrap().is_empty());
    // A deleted number can be added again.
    created(&store.write_contacts(a.pk, vec![new_contact(1, "Siti")], false, at(4)).await.unwrap()[0]);
}

pub async fn contacts_search_filter_page_and_count(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let mut batch: Vec<NewContact> =
        ["Ñandú Tan", "Ahmad", "Bella", "Chong", "Dewi"].iter().zip(1..).map(|(n, i)| new_contact(i, n)).collect();
    batch[2].email = Some("Bella@Shop.example".into());
    let out = store.write_contacts(a.pk, in_order(batch), false, at(1)).await.unwrap();
    let ids: Vec<ContactId> = out.iter().map(|w| created(w).id.clone()).collect();
    store.write_contacts(b.pk, vec![new_contact(1, "Ahmad of B")], false, at(1)).await.unwrap();

    let search = |q: &str| ContactFilter { search: Some(q.into()), ..all() };
    assert_eq!(names(&*store, &a, search("ñANDÚ")).await, vec!["Ñandú Tan"], "case-insensitive beyond ASCII");
    assert_eq!(names(&*store, &a, search("shop.EXAMPLE")).await, vec!["Bella"], "email");
    assert_eq!(names(&*store, &a, search("+60 13-400 0004")).await, vec!["Chong"], "a number in any form");
    assert_eq!(names(&*store, &a, search("AHMAD")).await, vec!["Ahmad"], "only the tenant's");
    assert_eq!(names(&*store, &a, search("nobody")).await, Vec::<String>::new());
    assert_eq!(names(&*store, &a, search("  ")).await.len(), 5, "an empty search matches all");
    assert_eq!(store.count_contacts(a.pk, &search("a")).await.unwrap(), 3, "Ñandú Tan, Ahmad and Bella");

    // Pages in id order, and a cursor whose contact was deleted goes on from where it was.
    let page1 = store.list_contacts(a.pk, &ContactFilter { limit: 2, ..all() }).await.unwrap();
    assert_eq!(page1.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), ids[..2].to_vec());
    let page2 = store.list_contacts(a.pk, &ContactFilter { limit: 2, after: Some(ids[1].clone()), ..all() }).await.unwrap();
    assert_eq!(page2.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), ids[2..4].to_vec());
    store.delete_contacts(a.pk, vec![ContactRef::Id(ids[3].clone())]).await.unwrap();
    let page3 = store.list_contacts(a.pk, &ContactFilter { limit: 2, after: Some(ids[3].clone()), ..all() }).await.unwrap();
    assert_eq!(page3.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), ids[4..].to_vec());
    let third = store.list_contacts(a.pk, &ContactFilter { limit: 1, offset: 2, ..all() }).await.unwrap();
    assert_eq!(third.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), vec![ids[2].clone()], "page numbers by offset");
    let foreign_cursor = store.list_contacts(b.pk, &ContactFilter { after: Some(ids[0].clone()), ..all() }).await.unwrap();
    assert!(foreign_cursor.iter().all(|c| c.tenant_pk == b.pk));

    // Group filter.
    let g = store
        .create_contact_group(NewContactGroup { id: ContactGroupId::generate(), tenant_pk: a.pk, name: "vip".into(), created_at: at(2) })
        .await
        .unwrap();
    store.add_group_members(a.pk, &g.id, vec![number(2), number(5)], at(3)).await.unwrap();
    let vip = ContactFilter { group: Some(g.id.clone()), ..all() };
    assert_eq!(names(&*store, &a, vip.clone()).await, vec!["Ahmad", "Dewi"]);
    assert_eq!(names(&*store, &a, ContactFilter { search: Some("dewi".into()), ..vip.clone() }).await, vec!["Dewi"]);
    assert_eq!(store.count_contacts(a.pk, &vip).await.unwrap(), 2);
    assert!(names(&*store, &b, vip.clone()).await.is_empty(), "another tenant's group filters to nothing");
    let unknown = ContactFilter { group: Some(ContactGroupId::generate()), ..all() };
    assert_eq!(store.count_contacts(a.pk, &unknown).await.unwrap(), 0);
    assert_eq!(store.count_contacts(a.pk, &all()).await.unwrap(), 4);
    assert_eq!(store.count_contacts(b.pk, &all()).await.unwrap(), 1);
    assert!(store.get_contact_group(b.pk, &GroupRef::Id(g.id.clone())).await.unwrap().is_none());
}

pub async fn contacts_survive_reopen(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let mut c = new_contact(1, "Persisted");
    c.birthday = NaiveDate::from_ymd_opt(2000, 2, 29);
    let written = created(&store.write_contacts(a.pk, vec![c], false, at(1)).await.unwrap()[0]).clone();
    let store = h.reopen(store).await;
    assert_eq!(store.get_contact(a.pk, &ContactRef::Phone(number(1))).await.unwrap(), Some(written));
}
