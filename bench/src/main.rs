//! `bench`: the project's one benchmark command.
//!
//! Starts each server in turn on 127.0.0.1, drives it with wrk for every
//! app x concurrency x connection mode of the plan, and prints a table:
//! requests/s (with the ratio to gunicorn's, cell by cell in the same run),
//! p50 and p99 latency, errors, and the peak memory of the server's process
//! tree. It also writes that table, a compact one and a chart per
//! connection mode for the book's performance chapter
//! (`book/src/performance/`). `--render results.txt` draws the compact
//! table and the charts again from an earlier run's table, measuring
//! nothing.
//!
//! Run it from anywhere in the workspace, with release builds:
//! `cargo run --release -p bench -- --quick` (about 5 minutes), or
//! `--full` (about 20). It builds our servers, makes `./.venv` if needed,
//! installs the pinned peers of `bench/requirements.txt` into it, and
//! installs wrk with apt-get if it is missing.
//!
//! Speed is never checked by the tests: the numbers depend on the machine
//! and on whatever else it is doing, so read them as ratios within a run.

mod load;
mod memory;
mod report;
mod servers;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use clap::Parser;

use crate::report::Row;
use crate::servers::{Running, ServerSpec};

/// The benchmark: our WSGI servers and their Python peers, under wrk.
#[derive(Parser)]
struct Args {
    /// Two apps, 1 and 16 clients, 2 s per cell (the default)
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Three apps, 1, 16 and 128 clients, 5 s per cell
    #[arg(long)]
    full: bool,
    /// Run only these servers (by the name in the table; repeatable)
    #[arg(long, value_name = "SERVER")]
    only: Vec<String>,
    /// Seconds measured per cell, instead of the mode's (for trying it out)
    #[arg(long, value_name = "N")]
    seconds: Option<u32>,
    /// Where to write results.txt, tables.txt and the charts
    /// (requests-per-second-close.svg, requests-per-second-keep-alive.svg)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Measure nothing: draw tables.txt and the charts again from the table
    /// of an earlier run's results.txt (into its folder, or --out)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["quick", "full", "only", "seconds"])]
    render: Option<PathBuf>,
}

/// What one run measures: the matrix and how long each cell lasts.
pub struct Plan {
    /// `"quick"` or `"full"`, as the results say.
    pub name: &'static str,
    /// The WSGI apps of part2/apps, as module:callable.
    pub apps: &'static [&'static str],
    /// How many connections wrk keeps busy at once.
    pub concurrencies: &'static [u32],
    /// Seconds of load before each measurement: the first requests fill
    /// caches, start lazy imports and grow the servers' pools.
    pub warm_up: u32,
    /// Seconds measured per cell (wrk takes whole seconds).
    pub duration: u32,
}

const QUICK: Plan = Plan {
    name: "quick",
    apps: &["wsgiapp:app", "flaskapp:app"],
    concurrencies: &[1, 16],
    warm_up: 1,
    duration: 2,
};

const FULL: Plan = Plan {
    name: "full",
    apps: &["wsgiapp:app", "flaskapp:app", "djangoapp:app"],
    concurrencies: &[1, 16, 128],
    warm_up: 1,
    duration: 5,
};

