//! `kirim-bench accept`: the noop ceiling, the durable-insert ceiling and Kirim, one after
//! the other, each driven by the same load generator at the same concurrency. Kirim runs
//! twice: with no limits checked (the core figure), then with rate limits, a daily token
//! budget and a device quota all checked on every send (set out of reach, so that the load
//! measures the checks, not their refusals).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use crate::ceiling::{CeilingProcess, Mode};
use crate::kirim_proc::{Kirim, locate_binary, random_token};
use crate::loadgen::{self, LoadResult, LoadSpec, send_body};
use crate::report::{Figures, Machine, Parameters, Report};

#[derive(Args, Debug)]
pub struct AcceptArgs {
    /// Concurrent keep-alive connections (one closed-loop task each).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// How long each target is measured.
    #[arg(long, default_value = "10s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// How long each target is loaded before measuring starts.
    #[arg(long, default_value = "2s", value_parser = crate::parse_duration)]
    pub warmup: Duration,
    /// The kirim binary (default: `kirim` next to this executable).
    #[arg(long)]
    pub kirim_bin: Option<PathBuf>,
    /// Measure only the two ceilings.
    #[arg(long)]
    pub skip_kirim: bool,
    /// Print one JSON object with all figures instead of the table (progress goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Kirim without and with limit checks is measured this many times each, alternating
    /// (off, on, on, off, …) so background load weighs on both alike; the median of each is
    /// reported.
    #[arg(long, default_value_t = 1)]
    pub check_rounds: usize,
    /// Also measure the same send through the OnSend, wa-gateway and Wablas compat layers, each on a
    /// fresh Kirim, and report its cost against the native send.
    #[arg(long)]
    pub compat: bool,
}

/// Which API a send goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Native,
    Onsend,
    WaGateway,
    Wablas,
}

impl Api {
    fn name(self) -> &'static str {
        match self {
            Self::Native => "kirim",
            Self::Onsend => "kirim onsend",
            Self::WaGateway => "kirim wa-gateway",
            Self::Wablas => "kirim wablas",
        }
    }
}

pub async fn run(args: AcceptArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(!args.duration.is_zero(), "--duration must be more than 0");
    anyhow::ensure!(
        args.duration <= Duration::from_secs(600) && args.warmup <= Duration::from_secs(600),
        "keep --duration and --warmup ≤ 10m"
    );
    // Find Kirim before spending time on the ceilings.
    let kirim_bin = if args.skip_kirim { None } else { Some(locate_binary(args.kirim_bin.as_deref())?) };
    let machine = Machine::detect();
    eprintln!(
        "kirim-bench accept: {} connections, {:?} warm-up + {:?} per target; load generator and server share {} cores",
        args.connections, args.warmup, args.duration, machine.cores
    );

    let (connections, warmup, duration) = (args.connections, args.warmup, args.duration);
    let noop = Figures::new("noop ceiling", &measure_ceiling(Mode::Noop, connections, warmup, duration).await?);
    let insert = Figures::new("insert ceiling", &measure_ceiling(Mode::Insert, connections, warmup, duration).await?);
    let (kirim, checked) = match &kirim_bin {
        None => (Err("--skip-kirim was given".to_string()), None),
        Some(bin) => {
            let (mut off, mut on) = (Vec::new(), Vec::new());
            for round in 0..args.check_rounds.max(1) {
                // ABBA: each mode goes first in every other round.
                for checks in if round % 2 == 0 { [false, true] } else { [true, false] } {
                    let result = measure_kirim(bin, &args, Api::Native, checks).await?;
                    if checks { on.push(result) } else { off.push(result) }
                }
            }
            (Ok(Figures::new("kirim", median(&mut off))), Some(Figures::new("kirim, checks on", median(&mut on))))
        }
    };
    let mut compat = Vec::new();
    if let (Some(bin), true) = (&kirim_bin, args.compat) {
        for api in [Api::Onsend, Api::WaGateway, Api::Wablas] {
            compat.push(Figures::new(api.name(), &measure_kirim(bin, &args, api, false).await?));
        }
    }
    let parameters = Parameters {
        connections: args.connections,
        duration_s: args.duration.as_secs_f64(),
        warmup_s: args.warmup.as_secs_f64(),
        kirim_bin: kirim_bin.map(|p| p.display().to_string()),
    };
    let report = Report::new(machine, parameters, noop, insert, kirim, checked).with_compat(compat);
    if args.json {
        report.print_json()?;
    } else {
        report.print_table();
    }
    Ok(ExitCode::SUCCESS)
}

