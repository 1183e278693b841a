use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::layers::{self, env_name, flatten};
use super::*;
use kirim_core::Secret;

const DOCS: &str = include_str!("../../../../docs/configuration.md");

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn load(overrides: &Overrides, pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    Config::load_from(overrides, &env(pairs))
}

fn error(overrides: &Overrides, pairs: &[(&str, &str)]) -> String {
    load(overrides, pairs).expect_err("the configuration should be refused").to_string()
}

fn file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(contents.as_bytes()).unwrap();
    file
}

fn with_file(path: &Path) -> Overrides {
    Overrides { config_file: Some(path.to_owned()), ..Overrides::default() }
}

fn default_keys() -> Vec<String> {
    let mut keys = Vec::new();
    flatten(&layers::defaults_table().unwrap(), "", &mut keys);
    keys.into_iter().map(|(key, _)| key).collect()
}

#[test]
fn defaults_load_without_file_or_env() {
    let loaded = load(&Overrides::default(), &[]).unwrap();
    assert_eq!(loaded.config.listen, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
    assert_eq!(loaded.config.data_dir, PathBuf::from("./kirim-data"));
    assert_eq!(loaded.config.database_path(), Path::new("./kirim-data").join("kirim.db"));
    assert!(loaded.warnings.is_empty());
}

#[test]
fn typed_defaults_equal_the_embedded_file() {
    assert_eq!(load(&Overrides::default(), &[]).unwrap().config, Config::default());
}

#[test]
fn every_key_is_read_documented_and_has_its_own_variable() {
    let layers = layers::Layers::gather(&Overrides::default(), &[]).unwrap();
    let (_, unread) = resolve::resolve(layers).unwrap();
    assert!(unread.is_empty(), "keys nothing reads: {unread:?}");
    let keys = default_keys();
    assert_eq!(keys.len(), 68);
    let mut names: Vec<String> = keys.iter().map(|key| env_name(key)).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), keys.len(), "two keys share an environment variable");
    for key in &keys {
        let leaf = key.rsplit('.').next().unwrap();
        let var = env_name(key);
        assert!(Config::defaults_toml().contains(&format!("# {var}")), "defaults.toml does not mention {var}");
        assert!(DOCS.contains(&format!("`{key}`")), "docs/configuration.md lacks the key {key}");
        assert!(DOCS.contains(&format!("`{var}`")), "docs/configuration.md lacks {var}");
        assert!(Config::defaults_toml().contains(&format!("\n{leaf} = ")), "defaults.toml lacks {key}");
    }
    for secret in layers::SECRET_KEYS {
        assert!(DOCS.contains(&format!("`{}_FILE`", env_name(secret))));
    }
}