fn main() -> ExitCode {
    let args = Args::parse();
    let mut plan = if args.full { FULL } else { QUICK };
    if let Some(seconds) = args.seconds {
        plan.duration = seconds.max(1);
    }
    let done = match &args.render {
        Some(results) => render(results, args.out.as_deref()),
        None => run(&plan, &args),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(plan: &Plan, args: &Args) -> Result<(), String> {
    let started = Instant::now();
    // How busy the machine was before we started: the numbers depend on it.
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string());
    let root = workspace_root();
    let out = args
        .out
        .clone()
        .unwrap_or(root.join("book/src/performance"));
    let mut servers: Vec<ServerSpec> = servers::all();
    for name in &args.only {
        if !servers.iter().any(|s| s.name == name) {
            return Err(format!("--only {name}: no server has that name"));
        }
    }
    servers.retain(|s| {
        args.only.is_empty() || args.only.iter().any(|o| o == s.name)
    });

    // Everything the run needs, installed before the first measurement.
    load::ensure_wrk()?;
    let venv = servers::ensure_venv(&root)?;
    let mut notes = Vec::new();
    servers.retain_mut(|server| match servers::build(server, &root) {
        Ok(()) => true,
        Err(why) => {
            eprintln!("bench: skipping {}: {why}", server.name);
            notes.push(format!("{} was skipped: {why}", server.name));
            false
        }
    });

    let cells: usize = plan
        .apps
        .iter()
        .flat_map(|app| servers.iter().filter(|s| s.measures(app)))
        .map(|s| plan.concurrencies.len() * if s.keep_alive { 2 } else { 1 })
        .sum();
    let per_cell = plan.warm_up + plan.duration;
    eprintln!(
        "bench: {} mode, {cells} cells of {}+{} s: about {} s of load",
        plan.name,
        plan.warm_up,
        plan.duration,
        cells as u32 * per_cell
    );

    let mut rows: Vec<Row> = Vec::new();
    report::print_header();
    for app in plan.apps {
        for server in servers.iter().filter(|s| s.measures(app)) {
            let mut running = match servers::start(server, app, &root, &venv) {
                Ok(running) => running,
                Err(why) => {
                    eprintln!("bench: {} {app}: {why}", server.name);
                    notes.push(format!(
                        "{} could not serve {app}: {why}",
                        server.name
                    ));
                    continue;
                }
            };
            measure(server, &running, app, plan, &mut rows, &mut notes);
            running.stop();
        }
    }

    if rows.is_empty() {
        return Err(
            "nothing was measured; the files are left as they were".into()
        );
    }
    let elapsed = started.elapsed().as_secs();
    let order: Vec<&str> = servers.iter().map(|s| s.name).collect();
    let table = report::table(&rows, &order);
    println!("\n{table}");
    let about =
        report::about(plan, &root, &venv, &load_average, elapsed, &notes);
    std::fs::create_dir_all(&out)
        .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let results = out.join("results.txt");
    write(&results, &format!("{about}\n{table}"))?;
    let drawn = report::render(&rows, &out, &render_command(&results, &root))?;
    eprintln!("bench: wrote {} in {elapsed} s", results.display());
    for path in drawn {
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}

/// `--render FILE`: the compact table and the charts, drawn again from the
/// table of an earlier run, which stays as it is.
fn render(results: &Path, out: Option<&Path>) -> Result<(), String> {
    let text = std::fs::read_to_string(results)
        .map_err(|e| format!("cannot read {}: {e}", results.display()))?;
    let (_about, rows) = report::parse(&text)
        .map_err(|why| format!("{}: {why}", results.display()))?;
    let out = match out {
        Some(out) => out.to_path_buf(),
        None => results.parent().unwrap_or(Path::new(".")).to_path_buf(),
    };
    let command = render_command(results, &workspace_root());
    for path in report::render(&rows, &out, &command)? {
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}

/// The command that draws the compact table and charts again from
/// `results`, with its path from the repository root when it is inside.
fn render_command(results: &Path, root: &Path) -> String {
    let absolute =
        std::path::absolute(results).unwrap_or_else(|_| results.to_path_buf());
    let shown = absolute.strip_prefix(root).unwrap_or(results);
    format!(
        "cargo run --release -p bench -- --render {}",
        shown.display()
    )
}

/// Measures every cell of one running server and app: each number of
/// clients, in each connection mode the server supports.
fn measure(
    server: &ServerSpec,
    running: &Running,
    app: &'static str,
    plan: &Plan,
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) {
    let modes: &[bool] = if server.keep_alive {
        &[false, true]
    } else {
        &[false]
    };
    for &concurrency in plan.concurrencies {
        for &keep_alive in modes {
            let cell = load::Cell {
                port: running.port,
                concurrency,
                keep_alive,
                warm_up: plan.warm_up,
                duration: plan.duration,
            };
            // Memory is sampled while wrk runs, warm-up included; page
            // faults are counted over the measured seconds only.
            let sampler = memory::Sampler::start(running.pid());
            let faults = load::warm_up(&cell).and_then(|()| {
                let before = memory::tree_faults(running.pid());
                let measured = load::measure(&cell)?;
                let after = memory::tree_faults(running.pid());
                let faults = after.saturating_sub(before);
                Ok((measured, faults))
            });
            let peak = sampler.finish();
            match faults {
                Ok((measured, faults)) => {
                    let requests =
                        measured.requests_per_second * f64::from(cell.duration);
                    let row = Row {
                        server: server.name.to_string(),
                        app: app_name(app).to_string(),
                        concurrency,
                        keep_alive,
                        measured,
                        peak,
                        faults_per_request: faults as f64 / requests.max(1.0),
                    };
                    report::print_row(&row, rows);
                    rows.push(row);
                }
                Err(why) => {
                    eprintln!("bench: {} {app}: {why}", server.name);
                    notes.push(format!(
                        "{} {app}, {concurrency} clients: {why}",
                        server.name
                    ));
                }
            }
        }
    }
}

/// `flaskapp:app` -> `flaskapp`: the name the table and chart use.
fn app_name(app: &str) -> &str {
    app.split(':').next().unwrap_or(app)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The repository root: the servers run from here, as the README's do.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ sits inside the workspace")
        .to_path_buf()
}

/// Runs a command to completion; its output is the error if it fails.
fn run_quietly(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
