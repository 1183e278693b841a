//! `kirim-bench wa`: the WhatsApp Web connector against the in-process fake WhatsApp server.
//!
//! * Memory per connected idle session: this process's resident memory before and after
//!   `--sessions` sessions are connected and idle, divided by their number, next to the
//!   issue's 5 MB target and this process's idle memory.
//! * Start-up with `--devices` linked devices in a SQLite store: a fresh process opens the
//!   store and starts every session (as `kirim serve` does at boot) until all are connected;
//!   measured from spawning that process to its report. Its floor, measured the same way, is
//!   a process that only opens the store and lists its devices.
//!
//! One device is linked for real and its session copied to the others (see
//! `kirim_wa::bench`). The fake server runs in the measured process, so its side of each
//! connection is counted too: the figures are upper bounds for the connector.
//!
//! Built only with the `wa` feature: it needs the fake server, whose certificate chain is
//! zero-signed, and that build of whatsapp-rust must never end up in a `kirim` binary built in
//! the same cargo invocation (features are unified per build).

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use kirim_core::session::SessionStore;
use kirim_core::store::{DeviceStore as _, Store};
use kirim_store_sqlite::{SqliteConfig, SqliteStore};
use kirim_wa::bench;
use kirim_wa::fake::FakeServer;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;

/// The target for one connected idle session.
const TARGET_BYTES_PER_SESSION: f64 = 5.0 * 1024.0 * 1024.0;
/// How long connected sessions are left alone before memory is read (their post-login work
/// — app-state sync requests, pre-key checks — is over by then).
const SETTLE: Duration = Duration::from_secs(5);
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Args)]
pub struct WaArgs {
    /// Connected idle sessions for the memory figure.
    #[arg(long, default_value_t = 200)]
    pub sessions: usize,
    /// Linked devices in the store for the start-up figure.
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// How long all sessions may take to connect.
    #[arg(long, default_value = "300s", value_parser = crate::parse_duration)]
    pub timeout: Duration,
    /// Print one JSON object instead of the table (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// The hidden child process of the start-up figure.
#[derive(Args)]
pub struct ChildArgs {
    #[arg(long)]
    pub db: PathBuf,
    /// `floor`: only read every stored session; `start`: start them all until connected;
    /// `memory`: the same, reading this process's memory before and after.
    #[arg(long)]
    pub mode: String,
    #[arg(long, value_parser = crate::parse_duration)]
    pub timeout: Duration,
}

#[derive(Serialize, Deserialize)]
struct ChildReport {
    devices: usize,
    /// Sessions connected (0 for the floor).
    connected: usize,
    /// From the child's `main` to the report, as the child measured it.
    inside_ms: f64,
    /// Resident memory with the store open and the connector built, before any session.
    rss_idle: u64,
    /// Resident memory once every session is connected and left idle for a while.
    rss_connected: u64,
    /// From the first start to every session connected.
    connect_ms: f64,
}

#[derive(Serialize)]
struct Memory {
    sessions: usize,
    idle_process_bytes: u64,
    connected_process_bytes: u64,
    bytes_per_session: f64,
    target_bytes_per_session: f64,
    /// `bytes_per_session / target` (≤ 1 meets the target).
    share_of_target: f64,
    /// `bytes_per_session / idle_process_bytes`: one session against the process it runs in.
    share_of_idle_process: f64,
    connect_seconds: f64,
}

#[derive(Serialize)]
struct Startup {
    devices: usize,
    /// What is timed: spawning a process until it reports every session connected.
    measured: &'static str,
    seconds: f64,
    floor_seconds: f64,
    session_bytes_in_store: u64,
    /// `seconds / floor_seconds`.
    ratio_to_floor: f64,
}

#[derive(Serialize)]
struct WaReport {
    machine: crate::report::Machine,
    memory: Memory,
    startup: Startup,
    note: &'static str,
}

async fn open(db: &std::path::Path) -> anyhow::Result<Arc<SqliteStore>> {
    Ok(Arc::new(SqliteStore::open(SqliteConfig::new(db)).await.with_context(|| format!("opening {}", db.display()))?))
}

/// Creates `count` linked devices in a new store at `db` (see `kirim_wa::bench`).
/// Returns the bytes of session state stored.
async fn prepare(db: &std::path::Path, count: usize) -> anyhow::Result<u64> {
    let store = open(db).await?;
    eprintln!("wa: linking one device and copying its session to {count} devices in {} …", db.display());
    let devices = bench::linked_devices(store.clone() as Arc<dyn Store>, &FakeServer::new(), count).await?;
    let (_, bytes) = bench::read_all(&*(store.clone() as Arc<dyn SessionStore>), &devices).await?;
    store.close().await;
    Ok(bytes)
}

async fn memory(args: &WaArgs, dir: &std::path::Path) -> anyhow::Result<Memory> {
    let db = dir.join("memory.db");
    prepare(&db, args.sessions).await?;
    eprintln!("wa: memory of {} connected idle sessions (a fresh process) …", args.sessions);
    let (r, _) = child(&db, "memory", args.timeout).await?;
    if r.connected != args.sessions {
        bail!("{} of {} sessions connected", r.connected, args.sessions);
    }
    let per = r.rss_connected.saturating_sub(r.rss_idle) as f64 / r.connected as f64;
    Ok(Memory {
        sessions: r.connected,
        idle_process_bytes: r.rss_idle,
        connected_process_bytes: r.rss_connected,
        bytes_per_session: per,
        target_bytes_per_session: TARGET_BYTES_PER_SESSION,
        share_of_target: per / TARGET_BYTES_PER_SESSION,
        share_of_idle_process: per / r.rss_idle.max(1) as f64,
        connect_seconds: r.connect_ms / 1000.0,
    })
}

/// Runs this executable as the start-up child; returns its report and the wall time from
/// spawning it to its report.
async fn child(db: &std::path::Path, mode: &str, timeout: Duration) -> anyhow::Result<(ChildReport, Duration)> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut command = tokio::process::Command::new(exe);
    command.arg("wa-child").arg("--db").arg(db).arg("--mode").arg(mode).arg("--timeout").arg(format!("{}s", timeout.as_secs()));
    let spawned = Instant::now();
    let mut process = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true).spawn()?;
    let stdout = process.stdout.take().context("the child's output")?;
    let line = tokio::io::BufReader::new(stdout).lines().next_line().await?.context("the child reported nothing")?;
    let took = spawned.elapsed();
    let _ = process.wait().await;
    Ok((serde_json::from_str(&line).with_context(|| format!("the child's report: {line}"))?, took))
}

