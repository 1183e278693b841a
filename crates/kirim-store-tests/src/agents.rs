//! Agents (unique email and number per tenant, lookups by id, email or number) and
//! conversations: kept by inbound messages and sends, assigned by message id with an event
//! per change, unassigned when their agent is deleted; each with tenant isolation.

use std::sync::Arc;

use kirim_core::agent::{AgentFilter, AgentPatch, AgentRef, AgentScope, AgentWrite, AssignOutcome, ConversationFilter, NewAgent, types};
use kirim_core::message::SendOutcome;
use kirim_core::store::{InsertOutcome, Store};
use kirim_core::tenant::Tenant;
use kirim_core::{AgentId, PhoneNumber};

use crate::Harness;
use crate::fixtures::{at, device, event_types, events, inbound, insert, outbound, phone, tenant};

fn new_agent(tenant: &Tenant, name: &str, email: Option<&str>, phone: Option<u32>) -> NewAgent {
    NewAgent {
        id: AgentId::generate(),
        tenant_pk: tenant.pk,
        name: name.into(),
        email: email.map(str::to_owned),
        phone: phone.map(|n| PhoneNumber::from_stored(format!("+6013{:07}", n))),
        active: true,
        created_at: at(0),
    }
}

async fn written(store: &dyn Store, agent: NewAgent) -> kirim_core::agent::Agent {
    match store.create_agent(agent).await.unwrap() {
        AgentWrite::Written(a) => a,
        other => panic!("expected a new agent, got {other:?}"),
    }
}

fn done(outcome: AssignOutcome) -> kirim_core::agent::Conversation {
    match outcome {
        AssignOutcome::Done(c) => *c,
        other => panic!("expected an assignment, got {other:?}"),
    }
}

pub async fn agents_crud_uniqueness_and_isolation(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let danu = written(&*store, new_agent(&a, "Danu", Some("Danu@Example.com"), Some(1))).await;
    assert_eq!((danu.email.as_deref(), danu.active), (Some("danu@example.com"), true), "emails are kept lowercased");
    let dup = store.create_agent(new_agent(&a, "Other", Some("DANU@example.com"), None)).await.unwrap();
    assert_eq!(dup, AgentWrite::EmailTaken);
    let dup = store.create_agent(new_agent(&a, "Other", None, Some(1))).await.unwrap();
    assert_eq!(dup, AgentWrite::PhoneTaken);
    let theirs = written(&*store, new_agent(&b, "Danu", Some("danu@example.com"), Some(1))).await;

    for r in [AgentRef::Id(danu.id.clone()), AgentRef::Email("DANU@example.com".into()), AgentRef::Phone(danu.phone.clone().unwrap())] {
        assert_eq!(store.get_agent(a.pk, &r).await.unwrap().map(|x| x.id), Some(danu.id.clone()), "{r:?}");
    }
    assert_eq!(store.get_agent(a.pk, &AgentRef::Id(theirs.id.clone())).await.unwrap(), None, "another tenant's agent");

    let siti = written(&*store, new_agent(&a, "Siti", None, Some(2))).await;
    let taken = AgentPatch { phone: Some(danu.phone.clone()), ..Default::default() };
    assert_eq!(store.update_agent(a.pk, &siti.id, taken, at(1)).await.unwrap(), AgentWrite::PhoneTaken);
    let patch =
        AgentPatch { name: Some("Siti A".into()), email: Some(Some("siti@example.com".into())), active: Some(false), ..Default::default() };
    let AgentWrite::Written(changed) = store.update_agent(a.pk, &siti.id, patch, at(2)).await.unwrap() else { panic!("updated") };
    assert_eq!(
        (changed.name.as_str(), changed.email.as_deref(), changed.active, changed.updated_at),
        ("Siti A", Some("siti@example.com"), false, at(2))
    );
    let keep_own = AgentPatch { phone: Some(siti.phone.clone()), ..Default::default() };
    assert!(
        matches!(store.update_agent(a.pk, &siti.id, keep_own, at(3)).await.unwrap(), AgentWrite::Written(_)),
        "its own number is not taken"
    );
    assert_eq!(store.update_agent(b.pk, &siti.id, AgentPatch::default(), at(3)).await.unwrap(), AgentWrite::NotFound);

    let all = |active| AgentFilter { active, limit: 10, ..Default::default() };
    let names = |v: Vec<kirim_core::agent::Agent>| v.into_iter().map(|a| a.name).collect::<Vec<_>>();
    assert_eq!(names(store.list_agents(a.pk, &all(None)).await.unwrap()), ["Danu", "Siti A"]);
    assert_eq!(names(store.list_agents(a.pk, &all(Some(false))).await.unwrap()), ["Siti A"]);
    let after = AgentFilter { after: Some(danu.id.clone()), limit: 10, ..Default::default() };
    assert_eq!(names(store.list_agents(a.pk, &after).await.unwrap()), ["Siti A"]);

    assert_eq!(store.delete_agent(b.pk, &danu.id, at(4)).await.unwrap(), None, "another tenant cannot delete it");
    assert_eq!(store.delete_agent(a.pk, &danu.id, at(4)).await.unwrap().map(|x| x.id), Some(danu.id.clone()));
    assert_eq!(store.get_agent(a.pk, &AgentRef::Id(danu.id)).await.unwrap(), None);
    assert!(store.get_agent(b.pk, &AgentRef::Id(theirs.id)).await.unwrap().is_some());
}

