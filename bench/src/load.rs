//! The load generator: wrk (Debian's package), run once per cell.
//!
//! wrk keeps `-c` connections busy from `-t` threads for `-d` seconds and,
//! with `--latency`, prints the latency percentiles. With the request header
//! `Connection: close` the server closes after each response and wrk opens a
//! new connection for the next request; without it wrk reuses connections
//! (keep-alive). wrk's latency is the time from sending a request to the end
//! of its response: it leaves out the connect, which the close mode pays.

use std::process::Command;

use crate::run_quietly;

/// One measurement: a concurrency and a connection mode, on a port.
pub struct Cell {
    pub port: u16,
    /// Connections kept busy at once (wrk's `-c`).
    pub concurrency: u32,
    /// Reuse connections (true) or send `Connection: close` (false).
    pub keep_alive: bool,
    /// Seconds of unmeasured load first.
    pub warm_up: u32,
    /// Seconds measured.
    pub duration: u32,
}

/// What wrk measured in one cell.
#[derive(Clone, Copy)]
pub struct Measured {
    pub requests_per_second: f64,
    /// Latency percentiles, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Failed connects, reads and writes, time-outs, and non-2xx/3xx
    /// responses.
    pub errors: u64,
}

/// Installs wrk with apt-get if it is not on PATH (Debian and Ubuntu).
pub fn ensure_wrk() -> Result<(), String> {
    // `wrk -v` prints its version and exits 1: that it starts is enough.
    if Command::new("wrk").arg("-v").output().is_ok() {
        return Ok(());
    }
    eprintln!("bench: wrk is missing: apt-get install -y wrk");
    run_quietly(Command::new("apt-get").args(["install", "-y", "wrk"]))
        .map_err(|why| format!("cannot install wrk ({why}); install it"))
}

/// Runs the warm-up: the same load, not measured.
pub fn warm_up(cell: &Cell) -> Result<(), String> {
    wrk(cell, cell.warm_up).map(drop)
}

/// Runs the measurement, and parses wrk's report.
pub fn measure(cell: &Cell) -> Result<Measured, String> {
    let report = wrk(cell, cell.duration)?;
    parse(&report).ok_or_else(|| format!("cannot read wrk's report:\n{report}"))
}

fn wrk(cell: &Cell, seconds: u32) -> Result<String, String> {
    // One wrk thread per core is what wrk wants; we have no more cores
    // than 2 to spare, and wrk needs at least one connection per thread.
    let threads = cell.concurrency.min(2);
    let mut command = Command::new("wrk");
    command
        .arg("--latency")
        .arg(format!("--threads={threads}"))
        .arg(format!("--connections={}", cell.concurrency))
        .arg(format!("--duration={seconds}s"))
        .arg("--timeout=2s");
    if !cell.keep_alive {
        command.args(["--header", "Connection: close"]);
    }
    command.arg(format!("http://127.0.0.1:{}/hello", cell.port));
    let output = command
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "wrk failed ({}): {report}{stderr}",
            output.status
        ));
    }
    Ok(report)
}

/// Reads wrk's report, which looks like this (the error lines only appear
/// when there were errors):
///
/// ```text
///   Latency Distribution
///      50%  104.00us
///      99%    1.57ms
///   12837 requests in 1.10s, 2.46MB read
///   Socket errors: connect 0, read 3, write 0, timeout 0
///   Non-2xx or 3xx responses: 5
/// Requests/sec:  11672.43
/// ```
pub fn parse(report: &str) -> Option<Measured> {
    let mut p50_ms = None;
    let mut p99_ms = None;
    let mut requests_per_second = None;
    let mut errors = 0;
    for line in report.lines().map(str::trim) {
        if let Some(time) = line.strip_prefix("50%") {
            p50_ms = milliseconds(time.trim());
        } else if let Some(time) = line.strip_prefix("99%") {
            p99_ms = milliseconds(time.trim());
        } else if let Some(rate) = line.strip_prefix("Requests/sec:") {
            requests_per_second = rate.trim().parse().ok();
        } else if let Some(counts) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 3, write 0, timeout 0": sum the numbers.
            errors += counts
                .split([',', ' '])
                .filter_map(|word| word.parse::<u64>().ok())
                .sum::<u64>();
        } else if let Some(count) =
            line.strip_prefix("Non-2xx or 3xx responses:")
        {
            errors += count.trim().parse::<u64>().ok()?;
        }
    }
    Some(Measured {
        requests_per_second: requests_per_second?,
        p50_ms: p50_ms?,
        p99_ms: p99_ms?,
        errors,
    })
}

/// wrk's times: `104.00us`, `1.57ms`, `2.00s`, `1.05m`.
fn milliseconds(time: &str) -> Option<f64> {
    let split = time.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = time.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_report_with_errors() {
        let report = "Running 1s test @ http://127.0.0.1:1/hello
  2 threads and 16 connections
  Latency Distribution
     50%  104.00us
     75%  145.00us
     90%  175.00us
     99%    1.57ms
  12837 requests in 1.10s, 2.46MB read
  Socket errors: connect 1, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 5
Requests/sec:  11672.43
Transfer/sec:      2.24MB
";
        let measured = parse(report).expect("a whole report");
        assert_eq!(measured.requests_per_second, 11672.43);
        assert!((measured.p50_ms - 0.104).abs() < 1e-9);
        assert!((measured.p99_ms - 1.57).abs() < 1e-9);
        assert_eq!(measured.errors, 11);
    }
}
