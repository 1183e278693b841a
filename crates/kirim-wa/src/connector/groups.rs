//! Groups and number checks over whatsapp-rust: Kirim's group vocabulary ↔ the library's
//! (`Groups`, `Contacts::is_on_whatsapp`). The mappings are pure and tested here; the calls
//! are thin.

use std::sync::Arc;

use chrono::TimeZone;
use kirim_core::PhoneNumber;
use kirim_core::connector::ConnectorError;
use kirim_core::group::{
    CreatedGroup, GroupInfo, GroupJid, NumberCheck, Participant, ParticipantAction, ParticipantOutcome, ParticipantResult, ParticipantRole,
};
use whatsapp_rust::wacore_binary::{Jid, JidExt as _};
use whatsapp_rust::{Client, GroupCreateOptions, GroupError, GroupMetadata, GroupParticipantOptions, IqError, ParticipantType};

use super::{errors, link};

/// A group's JID as the library takes it.
pub fn group_jid(group: &GroupJid) -> Result<Jid, ConnectorError> {
    match group.as_str().parse::<Jid>() {
        Ok(jid) if jid.is_group() => Ok(jid),
        _ => Err(ConnectorError::NotFound(format!("`{group}` is not a WhatsApp group id"))),
    }
}

fn role(kind: ParticipantType) -> ParticipantRole {
    match kind {
        ParticipantType::Member => ParticipantRole::Member,
        ParticipantType::Admin => ParticipantRole::Admin,
        ParticipantType::SuperAdmin => ParticipantRole::Superadmin,
    }
}

/// The library's metadata as Kirim's group. In groups that hide numbers (LID addressing) a
/// member's number is known only when the library could map it.
pub fn group_info(meta: GroupMetadata) -> GroupInfo {
    let owner = meta.creator_pn.as_ref().or(meta.creator.as_ref()).and_then(link::phone_of);
    let created_at = meta.creation_time.and_then(|s| i64::try_from(s).ok()).and_then(|s| chrono::Utc.timestamp_opt(s, 0).single());
    let participants = meta
        .participants
        .into_iter()
        .map(|p| Participant {
            phone: p.phone_number.as_ref().and_then(link::phone_of).or_else(|| link::phone_of(&p.jid)),
            jid: p.jid.to_string(),
            role: role(p.participant_type),
        })
        .collect();
    GroupInfo {
        jid: GroupJid::from_stored(meta.id.to_string()),
        subject: meta.subject,
        description: meta.description.filter(|d| !d.is_empty()),
        owner,
        created_at,
        announce: meta.is_announcement,
        participants,
    }
}

/// A member change's outcome from the error code WhatsApp gives that member.
pub fn outcome(action: ParticipantAction, error: Option<&str>) -> (ParticipantOutcome, Option<String>) {
    let outcome = match (action, error) {
        (_, None | Some("200")) => ParticipantOutcome::Ok,
        (ParticipantAction::Add, Some("409")) => ParticipantOutcome::AlreadyMember,
        (ParticipantAction::Add, Some("404")) => ParticipantOutcome::NotOnWhatsapp,
        (_, Some("404")) => ParticipantOutcome::NotMember,
        (ParticipantAction::Add, Some("403")) => ParticipantOutcome::InviteRequired,
        (ParticipantAction::Add, Some("408")) => ParticipantOutcome::RecentlyLeft,
        (ParticipantAction::Add, Some("500")) => ParticipantOutcome::GroupFull,
        (_, Some(code)) => return (ParticipantOutcome::Failed, Some(format!("WhatsApp answered with error {code}"))),
    };
    (outcome, None)
}

/// Matches the library's per-member answers (by number) back to the numbers asked, in order;
/// a number WhatsApp did not answer for is `failed`.
pub fn match_results<'a>(
    action: ParticipantAction,
    phones: &[PhoneNumber],
    answers: impl IntoIterator<Item = (Option<PhoneNumber>, Option<&'a str>)>,
) -> Vec<ParticipantResult> {
    let answers: Vec<(Option<PhoneNumber>, Option<&str>)> = answers.into_iter().collect();
    phones
        .iter()
        .map(|phone| match answers.iter().find(|(p, _)| p.as_ref() == Some(phone)) {
            Some((_, error)) => {
                let (outcome, detail) = outcome(action, *error);
                ParticipantResult { phone: phone.clone(), outcome, detail }
            }
            None => ParticipantResult {
                phone: phone.clone(),
                outcome: ParticipantOutcome::Failed,
                detail: Some("WhatsApp gave no answer for this number".into()),
            },
        })
        .collect()
}

/// How each requested member fared in a new group: in it, or not added (their privacy
/// settings, usually: send them the invite link).
pub fn created_results(group: &GroupInfo, phones: &[PhoneNumber]) -> Vec<ParticipantResult> {
    phones
        .iter()
        .map(|phone| {
            if group.participants.iter().any(|p| p.phone.as_ref() == Some(phone)) {
                ParticipantResult::new(phone.clone(), ParticipantOutcome::Ok)
            } else {
                ParticipantResult::new(phone.clone(), ParticipantOutcome::InviteRequired)
            }
        })
        .collect()
}