pub async fn conversations_follow_messages_and_assignments(h: Arc<dyn Harness>) {
    let store = h.fresh().await;
    let a = tenant(&*store, "a").await;
    let b = tenant(&*store, "b").await;
    let d = device(&*store, &a, "front desk").await;
    let danu = written(&*store, new_agent(&a, "Danu", Some("danu@example.com"), None)).await;
    let mut idle = new_agent(&a, "Idle", Some("idle@example.com"), None);
    idle.active = false;
    let idle = written(&*store, idle).await;
    let stranger = written(&*store, new_agent(&b, "Stranger", Some("s@example.com"), None)).await;

    // A send to a chat that never wrote makes no conversation.
    let mut notice = outbound(&d, "your parcel is on its way");
    notice.chat = phone(2);
    let notice = insert(&*store, notice).await;
    let everything = ConversationFilter { limit: 10, ..Default::default() };
    assert_eq!(store.count_conversations(a.pk, &everything).await.unwrap(), 0);

    // The chat writes twice: one conversation, two unread.
    let InsertOutcome::Inserted(first) = store.insert_inbound(inbound(&d, phone(1), None, "n-1")).await.unwrap() else { panic!() };
    let mut again = inbound(&d, phone(1), None, "n-2");
    again.received_at = at(6);
    let InsertOutcome::Inserted(second) = store.insert_inbound(again).await.unwrap() else { panic!() };
    store.insert_inbound(inbound(&d, phone(1), None, "n-2")).await.unwrap();
    let listed = store.list_conversations(a.pk, &everything).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let c = &listed[0];
    assert_eq!((c.chat.clone(), c.inbound_count, c.unread_count, c.assignee.clone()), (phone(1), 2, 2, None), "a redelivery counts once");
    assert_eq!(c.last_message.as_ref().map(|m| m.id.clone()), Some(second.id.clone()));

    // A reply that leaves answers them and becomes the last message.
    let mut reply = outbound(&d, "we are on it");
    reply.chat = phone(1);
    let reply = insert(&*store, reply).await;
    let claimed = store.claim_next(d.pk, at(7)).await.unwrap().expect("the notice");
    assert_eq!(claimed.id, notice.id);
    store.complete_send(claimed.pk, SendOutcome::Sent { network_id: "w-0".into() }, at(7)).await.unwrap();
    let claimed = store.claim_next(d.pk, at(8)).await.unwrap().expect("the reply");
    store.complete_send(claimed.pk, SendOutcome::Sent { network_id: "w-1".into() }, at(8)).await.unwrap();
    let c = store.get_conversation(a.pk, &c.id).await.unwrap().expect("the conversation");
    assert_eq!((c.unread_count, c.last_message.as_ref().map(|m| m.id.clone()), c.last_message_at), (0, Some(reply.id.clone()), at(8)));
    assert_eq!(store.count_conversations(a.pk, &everything).await.unwrap(), 1, "the notice's chat still has none");

    // Assign by any message of the chat.
    let before = events(&*store, &a).await.len();
    let assigned = done(store.assign_conversation(a.pk, &first.id, Some(AgentRef::Id(danu.id.clone())), at(9)).await.unwrap());
    assert_eq!((assigned.id.clone(), assigned.assignee.as_ref().map(|x| x.id.clone())), (c.id.clone(), Some(danu.id.clone())));
    assert_eq!(assigned.assignee.as_ref().map(|x| x.assigned_at), Some(at(9)));
    let log = events(&*store, &a).await;
    assert_eq!(log.len(), before + 1);
    let event = log.last().unwrap();
    assert_eq!(
        (event.event_type.as_str(), &event.data["agent_id"], &event.data["message_id"]),
        (types::CONVERSATION_ASSIGNED, &serde_json::json!(danu.id), &serde_json::json!(first.id))
    );
    let same = done(store.assign_conversation(a.pk, &reply.id, Some(AgentRef::Email("DANU@example.com".into())), at(10)).await.unwrap());
    assert_eq!(same.assignee.map(|x| x.assigned_at), Some(at(9)), "the same agent again changes nothing");
    assert_eq!(events(&*store, &a).await.len(), before + 1, "and writes no event");

    // Refusals.
    assert_eq!(
        store.assign_conversation(a.pk, &first.id, Some(AgentRef::Id(idle.id.clone())), at(11)).await.unwrap(),
        AssignOutcome::AgentInactive
    );
    assert_eq!(
        store.assign_conversation(a.pk, &first.id, Some(AgentRef::Id(stranger.id.clone())), at(11)).await.unwrap(),
        AssignOutcome::AgentNotFound
    );
    assert_eq!(
        store.assign_conversation(b.pk, &first.id, Some(AgentRef::Id(stranger.id.clone())), at(11)).await.unwrap(),
        AssignOutcome::MessageNotFound
    );
    assert_eq!(store.get_conversation(b.pk, &c.id).await.unwrap(), None, "another tenant's conversation");
    assert_eq!(store.count_conversations(b.pk, &everything).await.unwrap(), 0);

    // Assigning a message of a chat without a conversation starts one.
    let started = done(store.assign_conversation(a.pk, &notice.id, Some(AgentRef::Id(danu.id.clone())), at(12)).await.unwrap());
    assert_eq!(
        (started.chat.clone(), started.inbound_count, started.last_message.map(|m| m.id)),
        (notice.chat.clone(), 0, Some(notice.id.clone()))
    );
    let by = |agent| ConversationFilter { agent, limit: 10, ..Default::default() };
    assert_eq!(store.count_conversations(a.pk, &by(AgentScope::Agent(danu.id.clone()))).await.unwrap(), 2);
    let unassigned = done(store.assign_conversation(a.pk, &first.id, None, at(13)).await.unwrap());
    assert_eq!(unassigned.assignee, None);
    assert_eq!(event_types(&*store, &a).await.last().map(String::as_str), Some(types::CONVERSATION_UNASSIGNED));
    assert_eq!(store.count_conversations(a.pk, &by(AgentScope::Unassigned)).await.unwrap(), 1);
    let other_device = ConversationFilter { device: Some(device(&*store, &a, "other").await.pk), limit: 10, ..Default::default() };
    assert_eq!(store.count_conversations(a.pk, &other_device).await.unwrap(), 0);

    // Deleting an agent unassigns what it had, with an event each.
    store.delete_agent(a.pk, &danu.id, at(14)).await.unwrap().expect("deleted");
    assert_eq!(store.count_conversations(a.pk, &by(AgentScope::Unassigned)).await.unwrap(), 2);
    let last = events(&*store, &a).await.pop().unwrap();
    assert_eq!((last.event_type.as_str(), &last.data["previous_agent_id"]), (types::CONVERSATION_UNASSIGNED, &serde_json::json!(danu.id)));
    let page = store.list_conversations(a.pk, &ConversationFilter { offset: 1, limit: 1, ..Default::default() }).await.unwrap();
    assert_eq!(page.len(), 1, "offset pages");
}