#[test]
fn a_file_overrides_the_defaults() {
    let f = file("listen = \"0.0.0.0:9000\"\n[sending]\npacing_ms = 250\n[sandbox]\nnot_on_whatsapp = []\n");
    let config = load(&with_file(f.path()), &[]).unwrap().config;
    assert_eq!(config.listen, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
    assert_eq!(config.sending.pacing_ms, 250);
    assert!(config.sandbox.not_on_whatsapp.is_empty());
    assert_eq!(config.sending.max_attempts, 5, "keys the file leaves out keep their default");
}

#[test]
fn the_environment_overrides_the_file_and_flags_override_the_environment() {
    let f = file("listen = \"0.0.0.0:9000\"\ndata_dir = \"/from/file\"\n[sending]\npacing_ms = 250\n");
    let vars = [("KIRIM_LISTEN", "0.0.0.0:9001"), ("KIRIM_DATA_DIR", "/from/env"), ("KIRIM_SENDING_PACING_MS", "0")];
    let config = load(&with_file(f.path()), &vars).unwrap().config;
    assert_eq!(config.listen.port(), 9001);
    assert_eq!(config.data_dir, PathBuf::from("/from/env"));
    assert_eq!(config.sending.pacing_ms, 0);

    let flags = Overrides {
        config_file: Some(f.path().to_owned()),
        listen: Some("127.0.0.1:9002".to_owned()),
        data_dir: Some(PathBuf::from("/from/flag")),
    };
    let config = load(&flags, &vars).unwrap().config;
    assert_eq!(config.listen.port(), 9002);
    assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
    assert_eq!(config.database_path(), PathBuf::from("/from/flag/kirim.db"));
}

#[test]
fn environment_values_are_parsed_by_type() {
    let vars = [
        ("KIRIM_SANDBOX_NOT_ON_WHATSAPP", " +6019999, 62800 ,"),
        ("KIRIM_METRICS_ENABLED", "false"),
        ("KIRIM_SANDBOX_FAILURE_RATE", "0.25"),
        ("KIRIM_DEFAULT_COUNTRY", "my"),
        ("KIRIM_LOG_FORMAT", "JSON"),
        ("KIRIM_DATABASE_DURABILITY", "normal"),
        ("KIRIM_LOG_LEVEL", "kirim=debug,info"),
    ];
    let config = load(&Overrides::default(), &vars).unwrap().config;
    assert_eq!(config.sandbox.not_on_whatsapp, ["+6019999", "+62800"]);
    assert!(!config.metrics.enabled);
    assert_eq!(config.sandbox.failure_rate, 0.25);
    assert_eq!(config.default_country.map(|c| c.code()).as_deref(), Some("MY"));
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.database.durability, Durability::Normal);
    assert_eq!(config.log.level, "kirim=debug,info");
    // An empty value clears an optional setting.
    assert_eq!(load(&Overrides::default(), &[("KIRIM_DEFAULT_COUNTRY", "")]).unwrap().config.default_country, None);
}

#[test]
fn secrets_are_read_from_files_without_the_trailing_newline() {
    let token = file("a-long-admin-token-0123\n");
    let db = file("postgres://kirim:hunter2@db/kirim\r\n");
    let vars = [("KIRIM_ADMIN_TOKEN_FILE", token.path().to_str().unwrap()), ("KIRIM_DATABASE_URL_FILE", db.path().to_str().unwrap())];
    let config = load(&Overrides::default(), &vars).unwrap().config;
    assert_eq!(config.admin_token.as_ref().map(Secret::expose), Some("a-long-admin-token-0123"));
    assert_eq!(config.database.url, DatabaseUrl::Postgres(Secret::new("postgres://kirim:hunter2@db/kirim")));
}

#[test]
fn a_secret_and_its_file_variant_together_are_refused() {
    let token = file("a-long-admin-token-0123\n");
    let message = error(
        &Overrides::default(),
        &[("KIRIM_ADMIN_TOKEN_FILE", token.path().to_str().unwrap()), ("KIRIM_ADMIN_TOKEN", "another-long-token-456")],
    );
    assert!(message.contains("KIRIM_ADMIN_TOKEN and KIRIM_ADMIN_TOKEN_FILE are both set"), "{message}");
    let missing = error(&Overrides::default(), &[("KIRIM_DATABASE_URL_FILE", "/no/such/secret")]);
    assert!(missing.starts_with("KIRIM_DATABASE_URL_FILE=\"/no/such/secret\" names a file that could not be read"));
}

#[test]
fn an_unknown_file_key_is_refused_by_name() {
    let f = file("[sending]\npacing = 5\n");
    let message = error(&with_file(f.path()), &[]);
    assert!(message.contains("unknown key sending.pacing; did you mean sending.pacing_ms?"), "{message}");
    let f = file("colour = \"red\"\n");
    assert!(error(&with_file(f.path()), &[]).contains("unknown key colour; remove it"));
    let f = file("log = \"debug\"\n");
    assert!(error(&with_file(f.path()), &[]).contains("must be a section, not a single value; write [log]"));
    let f = file("listen = \"127.0.0.1:80\"\nlisten = \"127.0.0.1:81\"\n");
    assert!(error(&with_file(f.path()), &[]).contains("is not valid TOML"));
    let missing = error(&with_file(Path::new("/no/such/kirim.toml")), &[]);
    assert!(missing.starts_with("the configuration file /no/such/kirim.toml could not be read"), "{missing}");
}