/// Maps a group operation's error: the server's 404 is a group this number is not in, its
/// 401/403 a change it may not make.
pub fn group_error(error: &GroupError) -> ConnectorError {
    match error {
        GroupError::Iq(IqError::ServerError { code: 404, .. }) => {
            ConnectorError::NotFound("this device's number is not in that group (or it does not exist)".into())
        }
        GroupError::Iq(IqError::ServerError { code: 401 | 403, .. }) => {
            ConnectorError::Forbidden("WhatsApp refused: only the group's admins can do this".into())
        }
        GroupError::Iq(iq) => errors::iq_error(iq),
        GroupError::InvalidRequest(why) => ConnectorError::Permanent(format!("WhatsApp refuses this group request: {why}")),
        other => ConnectorError::Transient(format!("the WhatsApp group request failed: {other}")),
    }
}

fn pn(phone: &PhoneNumber) -> Jid {
    Jid::pn(phone.digits())
}

pub(crate) async fn list(client: &Client) -> Result<Vec<GroupInfo>, ConnectorError> {
    let groups = client.groups().get_participating().await.map_err(|e| group_error(&e))?;
    let mut groups: Vec<GroupInfo> = groups.into_values().map(group_info).collect();
    groups.sort_by(|a, b| (a.created_at, &a.jid).cmp(&(b.created_at, &b.jid)));
    Ok(groups)
}

pub(crate) async fn info(client: &Client, group: &GroupJid) -> Result<GroupInfo, ConnectorError> {
    let jid = group_jid(group)?;
    client.groups().get_metadata(&jid).await.map(group_info).map_err(|e| group_error(&e))
}

pub(crate) async fn create(client: &Client, subject: &str, phones: &[PhoneNumber]) -> Result<CreatedGroup, ConnectorError> {
    let mut options = GroupCreateOptions::new(subject);
    for phone in phones {
        options = options.with_participant(GroupParticipantOptions::from_phone(pn(phone)));
    }
    let created = client.groups().create_group(options).await.map_err(|e| group_error(&e))?;
    let group = group_info(created.metadata);
    let participants = created_results(&group, phones);
    Ok(CreatedGroup { group, participants })
}

pub(crate) async fn update(
    client: &Client,
    group: &GroupJid,
    action: ParticipantAction,
    phones: &[PhoneNumber],
) -> Result<Vec<ParticipantResult>, ConnectorError> {
    let jid = group_jid(group)?;
    let jids: Vec<Jid> = phones.iter().map(pn).collect();
    let groups = client.groups();
    let answers = match action {
        ParticipantAction::Add => groups.add_participants(jid, &jids).await,
        ParticipantAction::Remove => groups.remove_participants(jid, &jids).await,
        ParticipantAction::Promote => groups.promote_participants(jid, &jids).await,
        ParticipantAction::Demote => groups.demote_participants(jid, &jids).await,
    }
    .map_err(|e| group_error(&e))?;
    let answers =
        answers.iter().map(|r| (r.phone_number.as_ref().and_then(link::phone_of).or_else(|| link::phone_of(&r.jid)), r.error.as_deref()));
    Ok(match_results(action, phones, answers))
}

pub(crate) async fn invite_link(client: &Client, group: &GroupJid, reset: bool) -> Result<String, ConnectorError> {
    let jid = group_jid(group)?;
    client.groups().get_invite_link(jid, reset).await.map_err(|e| group_error(&e))
}

pub(crate) async fn leave(client: &Client, group: &GroupJid) -> Result<(), ConnectorError> {
    let jid = group_jid(group)?;
    client.groups().leave(jid).await.map_err(|e| group_error(&e))
}

pub(crate) async fn check(client: &Arc<Client>, phones: &[PhoneNumber]) -> Result<Vec<NumberCheck>, ConnectorError> {
    let jids: Vec<Jid> = phones.iter().map(pn).collect();
    let found = client.contacts().is_on_whatsapp(&jids).await.map_err(|e| errors::contact_error(&e))?;
    let answers = found.iter().filter(|r| r.is_registered).filter_map(|r| r.pn_jid.as_ref().or(Some(&r.jid)).and_then(link::phone_of));
    Ok(checks(phones, answers))
}

