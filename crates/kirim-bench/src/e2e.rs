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

async fn drive(kirim: &Kirim, receiver: &Receiver, admin: &str, args: &E2eArgs) -> anyhow::Result<E2eFigures> {
    let pid = kirim.pid().context("kirim has no process id")?;
    let api = &kirim.api;

    // Setup: a tenant, the devices, linked, and the webhook.
    let tenant = api.expect(Method::POST, "/v1/tenants", Some(admin), Some(json!({"name": "bench-e2e"})), StatusCode::CREATED).await?;
    let key = tenant.get("api_key").and_then(Value::as_str).context("no api_key in the created tenant")?.to_string();
    let began = Instant::now();
    let devices = create_devices(api, &key, args.devices).await?;
    let created_s = began.elapsed().as_secs_f64();
    eprintln!("created {} devices in {created_s:.1} s; linking them…", devices.len());
    let began = Instant::now();
    link_devices(api, &key, &devices).await?;
    let linked_s = began.elapsed().as_secs_f64();
    eprintln!("all {} devices connected in {linked_s:.1} s", devices.len());
    let hook = json!({"url": receiver.url(), "event_types": [receiver::EVENT_TYPE], "description": "kirim-bench e2e"});
    let hook = api
        .expect(Method::POST, "/v1/webhooks", Some(&key), Some(hook), StatusCode::CREATED)
        .await
        .context("registering the webhook (a loopback receiver needs KIRIM_OUTBOUND_ALLOW=127.0.0.1/32, which the bench sets)")?;
    let secret = hook.get("secret").and_then(Value::as_str).context("no secret in the created webhook")?;
    receiver.set_secret(secret)?;

    // The load: request n goes to device n mod D, to one of several thousand numbers.
    let bodies = Arc::new(bodies(&devices));
    let run = Arc::new(Run {
        accepts: Mutex::new(AcceptLog { ids: Vec::with_capacity(args.messages as usize), ..AcceptLog::default() }),
        samples: Mutex::new(Vec::new()),
        max_rss: Mutex::new(0),
        kirim_gone: AtomicBool::new(false),
    });
    let sample_every = args.sample_every;
    let on_success = {
        let run = run.clone();
        Arc::new(move |body: &[u8], at: tokio::time::Instant| {
            let at = at.into_std();
            let mut log = lock(&run.accepts);
            match serde_json::from_slice::<AcceptedBody<'_>>(body) {
                Ok(b) => {
                    log.ids.push(b.id.into());
                    if (log.ids.len() as u64 - 1).is_multiple_of(sample_every) {
                        let index = log.ids.len() - 1;
                        log.samples.push((index, at));
                    }
                }
                Err(e) => {
                    log.without_id += 1;
                    if log.first_without_id.is_none() {
                        log.first_without_id = Some(format!("{e}: {}", String::from_utf8_lossy(&body[..body.len().min(200)])));
                    }
                }
            }
            log.first.get_or_insert(at);
            log.last = Some(at);
        })
    };
    let spec = LoadSpec {
        addr: kirim.addr,
        path: "/v1/messages".into(),
        authorization: Some(format!("Bearer {key}")),
        body: {
            let bodies = bodies.clone();
            Arc::new(move |_conn, n| bodies[(n % bodies.len() as u64) as usize].clone())
        },
        connections: args.connections,
        warmup: Duration::ZERO,
        duration: args.max_send_time,
        grace: Duration::from_secs(30),
        max_requests: Some(args.messages),
        capture_ids: false,
        on_success: Some(on_success),
    };

    let start = Instant::now();
    let cpu_before = CpuSnapshot::take(pid);
    let memory_watch = tokio::spawn(watch_memory(pid, run.clone()));
    let sampler = tokio::spawn(sample(api.clone(), pid, start, run.clone(), receiver.counter()));
    eprintln!("sending {} messages…", args.messages);
    let load = loadgen::run(spec).await;
    let send_done = Instant::now();
    let load = match load {
        Ok(load) => load,
        Err(e) => {
            memory_watch.abort();
            sampler.abort();
            return Err(e.context("running the load"));
        }
    };
    let accepted = lock(&run.accepts).ids.len() as u64;
    eprintln!(
        "sending ended after {:.1} s: {accepted} accepted, {} errors; waiting up to {:?} for the webhooks…",
        send_done.duration_since(start).as_secs_f64(),
        load.errors(),
        args.drain_timeout
    );

    // Drain: until every accepted message has its webhook, Kirim exits, or the timeout.
    let deadline = send_done + args.drain_timeout;
    while Instant::now() < deadline {
        if receiver.distinct() >= accepted {
            break;
        }
        if run.kirim_gone.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain_end = Instant::now();
    let cpu_after = CpuSnapshot::take(pid);
    let hwm = procstat::memory(pid).map(|m| m.hwm);
    memory_watch.abort();
    sampler.abort();
    let kirim_gone = run.kirim_gone.load(Ordering::Relaxed) || procstat::exited(pid);

    let log = std::mem::take(&mut *lock(&run.accepts));
    let samples = std::mem::take(&mut *lock(&run.samples));
    let max_rss = *lock(&run.max_rss);
    Ok(figures(Inputs {
        args,
        devices: devices.len(),
        created_s,
        linked_s,
        load,
        log,
        receiver,
        start,
        send_done,
        drain_end,
        kirim_gone,
        hwm,
        max_rss,
        cpu_before,
        cpu_after,
        samples,
    }))
}

