//! The results: a Markdown table (printed as the run goes, and whole at the
//! end) and an SVG chart of requests/s, both for the book.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use crate::Plan;
use crate::load::Measured;
use crate::memory::Usage;

/// The server every ratio is computed against.
const REFERENCE: &str = "gunicorn";

/// One cell of the matrix, measured.
pub struct Row {
    pub server: &'static str,
    /// The module of the app (`flaskapp`).
    pub app: &'static str,
    pub concurrency: u32,
    pub keep_alive: bool,
    pub measured: Measured,
    /// The peak memory of the server's process tree during the cell.
    pub peak: Usage,
    /// Page faults of the whole tree, per request, while measured.
    pub faults_per_request: f64,
}

const HEADER: &str = "\
| app | connection | clients | server | requests/s | vs gunicorn \
| p50 ms | p99 ms | errors | peak RSS MiB | peak PSS MiB | faults/request |
| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |";

/// Prints the table's header, before the first row.
pub fn print_header() {
    println!("{HEADER}");
}

/// Prints `row` as soon as it is measured; `before` are the rows so far.
pub fn print_row(row: &Row, before: &[Row]) {
    println!("{}", line(row, before));
}

/// The whole table, sorted by app, connection mode, clients and server.
pub fn table(rows: &[Row], servers: &[&str]) -> String {
    let mut apps: Vec<&str> = Vec::new();
    for row in rows {
        if !apps.contains(&row.app) {
            apps.push(row.app);
        }
    }
    let position =
        |list: &[&str], name: &str| list.iter().position(|n| *n == name);
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|row| {
        (
            position(&apps, row.app),
            row.keep_alive,
            row.concurrency,
            position(servers, row.server),
        )
    });
    let mut table = format!("{HEADER}\n");
    for row in sorted {
        let _ = writeln!(table, "{}", line(row, rows));
    }
    table.push_str(LEGEND);
    table
}

const LEGEND: &str = "
*requests/s*: completed requests per second. *vs gunicorn*: requests/s
divided by gunicorn's for the same app, connection mode and clients, in the
same run (gunicorn's sync worker closes every connection, so the keep-alive
rows have none). *p50*, *p99*: wrk's latency percentiles, from sending a
request to the end of its response. With `Connection: close` they leave out
the connect, so a client waiting for a busy server to accept it is not seen
there, only in requests/s (by Little's law the mean wait is clients divided
by requests/s). *errors*: failed connects, reads and writes, time-outs (2 s) and
responses other than 2xx/3xx. *peak RSS*, *peak PSS*: the highest summed
memory of the server's process tree (master, workers, children), sampled
every 100 ms; RSS counts pages shared by forked processes once per process,
PSS splits them between the processes. *faults/request*: page faults of the
whole tree (minor ones: a page mapped or copied, no disk read) during the
measured seconds, divided by the requests served; a child's faults count
once its parent has collected it.
";

fn line(row: &Row, rows: &[Row]) -> String {
    let m = &row.measured;
    format!(
        "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.1} | {:.1} \
         | {:.1} |",
        row.app,
        if row.keep_alive {
            "keep-alive"
        } else {
            "close"
        },
        row.concurrency,
        row.server,
        m.requests_per_second,
        ratio(row, rows),
        milliseconds(m.p50_ms),
        milliseconds(m.p99_ms),
        m.errors,
        row.peak.rss_kib as f64 / 1024.0,
        row.peak.pss_kib as f64 / 1024.0,
        row.faults_per_request,
    )
}

/// This row's requests/s over gunicorn's in the same app, mode and clients.
fn ratio(row: &Row, rows: &[Row]) -> String {
    if row.server == REFERENCE {
        return "1.00x".to_string();
    }
    let reference = rows.iter().find(|other| {
        other.server == REFERENCE
            && other.app == row.app
            && other.concurrency == row.concurrency
            && other.keep_alive == row.keep_alive
    });
    match reference {
        Some(other) if other.measured.requests_per_second > 0.0 => format!(
            "{:.2}x",
            row.measured.requests_per_second
                / other.measured.requests_per_second
        ),
        _ => "-".to_string(),
    }
}

