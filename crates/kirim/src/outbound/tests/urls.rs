use crate::outbound::{MAX_URL_LEN, OutboundUrl, UrlError};

#[test]
fn http_and_https_urls_are_accepted_and_normalised() {
    let url = OutboundUrl::parse("  https://Example.COM/hooks/kirim?x=1  ").unwrap();
    assert_eq!(url.as_str(), "https://example.com/hooks/kirim?x=1");
    assert_eq!(url.to_string(), url.as_str());
    assert_eq!(url.port(), 443);
    assert_eq!(url.host(), url::Host::Domain("example.com"));
    let url = OutboundUrl::parse("http://hooks.example.com:8080").unwrap();
    assert_eq!((url.scheme(), url.port(), url.as_str()), ("http", 8080, "http://hooks.example.com:8080/"));
}

#[test]
fn odd_spellings_of_an_address_become_the_address() {
    let host = |text: &str| OutboundUrl::parse(text).unwrap().host().to_owned();
    let loopback = url::Host::<String>::Ipv4(std::net::Ipv4Addr::LOCALHOST);
    assert_eq!(host("http://2130706433/"), loopback);
    assert_eq!(host("http://0x7f.1/"), loopback);
    assert_eq!(host("http://0177.0.0.1/"), loopback);
    assert_eq!(host("http://127.1/"), loopback);
    assert_eq!(host("http://127.0.0.1./"), loopback);
    assert_eq!(host("http://[::ffff:127.0.0.1]/"), url::Host::<String>::Ipv6("::ffff:7f00:1".parse().unwrap()));
}

#[test]
fn other_schemes_and_missing_hosts_are_refused() {
    for text in ["ftp://example.com/", "file:///etc/passwd", "gopher://127.0.0.1:25/", "javascript:alert(1)", "example.com/hook"] {
        assert_eq!(OutboundUrl::parse(text), Err(UrlError::Scheme), "{text}");
    }
    assert_eq!(OutboundUrl::parse("http://"), Err(UrlError::NoHost));
    assert_eq!(OutboundUrl::parse(""), Err(UrlError::Empty));
    assert!(matches!(OutboundUrl::parse("http://exa mple.com/"), Err(UrlError::Malformed(_))));
    assert!(matches!(OutboundUrl::parse("http://256.0.0.1/"), Err(UrlError::Malformed(_))));
    assert_eq!(UrlError::Scheme.to_string(), "the URL must start with http:// or https://, for example https://example.com/webhook");
}

#[test]
fn credentials_in_the_url_are_refused() {
    for text in ["https://user:pass@example.com/", "https://user@example.com/", "https://:secret@example.com/"] {
        assert_eq!(OutboundUrl::parse(text), Err(UrlError::Credentials), "{text}");
    }
    assert!(UrlError::Credentials.to_string().contains("remove it and send credentials in a header instead"));
}

#[test]
fn long_urls_are_refused() {
    let base = "https://example.com/";
    let fits = format!("{base}{}", "a".repeat(MAX_URL_LEN - base.len()));
    assert!(OutboundUrl::parse(&fits).is_ok());
    let long = format!("{fits}a");
    assert_eq!(OutboundUrl::parse(&long), Err(UrlError::TooLong(MAX_URL_LEN + 1)));
    // Spaces are percent-encoded: three characters each once normalised.
    let grows = format!("{base}{}x", " ".repeat(700));
    assert!(matches!(OutboundUrl::parse(&grows), Err(UrlError::TooLong(n)) if n > MAX_URL_LEN));
    assert_eq!(UrlError::TooLong(3000).to_string(), "the URL is 3000 characters long; use at most 2048");
}

#[test]
fn serde_uses_the_text_and_checks_it() {
    let url = OutboundUrl::parse("https://example.com/hook").unwrap();
    assert_eq!(serde_json::to_string(&url).unwrap(), "\"https://example.com/hook\"");
    assert_eq!(serde_json::from_str::<OutboundUrl>("\"https://example.com/hook\"").unwrap(), url);
    let refused = serde_json::from_str::<OutboundUrl>("\"ftp://example.com/\"").unwrap_err();
    assert!(refused.to_string().contains("must start with http:// or https://"), "{refused}");
}
