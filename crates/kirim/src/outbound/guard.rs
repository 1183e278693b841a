//! Which addresses Kirim may call. Everything on the public internet may be called;
//! addresses that reach the machine itself, the local network or special-purpose ranges are
//! refused, in every spelling (IPv4-mapped, NAT64, 6to4 …), unless the operator's allow-list
//! (`outbound.allow`, `KIRIM_OUTBOUND_ALLOW`) contains them.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::OutboundUrl;

/// The environment variable an operator sets to allow addresses the guard refuses.
pub const ALLOW_VAR: &str = "KIRIM_OUTBOUND_ALLOW";

/// How long [`Guard::check_url`] waits for DNS before giving up on the early check.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Special-purpose IPv4 ranges, with what they are (to finish "… is …"). The first match
/// wins, so single addresses come before the ranges holding them.
const V4_REFUSED: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 32, "the unspecified address"),
    ([255, 255, 255, 255], 32, "the broadcast address"),
    ([169, 254, 169, 254], 32, "the cloud metadata service's link-local address"),
    ([0, 0, 0, 0], 8, "in 0.0.0.0/8, reserved for \"this network\""),
    ([10, 0, 0, 0], 8, "a private address (10.0.0.0/8)"),
    ([100, 64, 0, 0], 10, "a carrier-grade NAT address (100.64.0.0/10)"),
    ([127, 0, 0, 0], 8, "a loopback address (127.0.0.0/8)"),
    ([169, 254, 0, 0], 16, "a link-local address (169.254.0.0/16)"),
    ([172, 16, 0, 0], 12, "a private address (172.16.0.0/12)"),
    ([192, 0, 0, 0], 24, "reserved for protocol assignments (192.0.0.0/24)"),
    ([192, 0, 2, 0], 24, "a documentation address (192.0.2.0/24)"),
    ([192, 88, 99, 0], 24, "a deprecated 6to4 relay address (192.88.99.0/24)"),
    ([192, 168, 0, 0], 16, "a private address (192.168.0.0/16)"),
    ([198, 18, 0, 0], 15, "a benchmarking address (198.18.0.0/15)"),
    ([198, 51, 100, 0], 24, "a documentation address (198.51.100.0/24)"),
    ([203, 0, 113, 0], 24, "a documentation address (203.0.113.0/24)"),
    ([224, 0, 0, 0], 4, "a multicast address (224.0.0.0/4)"),
    ([240, 0, 0, 0], 4, "a reserved address (240.0.0.0/4)"),
];

/// Special-purpose IPv6 ranges (those that embed an IPv4 address are handled apart).
/// Anything outside 2000::/3, the global unicast range, is refused after these.
const V6_REFUSED: &[([u16; 8], u8, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "the unspecified address"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "the loopback address"),
    ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "a local-use NAT64 address (64:ff9b:1::/48)"),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "a discard-only address (100::/64)"),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "a Teredo tunnel address (2001::/32)"),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, "reserved for protocol assignments (2001::/23)"),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "a documentation address (2001:db8::/32)"),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "a documentation address (3fff::/20)"),
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "reserved for segment routing (5f00::/16)"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "a private (unique local) address (fc00::/7)"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "a link-local address (fe80::/10)"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "a deprecated site-local address (fec0::/10)"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "a multicast address (ff00::/8)"),
];

/// Decides which addresses outbound calls may reach. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guard {
    allow: Arc<[IpNet]>,
}

impl Guard {
    /// A guard that refuses special-purpose addresses except those inside `allow`.
    pub fn new(allow: impl IntoIterator<Item = IpNet>) -> Self {
        Self { allow: allow.into_iter().map(|net| net.trunc()).collect() }
    }

    /// The operator's allow-list.
    pub fn allow_list(&self) -> &[IpNet] {
        &self.allow
    }

    /// Whether `ip` (or the IPv4 address it embeds) is inside the allow-list.
    pub fn is_allowed(&self, ip: IpAddr) -> bool {
        let embedded = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(|(_, v4)| IpAddr::V4(v4)),
            IpAddr::V4(_) => None,
        };
        self.allow.iter().any(|net| net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&v4)))
    }

    /// Refuses `ip` if it is a special-purpose address outside the allow-list.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Blocked> {
        match refusal(ip) {
            Some(reason) if !self.is_allowed(ip) => Err(Blocked { host: None, address: Some(ip), reason }),
            _ => Ok(()),
        }
    }

    /// The early check, when a tenant hands Kirim a URL: a literal address is checked as is;
    /// a name is resolved and every address it resolves to must be allowed. `localhost` and
    /// `*.localhost` are refused without asking DNS unless a loopback address is allowed.
    ///
    /// A name that does not resolve (now) passes: DNS may be down, or the endpoint not set up
    /// yet. Nothing is lost, because [`super::Outbound`] checks the addresses again on every
    /// connection.
    pub async fn check_url(&self, url: &OutboundUrl) -> Result<(), Blocked> {
        match url.host() {
            url::Host::Ipv4(ip) => self.check_ip(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => self.check_ip(IpAddr::V6(ip)),
            url::Host::Domain(name) => match tokio::time::timeout(LOOKUP_TIMEOUT, self.resolve(name, url.port())).await {
                Ok(Err(ResolveError::Blocked(blocked))) => Err(blocked),
                Ok(Ok(_) | Err(ResolveError::Lookup(_))) | Err(_) => Ok(()),
            },
        }
    }

    /// Resolves `host` (a name or a literal address) and returns its addresses with `port`,
    /// refusing the lot if any of them is refused.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        let bare = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(&name);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.check_ip(ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if is_local_name(&name) && !self.allows_loopback() {
            return Err(Blocked { host: Some(host.to_owned()), address: None, reason: "a name for this machine".into() }.into());
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port)).await?.collect();
        if addrs.is_empty() {
            return Err(ResolveError::Lookup(io::Error::new(io::ErrorKind::NotFound, format!("{host} has no addresses"))));
        }
        for addr in &addrs {
            self.check_ip(addr.ip()).map_err(|blocked| Blocked { host: Some(host.to_owned()), ..blocked })?;
        }
        Ok(addrs)
    }

    fn allows_loopback(&self) -> bool {
        self.is_allowed(IpAddr::V4(Ipv4Addr::LOCALHOST)) || self.is_allowed(IpAddr::V6(Ipv6Addr::LOCALHOST))
    }
}

