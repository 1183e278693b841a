//! Jobs and templates: numbering per tenant, the dispatch written with its message and
//! events, guarded state changes, idempotency per inbound message, delays, tenant scope.

use std::sync::Arc;

use kirim_core::job::{
    self, Command, EntryKind, JobDispatch, JobFilter, JobRecord, JobState, JobStatus, NewEntry, NewJob, RecordOutcome, Transition,
};
use kirim_core::message::{MessageContent, MessageStatus};
use kirim_core::store::StoreError;
use kirim_core::template::{NewTemplate, TemplateSpec, TemplateStatus};
use kirim_core::{JobId, MessageId, PhoneNumber, Recipient, TemplateId};

use crate::Harness;
use crate::fixtures::{at, device, event_types, outbound, phone, t0, tenant};

fn worker() -> PhoneNumber {
    match phone(9) {
        Recipient::Phone(p) => p,
        Recipient::Group(_) => unreachable!("a phone"),
    }
}

fn render(job: &kirim_core::job::Job) -> MessageContent {
    MessageContent::text(format!("job {}", job.reference()))
}

fn dispatch(d: &kirim_core::device::Device, key: Option<&str>) -> JobDispatch {
    let mut message = outbound(d, "placeholder");
    message.chat = phone(9);
    message.idempotency_key = key.map(str::to_owned);
    JobDispatch {
        job: NewJob {
            id: JobId::generate(),
            tenant_pk: d.tenant_pk,
            device_pk: d.pk,
            worker: worker(),
            client_name: "Siti".into(),
            task: "clean".into(),
            location: "KL".into(),
            map_link: None,
            scheduled_for: None,
            notes: None,
            created_at: t0(),
        },
        message,
        render,
    }
}

