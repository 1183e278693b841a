//! `kirim-bench e2e`: Kirim's whole outbound path, accept → sent → delivered → webhook.
//!
//! The bench measures this machine's no-op and durable-insert ceilings (as `accept` does),
//! then starts the real binary with pacing off on a fresh data folder, links `--devices`
//! sandbox devices, registers one `message.delivered` webhook pointing at a receiver inside
//! the bench, and posts `--messages` sends round-robin over the devices from a closed-loop
//! load generator. The end-to-end rate is the number of messages whose webhook arrived,
//! over the time from the first 202 to the last of those webhooks.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Args;
use hyper::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::accept::measure_ceiling;
use crate::ceiling::Mode;
use crate::histogram::Histogram;
use crate::kirim_proc::{Api, Kirim, locate_binary, random_token};
use crate::loadgen::{self, LoadSpec};
use crate::procstat;
use crate::receiver::{self, Receiver};
use crate::report::{Figures, Machine, fmt_ms};

/// The requirement: at least this many messages per second end to end…
pub const TARGET_RATE: f64 = 5_000.0;
/// …sustained over at least this many messages…
pub const TARGET_MESSAGES: u64 = 200_000;
/// …spread over at least this many devices…
pub const TARGET_DEVICES: usize = 1_000;
/// …with Kirim's resident memory never above this (bytes; 300 MB).
pub const TARGET_RSS_BYTES: u64 = 300_000_000;

/// What the ratio to the insert ceiling means, printed with it.
const RATIO_MEANING: &str = "end-to-end messages/s ÷ the durable-insert ceiling's requests/s. The ceiling commits one \
     row per request; every message costs Kirim several durable group-committed writes: the accept (message + \
     message.queued event), the claim (pending → sending), the outcome (sent + event), the delivered receipt \
     (status + event), the webhook fan-out (a delivery row), the delivery claim and the attempt's record — so \
     1.0 would mean Kirim does all of them for the price of the ceiling's one.";

#[derive(Args, Debug)]
pub struct E2eArgs {
    /// Sandbox devices the messages are spread over, round-robin.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// Messages to get accepted (202); the run ends when each has its webhook or at --drain-timeout.
    #[arg(long, default_value_t = 200_000)]
    pub messages: u64,
    /// Concurrent keep-alive sending connections (one closed-loop task each).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// The kirim binary (default: `kirim` next to this executable).
    #[arg(long, visible_alias = "kirim")]
    pub kirim_bin: Option<PathBuf>,
    /// How long to wait after the last accept for the webhooks still missing.
    #[arg(long, default_value = "120s", value_parser = crate::parse_duration)]
    pub drain_timeout: Duration,
    /// The longest sending may take (it normally ends at --messages).
    #[arg(long, default_value = "10m", value_parser = crate::parse_duration)]
    pub max_send_time: Duration,
    /// How long each ceiling is measured.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    pub ceiling_duration: Duration,
    /// How long each ceiling is loaded before measuring starts.
    #[arg(long, default_value = "2s", value_parser = crate::parse_duration)]
    pub ceiling_warmup: Duration,
    /// Do not measure the ceilings (no ratios then).
    #[arg(long)]
    pub skip_ceilings: bool,
    /// `sandbox.delivered_after_ms`: from the network accepting a message to its delivered receipt.
    #[arg(long, default_value_t = 0)]
    pub delivered_after_ms: u64,
    /// `sandbox.read_after_ms`: late by default, so read receipts stay out of the run.
    #[arg(long, default_value_t = 3_600_000)]
    pub read_after_ms: u64,
    /// Verify the signature of every n-th webhook request (0: none).
    #[arg(long, default_value_t = 100)]
    pub verify_every: u64,
    /// Measure accept → webhook latency for every n-th accepted message.
    #[arg(long, default_value_t = 100)]
    pub sample_every: u64,
    /// Another Kirim setting for the run, as KIRIM_…=value (repeatable), e.g.
    /// `--set KIRIM_WEBHOOKS_CONCURRENCY_PER_ENDPOINT=16`.
    #[arg(long = "set", value_name = "KIRIM_KEY=VALUE", value_parser = parse_setting)]
    pub settings: Vec<(String, String)>,
    /// Keep Kirim's data folder (its path is printed).
    #[arg(long)]
    pub keep: bool,
    /// Print one JSON object with all figures instead of the table (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    let (key, value) = s.split_once('=').ok_or_else(|| format!("`{s}` is not KIRIM_KEY=value"))?;
    if !key.starts_with("KIRIM_") || key.len() <= "KIRIM_".len() {
        return Err(format!("`{key}` is not a Kirim setting (KIRIM_…)"));
    }
    Ok((key.to_string(), value.to_string()))
}