#[test]
fn unknown_variables_are_warnings_with_a_suggestion() {
    let vars = [("KIRIM_LISTN", "127.0.0.1:1"), ("KIRIM_LISTEN_FILE", "/x"), ("KIRIM_CRASH_ROUNDS", "3"), ("HOME", "/")];
    let warnings = load(&Overrides::default(), &vars).unwrap().warnings;
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("KIRIM_LISTN") && w.ends_with("did you mean KIRIM_LISTEN?")));
    assert!(warnings.iter().any(|w| w.starts_with("KIRIM_LISTEN_FILE is ignored") && w.ends_with("set KIRIM_LISTEN instead")));
    assert!(warnings.iter().any(|w| w.starts_with("KIRIM_CRASH_ROUNDS is not a Kirim setting")));
}

#[test]
fn invalid_values_name_their_source_and_the_fix() {
    let none = Overrides::default();
    assert_eq!(
        error(&none, &[("KIRIM_LISTEN", "8080x")]),
        "KIRIM_LISTEN=\"8080x\" is not a socket address; use host:port, for example 127.0.0.1:8080"
    );
    assert_eq!(
        error(&none, &[("KIRIM_DATABASE_DURABILITY", "fast")]),
        "KIRIM_DATABASE_DURABILITY=\"fast\" is not one of the choices; use \"full\" or \"normal\""
    );
    assert!(
        error(&none, &[("KIRIM_SANDBOX_FAILURE_RATE", "2")])
            .starts_with("KIRIM_SANDBOX_FAILURE_RATE=\"2\" is not a number from 0.0 to 1.0; use")
    );
    assert!(
        error(&none, &[("KIRIM_DEFAULT_COUNTRY", "Malaysia")])
            .starts_with("KIRIM_DEFAULT_COUNTRY=\"Malaysia\" is not an ISO 3166 country code; use two letters")
    );
    assert!(error(&none, &[("KIRIM_SENDING_MAX_ATTEMPTS", "0")]).ends_with("is out of range; use 1 to 100"));
    assert!(error(&none, &[("KIRIM_HTTP_BODY_LIMIT_BYTES", "10")]).ends_with("is too small; use at least 1024"));
    assert!(error(&none, &[("KIRIM_SENDING_PACING_MS", "-1")]).ends_with("is negative; use 0 or more milliseconds"));
    assert!(error(&none, &[("KIRIM_METRICS_ENABLED", "maybe")]).ends_with("use true or false"));
    assert!(error(&none, &[("KIRIM_LOG_LEVEL", "verbose")]).contains("is not a log level"));
    assert!(error(&none, &[("KIRIM_DATABASE_URL", "mysql://x")]).contains("scheme `mysql`"));
    assert!(error(&none, &[("KIRIM_SANDBOX_NOT_ON_WHATSAPP", "+60,abc")]).contains("\"abc\", which is not a phone number prefix"));
    let retry = error(&none, &[("KIRIM_SENDING_RETRY_MAX_MS", "1000")]);
    assert_eq!(
        retry,
        "sending.retry_base_ms (2000, the default) is larger than sending.retry_max_ms (1000, from KIRIM_SENDING_RETRY_MAX_MS); make retry_max_ms at least as large as retry_base_ms"
    );

    let flag = Overrides { listen: Some("localhost:80".to_owned()), ..Overrides::default() };
    assert!(error(&flag, &[]).starts_with("--listen \"localhost:80\" names a host"));
    let f = file("[sandbox]\nfailure_rate = \"high\"\n");
    let message = error(&with_file(f.path()), &[]);
    assert!(message.starts_with(&format!("sandbox.failure_rate = \"high\" in {} is not a number", f.path().display())));
}

