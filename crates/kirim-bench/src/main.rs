//! `kirim-bench`: measures this machine's ceilings and Kirim against them in the same run,
//! with the same load generator, and checks that kill -9 loses and duplicates nothing.

mod accept;
mod ceiling;
mod crash;
mod e2e;
mod histogram;
mod kirim_proc;
mod loadgen;
mod procstat;
mod receiver;
mod report;
#[cfg(feature = "wa")]
mod wa;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "kirim-bench", version, about = "Kirim's benchmark: figures next to this machine's ceilings, as ratios")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Accept rate and latency of POST /v1/messages against the no-op and durable-insert ceilings.
    Accept(accept::AcceptArgs),
    /// The long kill -9 reliability check: no accepted message lost or sent twice.
    Crash(crash::CrashArgs),
    /// End to end: accept → sent → delivered → one message.delivered webhook per message, over many devices.
    E2e(e2e::E2eArgs),
    /// The WhatsApp Web connector over the fake server: memory per idle session, start-up time
    /// with many linked devices (build with `--features wa`).
    #[cfg(feature = "wa")]
    Wa(wa::WaArgs),
    /// Internal: the start-up child of `wa`.
    #[cfg(feature = "wa")]
    #[command(hide = true)]
    WaChild(wa::ChildArgs),
    /// Needs a build with `--features wa`.
    #[cfg(not(feature = "wa"))]
    #[command(disable_help_flag = true)]
    Wa {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        rest: Vec<String>,
    },
    /// Internal: a ceiling server (prints its port on the first line of stdout).
    #[command(hide = true)]
    CeilingServer(ceiling::ServerArgs),
}

fn main() -> ExitCode {
    let born = std::time::Instant::now();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kirim-bench: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Accept(args) => accept::run(args).await,
            Command::Crash(args) => crash::run(args).await,
            Command::E2e(args) => e2e::run(args).await,
            Command::CeilingServer(args) => ceiling::serve(args).await.map(|()| ExitCode::SUCCESS),
            #[cfg(feature = "wa")]
            Command::Wa(args) => wa::run(args).await,
            #[cfg(feature = "wa")]
            Command::WaChild(args) => wa::run_child(args, born).await,
            #[cfg(not(feature = "wa"))]
            Command::Wa { .. } => {
                let _ = born;
                Err(anyhow::anyhow!(
                    "this kirim-bench was built without the `wa` feature; build it with `cargo build --release -p kirim-bench --features wa` (on its own: see docs/benchmarks.md)"
                ))
            }
        }
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kirim-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses `10s`, `500ms`, `2m` or a bare number of seconds (`1.5`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("`{s}` is not a duration like 10s, 500ms or 2m"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{s}` is not a duration like 10s, 500ms or 2m"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