pub async fn run(args: E2eArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.devices > 0, "--devices must be at least 1");
    anyhow::ensure!(args.devices <= 100_000, "--devices above 100,000 is not supported");
    anyhow::ensure!(args.messages > 0, "--messages must be at least 1");
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(args.sample_every > 0, "--sample-every must be at least 1");
    anyhow::ensure!(!args.ceiling_duration.is_zero() || args.skip_ceilings, "--ceiling-duration must be more than 0");
    let bin = locate_binary(args.kirim_bin.as_deref())?;
    let machine = Machine::detect();
    eprintln!(
        "kirim-bench e2e: {} messages over {} sandbox devices from {} connections; load generator, receiver and Kirim share {} cores",
        args.messages, args.devices, args.connections, machine.cores
    );

    let ceilings = if args.skip_ceilings {
        None
    } else {
        let (c, w, d) = (args.connections, args.ceiling_warmup, args.ceiling_duration);
        let noop = Figures::new("noop ceiling", &measure_ceiling(Mode::Noop, c, w, d).await?);
        let insert = Figures::new("insert ceiling", &measure_ceiling(Mode::Insert, c, w, d).await?);
        Some(Ceilings { noop, insert })
    };

    let settings = kirim_settings(&args);
    let e2e = measure(&bin, &args, &settings).await?;
    let lost = e2e.webhooks.missing > 0;
    let report = E2eReport::new(machine, &args, &bin, settings, ceilings, e2e);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print_table();
    }
    Ok(if lost { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The settings the run needs on top of the bench's (pacing off), then the user's.
fn kirim_settings(args: &E2eArgs) -> Vec<(String, String)> {
    let mut settings = vec![
        ("KIRIM_SANDBOX_DELIVERED_AFTER_MS".to_string(), args.delivered_after_ms.to_string()),
        ("KIRIM_SANDBOX_READ_AFTER_MS".to_string(), args.read_after_ms.to_string()),
        // The receiver is on loopback, which Kirim refuses to call unless allowed.
        ("KIRIM_OUTBOUND_ALLOW".to_string(), "127.0.0.1/32".to_string()),
    ];
    for (key, value) in &args.settings {
        settings.retain(|(k, _)| k != key);
        settings.push((key.clone(), value.clone()));
    }
    settings
}

// ---------------------------------------------------------------------------------------
// The measurement

/// Every accepted message, in the order the 202s arrived, with their times.
#[derive(Default)]
struct AcceptLog {
    ids: Vec<Box<str>>,
    first: Option<Instant>,
    last: Option<Instant>,
    /// (index in `ids`, when its 202 was read) for every `sample_every`-th accept.
    samples: Vec<(usize, Instant)>,
    /// 2xx answers without a readable `id`.
    without_id: u64,
    first_without_id: Option<String>,
}

#[derive(Deserialize)]
struct AcceptedBody<'a> {
    #[serde(borrow)]
    id: &'a str,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One sample of the pipeline, about every second.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sample {
    /// Seconds since sending started.
    pub t_s: f64,
    /// 202s so far (the bench's count).
    pub accepted: u64,
    /// `kirim_send_attempts_total{outcome="sent"}`.
    pub sent: Option<u64>,
    /// `kirim_webhook_attempts_total{outcome="succeeded"}`.
    pub webhook_succeeded: Option<u64>,
    /// `kirim_webhook_attempts_total{outcome="retry"}` + `{outcome="failed"}`.
    pub webhook_unsuccessful: Option<u64>,
    /// Messages whose webhook the receiver has.
    pub received: u64,
    /// `kirim_queue_depth{status="pending"}`.
    pub pending: Option<u64>,
    /// Kirim's VmRSS.
    pub rss_mib: Option<f64>,
    /// Kirim's CPU use since the previous sample, in cores.
    pub kirim_cores: Option<f64>,
}

struct Run {
    accepts: Mutex<AcceptLog>,
    samples: Mutex<Vec<Sample>>,
    max_rss: Mutex<u64>,
    kirim_gone: AtomicBool,
}

pub async fn measure(bin: &Path, args: &E2eArgs, settings: &[(String, String)]) -> anyhow::Result<E2eFigures> {
    let data = tempfile::Builder::new().prefix("kirim-bench-e2e-").tempdir()?;
    let receiver = Receiver::start(args.verify_every).await?;
    let admin = random_token(32);
    eprintln!("starting kirim ({})…", bin.display());
    let kirim = Kirim::start_with(bin, data.path(), &admin, settings).await?;
    let outcome = drive(&kirim, &receiver, &admin, args).await;
    let stderr = kirim.stderr();
    if let Err(e) = kirim.stop().await {
        eprintln!("warning: {e:#}");
    }
    if args.keep {
        let kept = data.keep();
        eprintln!("kirim's data folder is kept in {}", kept.display());
    }
    match outcome {
        Ok(mut figures) => {
            figures.kirim_stderr_tail = Some(stderr).filter(|s| !s.trim().is_empty()).map(|s| tail(&s, 1500));
            Ok(figures)
        }
        Err(e) => Err(e.context(format!("the end-to-end run failed; kirim's stderr (last 4 KiB):\n{stderr}"))),
    }
}

fn tail(s: &str, max: usize) -> String {
    let cut = s.len().saturating_sub(max);
    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(s.len());
    s[cut..].to_string()
}

const MIB: f64 = (1u64 << 20) as f64;

// ---------------------------------------------------------------------------------------
// The figures

/// CPU used so far by Kirim (in all and by thread) and by the bench.
struct CpuSnapshot {
    kirim: Option<f64>,
    bench: Option<f64>,
    threads: BTreeMap<u32, procstat::ThreadUse>,
}

impl CpuSnapshot {
    fn take(pid: u32) -> Self {
        Self { kirim: procstat::cpu_seconds(&pid.to_string()), bench: procstat::cpu_seconds("self"), threads: procstat::threads(pid) }
    }
}

struct Inputs<'a> {
    args: &'a E2eArgs,
    devices: usize,
    created_s: f64,
    linked_s: f64,
    load: loadgen::LoadResult,
    log: AcceptLog,
    receiver: &'a Receiver,
    start: Instant,
    send_done: Instant,
    drain_end: Instant,
    kirim_gone: bool,
    hwm: Option<u64>,
    max_rss: u64,
    cpu_before: CpuSnapshot,
    cpu_after: CpuSnapshot,
    samples: Vec<Sample>,
}