#[test]
fn secrets_never_appear_in_messages_or_debug_output() {
    let short = error(&Overrides::default(), &[("KIRIM_ADMIN_TOKEN", "hunter2")]);
    assert_eq!(short, "KIRIM_ADMIN_TOKEN is only 7 characters long; use at least 16, or leave it empty to have Kirim generate one");
    let url = error(&Overrides::default(), &[("KIRIM_DATABASE_URL", "kirim:hunter2@db")]);
    assert!(!url.contains("hunter2"), "{url}");

    let vars = [("KIRIM_ADMIN_TOKEN", "hunter2-hunter2-hunter2"), ("KIRIM_DATABASE_URL", "postgres://u:pw-hunter3@db/k")];
    let config = load(&Overrides::default(), &vars).unwrap().config;
    let debug = format!("{config:?} {config:#?}");
    assert!(!debug.contains("hunter2") && !debug.contains("hunter3"), "{debug}");
}

#[test]
fn the_sqlite_file_follows_the_url() {
    let path = |url: &str| {
        load(&Overrides::default(), &[("KIRIM_DATA_DIR", "/data"), ("KIRIM_DATABASE_URL", url)]).unwrap().config.database_path()
    };
    assert_eq!(path(""), PathBuf::from("/data/kirim.db"));
    assert_eq!(path("sqlite:///var/lib/kirim.db"), PathBuf::from("/var/lib/kirim.db"));
    assert_eq!(path("sqlite://other.db"), PathBuf::from("/data/other.db"));
    assert!(error(&Overrides::default(), &[("KIRIM_DATABASE_URL", "sqlite://")]).contains("names no file"));
}

#[test]
fn outbound_allow_takes_ranges_and_single_addresses() {
    let none = Overrides::default();
    let config = load(&none, &[("KIRIM_OUTBOUND_ALLOW", " 10.1.2.0/24, 127.0.0.1 ,fd00::/8,")]).unwrap().config;
    let allow: Vec<String> = config.outbound.allow.iter().map(ToString::to_string).collect();
    assert_eq!(allow, ["10.1.2.0/24", "127.0.0.1/32", "fd00::/8"]);
    assert!(load(&none, &[]).unwrap().config.outbound.allow.is_empty());

    let f = file("[outbound]\nallow = [\"192.168.0.0/16\"]\nconnect_timeout_ms = 250\n");
    let config = load(&with_file(f.path()), &[]).unwrap().config;
    assert_eq!(config.outbound.allow.len(), 1);
    assert_eq!(config.outbound.connect_timeout_ms, 250);

    assert_eq!(
        error(&none, &[("KIRIM_OUTBOUND_ALLOW", "10.0.0.0/8,10.0.0.0/33")]),
        "KIRIM_OUTBOUND_ALLOW=\"10.0.0.0/8,10.0.0.0/33\" contains \"10.0.0.0/33\", which is not an address range; write an address with a prefix length, for example 10.1.2.0/24, 127.0.0.1/32 or fd00::/8"
    );
    assert!(error(&none, &[("KIRIM_OUTBOUND_ALLOW", "intranet")]).contains("\"intranet\", which is not an address range"));
    let loose = error(&none, &[("KIRIM_OUTBOUND_ALLOW", "10.1.2.3/8")]);
    assert!(loose.ends_with("write 10.0.0.0/8 for the whole range, or 10.1.2.3/32 for one address"), "{loose}");
    assert!(error(&none, &[("KIRIM_OUTBOUND_CONNECT_TIMEOUT_MS", "0")]).ends_with("is out of range; use 100 to 120000"));
}