/// Creates `n` sandbox devices with pacing off, 16 at a time; their ids in order.
async fn create_devices(api: &Api, key: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let ids = for_each(n, 16, |i| {
        let (api, key) = (api.clone(), key.to_string());
        async move {
            let body = json!({"name": format!("bench-{i}"), "connector": "sandbox", "settings": {"pacing_ms": 0, "pacing_jitter_ms": 0}});
            let device = api.expect(Method::POST, "/v1/devices", Some(&key), Some(body), StatusCode::CREATED).await?;
            device.get("id").and_then(Value::as_str).map(String::from).with_context(|| format!("no id in the created device: {device}"))
        }
    })
    .await?;
    Ok(ids)
}

/// Starts linking every device and has the simulated phone scan it, 16 at a time, then
/// waits until all of them are connected.
async fn link_devices(api: &Api, key: &str, devices: &[String]) -> anyhow::Result<()> {
    for_each(devices.len(), 16, |i| {
        let (api, key, id) = (api.clone(), key.to_string(), devices[i].clone());
        async move {
            api.expect(Method::POST, &format!("/v1/devices/{id}/connect"), Some(&key), Some(json!({})), StatusCode::ACCEPTED).await?;
            api.expect(Method::POST, &format!("/v1/sandbox/devices/{id}/scan"), Some(&key), Some(json!({})), StatusCode::OK).await?;
            Ok(())
        }
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30) + Duration::from_millis(20 * devices.len() as u64);
    loop {
        let list = api.expect(Method::GET, "/v1/devices", Some(key), None, StatusCode::OK).await?;
        let all = list.get("data").and_then(Value::as_array).context("no data array in GET /v1/devices")?;
        let wanted: HashSet<&str> = devices.iter().map(String::as_str).collect();
        let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
        for d in all.iter().filter(|d| d.get("id").and_then(Value::as_str).is_some_and(|id| wanted.contains(id))) {
            *statuses.entry(d.get("status").and_then(Value::as_str).unwrap_or("?").to_string()).or_default() += 1;
        }
        if statuses.get("connected").copied().unwrap_or(0) == devices.len() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("not every device became connected after the scans: {statuses:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs `task(i)` for i in 0..n with at most `parallel` at once; the results in order.
async fn for_each<T, F, Fut>(n: usize, parallel: usize, task: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < n || !running.is_empty() {
        while next < n && running.len() < parallel {
            let fut = task(next);
            let i = next;
            running.spawn(async move { (i, fut.await) });
            next += 1;
        }
        if let Some(done) = running.join_next().await {
            let (i, result) = done.context("a setup task panicked")?;
            results[i] = Some(result?);
        }
    }
    results.into_iter().map(|r| r.context("a setup task did not finish")).collect()
}

/// The request bodies: body j is sent from device j mod D to number j, so request n (which
/// uses body n mod len, a multiple of D) goes round-robin over the devices.
fn bodies(devices: &[String]) -> Vec<Bytes> {
    let per_device = 4096usize.div_ceil(devices.len()).max(1);
    let len = devices.len() * per_device;
    (0..len)
        .map(|j| {
            // +60 12-3xx xxxx: valid Malaysian mobile numbers, none of them a sandbox device's
            // own (those are generated as +6011…) nor "not on WhatsApp" (+6019999…).
            let body = json!({
                "device_id": devices[j % devices.len()],
                "to": format!("+60123{:06}", j % 1_000_000),
                "type": "text",
                "text": {"body": format!("Your booking #{} is confirmed. See you at 10:{:02}.", 10_000 + j, j % 60)},
            });
            Bytes::from(body.to_string())
        })
        .collect()
}

/// Every 250 ms: Kirim's VmRSS (the maximum is kept) and whether it is still running.
async fn watch_memory(pid: u32, run: Arc<Run>) {
    loop {
        match procstat::memory(pid) {
            Some(m) => {
                let mut max = lock(&run.max_rss);
                *max = (*max).max(m.rss);
            }
            None if procstat::exited(pid) => {
                run.kirim_gone.store(true, Ordering::Relaxed);
                return;
            }
            None => {}
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every second: what Kirim's metrics say, what the bench counted, Kirim's memory and CPU;
/// a progress line on stderr every 5 s.
async fn sample(api: Api, pid: u32, start: Instant, run: Arc<Run>, received: impl Fn() -> u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let pid_s = pid.to_string();
    let mut last_cpu: Option<(Instant, f64)> = None;
    let mut n = 0u64;
    loop {
        tick.tick().await;
        let metrics = match api.get_text("/metrics").await {
            Ok((StatusCode::OK, text)) => Some(text),
            _ => None,
        };
        let m = |name: &str, label: Option<(&str, &str)>| metrics.as_deref().and_then(|t| metric(t, name, label)).map(|v| v as u64);
        let now = Instant::now();
        let cpu = procstat::cpu_seconds(&pid_s);
        let kirim_cores = match (last_cpu, cpu) {
            (Some((at, before)), Some(c)) if now > at => Some((c - before) / now.duration_since(at).as_secs_f64()),
            _ => None,
        };
        if let Some(c) = cpu {
            last_cpu = Some((now, c));
        }
        let unsuccessful = match (
            m("kirim_webhook_attempts_total", Some(("outcome", "retry"))),
            m("kirim_webhook_attempts_total", Some(("outcome", "failed"))),
        ) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        let s = Sample {
            t_s: now.duration_since(start).as_secs_f64(),
            accepted: lock(&run.accepts).ids.len() as u64,
            sent: m("kirim_send_attempts_total", Some(("outcome", "sent"))),
            webhook_succeeded: m("kirim_webhook_attempts_total", Some(("outcome", "succeeded"))),
            webhook_unsuccessful: unsuccessful,
            received: received(),
            pending: m("kirim_queue_depth", Some(("status", "pending"))),
            rss_mib: procstat::memory(pid).map(|m| m.rss as f64 / MIB),
            kirim_cores,
        };
        n += 1;
        if n.is_multiple_of(5) {
            let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
            eprintln!(
                "  {:>5.0}s accepted {:>7} | sent {:>7} | webhooks received {:>7} | pending {:>7} | rss {:>4} MiB | kirim {} cores",
                s.t_s,
                s.accepted,
                opt(s.sent),
                s.received,
                opt(s.pending),
                s.rss_mib.map_or("?".into(), |v| format!("{v:.0}")),
                s.kirim_cores.map_or("?".into(), |v| format!("{v:.2}")),
            );
        }
        lock(&run.samples).push(s);
    }
}

/// The sum of a metric's samples whose labels include `label` (all of them without one).
fn metric(text: &str, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (labels, value) = if let Some(inner) = rest.strip_prefix('{') {
            let Some((labels, value)) = inner.split_once('}') else { continue };
            (labels, value)
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            continue; // another metric whose name starts with this one
        };
        if let Some((k, v)) = label
            && !labels.split(',').any(|pair| pair.trim() == format!("{k}=\"{v}\""))
        {
            continue;
        }
        if let Some(v) = value.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()) {
            *found.get_or_insert(0.0) += v;
        }
    }
    found
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

#[derive(Serialize)]
pub struct AcceptFigures {
    /// 202s with an id.
    pub accepted: u64,
    pub distinct_ids: u64,
    /// From the first 202 to the last.
    pub window_s: f64,
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub non_2xx: u64,
    pub transport_errors: u64,
    pub without_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

#[derive(Serialize)]
pub struct WebhookFigures {
    /// Requests the receiver got.
    pub requests: u64,
    /// Accepted messages whose `message.delivered` webhook arrived.
    pub delivered: u64,
    /// Deliveries repeating a `webhook-id` already received (at least once).
    pub redeliveries: u64,
    /// Deliveries of a second, different event for a message already received.
    pub second_events: u64,
    /// Received messages the bench never got a 202 for.
    pub unknown_messages: u64,
    pub other_types: u64,
    pub unreadable: u64,
    /// Accepted messages without a webhook when the run ended.
    pub missing: u64,
    pub missing_examples: Vec<String>,
    pub signatures_checked: u64,
    pub signatures_bad: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_problem: Option<String>,
}

#[derive(Serialize)]
pub struct LatencyFigures {
    pub sampled_every: u64,
    pub samples: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Serialize)]
pub struct ThreadFigures {
    pub name: String,
    pub tid: u32,
    pub cpu_s: f64,
    pub cores: f64,
    pub context_switches: u64,
}

#[derive(Serialize)]
pub struct ResourceFigures {
    /// VmHWM at the end: the most Kirim was resident at any time.
    pub kirim_peak_rss_bytes: Option<u64>,
    /// The largest VmRSS seen, sampled every 250 ms.
    pub kirim_max_sampled_rss_bytes: u64,
    /// Kirim's CPU from the first request to the end of the drain, in cores on average.
    pub kirim_cores: Option<f64>,
    /// The bench's own (load generator, receiver, sampling), in cores on average.
    pub bench_cores: Option<f64>,
    /// Kirim's threads, busiest first (the SQLite writer is one `sqlx-sqlite-worker`).
    pub kirim_threads: Vec<ThreadFigures>,
    /// Context switches of all Kirim's threads per delivered message.
    pub kirim_context_switches_per_message: Option<f64>,
}

#[derive(Serialize)]
pub struct E2eFigures {
    pub devices: usize,
    pub setup_create_s: f64,
    pub setup_link_s: f64,
    pub accept: AcceptFigures,
    /// From the first 202 to the last message's webhook (or the end of the drain).
    pub e2e_window_s: f64,
    /// Delivered (webhook received) messages per second over `e2e_window_s`.
    pub e2e_rate: f64,
    /// The rate between the 10 % and the 90 % arrival (steady state, without ramp-up and tail).
    pub steady_rate_10_90: Option<f64>,
    /// Messages whose webhook had arrived when the last 202 was read.
    pub delivered_when_sending_ended: u64,
    /// From the last 202 to the last webhook.
    pub drain_s: f64,
    /// Every accepted message got its webhook before the drain timeout.
    pub complete: bool,
    pub kirim_exited_during_run: bool,
    pub webhooks: WebhookFigures,
    pub latency: LatencyFigures,
    pub resources: ResourceFigures,
    /// About every second from the first request on.
    pub timeline: Vec<Sample>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kirim_stderr_tail: Option<String>,
}

fn figures(i: Inputs<'_>) -> E2eFigures {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let log = &i.log;
    let first = log.first.unwrap_or(i.start);
    let last_accept = log.last.unwrap_or(i.send_done);
    let accepted = log.ids.len() as u64;
    let distinct_ids: HashSet<&str> = log.ids.iter().map(|id| &**id).collect();
    let accept_window = last_accept.duration_since(first).as_secs_f64();
    let accept = AcceptFigures {
        accepted,
        distinct_ids: distinct_ids.len() as u64,
        window_s: accept_window,
        rate: if accept_window > 0.0 { accepted as f64 / accept_window } else { 0.0 },
        p50_ms: i.load.latency.percentile(50.0) as f64 / 1000.0,
        p99_ms: i.load.latency.percentile(99.0) as f64 / 1000.0,
        max_ms: i.load.latency.max() as f64 / 1000.0,
        errors: i.load.errors(),
        non_2xx: i.load.non_2xx_total(),
        transport_errors: i.load.transport_errors,
        without_id: log.without_id,
        first_error: i.load.first_error.clone().or(log.first_without_id.clone()),
    };

    // Arrival times of the accepted messages' webhooks.
    let arrivals_by_id = i.receiver.first_arrivals(log.ids.iter().map(|id| &**id));
    let mut arrivals: Vec<Instant> = arrivals_by_id.iter().flatten().copied().collect();
    arrivals.sort();
    let delivered = arrivals.len() as u64;
    let missing_examples: Vec<String> =
        log.ids.iter().zip(&arrivals_by_id).filter(|(_, at)| at.is_none()).take(5).map(|(id, _)| id.to_string()).collect();
    let missing = distinct_ids.len() as u64 - delivered.min(distinct_ids.len() as u64);
    let complete = missing == 0 && accepted > 0;
    let end = if complete { arrivals.last().copied().unwrap_or(i.drain_end) } else { i.drain_end };
    let e2e_window = end.saturating_duration_since(first).as_secs_f64();
    let steady = if arrivals.len() >= 10 {
        let (a, b) = (arrivals.len() / 10, arrivals.len() * 9 / 10);
        let span = arrivals[b].duration_since(arrivals[a]).as_secs_f64();
        (span > 0.0).then(|| (b - a) as f64 / span)
    } else {
        None
    };
    let delivered_when_sending_ended = arrivals.partition_point(|at| *at <= last_accept) as u64;
    let drain = arrivals.last().map_or(0.0, |at| at.saturating_duration_since(last_accept).as_secs_f64());

    let counts = i.receiver.counts();
    let webhooks = WebhookFigures {
        requests: counts.requests,
        delivered,
        redeliveries: counts.redeliveries,
        second_events: counts.second_events,
        unknown_messages: i.receiver.unknown_ids(&distinct_ids),
        other_types: counts.other_types,
        unreadable: counts.unreadable,
        missing,
        missing_examples,
        signatures_checked: counts.signatures_checked,
        signatures_bad: counts.signatures_bad,
        first_problem: counts.first_problem,
    };

    let mut histogram = Histogram::new();
    for (index, accepted_at) in &log.samples {
        if let Some(Some(arrived)) = arrivals_by_id.get(*index) {
            histogram.record(arrived.saturating_duration_since(*accepted_at).as_micros() as u64);
        }
    }
    let latency = LatencyFigures {
        sampled_every: i.args.sample_every,
        samples: histogram.count(),
        p50_ms: histogram.percentile(50.0) as f64 / 1000.0,
        p90_ms: histogram.percentile(90.0) as f64 / 1000.0,
        p99_ms: histogram.percentile(99.0) as f64 / 1000.0,
        max_ms: ms(Duration::from_micros(histogram.max())),
    };

    let elapsed = i.drain_end.duration_since(i.start).as_secs_f64();
    let cores = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(b), Some(a)) if elapsed > 0.0 => Some((a - b) / elapsed),
        _ => None,
    };
    let mut kirim_threads: Vec<ThreadFigures> = i
        .cpu_after
        .threads
        .iter()
        .map(|(tid, after)| {
            let before = i.cpu_before.threads.get(tid).cloned().unwrap_or_default();
            let cpu_s = (after.cpu_s - before.cpu_s).max(0.0);
            ThreadFigures {
                name: after.name.clone(),
                tid: *tid,
                cpu_s,
                cores: if elapsed > 0.0 { cpu_s / elapsed } else { 0.0 },
                context_switches: after.switches.saturating_sub(before.switches),
            }
        })
        .collect();
    kirim_threads.sort_by(|a, b| b.cpu_s.total_cmp(&a.cpu_s));
    let switches: u64 = kirim_threads.iter().map(|t| t.context_switches).sum();
    kirim_threads.retain(|t| t.cpu_s >= 0.01);
    let resources = ResourceFigures {
        kirim_peak_rss_bytes: i.hwm,
        kirim_max_sampled_rss_bytes: i.max_rss,
        kirim_cores: cores(i.cpu_before.kirim, i.cpu_after.kirim),
        bench_cores: cores(i.cpu_before.bench, i.cpu_after.bench),
        kirim_threads,
        kirim_context_switches_per_message: (delivered > 0).then(|| switches as f64 / delivered as f64),
    };
    E2eFigures {
        devices: i.devices,
        setup_create_s: i.created_s,
        setup_link_s: i.linked_s,
        accept,
        e2e_window_s: e2e_window,
        e2e_rate: if e2e_window > 0.0 { delivered as f64 / e2e_window } else { 0.0 },
        steady_rate_10_90: steady,
        delivered_when_sending_ended,
        drain_s: drain,
        complete,
        kirim_exited_during_run: i.kirim_gone,
        webhooks,
        latency,
        resources,
        timeline: i.samples,
        kirim_stderr_tail: None,
    }
}

// ---------------------------------------------------------------------------------------
// The report

#[derive(Serialize)]
pub struct Ceilings {
    pub noop: Figures,
    pub insert: Figures,
}

#[derive(Serialize)]
pub struct E2eParameters {
    pub devices: usize,
    pub messages: u64,
    pub connections: usize,
    pub drain_timeout_s: f64,
    pub ceiling_duration_s: f64,
    pub ceiling_warmup_s: f64,
    pub kirim_bin: String,
    /// The Kirim settings of the run on top of the bench's own (pacing off, warnings only).
    pub kirim_settings: Vec<String>,
    pub verify_every: u64,
}

#[derive(Serialize)]
pub struct E2eRatios {
    /// End-to-end messages/s over the durable-insert ceiling's requests/s.
    pub e2e_over_insert: Option<f64>,
    /// End-to-end messages/s over the no-op ceiling's requests/s.
    pub e2e_over_noop: Option<f64>,
    /// The accept rate during the run over the durable-insert ceiling.
    pub accept_over_insert: Option<f64>,
    pub meaning: &'static str,
}

#[derive(Serialize)]
pub struct E2eVerdict {
    /// None when the run was smaller than the requirement's scale.
    pub pass: Option<bool>,
    pub target_rate: f64,
    pub target_messages: u64,
    pub target_devices: usize,
    pub target_rss_bytes: u64,
    pub findings: Vec<String>,
}

#[derive(Serialize)]
pub struct E2eReport {
    pub machine: Machine,
    pub parameters: E2eParameters,
    pub ceilings: Option<Ceilings>,
    pub e2e: E2eFigures,
    pub ratios: E2eRatios,
    pub verdict: E2eVerdict,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

impl E2eReport {
    fn new(
        machine: Machine,
        args: &E2eArgs,
        bin: &Path,
        settings: Vec<(String, String)>,
        ceilings: Option<Ceilings>,
        e2e: E2eFigures,
    ) -> Self {
        let parameters = E2eParameters {
            devices: args.devices,
            messages: args.messages,
            connections: args.connections,
            drain_timeout_s: args.drain_timeout.as_secs_f64(),
            ceiling_duration_s: args.ceiling_duration.as_secs_f64(),
            ceiling_warmup_s: args.ceiling_warmup.as_secs_f64(),
            kirim_bin: bin.display().to_string(),
            kirim_settings: settings.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            verify_every: args.verify_every,
        };
        let ratios = E2eRatios {
            e2e_over_insert: ceilings.as_ref().map(|c| ratio(e2e.e2e_rate, c.insert.rps)),
            e2e_over_noop: ceilings.as_ref().map(|c| ratio(e2e.e2e_rate, c.noop.rps)),
            accept_over_insert: ceilings.as_ref().map(|c| ratio(e2e.accept.rate, c.insert.rps)),
            meaning: RATIO_MEANING,
        };
        let verdict = verdict(args, &e2e);
        Self { machine, parameters, ceilings, e2e, ratios, verdict }
    }

    fn print_table(&self) {
        let m = &self.machine;
        let p = &self.parameters;
        let e = &self.e2e;
        println!();
        println!(
            "machine: {} cores, {} memory, {}",
            m.cores,
            m.memory_total_bytes.map_or("?".into(), |b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)),
            m.cpu_model.as_deref().unwrap_or("unknown CPU")
        );
        println!("note: the load generator and the webhook receiver (this process) and Kirim (a child process) share these cores");
        println!(
            "run: {} messages round-robin over {} sandbox devices, {} keep-alive connections in a closed loop, pacing off",
            p.messages, p.devices, p.connections
        );
        println!("kirim settings: {}", p.kirim_settings.join(" "));
        println!("webhook: one endpoint for message.delivered on a receiver in the bench (answers 204 at once)");
        if let Some(c) = &self.ceilings {
            println!();
            println!(
                "ceilings (same load generator, {} connections, {:.0} s after {:.0} s warm-up):",
                p.connections, p.ceiling_duration_s, p.ceiling_warmup_s
            );
            println!("{:<16} {:>11} {:>9} {:>9} {:>9} {:>8}", "target", "requests/s", "p50", "p99", "max", "errors");
            for f in [&c.noop, &c.insert] {
                println!(
                    "{:<16} {:>11.0} {:>9} {:>9} {:>9} {:>8}",
                    f.name,
                    f.rps,
                    fmt_ms(f.p50_ms),
                    fmt_ms(f.p99_ms),
                    fmt_ms(f.max_ms),
                    f.errors
                );
            }
        }
        println!();
        println!("setup: {} devices created in {:.1} s, linked and connected in {:.1} s", e.devices, e.setup_create_s, e.setup_link_s);
        let a = &e.accept;
        println!(
            "accepted:          {} (202) in {:.1} s = {:.0}/s, p50 {}, p99 {}, max {}; {} errors",
            group(a.accepted),
            a.window_s,
            a.rate,
            fmt_ms(a.p50_ms),
            fmt_ms(a.p99_ms),
            fmt_ms(a.max_ms),
            a.errors
        );
        if let Some(err) = &a.first_error {
            println!("  errors: {} non-2xx, {} transport, {} without id; first: {err}", a.non_2xx, a.transport_errors, a.without_id);
        }
        let w = &e.webhooks;
        println!(
            "webhooks:          {} of {} accepted messages delivered; {} missing, {} redelivered (same webhook-id), {} second events, {} unknown",
            group(w.delivered),
            group(a.distinct_ids),
            w.missing,
            w.redeliveries,
            w.second_events,
            w.unknown_messages
        );
        if !w.missing_examples.is_empty() {
            println!("  missing e.g. {}", w.missing_examples.join(", "));
        }
        if w.other_types + w.unreadable > 0 {
            println!("  {} deliveries of other types, {} unreadable", w.other_types, w.unreadable);
        }
        if let Some(problem) = &w.first_problem {
            println!("  first problem: {problem}");
        }
        println!(
            "end to end:        first 202 → {} webhook: {:.1} s = {:.0} messages/s{}",
            if e.complete { "last".to_string() } else { "end of drain, incomplete,".to_string() },
            e.e2e_window_s,
            e.e2e_rate,
            if e.complete { "" } else { " (counting only the webhooks that arrived)" }
        );
        if let Some(steady) = e.steady_rate_10_90 {
            println!("steady (10–90 %):  {steady:.0} messages/s");
        }
        println!(
            "when sending ended {} ({:.0} %) had their webhook; the last webhook came {:.1} s after the last 202",
            group(e.delivered_when_sending_ended),
            100.0 * ratio(e.delivered_when_sending_ended as f64, a.distinct_ids as f64),
            e.drain_s
        );
        let l = &e.latency;
        println!(
            "202 → webhook:     p50 {}, p90 {}, p99 {}, max {} (every {}th message, {} samples)",
            fmt_ms(l.p50_ms),
            fmt_ms(l.p90_ms),
            fmt_ms(l.p99_ms),
            fmt_ms(l.max_ms),
            l.sampled_every,
            l.samples
        );
        println!(
            "signatures:        {} verified, {} bad (every {}th request)",
            w.signatures_checked - w.signatures_bad,
            w.signatures_bad,
            p.verify_every
        );
        let r = &e.resources;
        println!(
            "kirim memory:      peak RSS (VmHWM) {}, max sampled VmRSS {}",
            r.kirim_peak_rss_bytes.map_or("?".into(), mb),
            mb(r.kirim_max_sampled_rss_bytes)
        );
        println!(
            "cpu (run average): kirim {} cores, bench {} cores",
            r.kirim_cores.map_or("?".into(), |c| format!("{c:.2}")),
            r.bench_cores.map_or("?".into(), |c| format!("{c:.2}"))
        );
        let threads: Vec<String> = r.kirim_threads.iter().take(6).map(|t| format!("{} {:.2}", t.name, t.cores)).collect();
        println!("kirim threads:     {} (cores, busiest first)", threads.join(", "));
        if let Some(per) = r.kirim_context_switches_per_message {
            // The busiest SQLite connection thread is the single writer's.
            let writer = r.kirim_threads.iter().find(|t| t.name.starts_with("sqlx-sqlite"));
            println!(
                "context switches:  {per:.1} per message in kirim{}",
                writer.map_or(String::new(), |w| format!(
                    ", {:.1} of them on the SQLite writer's thread ({:.2} cores busy)",
                    ratio(w.context_switches as f64, e.webhooks.delivered as f64),
                    w.cores
                ))
            );
        }
        if e.kirim_exited_during_run {
            println!("KIRIM EXITED during the run");
        }
        if !e.timeline.is_empty() {
            println!();
            println!("timeline (kirim's /metrics and the bench's counts):");
            println!(
                "{:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>6}",
                "t", "accepted", "sent", "webhooks", "received", "pending", "rss MiB", "cores"
            );
            let stride = e.timeline.len().div_ceil(24).max(1);
            let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
            let last = e.timeline.len() - 1;
            for (n, s) in e.timeline.iter().enumerate().filter(|(n, _)| n % stride == 0 || *n == last) {
                let _ = n;
                println!(
                    "{:>5.0}s {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>6}",
                    s.t_s,
                    s.accepted,
                    opt(s.sent),
                    opt(s.webhook_succeeded),
                    s.received,
                    opt(s.pending),
                    s.rss_mib.map_or("?".into(), |v| format!("{v:.0}")),
                    s.kirim_cores.map_or("?".into(), |v| format!("{v:.2}"))
                );
            }
        }
        println!();
        if let (Some(i), Some(n)) = (self.ratios.e2e_over_insert, self.ratios.e2e_over_noop) {
            println!("end to end / insert ceiling: {i:.2}");
            println!("end to end / noop ceiling:   {n:.2}");
            if let Some(acc) = self.ratios.accept_over_insert {
                println!("accept during the run / insert ceiling: {acc:.2}");
            }
            println!("ratio: {}", self.ratios.meaning);
        } else {
            println!("ratios: not computed (--skip-ceilings)");
        }
        let v = &self.verdict;
        let head = match v.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "not evaluated (smaller than the requirement's run)",
        };
        println!(
            "verdict: {head} (target: ≥ {:.0} messages/s end to end over ≥ {} messages on ≥ {} devices, kirim peak RSS ≤ {} MB)",
            v.target_rate,
            group(v.target_messages),
            group(v.target_devices as u64),
            v.target_rss_bytes / 1_000_000
        );
        for f in &v.findings {
            println!("  - {f}");
        }
        if let Some(stderr) = &e.kirim_stderr_tail {
            println!();
            println!("kirim's stderr (end):");
            println!("{stderr}");
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB ({:.0} MiB)", bytes as f64 / 1e6, bytes as f64 / MIB)
}

/// 200000 → "200,000".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn verdict(args: &E2eArgs, e: &E2eFigures) -> E2eVerdict {
    let mut findings = Vec::new();
    let rate_ok = e.e2e_rate >= TARGET_RATE;
    findings.push(format!(
        "end-to-end rate {:.0} messages/s over {} messages: {}",
        e.e2e_rate,
        group(e.webhooks.delivered),
        if rate_ok { "ok" } else { "below target" }
    ));
    let peak = e.resources.kirim_peak_rss_bytes.unwrap_or(e.resources.kirim_max_sampled_rss_bytes);
    let rss_ok = peak <= TARGET_RSS_BYTES;
    findings.push(format!("kirim peak RSS {}: {}", mb(peak), if rss_ok { "ok" } else { "above target" }));
    if args.read_after_ms as f64 / 1000.0 > e.e2e_window_s {
        findings.push(format!(
            "no read receipt was due during the run (--read-after-ms {}): the sandbox network inside Kirim holds a small \
             queue entry per delivered message until then, which counts in Kirim's RSS; --read-after-ms 0 measures without \
             them (but with a read receipt written per message)",
            args.read_after_ms
        ));
    }
    let complete_ok = e.complete && e.webhooks.missing == 0;
    if !complete_ok {
        findings.push(format!("{} accepted messages had no webhook after the drain timeout", e.webhooks.missing));
    }
    let errors_ok = e.accept.errors == 0 && e.accept.without_id == 0;
    if !errors_ok {
        findings.push(format!("{} send errors", e.accept.errors + e.accept.without_id));
    }
    let signatures_ok = e.webhooks.signatures_bad == 0;
    if !signatures_ok {
        findings.push(format!("{} webhook signatures did not verify", e.webhooks.signatures_bad));
    }
    if e.webhooks.redeliveries + e.webhooks.second_events > 0 {
        findings.push(format!(
            "{} redeliveries and {} second events (at least once: allowed, but counted)",
            e.webhooks.redeliveries, e.webhooks.second_events
        ));
    }
    let full_scale = args.messages >= TARGET_MESSAGES && args.devices >= TARGET_DEVICES && e.accept.accepted >= TARGET_MESSAGES;
    if !full_scale {
        findings.push(format!(
            "this run ({} messages, {} devices) is smaller than the requirement's ({} messages, {} devices)",
            group(e.accept.accepted),
            group(args.devices as u64),
            group(TARGET_MESSAGES),
            group(TARGET_DEVICES as u64)
        ));
    }
    let pass = full_scale.then_some(rate_ok && rss_ok && complete_ok && errors_ok && signatures_ok && !e.kirim_exited_during_run);
    E2eVerdict {
        pass,
        target_rate: TARGET_RATE,
        target_messages: TARGET_MESSAGES,
        target_devices: TARGET_DEVICES,
        target_rss_bytes: TARGET_RSS_BYTES,
        findings,
    }
}

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