mod drive;
mod report;

use drive::*;
use report::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_read_by_name_and_label() {
        let text = "# TYPE kirim_send_attempts counter\n\
            kirim_send_attempts_total{outcome=\"sent\"} 120\n\
            kirim_send_attempts_total{outcome=\"retry\"} 3\n\
            kirim_send_attempts_total_extra 9\n\
            kirim_messages_accepted_total 150\n\
            kirim_queue_depth{status=\"pending\"} 30\n";
        assert_eq!(metric(text, "kirim_send_attempts_total", Some(("outcome", "sent"))), Some(120.0));
        assert_eq!(metric(text, "kirim_send_attempts_total", None), Some(123.0));
        assert_eq!(metric(text, "kirim_messages_accepted_total", None), Some(150.0));
        assert_eq!(metric(text, "kirim_queue_depth", Some(("status", "sending"))), None);
        assert_eq!(metric(text, "kirim_devices", None), None);
    }

    #[test]
    fn bodies_go_round_robin_over_the_devices_to_valid_numbers() {
        let devices: Vec<String> = (0..7).map(|i| format!("dev_{i}")).collect();
        let bodies = bodies(&devices);
        assert_eq!(bodies.len() % devices.len(), 0);
        let mut recipients = HashSet::new();
        for n in 0..100u64 {
            let body: Value = serde_json::from_slice(&bodies[(n % bodies.len() as u64) as usize]).unwrap();
            assert_eq!(body["device_id"], format!("dev_{}", n % 7));
            let to = body["to"].as_str().unwrap();
            assert!(to.starts_with("+60123") && to.len() == 12, "{to}");
            recipients.insert(to.to_string());
            assert_eq!(body["type"], "text");
        }
        assert_eq!(recipients.len(), 100);
    }

    #[test]
    fn settings_must_be_kirim_variables() {
        assert_eq!(parse_setting("KIRIM_A=1"), Ok(("KIRIM_A".into(), "1".into())));
        assert_eq!(parse_setting("KIRIM_A=b=c"), Ok(("KIRIM_A".into(), "b=c".into())));
        assert!(parse_setting("PATH=/").is_err());
        assert!(parse_setting("KIRIM_A").is_err());
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(200000), "200,000");
        assert_eq!(group(1234567), "1,234,567");
    }
}