/// The run with the median rate.
fn median(results: &mut [LoadResult]) -> &LoadResult {
    results.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
    &results[results.len() / 2]
}

/// The accept load: `connections` closed loops, each posting its own prebuilt send request.
fn spec(
    (connections, warmup, duration): (usize, Duration, Duration),
    addr: std::net::SocketAddr,
    authorization: Option<String>,
    device_id: String,
) -> LoadSpec {
    // One body per connection, built before the load starts.
    let bodies: Vec<_> = (0..connections).map(|conn| send_body(&device_id, conn)).collect();
    LoadSpec {
        addr,
        path: "/v1/messages".into(),
        authorization,
        body: Arc::new(move |conn, _| bodies[conn % bodies.len()].clone()),
        connections,
        warmup,
        duration,
        grace: Duration::ZERO,
        max_requests: None,
        capture_ids: false,
        on_success: None,
    }
}

/// Loads one ceiling server (started for this and stopped after) like Kirim is loaded.
pub(crate) async fn measure_ceiling(mode: Mode, connections: usize, warmup: Duration, duration: Duration) -> anyhow::Result<LoadResult> {
    let name = crate::ceiling::mode_name(mode);
    eprintln!("measuring the {name} ceiling…");
    let server = CeilingProcess::start(mode).await.with_context(|| format!("starting the {name} ceiling"))?;
    let auth = Some(format!("Bearer {}", random_token(32)));
    let result = loadgen::run(spec((connections, warmup, duration), server.addr, auth, "dev_ceiling".into())).await;
    server.stop().await?;
    let result = result?;
    eprintln!("  {name}: {:.0} requests/s, {} errors", result.rps(), result.errors());
    Ok(result)
}

/// Out of reach of any run: a budget and a quota that are checked and debited, never exhausted.
const UNREACHABLE: u64 = 1_000_000_000_000;

/// Kirim through `api`, with no limits (`checks` false: rate limits off, no budget, no quota)
/// or with all of them checked on every send.
async fn measure_kirim(bin: &std::path::Path, args: &AcceptArgs, api: Api, checks: bool) -> anyhow::Result<LoadResult> {
    let name = if checks { "kirim, checks on" } else { api.name() };
    eprintln!("measuring {name} ({})…", bin.display());
    let data = tempfile::Builder::new().prefix("kirim-bench-accept-").tempdir()?;
    let admin = random_token(32);
    let off = [("KIRIM_RATE_LIMITS_PER_KEY".to_owned(), "0".to_owned()), ("KIRIM_RATE_LIMITS_PER_TENANT".to_owned(), "0".to_owned())];
    let kirim = Kirim::start_with(bin, data.path(), &admin, if checks { &[] } else { &off }).await?;
    let setup = async {
        let sender = kirim.setup_sandbox(&admin).await?;
        if checks {
            kirim.set_limits(&admin, &sender, UNREACHABLE, UNREACHABLE).await?;
        }
        anyhow::Ok(sender)
    };
    let sender = match setup.await {
        Ok(s) => s,
        Err(e) => {
            let stderr = kirim.stderr();
            let _ = kirim.stop().await;
            return Err(e.context(format!("setting up a sandbox device; kirim's stderr:\n{stderr}")));
        }
    };
    let auth = Some(format!("Bearer {}", sender.api_key));
    let load = (args.connections, args.warmup, args.duration);
    let mut spec = spec(load, kirim.addr, auth, sender.device_id.clone());
    if api != Api::Native {
        let bodies: Vec<_> = (0..args.connections).map(|conn| loadgen::compat_body(api, &sender.device_token, conn)).collect();
        spec.body = Arc::new(move |conn, _| bodies[conn % bodies.len()].clone());
        (spec.path, spec.authorization) = match api {
            Api::Onsend => ("/compat/onsend/api/v1/send".into(), Some(format!("Bearer {}", sender.device_token))),
            // Wablas's clients send the bare token, no scheme.
            Api::Wablas => ("/compat/wablas/api/send-message".into(), Some(sender.device_token.clone())),
            _ => ("/compat/wa-gateway/api/send".into(), None),
        };
    }
    let result = loadgen::run(spec).await;
    if let Err(e) = kirim.stop().await {
        eprintln!("warning: {e:#}");
    }
    let result = result?;
    eprintln!("  {name}: {:.0} requests/s, {} errors", result.rps(), result.errors());
    Ok(result)
}
