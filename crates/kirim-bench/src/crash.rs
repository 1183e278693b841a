//! `kirim-bench crash`: the long kill -9 reliability check. Each round starts Kirim on the
//! same data folder, sends for a random 0.3–2 s and SIGKILLs it mid-flight; at the end Kirim
//! runs once more until every accepted message has settled, and every id that got a 202 must
//! exist and have reached the sandbox network exactly once.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use hyper::{Method, StatusCode};
use rand::Rng as _;
use serde_json::Value;
use tokio::time::Instant;

use crate::kirim_proc::{Api, Kirim, Sender, locate_binary, random_token};
use crate::loadgen::{self, LoadSpec, send_body};

#[derive(Args, Debug)]
pub struct CrashArgs {
    /// How many times Kirim is killed.
    #[arg(long, default_value_t = 10)]
    pub rounds: u32,
    /// At most this many sends per round (sending also stops at the kill).
    #[arg(long, default_value_t = 2000)]
    pub messages_per_round: u64,
    /// Concurrent sending connections.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// The kirim binary (default: `kirim` next to this executable).
    #[arg(long)]
    pub kirim_bin: Option<PathBuf>,
    /// How long the final run may take to settle every message.
    #[arg(long, default_value = "120s", value_parser = crate::parse_duration)]
    pub settle_timeout: Duration,
    /// Keep the data folder (it is always kept when the check fails).
    #[arg(long)]
    pub keep_data: bool,
}

/// Statuses a message moves on from by itself; any other is where it settles.
const IN_FLIGHT: [&str; 2] = ["pending", "sending"];
/// How many of the oldest unsettled messages one polling pass looks at.
const POLL_WINDOW: usize = 256;