async fn startup(args: &WaArgs, dir: &std::path::Path) -> anyhow::Result<Startup> {
    let db = dir.join("startup.db");
    let bytes = prepare(&db, args.devices).await?;
    eprintln!("wa: floor (a process that opens the store and lists its devices) …");
    let (_, floor_took) = child(&db, "floor", args.timeout).await?;
    eprintln!("wa: start-up (a process that starts every session until all are connected) …");
    let (started, took) = child(&db, "start", args.timeout).await?;
    if started.connected != args.devices {
        bail!("{} of {} sessions connected", started.connected, args.devices);
    }
    Ok(Startup {
        devices: started.devices,
        measured: "from spawning a process to its report that every session is connected (store opened, sessions started as at boot)",
        seconds: took.as_secs_f64(),
        floor_seconds: floor_took.as_secs_f64(),
        session_bytes_in_store: bytes,
        ratio_to_floor: took.as_secs_f64() / floor_took.as_secs_f64().max(f64::EPSILON),
    })
}

pub async fn run(args: WaArgs) -> anyhow::Result<ExitCode> {
    if args.sessions == 0 || args.devices == 0 {
        bail!("--sessions and --devices must be at least 1");
    }
    let dir = tempfile::tempdir()?;
    let memory = memory(&args, dir.path()).await?;
    let startup = startup(&args, dir.path()).await?;
    let report = WaReport {
        machine: crate::report::Machine::detect(),
        memory,
        startup,
        note: "the fake WhatsApp server runs in the measured process: its side of each connection is included",
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(if report.memory.share_of_target <= 1.0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

fn print_table(r: &WaReport) {
    let m = &r.memory;
    println!("WhatsApp Web connector, fake server in process ({} cores)", r.machine.cores);
    println!("  memory: {} connected idle sessions", m.sessions);
    println!("    process idle            {:>10.1} MiB", m.idle_process_bytes as f64 / MIB);
    println!("    with the sessions       {:>10.1} MiB", m.connected_process_bytes as f64 / MIB);
    println!(
        "    per session             {:>10.2} MiB   ({:.2} of the 5 MiB target; {:.3} of the idle process)",
        m.bytes_per_session / MIB,
        m.share_of_target,
        m.share_of_idle_process
    );
    println!("    all connected in        {:>10.2} s", m.connect_seconds);
    let s = &r.startup;
    println!("  start-up: {} linked devices in SQLite ({:.1} MiB of session state)", s.devices, s.session_bytes_in_store as f64 / MIB);
    println!("    all connected after     {:>10.2} s   (process spawn to report)", s.seconds);
    println!("    floor (open, list)      {:>10.2} s   ratio {:.1}", s.floor_seconds, s.ratio_to_floor);
    println!("  {}", r.note);
}

/// The child: open the store, then read or start every session, print one line.
pub async fn run_child(args: ChildArgs, born: Instant) -> anyhow::Result<ExitCode> {
    let store = open(&args.db).await?;
    let devices = store.list_all_devices().await?;
    let sessions: Arc<dyn SessionStore> = store.clone();
    let mut report = ChildReport { devices: devices.len(), connected: 0, inside_ms: 0.0, rss_idle: 0, rss_connected: 0, connect_ms: 0.0 };
    match args.mode.as_str() {
        // What any start must do: a process that opens the store and lists its devices.
        "floor" => {}
        "start" | "memory" => {
            let server = FakeServer::new();
            let board = bench::Board::new();
            let connector = bench::connector(&server, board.clone(), sessions);
            if args.mode == "memory" {
                tokio::time::sleep(Duration::from_secs(1)).await;
                report.rss_idle = bench::rss_bytes().context("reading this process's memory (/proc/self/status)")?;
            }
            report.connect_ms = bench::start_all(&connector, &board, &devices, args.timeout).await?.as_secs_f64() * 1000.0;
            report.connected = connector.totals().connected as usize;
            if args.mode == "memory" {
                tokio::time::sleep(SETTLE).await;
                report.rss_connected = bench::rss_bytes().context("reading this process's memory")?;
            }
        }
        other => bail!("unknown --mode {other}: floor, start or memory"),
    }
    report.inside_ms = born.elapsed().as_secs_f64() * 1000.0;
    println!("{}", serde_json::to_string(&report)?);
    // Exit at once: winding the sessions down is not part of the measurement.
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    std::process::exit(0)
}
