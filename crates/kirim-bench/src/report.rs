//! What `accept` prints: a table or one JSON object, always with this machine's ceilings
//! next to Kirim's figures and the ratios between them.

use serde::Serialize;

use crate::loadgen::LoadResult;

/// Kirim's accept rate should reach this share of the durable-insert ceiling…
pub const TARGET_SHARE_OF_INSERT: f64 = 0.5;
/// …with a p99 latency no higher than this.
pub const TARGET_P99_MS: f64 = 20.0;
/// With rate limits, the token budget and the device quota checked, Kirim keeps this share
/// of its own rate without them (issue 6).
pub const TARGET_CHECKED_SHARE: f64 = 0.9;

#[derive(Serialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_total_bytes: Option<u64>,
    pub cpu_model: Option<String>,
    pub note: &'static str,
}

impl Machine {
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model =
            cpuinfo.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_total_bytes = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024);
        Self {
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory_total_bytes,
            cpu_model,
            note: "the load generator (this process) and the server under test (a child process) share these cores",
        }
    }
}

#[derive(Serialize)]
pub struct Parameters {
    pub connections: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub kirim_bin: Option<String>,
}

#[derive(Serialize)]
pub struct Figures {
    pub name: &'static str,
    pub rps: f64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub ok: u64,
    /// How many latencies the percentiles are computed from.
    pub latency_samples: u64,
    pub errors: u64,
    pub non_2xx: u64,
    pub transport_errors: u64,
    pub abandoned_at_end: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Figures {
    pub fn new(name: &'static str, r: &LoadResult) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            name,
            rps: r.rps(),
            min_ms: ms(r.latency.min()),
            p50_ms: ms(r.latency.percentile(50.0)),
            p90_ms: ms(r.latency.percentile(90.0)),
            p99_ms: ms(r.latency.percentile(99.0)),
            max_ms: ms(r.latency.max()),
            mean_ms: r.latency.mean() / 1000.0,
            ok: r.ok,
            latency_samples: r.latency.count(),
            errors: r.errors(),
            non_2xx: r.non_2xx_total(),
            transport_errors: r.transport_errors,
            abandoned_at_end: r.abandoned,
            first_error: r.first_error.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct Ratios {
    /// Kirim's requests/s over the no-op HTTP ceiling's.
    pub kirim_over_noop: Option<f64>,
    /// Kirim's requests/s over the durable-insert ceiling's.
    pub kirim_over_insert: Option<f64>,
    /// The durable-insert ceiling over the no-op one (what durability costs here).
    pub insert_over_noop: f64,
    /// Kirim with every limit checked over Kirim without: what the checks cost.
    pub checked_over_kirim: Option<f64>,
    pub checked_over_insert: Option<f64>,
}

#[derive(Serialize)]
pub struct Verdict {
    /// None when Kirim was not measured.
    pub pass: Option<bool>,
    pub target_share_of_insert: f64,
    pub target_p99_ms: f64,
    pub findings: Vec<String>,
}

#[derive(Serialize)]
pub struct Report {
    pub machine: Machine,
    pub parameters: Parameters,
    pub noop: Figures,
    pub insert: Figures,
    pub kirim: Option<Figures>,
    /// Kirim with rate limits, a daily token budget and a device quota checked on every send.
    pub kirim_checked: Option<Figures>,
    pub kirim_skipped: Option<String>,
    pub ratios: Ratios,
    pub verdict: Verdict,
    /// The same send through compat layers, with their requests/s over the native send's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compat: Vec<CompatFigures>,
}

/// The target: a compat send costs at most 10 % more than a native one.
const TARGET_COMPAT_OVER_NATIVE: f64 = 1.0 / 1.1;

#[derive(Serialize)]
pub struct CompatFigures {
    pub figures: Figures,
    /// Requests/s over the native send's.
    pub over_native: f64,
    pub pass: bool,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

impl Report {
    pub fn new(
        machine: Machine,
        parameters: Parameters,
        noop: Figures,
        insert: Figures,
        kirim: Result<Figures, String>,
        kirim_checked: Option<Figures>,
    ) -> Self {
        let (kirim, kirim_skipped) = match kirim {
            Ok(k) => (Some(k), None),
            Err(why) => (None, Some(why)),
        };
        let ratios = Ratios {
            kirim_over_noop: kirim.as_ref().map(|k| ratio(k.rps, noop.rps)),
            kirim_over_insert: kirim.as_ref().map(|k| ratio(k.rps, insert.rps)),
            insert_over_noop: ratio(insert.rps, noop.rps),
            checked_over_kirim: kirim.as_ref().zip(kirim_checked.as_ref()).map(|(k, c)| ratio(c.rps, k.rps)),
            checked_over_insert: kirim_checked.as_ref().map(|c| ratio(c.rps, insert.rps)),
        };
        let mut verdict = verdict(kirim.as_ref(), &insert);
        if let (Some(share), Some(c)) = (ratios.checked_over_kirim, &kirim_checked) {
            let ok = share >= TARGET_CHECKED_SHARE && c.errors == 0;
            verdict.findings.push(format!(
                "with limits checked: {:.0}/s, {:.0} % of kirim without, p99 {:.2} ms, {} errors: {}",
                c.rps,
                share * 100.0,
                c.p99_ms,
                c.errors,
                if ok { "ok" } else { "below target" }
            ));
            verdict.pass = verdict.pass.map(|p| p && ok);
        }
        Self { machine, parameters, noop, insert, kirim, kirim_checked, kirim_skipped, ratios, verdict, compat: Vec::new() }
    }

    pub fn with_compat(mut self, compat: Vec<Figures>) -> Self {
        let native = self.kirim.as_ref().map_or(0.0, |k| k.rps);
        self.compat = compat
            .into_iter()
            .map(|figures| {
                let over_native = ratio(figures.rps, native);
                let pass = over_native >= TARGET_COMPAT_OVER_NATIVE && figures.errors == 0;
                CompatFigures { figures, over_native, pass }
            })
            .collect();
        self
    }

    pub fn print_json(&self) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(self)?);
        Ok(())
    }

    pub fn print_table(&self) {
        let m = &self.machine;
        let p = &self.parameters;
        println!();
        println!(
            "machine: {} cores, {} memory, {}",
            m.cores,
            m.memory_total_bytes.map_or("?".into(), |b| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)),
            m.cpu_model.as_deref().unwrap_or("unknown CPU")
        );
        println!("note: {}", m.note);
        println!(
            "load: {} keep-alive connections, closed loop, {:.1} s measured after {:.1} s warm-up, POST /v1/messages",
            p.connections, p.duration_s, p.warmup_s
        );
        println!();
        println!("{:<18} {:>11} {:>9} {:>9} {:>9} {:>9} {:>8}", "target", "requests/s", "p50", "p90", "p99", "max", "errors");
        let mut rows = vec![Some(&self.noop), Some(&self.insert), self.kirim.as_ref(), self.kirim_checked.as_ref()];
        rows.extend(self.compat.iter().map(|c| Some(&c.figures)));
        for f in rows.iter().flatten() {
            println!(
                "{:<18} {:>11.0} {:>9} {:>9} {:>9} {:>9} {:>8}",
                f.name,
                f.rps,
                fmt_ms(f.p50_ms),
                fmt_ms(f.p90_ms),
                fmt_ms(f.p99_ms),
                fmt_ms(f.max_ms),
                f.errors
            );
        }
        for f in rows.iter().flatten() {
            if let Some(e) = &f.first_error {
                println!("  {} errors: {} non-2xx, {} transport; first: {e}", f.name, f.non_2xx, f.transport_errors);
            }
        }
        if let Some(why) = &self.kirim_skipped {
            println!("{:<16} skipped: {why}", "kirim");
        }
        println!();
        println!("insert ceiling / noop ceiling: {:.2}", self.ratios.insert_over_noop);
        if let (Some(n), Some(i)) = (self.ratios.kirim_over_noop, self.ratios.kirim_over_insert) {
            println!("kirim / noop ceiling:          {n:.2}");
            println!("kirim / insert ceiling:        {i:.2}");
        }
        if let Some(c) = self.ratios.checked_over_kirim {
            println!("checks on / kirim:             {c:.2} (target ≥ {TARGET_CHECKED_SHARE:.2})");
        }
        let v = &self.verdict;
        let head = match v.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "not evaluated",
        };
        println!(
            "verdict: {head} (target: kirim ≥ {:.0} % of the insert ceiling, p99 ≤ {:.0} ms; with checks ≥ 90 % of kirim)",
            v.target_share_of_insert * 100.0,
            v.target_p99_ms
        );
        for f in &v.findings {
            println!("  - {f}");
        }
        for c in &self.compat {
            println!(
                "{} / kirim: {:.2} ({}; target ≥ {:.2}, a compat send costing at most 10 % more)",
                c.figures.name,
                c.over_native,
                if c.pass { "PASS" } else { "FAIL" },
                TARGET_COMPAT_OVER_NATIVE
            );
        }
    }
}

pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms < 10.0 { format!("{ms:.2}ms") } else { format!("{ms:.1}ms") }
}

fn verdict(kirim: Option<&Figures>, insert: &Figures) -> Verdict {
    let mut findings = Vec::new();
    let pass = kirim.map(|k| {
        let share = ratio(k.rps, insert.rps);
        let rate_ok = share >= TARGET_SHARE_OF_INSERT;
        let p99_ok = k.p99_ms <= TARGET_P99_MS;
        let errors_ok = k.errors == 0;
        findings.push(format!(
            "accept rate {:.0}/s is {:.0} % of the insert ceiling's {:.0}/s: {}",
            k.rps,
            share * 100.0,
            insert.rps,
            if rate_ok { "ok" } else { "below target" }
        ));
        findings.push(format!("p99 {:.2} ms: {}", k.p99_ms, if p99_ok { "ok" } else { "above target" }));
        if insert.p99_ms > TARGET_P99_MS {
            findings.push(format!(
                "the insert ceiling's own p99 is {:.2} ms at this concurrency: the p99 target is out of reach on this machine",
                insert.p99_ms
            ));
        }
        if !errors_ok {
            findings.push(format!("{} errors ({} non-2xx, {} transport)", k.errors, k.non_2xx, k.transport_errors));
        }
        rate_ok && p99_ok && errors_ok
    });
    if pass.is_none() {
        findings.push("Kirim was not measured".into());
    }
    Verdict { pass, target_share_of_insert: TARGET_SHARE_OF_INSERT, target_p99_ms: TARGET_P99_MS, findings }
}
