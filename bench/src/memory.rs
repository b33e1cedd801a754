//! Peak memory of a server's whole process tree, sampled from /proc.
//!
//! A server is often more than one process: gunicorn and granian are a
//! master and two workers, webserver3h forks a child per connection. Every
//! 100 ms a thread finds the server's process and all its descendants and
//! sums their memory; the peak of that sum over a cell is what we report.
//!
//! We report two sums. RSS (resident set size) counts every page a process
//! has in RAM, including pages it shares with others; forked workers share
//! most of their pages with their parent (copy-on-write: the interpreter,
//! the imported framework), so the sum of RSS counts those pages once per
//! process and overstates a pre-forked server. PSS (proportional set size)
//! charges a page shared by N processes 1/N to each, so the sum of PSS over
//! the tree is what the tree really costs (pages it shares with processes
//! outside the tree, such as libc's, are still split with those). The kernel
//! gives both in /proc/PID/smaps_rollup, in one read per process.

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How often the tree is sampled.
const PERIOD: Duration = Duration::from_millis(100);

/// Memory of a process tree, in kibibytes (the unit of /proc).
#[derive(Clone, Copy, Default)]
pub struct Usage {
    pub rss_kib: u64,
    pub pss_kib: u64,
}

/// A thread sampling one process tree until [`Sampler::finish`].
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Usage>,
}

impl Sampler {
    /// Starts sampling the tree under `root` (the server's pid).
    pub fn start(root: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut peak = Usage::default();
            loop {
                let now = tree_usage(root);
                peak.rss_kib = peak.rss_kib.max(now.rss_kib);
                peak.pss_kib = peak.pss_kib.max(now.pss_kib);
                if stopped.load(Ordering::Relaxed) {
                    return peak;
                }
                thread::sleep(PERIOD);
            }
        });
        Sampler { stop, thread }
    }

    /// Stops sampling and returns the peaks (each one separately).
    pub fn finish(self) -> Usage {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// The summed RSS and PSS of `root` and all its descendants right now.
fn tree_usage(root: u32) -> Usage {
    let mut usage = Usage::default();
    for pid in tree(root) {
        // A process may exit between the listing and this read: skip it.
        let Ok(rollup) =
            fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        else {
            continue;
        };
        usage.rss_kib += field_kib(&rollup, "Rss:");
        usage.pss_kib += field_kib(&rollup, "Pss:");
    }
    usage
}

/// `root` and all its descendants, right now.
fn tree(root: u32) -> Vec<u32> {
    let mut tree = vec![root];
    // Each process's parent, from /proc/PID/stat; a parent may be listed
    // after its child, so keep adding children until nothing changes.
    let parents = parents();
    loop {
        let before = tree.len();
        for &(pid, parent) in &parents {
            if tree.contains(&parent) && !tree.contains(&pid) {
                tree.push(pid);
            }
        }
        if tree.len() == before {
            break;
        }
    }
    tree
}

/// The page faults of `root` and its descendants so far: each process's own
/// (`minflt` in /proc/PID/stat) and those of its children it has waited for
/// (`cminflt`), where a forking server's short-lived children end up.
pub fn tree_faults(root: u32) -> u64 {
    tree(root)
        .into_iter()
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After "PID (COMMAND)": state, ppid, pgrp, session, tty_nr,
            // tpgid, flags, minflt, cminflt (proc(5)).
            let fields: Vec<&str> =
                stat[stat.rfind(')')? + 1..].split_whitespace().collect();
            let own: u64 = fields.get(7)?.parse().ok()?;
            let children: u64 = fields.get(8)?.parse().ok()?;
            Some(own + children)
        })
        .sum()
}

/// Every (pid, parent pid) of the system.
fn parents() -> Vec<(u32, u32)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(|pid: u32| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "PID (COMMAND) STATE PPID ...": the command may hold spaces
            // and parentheses, so read after the last ')'.
            let after = &stat[stat.rfind(')')? + 1..];
            let parent = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, parent))
        })
        .collect()
}

/// The value of a line like `Pss:   12345 kB`.
fn field_kib(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