/// `localhost`, `*.localhost`: names for the machine itself (RFC 6761), whatever DNS says.
pub(super) fn is_local_name(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// Why `ip` is refused (ignoring the allow-list), or `None` if it may be called.
fn refusal(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4).map(str::to_owned),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    V4_REFUSED.iter().find(|(net, len, _)| bits & mask_v4(*len) == u32::from_be_bytes(*net)).map(|(_, _, reason)| *reason)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<String> {
    let bits = u128::from(ip);
    let in_range = |net: &[u16; 8], len: u8| bits & mask_v6(len) == u128::from(Ipv6Addr::from(*net));
    if let Some((_, _, reason)) = V6_REFUSED.iter().take(2).find(|(net, len, _)| in_range(net, *len)) {
        return Some((*reason).to_owned());
    }
    if let Some((form, v4)) = embedded_v4(ip) {
        match refusal_v4(v4) {
            Some(reason) => return Some(format!("{form} of {v4}, {reason}")),
            // These forms reach the IPv4 address, which may be called; the others are refused below.
            None if form == MAPPED || form == NAT64 || form == SIX_TO_FOUR => return None,
            None => {}
        }
    }
    if let Some((_, _, reason)) = V6_REFUSED.iter().find(|(net, len, _)| in_range(net, *len)) {
        return Some((*reason).to_owned());
    }
    if bits >> 125 != 0b001 {
        return Some("outside the global unicast range (2000::/3)".to_owned());
    }
    None
}

const MAPPED: &str = "an IPv4-mapped form";
const COMPATIBLE: &str = "an IPv4-compatible form";
const NAT64: &str = "a NAT64 form";
const SIX_TO_FOUR: &str = "a 6to4 form";

/// The IPv4 address an IPv6 address carries, and how it carries it.
fn embedded_v4(ip: Ipv6Addr) -> Option<(&'static str, Ipv4Addr)> {
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match ip.segments() {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some((MAPPED, v4(hi, lo))),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some((NAT64, v4(hi, lo))),
        [0x2002, hi, lo, ..] => Some((SIX_TO_FOUR, v4(hi, lo))),
        // ::/96 without :: and ::1, which are addresses of their own.
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) > (0, 1) => Some((COMPATIBLE, v4(hi, lo))),
        _ => None,
    }
}

fn mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// An address, or a name, that outbound calls may not reach. The message names it, says
/// why, and how an operator can allow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    host: Option<String>,
    address: Option<IpAddr>,
    reason: String,
}

impl Blocked {
    /// The refused address (`None` when a name such as `localhost` was refused unresolved).
    pub fn address(&self) -> Option<IpAddr> {
        self.address
    }

    /// The name that led to the address, if a name was resolved.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// What the address is ("a loopback address (127.0.0.0/8)").
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = "Kirim does not call it, to keep tenants away from internal services";
        match (self.address, &self.host) {
            // A name: say what kind of address it has, not which one, so the guard cannot be
            // used to map an internal network's names.
            (Some(_), Some(host)) => write!(
                f,
                "{host} resolves to {}; {how}. If it is yours and should be reachable, the operator can allow its range with {ALLOW_VAR} (outbound.allow)",
                self.reason
            ),
            (Some(ip), None) => {
                let len = if ip.is_ipv4() { 32 } else { 128 };
                write!(f, "{ip}")?;
                write!(
                    f,
                    " is {}; {how}. If it is yours and should be reachable, the operator can allow it with {ALLOW_VAR}={ip}/{len} (outbound.allow)",
                    self.reason
                )
            }
            (None, host) => write!(
                f,
                "{} is {}; {how}. The operator can allow it with {ALLOW_VAR}=127.0.0.0/8,::1/128 (outbound.allow)",
                host.as_deref().unwrap_or("the host"),
                self.reason
            ),
        }
    }
}

impl std::error::Error for Blocked {}

/// Why [`Guard::resolve`] returned no addresses.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The name, or one of its addresses, is refused.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// DNS gave no answer.
    #[error("the name could not be resolved: {0}")]
    Lookup(#[from] io::Error),
}
