//! Reliability: SIGKILL the real binary during an accept load, again and again. Every message
//! that got a 202 must exist after restart and reach the network exactly once per id.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::ADMIN;

struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    /// A failing test must not leave a server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start(dir: &std::path::Path) -> Proc {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_kirim"))
        .arg("serve")
        .env("KIRIM_LISTEN", format!("127.0.0.1:{port}"))
        .env("KIRIM_DATA_DIR", dir)
        .env("KIRIM_ADMIN_TOKEN", ADMIN)
        .env("KIRIM_SENDING_PACING_MS", "0")
        .env("KIRIM_SENDING_PACING_JITTER_MS", "0")
        .env("KIRIM_SANDBOX_DELIVERED_AFTER_MS", "0")
        .env("KIRIM_SANDBOX_READ_AFTER_MS", "0")
        .env("KIRIM_LOG_LEVEL", "error")
        // The load below is far past the default limits; this test is about durability.
        .env("KIRIM_RATE_LIMITS_PER_KEY", "0")
        .env("KIRIM_RATE_LIMITS_PER_TENANT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kirim");
    let base = format!("http://127.0.0.1:{port}");
    // Owned from here, so the process is killed and reaped on every path (`Proc` does it).
    let proc = Proc { child, base };
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{}/readyz", proc.base)).send().await
            && r.status().is_success()
        {
            return proc;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("kirim did not become ready on {}", proc.base);
}

async fn call(client: &reqwest::Client, method: reqwest::Method, url: String, token: &str, body: Value) -> (StatusCode, Value) {
    let r = client.request(method, url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_accept_load_loses_nothing_and_sends_each_id_once() {
    let rounds: usize = std::env::var("KIRIM_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut proc = start(dir.path()).await;
    let (_, tenant) = call(&client, reqwest::Method::POST, format!("{}/v1/tenants", proc.base), ADMIN, json!({"name": "crash"})).await;
    let key = tenant["api_key"].as_str().unwrap().to_owned();
    let (_, device) =
        call(&client, reqwest::Method::POST, format!("{}/v1/devices", proc.base), &key, json!({"name": "d", "connector": "sandbox"})).await;
    let device = device["id"].as_str().unwrap().to_owned();
    call(&client, reqwest::Method::POST, format!("{}/v1/devices/{device}/connect", proc.base), &key, json!({})).await;
    let (s, _) = call(&client, reqwest::Method::POST, format!("{}/v1/sandbox/devices/{device}/scan", proc.base), &key, json!({})).await;
    assert_eq!(s, StatusCode::OK);

    let accepted: Arc<Mutex<HashSet<String>>> = Arc::default();
    for round in 0..rounds {
        if round > 0 {
            proc = start(dir.path()).await;
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut senders = Vec::new();
        for worker in 0..16 {
            let (client, base, key, device, accepted, stop) =
                (client.clone(), proc.base.clone(), key.clone(), device.clone(), accepted.clone(), stop.clone());
            senders.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = json!({"device_id": device, "to": "+60123456789", "text": {"body": format!("r{round} w{worker} n{n}")}});
                    let Ok(r) = client.post(format!("{base}/v1/messages")).bearer_auth(&key).json(&body).send().await else { break };
                    if r.status() == StatusCode::ACCEPTED
                        && let Ok(v) = r.json::<Value>().await
                    {
                        accepted.lock().unwrap().insert(v["id"].as_str().unwrap().to_owned());
                    }
                    n += 1;
                }
            }));
        }
        let run_for = rand::thread_rng().gen_range(150..500);
        tokio::time::sleep(Duration::from_millis(run_for)).await;
        proc.child.kill().unwrap(); // SIGKILL
        proc.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for s in senders {
            s.await.unwrap();
        }
    }

    let proc = start(dir.path()).await;
    let accepted = accepted.lock().unwrap().clone();
    assert!(accepted.len() > rounds * 10, "the load was too light to mean anything: {}", accepted.len());
    // Wait until the queue has drained.
    let mut drained = false;
    for _ in 0..1200 {
        let (_, pending) =
            call(&client, reqwest::Method::GET, format!("{}/v1/messages?status=pending&limit=1", proc.base), &key, Value::Null).await;
        let (_, sending) =
            call(&client, reqwest::Method::GET, format!("{}/v1/messages?status=sending&limit=1", proc.base), &key, Value::Null).await;
        if pending["data"].as_array().is_some_and(Vec::is_empty) && sending["data"].as_array().is_some_and(Vec::is_empty) {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(drained, "the queue did not drain after the last restart");

    // Every accepted id is stored.
    let mut stored = HashSet::new();
    let mut before: Option<String> = None;
    loop {
        let cursor = before.as_ref().map(|b| format!("&before={b}")).unwrap_or_default();
        let (_, page) =
            call(&client, reqwest::Method::GET, format!("{}/v1/messages?limit=500{cursor}", proc.base), &key, Value::Null).await;
        for m in page["data"].as_array().unwrap() {
            assert!(["sent", "delivered", "read"].contains(&m["status"].as_str().unwrap()), "{m}");
            stored.insert(m["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(n) => before = Some(n.to_owned()),
            None => break,
        }
    }
    let lost: Vec<_> = accepted.difference(&stored).collect();
    assert!(lost.is_empty(), "{} messages got a 202 and were lost: {:?}", lost.len(), &lost[..lost.len().min(5)]);

    // The network saw each id exactly once, and every accepted one.
    let (_, received) =
        call(&client, reqwest::Method::GET, format!("{}/v1/sandbox/devices/{device}/received", proc.base), &key, Value::Null).await;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for m in received["data"].as_array().unwrap() {
        *counts.entry(m["network_id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let dupes: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "sent more than once: {dupes:?}");
    let unsent: Vec<_> = accepted.iter().filter(|id| !counts.contains_key(*id)).collect();
    assert!(unsent.is_empty(), "{} accepted messages never reached the network", unsent.len());
    let mut proc = proc;
    proc.child.kill().unwrap();
    proc.child.wait().unwrap();
}