#[test]
fn webhook_settings_are_parsed_and_checked() {
    use std::time::Duration;
    let none = Overrides::default();
    let config = load(&none, &[]).unwrap().config;
    let hours = |h: u64| Duration::from_secs(h * 3600);
    assert_eq!(
        config.webhooks.retry_schedule,
        [Duration::from_secs(5), Duration::from_secs(300), Duration::from_secs(1800), hours(2), hours(5), hours(10), hours(10)]
    );
    let vars = [
        ("KIRIM_WEBHOOKS_RETRY_SCHEDULE", "250ms, 1s,2M ,1h,1d"),
        ("KIRIM_WEBHOOKS_TIMEOUT_MS", "1000"),
        ("KIRIM_WEBHOOKS_CONCURRENCY_PER_ENDPOINT", "64"),
        ("KIRIM_WEBHOOKS_AUTO_REPLY", "off"),
        ("KIRIM_WEBHOOKS_RETENTION_DAYS", "0"),
    ];
    let webhooks = load(&none, &vars).unwrap().config.webhooks;
    assert_eq!(
        webhooks.retry_schedule,
        [Duration::from_millis(250), Duration::from_secs(1), Duration::from_secs(120), hours(1), hours(24)]
    );
    assert_eq!((webhooks.timeout_ms, webhooks.concurrency_per_endpoint, webhooks.retention_days), (1000, 64, 0));
    assert!(!webhooks.auto_reply);

    let schedule = |value: &str| error(&none, &[("KIRIM_WEBHOOKS_RETRY_SCHEDULE", value)]);
    let format =
        "write 1 to 20 delays separated by commas, each a whole number and a unit (ms, s, m, h or d), for example \"5s,5m,30m,2h\"";
    assert_eq!(
        schedule("5s,5 minutes"),
        format!("KIRIM_WEBHOOKS_RETRY_SCHEDULE=\"5s,5 minutes\" contains \"5 minutes\", which is not a delay; {format}")
    );
    assert!(schedule("").ends_with(&format!("is empty; {format}")));
    assert!(schedule("5s,,5m").contains("has an empty delay"));
    assert!(schedule("5").contains("\"5\", which is not a delay"));
    assert!(schedule("s").contains("\"s\", which is not a delay"));
    assert!(schedule("-5s").contains("\"-5s\", which is not a delay"));
    assert!(schedule("31d").ends_with("\"31d\", which is longer than 30 days; use at most 30d for one delay"));
    assert!(schedule("99999999999999999999999h").contains("longer than 30 days"));
    assert!(schedule(&vec!["1s"; 21].join(",")).ends_with("has 21 delays; use at most 20"));
    assert_eq!(
        load(&none, &[("KIRIM_WEBHOOKS_RETRY_SCHEDULE", &vec!["1s"; 20].join(","))]).unwrap().config.webhooks.retry_schedule.len(),
        20
    );
    let f = file("[webhooks]\nretry_schedule = [\"5s\"]\n");
    assert!(error(&with_file(f.path()), &[]).contains("is not text; write it in quotes"));

    assert!(error(&none, &[("KIRIM_WEBHOOKS_TIMEOUT_MS", "999")]).ends_with("is out of range; use 1000 to 120000"));
    assert!(error(&none, &[("KIRIM_WEBHOOKS_CONCURRENCY_PER_ENDPOINT", "65")]).ends_with("is out of range; use 1 to 64"));
    assert!(error(&none, &[("KIRIM_WEBHOOKS_DISABLE_AFTER_DAYS", "0")]).ends_with("is out of range; use 1 to 30"));
    assert!(error(&none, &[("KIRIM_WEBHOOKS_RETENTION_DAYS", "36501")]).ends_with("is too large; use at most 36500"));
}

#[test]
fn compat_layers_mount_at_a_prefix_the_root_or_nowhere_but_never_together() {
    let loaded = load(&Overrides::default(), &[("KIRIM_COMPAT_ONSEND", "/"), ("KIRIM_COMPAT_WA_GATEWAY", "")]).unwrap();
    assert_eq!(loaded.config.compat.onsend, Some(MountPrefix(String::new())));
    assert_eq!(loaded.config.compat.wa_gateway, None);
    let loaded = load(&Overrides::default(), &[("KIRIM_COMPAT_ONSEND", "/gw/onsend/")]).unwrap();
    assert_eq!(loaded.config.compat.onsend, Some(MountPrefix("/gw/onsend".to_owned())));
    let both = error(&Overrides::default(), &[("KIRIM_COMPAT_ONSEND", "/"), ("KIRIM_COMPAT_WA_GATEWAY", "/")]);
    assert!(both.contains("compat.onsend and compat.wa_gateway are both mounted at /"), "{both}");
    for bad in ["compat", "/a//b", "/../x", "/v1", "/v1/x", "/a b"] {
        let message = error(&Overrides::default(), &[("KIRIM_COMPAT_ONSEND", bad)]);
        assert!(message.contains("KIRIM_COMPAT_ONSEND"), "{bad}: {message}");
    }
}