/// Three significant digits or so: `0.104`, `1.57`, `23.4`, `2000`.
fn milliseconds(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3}")
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// What was measured, how, and on what: the lines above the table.
pub fn about(
    plan: &Plan,
    root: &Path,
    venv: &Path,
    load_average: &str,
    elapsed_seconds: u64,
    notes: &[String],
) -> String {
    // The command as it was given, so that the run can be repeated.
    let mut given: Vec<String> = std::env::args().skip(1).collect();
    if given.is_empty() {
        given.push("--quick".to_string());
    }
    let command =
        format!("cargo run --release -p bench -- {}", given.join(" "));
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            let line = info.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split_once(':')?.1.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let python =
        first_line(Command::new(venv.join("bin/python")).arg("--version"));
    // "wrk debian/4.1.0-3+b2 [epoll] Copyright ...": keep the version.
    let wrk = first_line(Command::new("wrk").arg("-v"));
    let wrk = wrk.split_whitespace().nth(1).unwrap_or("?");
    let peers = std::fs::read_to_string(root.join("bench/requirements.txt"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let apps: Vec<&str> =
        plan.apps.iter().map(|a| crate::app_name(a)).collect();
    let clients: Vec<String> =
        plan.concurrencies.iter().map(u32::to_string).collect();
    let mut about = format!(
        "<!-- Written by `{command}`: run it again rather than edit this. -->

Measured by `{command}` on {date}, in {elapsed_seconds} s: apps {apps};
{clients} concurrent clients; each cell {warm} s of warm-up, then {dur} s
measured. Machine: {cpus} CPUs ({cpu}), shared by wrk (1 or 2 threads) and the
server, load average {load_average} at the start. {python}; wrk {wrk};
peers {peers}.
",
        apps = apps.join(", "),
        clients = clients.join(", "),
        warm = plan.warm_up,
        dur = plan.duration,
    );
    for note in notes {
        let _ = writeln!(about, "\nNote: {note}.");
    }
    about
}

/// The first line a command prints (on stdout or stderr), or `?`.
fn first_line(command: &mut Command) -> String {
    let Ok(output) = command.output() else {
        return "?".to_string();
    };
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text.lines().next().unwrap_or("?").trim().to_string()
}

// The chart's geometry, in SVG user units (pixels at 100 %): about the
// width of the book's text column.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 78.0;
const BOTTOM: f64 = 36.0;
/// One colour per server, in the order of `servers::all` (Tableau 10).
const COLOURS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#9c755f",
];

/// Grouped bars: for each app, one bar per server, of requests/s with
/// `Connection: close` at the plan's chart concurrency. Plain SVG with a
/// generic font family: no scripts, no external fonts or styles.
pub fn chart(rows: &[Row], servers: &[&str], plan: &Plan) -> String {
    let shown: Vec<&Row> = rows
        .iter()
        .filter(|r| !r.keep_alive && r.concurrency == plan.chart_concurrency)
        .collect();
    let apps: Vec<&str> =
        plan.apps.iter().map(|a| crate::app_name(a)).collect();
    let servers: Vec<&str> = servers
        .iter()
        .copied()
        .filter(|s| shown.iter().any(|r| r.server == *s))
        .collect();
    let highest = shown
        .iter()
        .map(|r| r.measured.requests_per_second)
        .fold(0.0, f64::max);
    // A little headroom above the highest bar, for its label.
    let step = tick_step(highest * 1.08);
    let top = (highest * 1.08 / step).ceil().max(1.0) * step;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let y = |value: f64| TOP + plot_height * (1.0 - value / top);

    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12" fill="#333">
<title>Requests per second, Connection: close, {c} clients</title>
<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>
<text x="{LEFT}" y="22" font-size="15" font-weight="bold">Requests per second (higher is better)</text>
<text x="{LEFT}" y="40">Connection: close, {c} concurrent clients (bench --{mode})</text>
"##,
        c = plan.chart_concurrency,
        mode = plan.name,
    );
    // Legend: a swatch and a name per server, in one row.
    let slot = (WIDTH - LEFT - RIGHT) / servers.len().max(1) as f64;
    for (i, server) in servers.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="52" width="12" height="12" fill="{}"/><text x="{:.1}" y="62">{server}</text>"#,
            colour(server, &servers),
            x + 16.0,
        );
    }
    // Horizontal grid lines with their values.
    let mut value = 0.0;
    while value <= top + step / 2.0 {
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(value) + 4.0,
            compact(value),
            y = y(value),
        );
        value += step;
    }
    // The bars, grouped by app.
    let group = (WIDTH - LEFT - RIGHT) / apps.len().max(1) as f64;
    let bar = group * 0.8 / servers.len().max(1) as f64;
    for (a, app) in apps.iter().enumerate() {
        let left = LEFT + group * a as f64 + group * 0.1;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13">{app}</text>"#,
            LEFT + group * (a as f64 + 0.5),
            HEIGHT - BOTTOM + 20.0,
        );
        for (s, server) in servers.iter().enumerate() {
            let Some(row) =
                shown.iter().find(|r| r.app == *app && r.server == *server)
            else {
                continue;
            };
            let rate = row.measured.requests_per_second;
            let x = left + bar * s as f64;
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{server}, {app}: {rate:.0} requests/s</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                x + 1.0,
                y(rate),
                bar - 2.0,
                y(0.0) - y(rate),
                colour(server, &servers),
                x + bar / 2.0,
                y(rate) - 4.0,
                compact(rate),
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn colour(server: &str, servers: &[&str]) -> &'static str {
    let i = servers.iter().position(|s| *s == server).unwrap_or(0);
    COLOURS[i % COLOURS.len()]
}

/// A round step (1, 2 or 5 times a power of ten) giving at most 5 steps.
fn tick_step(highest: f64) -> f64 {
    if highest <= 0.0 {
        return 1.0;
    }
    let mut step = 10f64.powf((highest / 5.0).log10().floor());
    for factor in [1.0, 2.0, 5.0, 10.0] {
        if highest / (step * factor) <= 5.0 {
            step *= factor;
            break;
        }
    }
    step
}

/// `950`, `9.5k`, `12k`: short enough to sit above a narrow bar.
fn compact(value: f64) -> String {
    if value < 1000.0 {
        format!("{value:.0}")
    } else if value < 10_000.0 && value % 1000.0 != 0.0 {
        format!("{:.1}k", value / 1000.0)
    } else {
        format!("{:.0}k", value / 1000.0)
    }
}
