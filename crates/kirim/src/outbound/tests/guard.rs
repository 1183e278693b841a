use super::{guard, ip};
use crate::outbound::guard::is_local_name;
use crate::outbound::{Guard, OutboundUrl, ResolveError};

/// Addresses the guard must refuse, one or more from every range, in every spelling.
const REFUSED: &[&str] = &[
    // loopback, unspecified, "this network"
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "::1",
    "::",
    // private
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "fc00::1",
    "fd12:3456::1",
    // link-local, cloud metadata
    "169.254.169.254",
    "169.254.0.1",
    "fe80::1",
    "febf::1",
    // carrier-grade NAT
    "100.64.0.1",
    "100.127.255.255",
    // multicast, broadcast, reserved
    "224.0.0.1",
    "239.255.255.255",
    "ff02::1",
    "ff0e::1",
    "255.255.255.255",
    "240.0.0.1",
    // protocol assignments, documentation, benchmarking
    "192.0.0.8",
    "192.0.2.1",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.9",
    "192.88.99.1",
    "2001:db8::1",
    "3fff::1",
    "100::1",
    "fec0::1",
    // IPv4 in IPv6 disguise
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "::127.0.0.1",
    "::10.0.0.1",
    "::8.8.8.8",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",
    "2002:7f00:1::1",
    "2002:a00:1::",
    "2002:c0a8:101::1",
    // Teredo and the rest of the protocol block
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:2::1",
    // outside global unicast
    "4000::1",
    "::2:3:4:5",
];

/// Public addresses, which may be called.
const ALLOWED: &[&str] = &[
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.15.255.255",
    "172.32.0.1",
    "100.63.255.255",
    "100.128.0.1",
    "169.253.255.255",
    "198.17.255.255",
    "198.20.0.1",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
];

#[test]
fn every_special_purpose_range_is_refused() {
    let guard = Guard::default();
    for text in REFUSED {
        assert!(guard.check_ip(ip(text)).is_err(), "{text} should be refused");
    }
    for text in ALLOWED {
        assert_eq!(guard.check_ip(ip(text)), Ok(()), "{text} should be allowed");
    }
}

#[test]
fn the_message_names_the_address_and_how_to_allow_it() {
    let blocked = Guard::default().check_ip(ip("169.254.169.254")).unwrap_err();
    assert_eq!(
        blocked.to_string(),
        "169.254.169.254 is the cloud metadata service's link-local address; Kirim does not call it, to keep tenants away from internal services. If it is yours and should be reachable, the operator can allow it with KIRIM_OUTBOUND_ALLOW=169.254.169.254/32 (outbound.allow)"
    );
    let mapped = Guard::default().check_ip(ip("::ffff:127.0.0.1")).unwrap_err();
    assert_eq!(mapped.reason(), "an IPv4-mapped form of 127.0.0.1, a loopback address (127.0.0.0/8)");
    assert!(mapped.to_string().contains("KIRIM_OUTBOUND_ALLOW=::ffff:127.0.0.1/128"), "{mapped}");
    let six_to_four = Guard::default().check_ip(ip("2002:c0a8:101::1")).unwrap_err();
    assert_eq!(six_to_four.reason(), "a 6to4 form of 192.168.1.1, a private address (192.168.0.0/16)");
    assert_eq!(Guard::default().check_ip(ip("2001::1")).unwrap_err().reason(), "a Teredo tunnel address (2001::/32)");
}

#[test]
fn the_allow_list_lets_its_ranges_through_and_nothing_else() {
    let guard = guard(&["127.0.0.1/32", "10.1.0.0/16", "fd00::/8"]);
    assert_eq!(guard.check_ip(ip("127.0.0.1")), Ok(()));
    assert_eq!(guard.check_ip(ip("::ffff:127.0.0.1")), Ok(()), "the mapped form of an allowed address is allowed");
    assert_eq!(guard.check_ip(ip("10.1.200.3")), Ok(()));
    assert_eq!(guard.check_ip(ip("fd00::5")), Ok(()));
    assert!(guard.check_ip(ip("127.0.0.2")).is_err());
    assert!(guard.check_ip(ip("10.2.0.1")).is_err());
    assert!(guard.check_ip(ip("::1")).is_err());
    assert!(guard.check_ip(ip("fc00::1")).is_err());
    // A range with host bits set is narrowed to its network.
    assert_eq!(super::guard(&["10.1.2.3/8"]).allow_list()[0].to_string(), "10.0.0.0/8");
}

#[tokio::test]
async fn literal_addresses_in_urls_are_checked_in_every_spelling() {
    let guard = Guard::default();
    for text in [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "https://10.0.0.1/",
    ] {
        let url = OutboundUrl::parse(text).unwrap();
        assert!(guard.check_url(&url).await.is_err(), "{text} should be refused");
    }
    assert_eq!(guard.check_url(&OutboundUrl::parse("http://8.8.8.8/").unwrap()).await, Ok(()));
    assert_eq!(super::guard(&["127.0.0.1/32"]).check_url(&OutboundUrl::parse("http://2130706433/").unwrap()).await, Ok(()));
}

#[tokio::test]
async fn localhost_is_refused_without_resolving() {
    let guard = Guard::default();
    for text in ["http://localhost/", "http://LOCALHOST:8080/", "http://localhost./", "http://api.localhost/", "http://a.b.localhost/"] {
        let blocked = guard.check_url(&OutboundUrl::parse(text).unwrap()).await.unwrap_err();
        assert_eq!(blocked.address(), None, "{text} was refused by name");
        assert!(blocked.to_string().contains("is a name for this machine"), "{blocked}");
        assert!(blocked.to_string().contains("KIRIM_OUTBOUND_ALLOW=127.0.0.0/8,::1/128"), "{blocked}");
    }
    // Names that merely contain "localhost" are ordinary names.
    assert!(is_local_name("localhost") && is_local_name("api.localhost"));
    assert!(!is_local_name("localhost.example.com") && !is_local_name("mylocalhost") && !is_local_name("localhosts"));
}

#[tokio::test]
async fn names_are_resolved_and_every_address_checked() {
    // With loopback allowed, `localhost` is resolved like any name.
    let allowing = guard(&["127.0.0.0/8", "::1/128"]);
    let addrs = allowing.resolve("localhost", 8080).await.unwrap();
    assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080), "{addrs:?}");
    assert_eq!(allowing.check_url(&OutboundUrl::parse("http://localhost:9/").unwrap()).await, Ok(()));

    // Allowing only ::1 lets the name through, but its IPv4 answer is still refused.
    let v6_only = guard(&["::1/128"]);
    let addrs = allowing.resolve("localhost", 0).await.unwrap();
    if addrs.iter().any(|a| a.is_ipv4()) {
        let Err(ResolveError::Blocked(blocked)) = v6_only.resolve("localhost", 0).await else { panic!("127.0.0.1 should be refused") };
        assert_eq!(blocked.host(), Some("localhost"));
        assert_eq!(blocked.address(), Some("127.0.0.1".parse().unwrap()));
        let message = blocked.to_string();
        assert!(message.starts_with("localhost resolves to a loopback address"), "{message}");
        assert!(!message.contains("127.0.0.1"), "a name's address is not revealed: {message}");
    }

    // Literal addresses given as hosts are checked without DNS.
    assert!(matches!(Guard::default().resolve("[::1]", 80).await, Err(ResolveError::Blocked(_))));
    assert!(matches!(Guard::default().resolve("10.0.0.1", 80).await, Err(ResolveError::Blocked(_))));
}
