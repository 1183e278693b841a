//! The account's own profile name and its block list, through the library's profile and
//! blocking features.

use kirim_core::PhoneNumber;
use kirim_core::connector::ConnectorError;
use whatsapp_rust::wacore_binary::Jid;
use whatsapp_rust::{BlockingError, Client, ProfileError};

use super::errors;

fn profile_error(error: &ProfileError) -> ConnectorError {
    match error {
        ProfileError::Iq(iq) => errors::iq_error(iq),
        ProfileError::InvalidArgument(why) => ConnectorError::Permanent(format!("WhatsApp refuses this name: {why}")),
        other => ConnectorError::Transient(format!("setting the profile name failed: {other}")),
    }
}

fn blocking_error(error: &BlockingError) -> ConnectorError {
    match error {
        BlockingError::Iq(iq) => errors::iq_error(iq),
        BlockingError::InvalidJid(why) => ConnectorError::Permanent(format!("WhatsApp cannot block this contact: {why}")),
        other => ConnectorError::Transient(format!("the block list request failed: {other}")),
    }
}

pub(crate) async fn set_name(client: &Client, name: &str) -> Result<(), ConnectorError> {
    client.profile().set_push_name(name).await.map_err(|e| profile_error(&e))
}

/// A blocked contact as Kirim lists it: its number when the id is a phone number's.
fn listed(jid: &Jid) -> String {
    if jid.is_pn() { format!("+{}", jid.user) } else { jid.to_string() }
}

pub(crate) async fn blocklist(client: &Client) -> Result<Vec<String>, ConnectorError> {
    let entries = client.blocking().get_blocklist().await.map_err(|e| blocking_error(&e))?;
    Ok(entries.iter().map(|e| listed(&e.jid)).collect())
}

pub(crate) async fn set_blocked(client: &Client, phone: &PhoneNumber, blocked: bool) -> Result<(), ConnectorError> {
    let jid = Jid::pn(phone.digits());
    let blocking = client.blocking();
    let result = if blocked { blocking.block(&jid).await } else { blocking.unblock(&jid).await };
    result.map_err(|e| blocking_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_contacts_are_listed_by_number_where_the_id_is_one() {
        assert_eq!(listed(&Jid::pn("60123456789")), "+60123456789");
        let lid = Jid::lid("100000012345678");
        assert_eq!(listed(&lid), lid.to_string(), "a contact known only by its LID keeps it");
        assert!(matches!(blocking_error(&BlockingError::InvalidJid("no mapping".into())), ConnectorError::Permanent(_)));
        assert!(matches!(profile_error(&ProfileError::InvalidArgument("empty".into())), ConnectorError::Permanent(_)));
    }
}