pub async fn jobs_are_numbered_dispatched_and_scoped(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let (a, b) = (tenant(&*store, "a").await, tenant(&*store, "b").await);
    let (da, db) = (device(&*store, &a, "a").await, device(&*store, &b, "b").await);
    let (j1, m1, replayed) = store.create_job(dispatch(&da, Some("k1"))).await.expect("create");
    assert!(!replayed);
    assert_eq!((j1.number, j1.state.status, j1.dispatch_message_id.clone()), (1, JobStatus::Pending, Some(m1.id.clone())));
    assert_eq!(m1.content, MessageContent::text("job J1"), "the message is made from the numbered job");
    assert_eq!(m1.status, MessageStatus::Pending);
    let (again, same, replayed) = store.create_job(dispatch(&da, Some("k1"))).await.expect("retry");
    assert!(replayed);
    assert_eq!((again.id, same.id), (j1.id.clone(), m1.id.clone()), "a taken key returns the original");
    let (j2, _, _) = store.create_job(dispatch(&da, None)).await.expect("second");
    let (jb, _, _) = store.create_job(dispatch(&db, None)).await.expect("other tenant");
    assert_eq!((j2.number, jb.number), (2, 1), "numbers are per tenant");
    assert_eq!(event_types(&*store, &a).await.iter().filter(|t| *t == "job.created").count(), 2);

    assert_eq!(store.get_job(a.pk, &j1.id).await.unwrap(), Some(j1.clone()), "read back as returned");
    assert_eq!(store.get_job(b.pk, &j1.id).await.unwrap(), None, "another tenant's job does not exist");
    assert_eq!(store.job_by_number(a.pk, 2).await.unwrap().map(|j| j.id), Some(j2.id.clone()));
    assert_eq!(store.job_for_message(a.pk, &m1.id).await.unwrap().map(|j| j.id), Some(j1.id.clone()));
    assert_eq!(store.job_for_message(b.pk, &m1.id).await.unwrap(), None);
    let listed: Vec<_> =
        store.list_jobs(a.pk, &JobFilter { limit: 10, ..Default::default() }).await.unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(listed, vec![j2.id.clone(), j1.id.clone()], "newest first");
    let page = store.list_jobs(a.pk, &JobFilter { limit: 10, before: Some(j2.id.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(store.worker_jobs(a.pk, &worker(), true, 10).await.unwrap().len(), 2);
    let timeline = store.job_timeline(j1.pk, 100).await.unwrap();
    assert_eq!(timeline.len(), 1);
    assert_eq!((timeline[0].kind, timeline[0].message_id.clone()), (EntryKind::Dispatched, Some(m1.id.clone())));
    assert_eq!(timeline[0].message_status.as_deref(), Some("pending"));
}

pub async fn job_changes_are_guarded_idempotent_and_delays_end(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let d = device(&*store, &a, "a").await;
    let (j, _, _) = store.create_job(dispatch(&d, None)).await.expect("create");
    let inbound = MessageId::generate();
    let Transition::Moved(delayed, kind) = job::transition(&j.state, &Command::Delay(Some(30)), at(10)) else { panic!("a move") };
    let mut reply = outbound(&d, "delayed");
    reply.idempotency_key = Some(format!("reply:{inbound}"));
    let record = |change: (JobState, JobState), reply| JobRecord {
        tenant_pk: a.pk,
        job: j.pk,
        change: Some(change),
        entries: vec![NewEntry { inbound_id: Some(inbound.clone()), ..NewEntry::of(kind) }],
        reply,
        inbound: Some(inbound.clone()),
        reason: "reply",
        at: at(10),
    };
    let outcome = store.record_job(record((j.state.clone(), delayed.clone()), Some(reply.clone()))).await.unwrap();
    let RecordOutcome::Recorded { job: after, reply: Some(sent) } = outcome else { panic!("recorded: {outcome:?}") };
    assert_eq!((after.state.status, after.state.previous_status), (JobStatus::Delayed, Some(JobStatus::Pending)));
    assert_eq!(sent.id, reply.id);
    assert!(store.inbound_recorded(&inbound).await.unwrap());
    assert_eq!(store.record_job(record((j.state.clone(), delayed.clone()), Some(reply.clone()))).await.unwrap(), RecordOutcome::Repeat);

    // A change computed from an old state is refused.
    let mut stale = record((j.state.clone(), delayed.clone()), None);
    stale.inbound = None;
    assert_eq!(store.record_job(stale).await.unwrap(), RecordOutcome::Stale);

    assert_eq!(store.next_delay_end().await.unwrap(), after.state.delay_until);
    assert!(store.due_delays(at(10), 10).await.unwrap().is_empty());
    let due = store.due_delays(at(10 + 30 * 60), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let back = job::delay_ended(&due[0].state);
    let end = JobRecord {
        tenant_pk: a.pk,
        job: j.pk,
        change: Some((due[0].state.clone(), back)),
        entries: vec![NewEntry::of(EntryKind::DelayEnded)],
        reply: None,
        inbound: None,
        reason: "delay_ended",
        at: at(1900),
    };
    let RecordOutcome::Recorded { job: ended, reply: None } = store.record_job(end).await.unwrap() else { panic!("ended") };
    assert_eq!(ended.state.status, JobStatus::Pending);
    assert_eq!(store.next_delay_end().await.unwrap(), None);
    let types = event_types(&*store, &a).await;
    assert_eq!(types.iter().filter(|t| *t == "job.updated").count(), 2, "{types:?}");
    assert!(types.contains(&"message.queued".to_owned()), "the reply was queued with the change");
    let kinds: Vec<_> = store.job_timeline(j.pk, 100).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EntryKind::Dispatched, EntryKind::Delay, EntryKind::DelayEnded]);
    let seq = store.job_timeline(j.pk, 100).await.unwrap()[1].seq;
    assert!(store.update_entry_detail(j.pk, seq, serde_json::json!({"x": 1}), at(2000)).await.unwrap());
    assert_eq!(store.job_timeline(j.pk, 100).await.unwrap()[1].detail, serde_json::json!({"x": 1}));
    let other = tenant(&*store, "b").await;
    let mut foreign = JobRecord { tenant_pk: other.pk, ..record((ended.state.clone(), ended.state.clone()), None) };
    foreign.inbound = None;
    assert_eq!(store.record_job(foreign).await.unwrap(), RecordOutcome::NotFound, "another tenant cannot touch the job");
}

fn spec(name: &str, status: TemplateStatus) -> TemplateSpec {
    TemplateSpec {
        name: name.into(),
        display_name: None,
        description: None,
        language: "en".into(),
        category: "UTILITY".into(),
        status,
        body: "Hi {{name}}".into(),
    }
}

pub async fn templates_crud_unique_names_and_scope(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let (a, b) = (tenant(&*store, "a").await, tenant(&*store, "b").await);
    let new = |t: &kirim_core::tenant::Tenant, name: &str, status| NewTemplate {
        id: TemplateId::generate(),
        tenant_pk: t.pk,
        spec: spec(name, status),
        created_at: t0(),
    };
    let t1 = store.create_template(new(&a, "hello", TemplateStatus::Approved)).await.expect("create");
    assert!(matches!(store.create_template(new(&a, "hello", TemplateStatus::Approved)).await, Err(StoreError::Conflict(_))));
    store.create_template(new(&b, "hello", TemplateStatus::Approved)).await.expect("another tenant may use the name");
    let t2 = store.create_template(new(&a, "later", TemplateStatus::Pending)).await.expect("second");
    assert_eq!(t1.variables(), vec!["name".to_owned()]);
    assert_eq!(store.get_template(a.pk, &t1.id).await.unwrap(), Some(t1.clone()));
    assert_eq!(store.get_template(b.pk, &t1.id).await.unwrap(), None);
    assert_eq!(store.list_templates(a.pk, None, None, 10).await.unwrap().len(), 2);
    assert_eq!(store.list_templates(a.pk, Some(TemplateStatus::Approved), None, 10).await.unwrap(), vec![t1.clone()]);
    assert!(matches!(
        store.update_template(a.pk, &t2.id, spec("hello", TemplateStatus::Pending), at(1)).await,
        Err(StoreError::Conflict(_))
    ));
    let changed = store.update_template(a.pk, &t2.id, spec("later", TemplateStatus::Approved), at(1)).await.unwrap().expect("changed");
    assert_eq!((changed.spec.status, changed.updated_at), (TemplateStatus::Approved, at(1)));
    assert_eq!(store.delete_template(b.pk, &t1.id).await.unwrap(), None);
    assert!(store.delete_template(a.pk, &t1.id).await.unwrap().is_some());
    assert_eq!(store.get_template(a.pk, &t1.id).await.unwrap(), None);
}
