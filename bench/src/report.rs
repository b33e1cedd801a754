//! The results, for the book: the full Markdown table (printed as the run
//! goes, and whole at the end, into `results.txt`), and, drawn from it, a
//! compact table of requests/s with the servers as columns (`tables.txt`)
//! and an SVG chart of requests/s for each connection mode.
//!
//! Everything but `results.txt` is drawn from its rows alone, so
//! `bench --render results.txt` can draw them again from an earlier run
//! ([`parse`] reads the table back); nothing here knows the servers' names
//! but the reference, gunicorn, and the ceiling, canned-reply.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Plan;
use crate::load::Measured;
use crate::memory::Usage;

/// The server every ratio is computed against.
const REFERENCE: &str = "gunicorn";
/// Not a WSGI server but the most this machine can do: never "the most in
/// its row", since it is what the others are measured against.
const CEILING: &str = "canned-reply";

/// One cell of the matrix, measured.
pub struct Row {
    pub server: String,
    /// The module of the app (`flaskapp`).
    pub app: String,
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

/// The names of `rows`' apps, in the order they first appear.
pub fn apps_in(rows: &[Row]) -> Vec<&str> {
    let mut apps: Vec<&str> = Vec::new();
    for row in rows {
        if !apps.contains(&row.app.as_str()) {
            apps.push(&row.app);
        }
    }
    apps
}

/// The servers of `rows`, in the order they first appear (the run's order,
/// since the table is sorted by it): the columns and colours follow it.
pub fn servers_in(rows: &[Row]) -> Vec<&str> {
    let mut servers: Vec<&str> = Vec::new();
    for row in rows {
        if !servers.contains(&row.server.as_str()) {
            servers.push(&row.server);
        }
    }
    servers
}

fn position(list: &[&str], name: &str) -> Option<usize> {
    list.iter().position(|n| *n == name)
}

/// The whole table, sorted by app, connection mode, clients and server.
pub fn table(rows: &[Row], servers: &[&str]) -> String {
    let apps = apps_in(rows);
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|row| {
        (
            position(&apps, &row.app),
            row.keep_alive,
            row.concurrency,
            position(servers, &row.server),
        )
    });
    let mut table = format!("{HEADER}\n");
    for row in sorted {
        let _ = writeln!(table, "{}", line(row, rows));
    }
    table.push_str(LEGEND);
    table
}

/// Reads back what [`table`] wrote, with the lines above it: the text
/// before the table (what was measured, how), and its rows.
pub fn parse(results: &str) -> Result<(String, Vec<Row>), String> {
    let first = HEADER.lines().next().unwrap_or(HEADER);
    let Some(start) = results.find(first) else {
        return Err("no results table in it".to_string());
    };
    let about = results[..start].trim_end().to_string();
    let mut rows = Vec::new();
    // The header and its |---| line, then one row a line until the legend.
    for (number, text) in results[start..].lines().enumerate().skip(2) {
        if !text.starts_with('|') {
            break;
        }
        let row = parse_row(text).ok_or_else(|| {
            format!("row {}: cannot read {text:?}", number - 1)
        })?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err("the results table has no rows".to_string());
    }
    Ok((about, rows))
}

/// One line of [`line`]'s, read back (the ratio is computed again).
fn parse_row(text: &str) -> Option<Row> {
    let cells: Vec<&str> = text
        .trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect();
    let [
        app,
        mode,
        clients,
        server,
        rate,
        _,
        p50,
        p99,
        errors,
        rss,
        pss,
        faults,
    ] = cells[..]
    else {
        return None;
    };
    let mib = |cell: &str| -> Option<u64> {
        Some((cell.parse::<f64>().ok()? * 1024.0).round() as u64)
    };
    Some(Row {
        server: server.to_string(),
        app: app.to_string(),
        concurrency: clients.parse().ok()?,
        keep_alive: match mode {
            "keep-alive" => true,
            "close" => false,
            _ => return None,
        },
        measured: Measured {
            requests_per_second: rate.parse().ok()?,
            p50_ms: p50.parse().ok()?,
            p99_ms: p99.parse().ok()?,
            errors: errors.parse().ok()?,
        },
        peak: Usage {
            rss_kib: mib(rss)?,
            pss_kib: mib(pss)?,
        },
        faults_per_request: faults.parse().ok()?,
    })
}

