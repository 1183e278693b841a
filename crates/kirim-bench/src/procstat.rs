//! What `/proc` tells about a process: its resident memory (now and at its peak) and the CPU
//! time of the process and of each of its threads.

use std::collections::BTreeMap;

/// Resident memory of a process, in bytes: `VmRSS` (now) and `VmHWM` (the peak).
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss: u64,
    pub hwm: u64,
}

/// `None` when the process is gone (or not readable).
pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    // A zombie (exited, not yet reaped) has no memory lines.
    Some(Memory { rss: kib("VmRSS:")? * 1024, hwm: kib("VmHWM:")? * 1024 })
}

/// Whether the process exited (gone, or a zombie waiting to be reaped).
pub fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => parse_stat(&stat).is_none_or(|s| s.state == 'Z' || s.state == 'X'),
        Err(_) => true,
    }
}

struct Stat {
    name: String,
    state: char,
    /// utime + stime, in clock ticks.
    ticks: u64,
}

/// Parses `/proc/…/stat`: `pid (comm) state … utime stime …` (fields 14 and 15).
fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let state = rest.first()?.chars().next()?;
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(Stat { name, state, ticks: utime + stime })
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as f64 } else { 100.0 }
}

/// CPU seconds used by a whole process so far (`self` for this one).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    Some(stat.ticks as f64 / ticks_per_second())
}

/// What one thread of a process used so far.
#[derive(Clone, Debug, Default)]
pub struct ThreadUse {
    pub name: String,
    pub cpu_s: f64,
    /// Voluntary and involuntary context switches.
    pub switches: u64,
}

/// Every thread of a process, by thread id.
pub fn threads(pid: u32) -> BTreeMap<u32, ThreadUse> {
    let mut by_tid = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return by_tid };
    let scale = ticks_per_second();
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some(stat) = parse_stat(&text) else { continue };
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let switches = status
            .lines()
            .filter(|l| l.starts_with("voluntary_ctxt_switches:") || l.starts_with("nonvoluntary_ctxt_switches:"))
            .filter_map(|l| l.split_once(':').and_then(|(_, v)| v.trim().parse::<u64>().ok()))
            .sum();
        by_tid.insert(tid, ThreadUse { name: stat.name, cpu_s: stat.ticks as f64 / scale, switches });
    }
    by_tid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        let m = memory(me).expect("our own status");
        assert!(m.rss > 0 && m.hwm >= m.rss);
        assert!(!exited(me));
        assert!(cpu_seconds("self").is_some());
        let threads = threads(me);
        assert!(threads.values().any(|t| t.switches > 0), "{threads:?}");
    }

    #[test]
    fn thread_names_may_hold_spaces_and_parentheses() {
        let stat = parse_stat("42 (tokio (w) 1) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0").unwrap();
        assert_eq!((stat.name.as_str(), stat.state, stat.ticks), ("tokio (w) 1", 'S', 200));
    }
}
