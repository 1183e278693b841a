//! The command line as an operator uses it: config, OpenAPI, offline admin, signals.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn kirim(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kirim"));
    cmd.args(args).env("KIRIM_DATA_DIR", dir).env("KIRIM_LOG_LEVEL", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run kirim")
}

#[test]
fn config_example_prints_the_documented_defaults_and_check_validates() {
    let dir = tempfile::tempdir().unwrap();
    let out = kirim(dir.path(), &["config", "example"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("listen = \"127.0.0.1:8080\""), "{text}");
    assert!(text.contains("data_dir = \"./kirim-data\""), "{text}");
    // The printed example is itself a valid configuration file.
    let file = dir.path().join("kirim.toml");
    std::fs::write(&file, &text).unwrap();
    let out =
        kirim(dir.path(), &["--config", file.to_str().unwrap(), "config", "check"], &[("KIRIM_ADMIN_TOKEN", "a-very-secret-admin-token")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(!shown.contains("a-very-secret-admin-token"), "secrets are never printed");
    // An invalid value stops with a sentence naming the variable and the fix.
    let out = kirim(dir.path(), &["config", "check"], &[("KIRIM_LISTEN", "8080x")]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("KIRIM_LISTEN") && err.contains("host:port"), "{err}");
}

#[test]
fn openapi_command_prints_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let out = kirim(dir.path(), &["openapi"], &[]);
    assert!(out.status.success());
    let spec: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(spec["paths"]["/v1/devices/{id}/connect"]["post"].is_object());
}

#[test]
fn admin_commands_work_offline_and_the_key_they_print_works_online() {
    let dir = tempfile::tempdir().unwrap();
    let out = kirim(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kirim(dir.path(), &["admin", "tenant", "create", "Acme"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text.split_whitespace().find(|w| w.starts_with("kk_")).expect("an api key").to_owned();
    let tenant = text.split_whitespace().find(|w| w.starts_with("ten_")).expect("a tenant id").to_owned();
    let out = kirim(dir.path(), &["admin", "tenant", "list"], &[]);
    assert!(String::from_utf8(out.stdout).unwrap().contains(&tenant));
    let out = kirim(dir.path(), &["admin", "key", "create", &tenant, "--name", "ops"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let key_id = text.split(|c: char| c.is_whitespace() || c == ';').find(|w| w.starts_with("key_")).expect("a key id").to_owned();
    let out = kirim(dir.path(), &["admin", "key", "revoke", &key_id], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = kirim(dir.path(), &["admin", "key", "revoke", &key_id], &[]);
    assert!(!out.status.success(), "revoking twice says there is no live key");

    // The first key, made offline, works against the server on the same data folder.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kirim"))
        .arg("serve")
        .env("KIRIM_DATA_DIR", dir.path())
        .env("KIRIM_LISTEN", format!("127.0.0.1:{port}"))
        .env("KIRIM_LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/v1/devices")).bearer_auth(&key).send().await {
                assert_eq!(r.status(), 200);
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "server did not start");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    });
    // SIGTERM stops it gracefully and promptly.
    let stopped = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(stopped.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no graceful stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}

#[test]
fn first_start_generates_an_admin_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_kirim"))
            .arg("serve")
            .env("KIRIM_DATA_DIR", dir.path())
            .env("KIRIM_LISTEN", format!("127.0.0.1:{port}"))
            .env("KIRIM_LOG_LEVEL", "error")
            .env_remove("KIRIM_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let wait_ready = || {
        rt.block_on(async {
            let started = Instant::now();
            while reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.is_err() {
                assert!(started.elapsed() < Duration::from_secs(20));
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let stop = |mut child: std::process::Child| -> String {
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        err
    };
    // Offline admin commands run first must not swallow the token the first `serve` prints.
    assert!(kirim(dir.path(), &["migrate"], &[]).status.success());
    assert!(kirim(dir.path(), &["admin", "tenant", "create", "Early"], &[]).status.success());
    let first = spawn();
    wait_ready();
    let printed = stop(first);
    let token = printed.split_whitespace().find(|w| w.starts_with("ka_")).expect("the generated admin token is printed").to_owned();
    let second = spawn();
    wait_ready();
    rt.block_on(async {
        let r = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/v1/tenants")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "the generated token keeps working after a restart");
    });
    let printed_again = stop(second);
    assert!(!printed_again.contains("ka_"), "the token is printed only on first start");
}

/// `kirim device link` against a running gateway: it draws the QR code, waits for the scan
/// (the sandbox phone scans by itself here) and says the device is linked; a wrong id is a
/// clear failure.
#[tokio::test]
async fn device_link_shows_the_qr_and_waits_until_linked() {
    let app = crate::common::TestApp::spawn_with(&[("KIRIM_SANDBOX_AUTO_SCAN_MS", "1500")]).await;
    let (_, key) = app.tenant("t").await;
    let (device, _) = app.device(&key, "front desk").await;
    let dir = tempfile::tempdir().unwrap();
    let (base, dir_path) = (app.base.clone(), dir.path().to_owned());
    let run = move |id: String, key: String| {
        let (base, dir_path) = (base.clone(), dir_path.clone());
        tokio::task::spawn_blocking(move || {
            kirim(&dir_path, &["device", "link", &id, "--url", &base, "--timeout", "30"], &[("KIRIM_API_KEY", &key)])
        })
    };
    let out = run(device.clone(), key.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains('▀') || stdout.contains('█'), "a QR code is drawn: {stdout}");
    assert!(stdout.contains(&format!("linked: {device} is now +")), "{stdout}");
    let (_, shown) = app.get(&format!("/v1/devices/{device}"), &key).await;
    assert_eq!(shown["status"], "connected");

    let out = run("dev_01m84965dhfy73ddern5dsq3sh".into(), key).await.unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("404"), "{stderr}");
    app.stop().await;
}