/// The connection modes, as the tables and the charts name them.
const MODES: [(bool, &str, &str); 2] = [
    (false, "close", "Connection: close"),
    (true, "keep-alive", "keep-alive"),
];

/// Draws, from `rows`, what the book shows beside `results.txt`: the
/// compact tables (`tables.txt`) and one chart per connection mode
/// (`requests-per-second-close.svg`, `...-keep-alive.svg`), into `out`.
/// `command` is how to draw them again. Returns the files it wrote.
pub fn render(
    rows: &[Row],
    out: &Path,
    command: &str,
) -> Result<Vec<PathBuf>, String> {
    let servers = servers_in(rows);
    let mut written = Vec::new();
    let mut write = |name: &str, text: &str| -> Result<(), String> {
        let path = out.join(name);
        std::fs::write(&path, text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
        Ok(())
    };
    write("tables.txt", &compact_tables(rows, &servers, command))?;
    for (keep_alive, name, _) in MODES {
        if let Some(svg) = chart(rows, &servers, keep_alive) {
            write(&format!("requests-per-second-{name}.svg"), &svg)?;
        }
    }
    Ok(written)
}

/// For each connection mode, one table of requests/s: a row per app and
/// number of clients, a column per server, the best of each row in bold.
pub fn compact_tables(rows: &[Row], servers: &[&str], command: &str) -> String {
    let apps = apps_in(rows);
    let mut text = format!(
        "<!-- Drawn from results.txt by `{command}`: run it again rather than \
         edit this. -->\n"
    );
    for (keep_alive, _, label) in MODES {
        let shown: Vec<&Row> =
            rows.iter().filter(|r| r.keep_alive == keep_alive).collect();
        if shown.is_empty() {
            continue;
        }
        let columns: Vec<&str> = servers
            .iter()
            .copied()
            .filter(|s| shown.iter().any(|r| r.server == *s))
            .collect();
        let _ = write!(
            text,
            "\n**Requests per second, `{label}`** (higher is better; the \
             most in each row in bold)\n\n| app | clients |"
        );
        for server in &columns {
            let _ = write!(text, " {server} |");
        }
        text.push_str("\n| --- | ---: |");
        text.push_str(&" ---: |".repeat(columns.len()));
        text.push('\n');
        let mut clients: Vec<u32> =
            shown.iter().map(|r| r.concurrency).collect();
        clients.sort_unstable();
        clients.dedup();
        for app in &apps {
            for &concurrency in &clients {
                let cell = |server: &str| {
                    shown.iter().find(|r| {
                        r.app == *app
                            && r.concurrency == concurrency
                            && r.server == server
                    })
                };
                let best = columns
                    .iter()
                    .filter(|s| **s != CEILING)
                    .filter_map(|s| cell(s))
                    .map(|r| r.measured.requests_per_second.round())
                    .fold(0.0, f64::max);
                let _ = write!(text, "| {app} | {concurrency} |");
                for server in &columns {
                    let _ = match cell(server) {
                        Some(row) => {
                            let rate = row.measured.requests_per_second;
                            // Written as results.txt writes it ({:.0}).
                            let number = thousands(rate);
                            if rate.round() == best && *server != CEILING {
                                write!(text, " **{number}** |")
                            } else {
                                write!(text, " {number} |")
                            }
                        }
                        None => write!(text, " - |"),
                    };
                }
                text.push('\n');
            }
        }
        if columns.contains(&CEILING) {
            let _ = writeln!(
                text,
                "\n{CEILING} is not a WSGI server: it writes one fixed reply \
                 for each request, so its column is the most this machine \
                 serves with wrk beside it (wsgiapp's rows only)."
            );
        }
        let missing: Vec<&str> = servers
            .iter()
            .copied()
            .filter(|s| !columns.contains(s))
            .collect();
        if !missing.is_empty() {
            let _ = writeln!(
                text,
                "\nNo column for {}: keep-alive is measured only for the \
                 servers that keep a connection open for another request.",
                and_list(&missing)
            );
        }
    }
    text
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// `23284` -> `23,284`.
fn thousands(value: f64) -> String {
    let digits = format!("{value:.0}");
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
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
// width of the book's text column; one panel per app, one above the other.
const WIDTH: f64 = 720.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
/// The title, the subtitle and one row of the legend, above the first panel.
const TOP: f64 = 74.0;
const PANEL: f64 = 210.0;
/// Each server's place in the legend (room for "gunicorn-gthread"), and
/// the height of each further row.
const LEGEND_SLOT: f64 = 130.0;
const LEGEND_ROW: f64 = 18.0;
/// One colour per server, in the order of the table (Tableau 10, then
/// three more).
const COLOURS: [&str; 13] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
    "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#2f4b7c", "#a05195",
    "#8cd17d",
];
/// The ceiling's bars are grey: a measure, not a server among the others.
const CEILING_COLOUR: &str = "#555555";

/// Grouped bars of requests/s in one connection mode: a panel per app,
/// each with its own scale (Flask's bars would be slivers on wsgiapp's),
/// a group per number of clients, a bar per server that was measured in
/// that mode. A server keeps its colour in every chart. Plain SVG with a
/// generic font family: no scripts, no external fonts or styles. `None`
/// when no row is in that mode.
pub fn chart(
    rows: &[Row],
    servers: &[&str],
    keep_alive: bool,
) -> Option<String> {
    let shown: Vec<&Row> =
        rows.iter().filter(|r| r.keep_alive == keep_alive).collect();
    if shown.is_empty() {
        return None;
    }
    let label = if keep_alive {
        "keep-alive"
    } else {
        "Connection: close"
    };
    let apps = apps_in(rows);
    let apps: Vec<&str> = apps
        .into_iter()
        .filter(|a| shown.iter().any(|r| r.app == *a))
        .collect();
    let drawn: Vec<&str> = servers
        .iter()
        .copied()
        .filter(|s| shown.iter().any(|r| r.server == *s))
        .collect();
    let mut clients: Vec<u32> = shown.iter().map(|r| r.concurrency).collect();
    clients.sort_unstable();
    clients.dedup();
    // The legend: a swatch and a name per server, in as many rows of
    // LEGEND_SLOT-wide places as it takes; the panels start below it.
    let per_row = ((WIDTH - LEFT - RIGHT) / LEGEND_SLOT).floor().max(1.0);
    let legend_rows = (drawn.len() as f64 / per_row).ceil().max(1.0);
    let top = TOP + LEGEND_ROW * (legend_rows - 1.0);
    let height = top + PANEL * apps.len() as f64;

    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12" fill="#333">
<title>Requests per second, {label}</title>
<rect width="{WIDTH}" height="{height}" fill="#fff"/>
<text x="{LEFT}" y="22" font-size="15" font-weight="bold">Requests per second, {label} (higher is better)</text>
<text x="{LEFT}" y="40">One panel per app, each with its own scale; bars grouped by concurrent clients</text>
"##
    );
    for (i, server) in drawn.iter().enumerate() {
        let row = (i as f64 / per_row).floor();
        let x = LEFT + LEGEND_SLOT * (i as f64 % per_row);
        let y = 50.0 + LEGEND_ROW * row;
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{server}</text>"#,
            colour(server, servers),
            x + 16.0,
            y + 10.0,
        );
    }
    for (a, app) in apps.iter().enumerate() {
        let top = top + PANEL * a as f64;
        let cells: Vec<&&Row> =
            shown.iter().filter(|r| r.app == *app).collect();
        panel(&mut svg, app, top, &cells, &drawn, servers, &clients);
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

/// One app's panel of [`chart`], `top` its upper edge.
fn panel(
    svg: &mut String,
    app: &str,
    top: f64,
    cells: &[&&Row],
    drawn: &[&str],
    servers: &[&str],
    clients: &[u32],
) {
    let plot_top = top + 30.0;
    let plot_bottom = top + PANEL - 30.0;
    let highest = cells
        .iter()
        .map(|r| r.measured.requests_per_second)
        .fold(0.0, f64::max);
    // A little headroom above the highest bar, for its label.
    let step = tick_step(highest * 1.08);
    let scale_top = (highest * 1.08 / step).ceil().max(1.0) * step;
    let y = |value: f64| {
        plot_bottom - (plot_bottom - plot_top) * (value / scale_top)
    };
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}" font-size="13" font-weight="bold">{app}</text>"#,
        top + 16.0,
    );
    // Horizontal grid lines with their values.
    let mut value = 0.0;
    while value <= scale_top + step / 2.0 {
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
    // The bars, grouped by clients.
    let group = (WIDTH - LEFT - RIGHT) / clients.len().max(1) as f64;
    let bar = group * 0.8 / drawn.len().max(1) as f64;
    for (c, &concurrency) in clients.iter().enumerate() {
        let left = LEFT + group * c as f64 + group * 0.1;
        let name = if concurrency == 1 {
            "client"
        } else {
            "clients"
        };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{concurrency} {name}</text>"#,
            LEFT + group * (c as f64 + 0.5),
            plot_bottom + 18.0,
        );
        for (s, server) in drawn.iter().enumerate() {
            let Some(row) = cells
                .iter()
                .find(|r| r.concurrency == concurrency && r.server == *server)
            else {
                continue;
            };
            let rate = row.measured.requests_per_second;
            let x = left + bar * s as f64;
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{server}, {app}, {concurrency} {name}: {rate:.0} requests/s</title></rect><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"#,
                x + 1.0,
                y(rate),
                (bar - 2.0).max(1.0),
                y(0.0) - y(rate),
                colour(server, servers),
                x + bar / 2.0,
                y(rate) - 4.0,
                compact(rate),
            );
        }
    }
}