/// One answer per number asked: on WhatsApp if the library found it registered.
pub fn checks(phones: &[PhoneNumber], registered: impl IntoIterator<Item = PhoneNumber>) -> Vec<NumberCheck> {
    let registered: Vec<PhoneNumber> = registered.into_iter().collect();
    phones
        .iter()
        .map(|phone| {
            let on_whatsapp = registered.contains(phone);
            let jid = on_whatsapp.then(|| format!("{}@s.whatsapp.net", phone.digits()));
            NumberCheck { phone: phone.clone(), on_whatsapp, jid }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use whatsapp_rust::GroupParticipant;

    use super::*;

    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::from_stored(s.to_owned())
    }

    fn member(jid: Jid, phone_number: Option<Jid>, kind: ParticipantType) -> GroupParticipant {
        GroupParticipant { jid, phone_number, lid: None, username: None, participant_type: kind, details: None }
    }

    #[test]
    fn metadata_becomes_a_group_with_admins_marked() {
        let meta = GroupMetadata {
            id: "120363025246125888@g.us".parse().unwrap(),
            subject: "Cleaners".into(),
            description: Some(String::new()),
            creator: Some(Jid::pn("60123456789")),
            creation_time: Some(1_700_000_000),
            is_announcement: true,
            participants: vec![
                member(Jid::pn("60123456789"), None, ParticipantType::SuperAdmin),
                member(Jid::lid("100000001"), Some(Jid::pn("60198765432")), ParticipantType::Admin),
                member(Jid::lid("100000002"), None, ParticipantType::Member),
            ],
            ..GroupMetadata::default()
        };
        let group = group_info(meta);
        assert_eq!(group.jid.as_str(), "120363025246125888@g.us");
        assert_eq!(group.subject, "Cleaners");
        assert_eq!(group.description, None, "an empty description is none");
        assert_eq!(group.owner, Some(phone("+60123456789")));
        assert_eq!(group.created_at.unwrap().timestamp(), 1_700_000_000);
        assert!(group.announce);
        let roles: Vec<ParticipantRole> = group.participants.iter().map(|p| p.role).collect();
        assert_eq!(roles, [ParticipantRole::Superadmin, ParticipantRole::Admin, ParticipantRole::Member]);
        assert_eq!(group.participants[1].phone, Some(phone("+60198765432")), "a LID member's number from its mapping");
        assert_eq!(group.participants[2].phone, None, "a LID member without a mapping has no number");
        assert_eq!(group.participants[2].jid, "100000002@lid");
    }

    #[test]
    fn member_errors_become_outcomes() {
        use ParticipantAction::*;
        assert_eq!(outcome(Add, None).0, ParticipantOutcome::Ok);
        assert_eq!(outcome(Remove, Some("200")).0, ParticipantOutcome::Ok);
        assert_eq!(outcome(Add, Some("409")).0, ParticipantOutcome::AlreadyMember);
        assert_eq!(outcome(Add, Some("403")).0, ParticipantOutcome::InviteRequired);
        assert_eq!(outcome(Add, Some("404")).0, ParticipantOutcome::NotOnWhatsapp);
        assert_eq!(outcome(Remove, Some("404")).0, ParticipantOutcome::NotMember);
        assert_eq!(outcome(Add, Some("408")).0, ParticipantOutcome::RecentlyLeft);
        let (failed, detail) = outcome(Promote, Some("406"));
        assert_eq!(failed, ParticipantOutcome::Failed);
        assert!(detail.unwrap().contains("406"));
    }

    #[test]
    fn answers_are_matched_to_the_numbers_asked_in_order() {
        let asked = [phone("+60111111111"), phone("+60122222222"), phone("+60133333333")];
        let answers = vec![(Some(phone("+60122222222")), Some("409")), (Some(phone("+60111111111")), None), (None, Some("500"))];
        let results = match_results(ParticipantAction::Add, &asked, answers);
        let outcomes: Vec<&ParticipantOutcome> = results.iter().map(|r| &r.outcome).collect();
        assert_eq!(outcomes, [&ParticipantOutcome::Ok, &ParticipantOutcome::AlreadyMember, &ParticipantOutcome::Failed]);
        assert_eq!(results[2].phone, asked[2]);
    }

    #[test]
    fn number_checks_answer_every_number() {
        let asked = [phone("+60111111111"), phone("+60122222222")];
        let checks = checks(&asked, [phone("+60122222222")]);
        assert!(!checks[0].on_whatsapp && checks[0].jid.is_none());
        assert!(checks[1].on_whatsapp);
        assert_eq!(checks[1].jid.as_deref(), Some("60122222222@s.whatsapp.net"));
    }

    #[test]
    fn group_errors_say_what_to_do() {
        let not_found = GroupError::Iq(IqError::ServerError { code: 404, text: "item-not-found".into(), error_type: None, backoff: None });
        assert!(matches!(group_error(&not_found), ConnectorError::NotFound(_)));
        let forbidden = GroupError::Iq(IqError::ServerError { code: 403, text: "forbidden".into(), error_type: None, backoff: None });
        assert!(matches!(group_error(&forbidden), ConnectorError::Forbidden(_)));
        assert!(matches!(group_error(&GroupError::Iq(IqError::NotConnected)), ConnectorError::NotConnected));
        assert!(matches!(group_jid(&GroupJid::parse("123").unwrap()), Ok(jid) if jid.is_group()));
    }
}
