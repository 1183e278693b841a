//! Recipients, parsed once at the edge. Every local form in the reference documents
//! (`60123456789`, `+60 12-345 6789`, `012-345 6789`, `0812…`) becomes E.164.

use std::fmt;

use phonenumber::country;
use serde::{Deserialize, Serialize, Serializer};

/// A phone number in E.164 form (`+60123456789`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("is empty; give a phone number such as +60123456789")]
    Empty,
    #[error("`{0}` contains characters that are not part of a phone number")]
    BadCharacters(String),
    #[error("`{0}` is a local number; write it with its country code (e.g. +60…) or configure a default country")]
    NeedsCountry(String),
    #[error("`{0}` is not a valid phone number")]
    Invalid(String),
}

/// The country used for numbers written in national form (`012…`), e.g. `MY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultCountry(country::Id);

impl DefaultCountry {
    pub fn parse(code: &str) -> Option<Self> {
        code.trim().to_ascii_uppercase().parse::<country::Id>().ok().map(Self)
    }

    pub fn code(&self) -> String {
        let code: &str = self.0.as_ref();
        code.to_owned()
    }
}

impl PhoneNumber {
    /// Parses any human form of a number. Separators (spaces, dashes, dots, brackets) are ignored.
    pub fn parse(input: &str, default_country: Option<DefaultCountry>) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let mut digits = String::with_capacity(trimmed.len() + 1);
        let mut plus = false;
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
                _ => return Err(PhoneError::BadCharacters(input.to_owned())),
            }
        }
        if digits.len() < 5 || digits.len() > 17 {
            return Err(PhoneError::Invalid(input.to_owned()));
        }
        let international = if plus {
            Some(digits.as_str())
        } else if let Some(rest) = digits.strip_prefix("00") {
            Some(rest)
        } else if digits.starts_with('0') {
            None
        } else {
            Some(digits.as_str())
        };
        if let Some(number) = international {
            if let Some(parsed) = Self::from_international(number) {
                return Ok(parsed);
            }
            // `812…` without the trunk zero is how many people write local numbers.
            if plus || default_country.is_none() {
                return Err(PhoneError::Invalid(input.to_owned()));
            }
        }
        let Some(country) = default_country else {
            return Err(PhoneError::NeedsCountry(input.to_owned()));
        };
        let parsed = phonenumber::parse(Some(country.0), &digits).map_err(|_| PhoneError::Invalid(input.to_owned()))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid(input.to_owned()));
        }
        Ok(Self(format!("+{}{}", parsed.code().value(), parsed.national().value())))
    }

    fn from_international(digits: &str) -> Option<Self> {
        let parsed = phonenumber::parse(None, format!("+{digits}")).ok()?;
        phonenumber::is_valid(&parsed).then(|| Self(format!("+{}{}", parsed.code().value(), parsed.national().value())))
    }

    /// Trusts a value that was stored in E.164 form by this type before.
    pub fn from_stored(e164: String) -> Self {
        Self(e164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the leading `+`, as WhatsApp user ids are written.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, PhoneError> {
        Self::parse(&value, None)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Where a message goes: a person's number or a WhatsApp group.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipient {
    Phone(PhoneNumber),
    /// A group JID such as `120363025246125888@g.us`.
    Group(String),
}

impl Recipient {
    /// Parses a recipient as the API accepts it: a phone number in any form, a user JID
    /// (`60123456789@s.whatsapp.net`) or a group JID (`…@g.us`).
    pub fn parse(input: &str, default_country: Option<DefaultCountry>) -> Result<Self, PhoneError> {
        let input = input.trim();
        if let Some(id) = input.strip_suffix("@g.us") {
            let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_digit() || b == b'-');
            return if ok { Ok(Self::Group(input.to_owned())) } else { Err(PhoneError::Invalid(input.to_owned())) };
        }
        let number = input.strip_suffix("@s.whatsapp.net").or_else(|| input.strip_suffix("@c.us"));
        match number {
            Some(user) => Ok(Self::Phone(PhoneNumber::parse(&format!("+{user}"), None)?)),
            None => Ok(Self::Phone(PhoneNumber::parse(input, default_country)?)),
        }
    }

    /// A group given by its bare id (the `isGroup` flag of the reference APIs).
    pub fn group(id: &str) -> Result<Self, PhoneError> {
        let jid = if id.ends_with("@g.us") { id.to_owned() } else { format!("{id}@g.us") };
        Self::parse(&jid, None)
    }

    /// Trusts a value written by [`Recipient::as_str`] before.
    pub fn from_stored(value: String) -> Self {
        if value.ends_with("@g.us") { Self::Group(value) } else { Self::Phone(PhoneNumber::from_stored(value)) }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Phone(p) => p.as_str(),
            Self::Group(g) => g,
        }
    }

    pub fn is_group(&self) -> bool {
        matches!(self, Self::Group(_))
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Recipient {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn my() -> Option<DefaultCountry> {
        DefaultCountry::parse("MY")
    }

    #[test]
    fn every_reference_form_normalizes_to_e164() {
        for input in ["60123456789", "+60 12-345 6789", "012-345 6789", "+60123456789", "0060123456789", "(012) 345.6789"] {
            assert_eq!(PhoneNumber::parse(input, my()).unwrap().as_str(), "+60123456789", "{input}");
        }
        let id = DefaultCountry::parse("id");
        assert_eq!(PhoneNumber::parse("081234567890", id).unwrap().as_str(), "+6281234567890");
        assert_eq!(PhoneNumber::parse("6281234567890", id).unwrap().as_str(), "+6281234567890");
    }

    #[test]
    fn bad_numbers_are_refused_with_a_reason() {
        assert_eq!(PhoneNumber::parse("", my()), Err(PhoneError::Empty));
        assert!(matches!(PhoneNumber::parse("0123456789", None), Err(PhoneError::NeedsCountry(_))));
        assert!(matches!(PhoneNumber::parse("12ab", my()), Err(PhoneError::BadCharacters(_))));
        assert!(matches!(PhoneNumber::parse("+999 123", my()), Err(PhoneError::Invalid(_))));
        assert!(matches!(PhoneNumber::parse("+1+2", my()), Err(PhoneError::BadCharacters(_))));
    }

    #[test]
    fn jids_and_groups_are_recipients() {
        let group = Recipient::parse("120363025246125888@g.us", None).unwrap();
        assert!(group.is_group());
        assert_eq!(Recipient::group("120363025246125888").unwrap(), group);
        let user = Recipient::parse("60123456789@s.whatsapp.net", None).unwrap();
        assert_eq!(user.as_str(), "+60123456789");
        assert!(Recipient::parse("abc@g.us", None).is_err());
    }
}