fn colour(server: &str, servers: &[&str]) -> &'static str {
    if server == CEILING {
        return CEILING_COLOUR;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The book's results, read back and written again, are the same
    /// table: `--render` draws from exactly what the run measured. (But
    /// for the ratio column: computed again from the rounded requests/s,
    /// a ratio may differ in its last digit; nothing drawn uses it.)
    #[test]
    fn the_books_results_read_back_to_the_same_table() {
        let results = include_str!("../../book/src/performance/results.txt");
        let (about, rows) = parse(results).expect("the book's results parse");
        assert!(about.starts_with("<!-- Written by"), "{about}");
        let start = results.find("| app |").expect("a table");
        // Every line of the table but its head and its rule is a row.
        let lines = results[start..].lines().filter(|l| l.starts_with('|'));
        assert_eq!(rows.len(), lines.count() - 2);
        let without_ratios = |table: &str| -> Vec<String> {
            let cells = |line: &str| {
                let mut cells: Vec<&str> = line.split('|').collect();
                if cells.len() > 7 {
                    cells.remove(6);
                }
                cells.join("|")
            };
            table.lines().map(cells).collect()
        };
        let again = table(&rows, &servers_in(&rows));
        assert_eq!(without_ratios(&again), without_ratios(&results[start..]));
    }

    #[test]
    fn a_row_that_is_not_a_result_is_an_error() {
        let broken = format!("{HEADER}\n| wsgiapp | sideways | 1 | x |\n");
        let Err(why) = parse(&broken) else {
            panic!("a row with 4 cells was read");
        };
        assert!(why.contains("row 1"), "{why}");
        assert!(parse("no table").is_err());
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(7.0), "7");
        assert_eq!(thousands(23284.0), "23,284");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }
}
