//! Load-benchmark helpers: a closed-loop load generator with latency percentiles, and a
//! process's RSS and CPU time from `/proc`.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};

/// Resident set size of a process, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used, in seconds.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

/// The machine's cores and load average, for a benchmark's report.
pub fn machine() -> String {
    format!(
        "{} cores, load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// What one load run measured.
#[derive(Debug, Clone, Copy)]
pub struct LoadResult {
    /// Completed calls per second.
    pub rate: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Calls that failed.
    pub errors: usize,
}

/// `callers` tasks each make `calls / callers` calls of `call` back to back.
pub async fn closed_loop<F, Fut>(callers: usize, calls: usize, call: F) -> LoadResult
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let per = calls / callers.max(1);
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let call = call.clone();
        set.spawn(async move {
            let mut lat = Vec::with_capacity(per);
            let mut errors = 0;
            for _ in 0..per {
                let t = Instant::now();
                let ok = call().await;
                lat.push(t.elapsed());
                errors += usize::from(!ok);
            }
            (lat, errors)
        });
    }
    let mut all = Vec::with_capacity(calls);
    let mut errors = 0;
    while let Some(Ok((l, e))) = set.join_next().await {
        all.extend(l);
        errors += e;
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let p = |q: f64| {
        let i = ((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1));
        all.get(i).copied().unwrap_or_default()
    };
    LoadResult {
        rate: all.len() as f64 / secs,
        p50: p(0.50),
        p99: p(0.99),
        errors,
    }
}

/// A client whose connections come from its own loopback address: the `i`-th of up to 62,500
/// (127.0.1.1 upwards), so a test or benchmark can be many clients from one machine.
pub fn loopback_client(i: u32) -> reqwest::Client {
    let addr = std::net::Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8);
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(addr))
        .build()
        .unwrap_or_default()
}

/// A process's peak resident set size (`VmHWM` in `/proc/PID/status`), in KiB.
pub fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no VmHWM for process {pid}"))
}

/// Resets a process's peak resident set size to its current one (`5` to `/proc/PID/clear_refs`).
pub fn reset_peak_rss(pid: u32) -> Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("writing /proc/{pid}/clear_refs"))
}
