//! Reports: the filters, numbered pages, counts by status, per-day ranges (a message exactly
//! at midnight belongs to the day it starts) and tenant isolation.

use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use kirim_core::message::{Direction, LocationContent, MessageContent, MessageStatus, SendOutcome};
use kirim_core::report::{DayRange, ReportFilter, StatusCount};
use kirim_core::store::Store;
use kirim_core::tenant::Tenant;

use crate::Harness;
use crate::fixtures::{at, device, inbound, insert, outbound, phone, t0, tenant};

fn count_of(counts: &[StatusCount], status: MessageStatus) -> u64 {
    counts.iter().filter(|c| c.status == status).map(|c| c.count).sum()
}

async fn ids(store: &dyn Store, tenant: &Tenant, f: &ReportFilter, offset: u64, limit: u32) -> Vec<String> {
    store.report_messages(tenant.pk, f, offset, limit).await.unwrap().into_iter().map(|m| m.id.to_string()).collect()
}

pub async fn reports_filter_page_count_and_isolation(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d1 = device(&*store, &a, "one").await;
    let d2 = device(&*store, &a, "two").await;
    let theirs = device(&*store, &b, "theirs").await;

    // Five messages a second apart; inserted out of time order, listed by creation time.
    let mut made = Vec::new();
    for (i, secs) in [30, 10, 40, 20, 50].into_iter().enumerate() {
        let mut m = outbound(if i == 4 { &d2 } else { &d1 }, &format!("m{i}"));
        m.created_at = at(secs);
        m.chat = phone(u32::try_from(i % 2).unwrap());
        m.ref_id = (i == 1).then(|| "invoice-1".to_owned());
        if i == 3 {
            m.content =
                MessageContent::Location { location: LocationContent { latitude: 3.1, longitude: 101.7, name: None, address: None } };
        }
        made.push(insert(&*store, m).await);
    }
    // One of them fails.
    let claimed = store.claim_next(d2.pk, at(60)).await.unwrap().expect("d2's message");
    store.complete_send(claimed.pk, SendOutcome::Failed { error: "not on WhatsApp".into() }, at(61)).await.unwrap();
    store.insert_inbound(inbound(&d1, phone(7), None, "n-1")).await.unwrap();
    insert(&*store, outbound(&theirs, "not yours")).await;

    let all = ReportFilter::default();
    let newest_first: Vec<String> = [4usize, 2, 0, 3, 1].iter().map(|i| made[*i].id.to_string()).collect();
    let listed = ids(&*store, &a, &all, 0, 10).await;
    assert_eq!(listed.len(), 6, "five sent and one received: {listed:?}");
    assert_eq!(&listed[..5], &newest_first[..], "newest first by creation time");
    assert_eq!(ids(&*store, &a, &all, 1, 2).await, newest_first[1..3].to_vec(), "offset and limit page");
    assert!(ids(&*store, &a, &all, 10, 10).await.is_empty(), "past the end");

    let counts = store.report_counts(a.pk, &all).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 6);
    assert_eq!(
        (count_of(&counts, MessageStatus::Pending), count_of(&counts, MessageStatus::Failed), count_of(&counts, MessageStatus::Received)),
        (4, 1, 1)
    );

    let only = |f: ReportFilter| f;
    let cases: Vec<(ReportFilter, Vec<String>)> = vec![
        (only(ReportFilter { status: Some(MessageStatus::Failed), ..Default::default() }), vec![made[4].id.to_string()]),
        (only(ReportFilter { device: Some(d2.pk), ..Default::default() }), vec![made[4].id.to_string()]),
        (only(ReportFilter { ref_id: Some("invoice-1".into()), ..Default::default() }), vec![made[1].id.to_string()]),
        (only(ReportFilter { kind: Some("location"), ..Default::default() }), vec![made[3].id.to_string()]),
        (
            only(ReportFilter { chat: Some(phone(1)), direction: Some(Direction::Outbound), ..Default::default() }),
            vec![made[3].id.to_string(), made[1].id.to_string()],
        ),
        (
            only(ReportFilter { from: Some(at(20)), to: Some(at(40)), direction: Some(Direction::Outbound), ..Default::default() }),
            vec![made[0].id.to_string(), made[3].id.to_string()],
        ),
        (
            only(ReportFilter { ids: vec![made[2].id.clone(), made[1].id.clone()], ..Default::default() }),
            vec![made[2].id.to_string(), made[1].id.to_string()],
        ),
    ];
    for (f, want) in cases {
        assert_eq!(ids(&*store, &a, &f, 0, 10).await, want, "{f:?}");
        let total: u64 = store.report_counts(a.pk, &f).await.unwrap().iter().map(|c| c.count).sum();
        assert_eq!(total, want.len() as u64, "the count agrees with the rows: {f:?}");
    }

    // Another tenant sees none of it, even naming this tenant's device or messages.
    let spy = ReportFilter { device: Some(d1.pk), ..Default::default() };
    assert!(ids(&*store, &b, &spy, 0, 10).await.is_empty());
    let spy = ReportFilter { ids: vec![made[0].id.clone()], ..Default::default() };
    assert!(ids(&*store, &b, &spy, 0, 10).await.is_empty());
    assert_eq!(store.report_counts(b.pk, &all).await.unwrap().iter().map(|c| c.count).sum::<u64>(), 1);
}

pub async fn report_days_split_at_each_range_boundary(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "one").await;
    let day0 = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    // Days of a zone seven hours ahead of UTC: each starts at 17:00 UTC the evening before.
    let start = t0() - Duration::hours(7);
    let days: Vec<DayRange> = (0..3)
        .map(|i| DayRange { date: day0 + Duration::days(i), start: start + Duration::days(i), end: start + Duration::days(i + 1) })
        .collect();
    let boundary = days[1].start;
    for (offset_ms, body) in [(-1, "last of day 0"), (0, "first of day 1"), (1, "second of day 1"), (-25 * 3_600_000, "before the range")] {
        let mut m = outbound(&d, body);
        m.created_at = boundary + Duration::milliseconds(offset_ms);
        insert(&*store, m).await;
    }
    let claimed = store.claim_next(d.pk, at(3600)).await.unwrap().expect("a message");
    store.complete_send(claimed.pk, SendOutcome::Failed { error: "x".into() }, at(3601)).await.unwrap();

    let got = store.report_days(a.pk, &ReportFilter::default(), &days).await.unwrap();
    let per_day = |date: NaiveDate| got.iter().filter(|(d, _)| *d == date).map(|(_, c)| c.count).sum::<u64>();
    assert_eq!((per_day(days[0].date), per_day(days[1].date), per_day(days[2].date)), (1, 2, 0), "{got:?}");
    let failed: u64 = got.iter().filter(|(_, c)| c.status == MessageStatus::Failed).map(|(_, c)| c.count).sum();
    assert_eq!(failed, 1, "counted by status: {got:?}");
    let other = tenant(&*store, "b").await;
    assert!(store.report_days(other.pk, &ReportFilter::default(), &days).await.unwrap().is_empty());
    let outbound_only = ReportFilter { direction: Some(Direction::Inbound), ..Default::default() };
    assert!(store.report_days(a.pk, &outbound_only, &days).await.unwrap().is_empty(), "filters apply");
    assert!(store.report_days(a.pk, &ReportFilter::default(), &[]).await.unwrap().is_empty());
}
