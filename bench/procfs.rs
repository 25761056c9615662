//! What the bench clients read of a process from `/proc` (shared by `overload.rs` and
//! `fanout.rs`, each of which includes it as a module).

/// The CPU time (user + system, of every thread) process `pid` (or `self`) has used, in seconds.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces), from field 3 (state) on.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // Clock ticks of USER_HZ: 100 a second on Linux.
    Some(ticks / 100.0)
}

/// The resident memory of process `pid`, in KiB.
pub fn rss_kb(pid: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
