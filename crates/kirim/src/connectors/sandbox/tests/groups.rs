//! Groups on the simulated network: WhatsApp's rules, and a journal that outlives the process.

use std::io::Write;

use kirim_core::connector::{Connector, ConnectorError};
use kirim_core::group::{GroupJid, ParticipantAction, ParticipantOutcome, ParticipantRole};

use super::{Net, device, phone};

#[tokio::test]
async fn groups_are_on_disk_when_the_call_returns_and_a_torn_line_is_skipped() {
    let before = Net::new(|_| {}).await;
    let (admin, member) = (device(1), device(2));
    before.link_as(&admin, &phone("+60123000001")).await;
    before.link_as(&member, &phone("+60123000002")).await;
    let created = before.sandbox.create_group(&admin, "Night shift", &[phone("+60123000002")]).await.unwrap();
    let jid = created.group.jid.clone();
    // Read while the sandbox is still running, as a process killed right now would leave it.
    let mut journal = std::fs::OpenOptions::new().append(true).open(before.dir.path().join("groups.jsonl")).unwrap();
    journal.write_all(br#"{"jid":"120363000000000001@g.us","subj"#).unwrap();
    drop(journal);
    let dir = before.dir.clone();
    drop(before);

    let after = Net::on(dir, |_| {}).await;
    after.sandbox.start(&member).await.unwrap();
    let group = after.sandbox.group_info(&member, &jid).await.unwrap();
    assert_eq!(group.subject, "Night shift");
    let roles: Vec<ParticipantRole> = group.participants.iter().map(|p| p.role).collect();
    assert_eq!(roles, [ParticipantRole::Superadmin, ParticipantRole::Member]);
    assert_eq!(after.sandbox.list_groups(&member).await.unwrap().len(), 1, "the torn line is no group");
}

#[tokio::test]
async fn the_last_admin_leaving_hands_the_group_on_and_the_last_member_ends_it() {
    let net = Net::new(|_| {}).await;
    let (a, b) = (device(1), device(2));
    net.link_as(&a, &phone("+60123000001")).await;
    net.link_as(&b, &phone("+60123000002")).await;
    let jid = net.sandbox.create_group(&a, "Team", &[phone("+60123000002")]).await.unwrap().group.jid;

    net.sandbox.leave_group(&a, &jid).await.unwrap();
    let group = net.sandbox.group_info(&b, &jid).await.unwrap();
    assert_eq!(group.participants.len(), 1);
    assert_eq!(group.participants[0].role, ParticipantRole::Admin, "someone is left to run it");
    let results = net.sandbox.update_participants(&b, &jid, ParticipantAction::Add, &[phone("+60199990001")]).await.unwrap();
    assert_eq!(results[0].outcome, ParticipantOutcome::NotOnWhatsapp);

    net.sandbox.leave_group(&b, &jid).await.unwrap();
    assert!(matches!(net.sandbox.group_info(&b, &jid).await, Err(ConnectorError::NotFound(_))));
    assert!(matches!(net.sandbox.group_info(&a, &GroupJid::parse("1").unwrap()).await, Err(ConnectorError::NotFound(_))));
}

#[tokio::test]
async fn group_calls_need_a_connected_device() {
    let net = Net::new(|_| {}).await;
    let dev = device(1);
    assert_eq!(net.sandbox.list_groups(&dev).await, Err(ConnectorError::NotConnected));
    assert_eq!(net.sandbox.check_numbers(&dev, &[phone("+60123456789")]).await, Err(ConnectorError::NotConnected));
}
