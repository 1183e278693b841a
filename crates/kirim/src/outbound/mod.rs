//! Calls Kirim makes to other servers (webhooks now; media downloads and the WhatsApp Cloud
//! API later), guarded against server-side request forgery.
//!
//! Three layers keep a tenant from steering Kirim at the network it runs in:
//!
//! 1. [`OutboundUrl`]: a URL Kirim may call at all: `http`/`https`, a host, no credentials,
//!    at most [`MAX_URL_LEN`] characters. Parsed once, when a tenant hands it over.
//! 2. [`Guard`]: which addresses may be called. Loopback, private, link-local (cloud
//!    metadata), multicast, reserved and documentation ranges are refused, also in their
//!    IPv6 disguises, unless the operator allows them (`outbound.allow`,
//!    `KIRIM_OUTBOUND_ALLOW`). [`Guard::check_url`] gives a tenant an early, clear answer.
//! 3. [`Outbound`]: the HTTP client. It never follows redirects, ignores proxy variables, and
//!    checks every address again when it connects (its DNS resolver goes through the guard,
//!    so a name that changes its answer after the check, "DNS rebinding", is still refused).

mod client;
mod guard;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use client::{BODY_LIMIT, EXCERPT_LIMIT, Outbound, OutboundError, OutboundResponse, USER_AGENT, check_header, parse_retry_after};
pub use guard::{ALLOW_VAR, Blocked, Guard, ResolveError};
pub use ipnet::IpNet;

/// The longest URL accepted, in characters.
pub const MAX_URL_LEN: usize = 2048;

const EXAMPLE: &str = "https://example.com/webhook";

/// A URL Kirim may call: `http` or `https`, with a host, without a user name or password,
/// at most [`MAX_URL_LEN`] characters. Whether its host may be reached is the [`Guard`]'s
/// question, not this type's.
///
/// The host is kept as the `url` crate normalises it, so odd spellings of an address
/// (`http://2130706433/`, `http://0x7f.1/`) are already the IP address they stand for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OutboundUrl(url::Url);

/// Why a text is not an [`OutboundUrl`]. Each message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("the URL is empty; give the full address, for example {EXAMPLE}")]
    Empty,
    #[error("the URL is {0} characters long; use at most {MAX_URL_LEN}")]
    TooLong(usize),
    #[error("the URL must start with http:// or https://, for example {EXAMPLE}")]
    Scheme,
    #[error("the URL is not valid ({0}); write the full address, for example {EXAMPLE}")]
    Malformed(String),
    #[error("the URL has no host; name the server to call, for example {EXAMPLE}")]
    NoHost,
    #[error("the URL contains a user name or password (the `user:pass@` part); remove it and send credentials in a header instead")]
    Credentials,
}

impl OutboundUrl {
    /// Parses and checks `text` (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(UrlError::Empty);
        }
        let length = text.chars().count();
        if length > MAX_URL_LEN {
            return Err(UrlError::TooLong(length));
        }
        let url = url::Url::parse(text).map_err(|e| match e {
            url::ParseError::RelativeUrlWithoutBase => UrlError::Scheme,
            url::ParseError::EmptyHost => UrlError::NoHost,
            other => UrlError::Malformed(other.to_string()),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::Scheme);
        }
        if url.host().is_none() {
            return Err(UrlError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        // Normalising percent-encodes, which can make the URL longer than what was given.
        let length = url.as_str().chars().count();
        if length > MAX_URL_LEN {
            return Err(UrlError::TooLong(length));
        }
        Ok(Self(url))
    }

    /// The normalised URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL.
    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.0.scheme()
    }

    /// The host: a name, or an IP address (already normalised).
    pub fn host(&self) -> url::Host<&str> {
        // `parse` refuses URLs without a host.
        self.0.host().unwrap_or(url::Host::Domain(""))
    }

    /// The port, or the scheme's default (80, 443).
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(if self.scheme() == "https" { 443 } else { 80 })
    }
}

impl fmt::Display for OutboundUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for OutboundUrl {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl FromStr for OutboundUrl {
    type Err = UrlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<&str> for OutboundUrl {
    type Error = UrlError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Self::parse(text)
    }
}

impl TryFrom<String> for OutboundUrl {
    type Error = UrlError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<OutboundUrl> for String {
    fn from(url: OutboundUrl) -> Self {
        url.0.into()
    }
}

impl serde::Serialize for OutboundUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for OutboundUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}