pub async fn run(args: CrashArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.rounds > 0 && args.connections > 0, "--rounds and --connections must be at least 1");
    let bin = locate_binary(args.kirim_bin.as_deref())?;
    let data = tempfile::Builder::new().prefix("kirim-bench-crash-").tempdir()?;
    let admin = random_token(32);
    let mut sender: Option<Sender> = None;
    let mut acked: Vec<String> = Vec::new();
    let mut relinks = 0;
    println!(
        "kill -9 check: {} rounds of up to {} sends on {} connections, data in {}",
        args.rounds,
        args.messages_per_round,
        args.connections,
        data.path().display()
    );
    println!("{:>5} {:>10} {:>7} {:>8} {:>10}", "round", "killed at", "202s", "non-2xx", "transport");
    for round in 1..=args.rounds {
        let mut kirim = Kirim::start(&bin, data.path(), &admin).await.with_context(|| format!("starting kirim for round {round}"))?;
        let s = match &sender {
            None => sender.insert(kirim.setup_sandbox(&admin).await?).clone(),
            Some(s) => {
                relinks += usize::from(ensure_connected(&kirim, s).await?);
                s.clone()
            }
        };
        let kill_after = Duration::from_millis(rand::thread_rng().gen_range(300..=2000));
        let bodies: Vec<_> = (0..args.connections).map(|conn| send_body(&s.device_id, conn)).collect();
        let spec = LoadSpec {
            addr: kirim.addr,
            path: "/v1/messages".into(),
            authorization: Some(format!("Bearer {}", s.api_key)),
            body: Arc::new(move |conn, _| bodies[conn % bodies.len()].clone()),
            connections: args.connections,
            warmup: Duration::ZERO,
            duration: kill_after,
            grace: Duration::from_secs(2),
            max_requests: Some(args.messages_per_round),
            capture_ids: true,
            on_success: None,
        };
        let killer = async {
            tokio::time::sleep(kill_after).await;
            kirim.kill9().await
        };
        let (load, killed) = tokio::join!(loadgen::run(spec), killer);
        killed?;
        let load = load?;
        println!(
            "{round:>5} {:>9}ms {:>7} {:>8} {:>10}",
            kill_after.as_millis(),
            load.ids.len(),
            load.non_2xx_total(),
            load.transport_errors
        );
        if load.non_2xx_total() > 0
            && let Some(e) = &load.first_error
        {
            println!("      first error: {e}");
        }
        acked.extend(load.ids);
    }

    println!("restarting kirim once more and waiting for every message to settle…");
    let kirim = Kirim::start(&bin, data.path(), &admin).await.context("starting kirim for the final check")?;
    let s = sender.context("no sender was set up")?;
    relinks += usize::from(ensure_connected(&kirim, &s).await?);
    let outcome = check(&kirim.api, &s, &acked, args.settle_timeout).await;
    if let Err(e) = kirim.stop().await {
        eprintln!("warning: {e:#}");
    }
    let outcome = outcome?;
    if relinks > 0 {
        println!("note: the device was not connected again by itself after {relinks} restart(s) and was relinked");
    }
    let failed = outcome.print();
    if failed || args.keep_data {
        println!("data kept in {}", data.keep().display());
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Waits for the device to reconnect by itself after a restart; links it again if it does
/// not within 10 s. True if it had to be relinked.
async fn ensure_connected(kirim: &Kirim, s: &Sender) -> anyhow::Result<bool> {
    if kirim.wait_connected(s, Duration::from_secs(10)).await? {
        return Ok(false);
    }
    kirim.link(s).await?;
    Ok(true)
}

struct Outcome {
    acked: usize,
    duplicate_acks: usize,
    statuses: BTreeMap<String, usize>,
    not_found: Vec<String>,
    stuck: Vec<String>,
    not_received: Vec<String>,
    received: usize,
    received_twice: Vec<(String, usize)>,
    received_unacked: usize,
    settle_time: Duration,
}

impl Outcome {
    /// Prints the summary; true if a message was lost, duplicated or stuck.
    fn print(&self) -> bool {
        println!();
        println!("accepted (202):            {} ({} distinct)", self.acked, self.acked - self.duplicate_acks);
        let statuses: Vec<String> = self.statuses.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let statuses = if statuses.is_empty() { "-".into() } else { statuses.join(", ") };
        println!("settled statuses:          {statuses} (after {:.1} s)", self.settle_time.as_secs_f64());
        println!("received by the network:   {} ({} never acknowledged to us: cut off by a kill)", self.received, self.received_unacked);
        let failures = [
            ("accepted but not found (404)", &self.not_found),
            ("accepted but not settled in time", &self.stuck),
            ("accepted, not failed, but never received by the network", &self.not_received),
        ];
        let mut failed = self.duplicate_acks > 0 || !self.received_twice.is_empty();
        for (what, ids) in failures {
            println!("{what}: {}", ids.len());
            if !ids.is_empty() {
                failed = true;
                println!("  e.g. {}", ids.iter().take(5).cloned().collect::<Vec<_>>().join(", "));
            }
        }
        println!("received more than once:   {}", self.received_twice.len());
        for (id, n) in self.received_twice.iter().take(5) {
            println!("  {id} ×{n}");
        }
        if self.duplicate_acks > 0 {
            println!("the same id was returned by {} more than one 202", self.duplicate_acks);
        }
        println!("{}", if failed { "RESULT: FAIL" } else { "RESULT: OK — no loss, no duplicate" });
        failed
    }
}

async fn check(api: &Api, s: &Sender, acked: &[String], timeout: Duration) -> anyhow::Result<Outcome> {
    let mut unique = HashSet::new();
    let distinct: Vec<String> = acked.iter().filter(|id| unique.insert(id.as_str())).cloned().collect();
    let started = Instant::now();
    let deadline = started + timeout;
    let mut last_note = started;
    // In the order they were accepted, which is about the order Kirim sends them: each pass
    // looks at the oldest unsettled ones only, so polling does not starve Kirim of CPU.
    let mut pending: VecDeque<String> = distinct.iter().cloned().collect();
    let mut settled: HashMap<String, String> = HashMap::new();
    let mut not_found = Vec::new();
    while !pending.is_empty() && Instant::now() < deadline {
        let window: Vec<String> = pending.drain(..pending.len().min(POLL_WINDOW)).collect();
        let mut in_flight = Vec::new();
        for (id, status) in statuses(api, &s.api_key, window).await? {
            match status {
                Seen::NotFound => not_found.push(id),
                Seen::Status(st) if !IN_FLIGHT.contains(&st.as_str()) => {
                    settled.insert(id, st);
                }
                _ => in_flight.push(id),
            }
        }
        let any_in_flight = !in_flight.is_empty();
        for id in in_flight.into_iter().rev() {
            pending.push_front(id);
        }
        if last_note.elapsed() >= Duration::from_secs(2) {
            last_note = Instant::now();
            eprintln!("  {} of {} messages not yet seen settled…", pending.len(), distinct.len());
        }
        if any_in_flight {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let settle_time = started.elapsed();
    let path = format!("/v1/sandbox/devices/{}/received", s.device_id);
    let received = api.expect(Method::GET, &path, Some(&s.api_key), None, StatusCode::OK).await?;
    let data = received.get("data").and_then(Value::as_array).context("no `data` array in the received list")?;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for item in data {
        let id = item.get("network_id").and_then(Value::as_str).context("a received message without a network_id")?;
        *counts.entry(id).or_default() += 1;
    }
    let gave_up = |id: &String| matches!(settled.get(id).map(String::as_str), Some("failed" | "cancelled"));
    let distinct_set: HashSet<&str> = distinct.iter().map(String::as_str).collect();
    let mut statuses_count = BTreeMap::new();
    for st in settled.values() {
        *statuses_count.entry(st.clone()).or_default() += 1;
    }
    Ok(Outcome {
        acked: acked.len(),
        duplicate_acks: acked.len() - distinct.len(),
        statuses: statuses_count,
        not_received: distinct
            .iter()
            .filter(|id| settled.contains_key(*id) && !gave_up(id) && !counts.contains_key(id.as_str()))
            .cloned()
            .collect(),
        not_found,
        stuck: pending.into(),
        received: data.len(),
        received_twice: counts.iter().filter(|(_, n)| **n > 1).map(|(id, n)| (id.to_string(), *n)).collect(),
        received_unacked: counts.keys().filter(|id| !distinct_set.contains(**id)).count(),
        settle_time,
    })
}

enum Seen {
    Status(String),
    NotFound,
    Unknown,
}

/// GETs every id, 8 at a time; the answers come back in the order of `ids`.
async fn statuses(api: &Api, key: &str, ids: Vec<String>) -> anyhow::Result<Vec<(String, Seen)>> {
    let chunk = ids.len().div_ceil(8).max(1);
    let tasks: Vec<_> = ids
        .chunks(chunk)
        .map(|part| {
            let (api, key, part) = (api.clone(), key.to_string(), part.to_vec());
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(part.len());
                for id in part {
                    let seen = match api.call(Method::GET, &format!("/v1/messages/{id}"), Some(&key), None).await {
                        Ok((StatusCode::OK, v)) => {
                            v.get("status").and_then(Value::as_str).map_or(Seen::Unknown, |s| Seen::Status(s.into()))
                        }
                        Ok((StatusCode::NOT_FOUND, _)) => Seen::NotFound,
                        _ => Seen::Unknown,
                    };
                    out.push((id, seen));
                }
                out
            })
        })
        .collect();
    let mut all = Vec::with_capacity(ids.len());
    for task in tasks {
        all.extend(task.await.context("a status task panicked")?);
    }
    Ok(all)
}
