//! The servers the benchmark compares, and how to start and stop them.
//!
//! Adding a server is one entry in [`all`]: one of ours (a binary of a
//! workspace package that takes `--port 0` and prints the port on its first
//! line, as every stage does) or a peer installed from PyPI into `./.venv`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use std::{env, io, thread};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::run_quietly;

/// How long a server may take to start (Django's imports are the slowest)
/// or to stop.
const PATIENCE: Duration = Duration::from_secs(30);

/// One server of the comparison.
pub struct ServerSpec {
    /// Its name in the table, the chart and `--only`.
    pub name: &'static str,
    /// Whether it keeps a connection open for the next request: only then
    /// is the keep-alive mode measured (part2, webserver3h and gunicorn's
    /// sync worker close every connection after one response).
    pub keep_alive: bool,
    /// How to start it.
    launch: Launch,
    /// The executable, once [`build`] has made or found it.
    program: PathBuf,
    /// Whether it takes `--quiet` (ours print every request otherwise).
    quiet: bool,
    /// Measured with this app only (canned-reply runs none).
    pub only_app: Option<&'static str>,
}

impl ServerSpec {
    /// Whether the plan's `app` is measured with this server.
    pub fn measures(&self, app: &str) -> bool {
        self.only_app
            .is_none_or(|only| app.split(':').next() == Some(only))
    }
}

/// Where a server comes from.
enum Launch {
    /// A binary of this workspace, built by cargo in release.
    Ours {
        package: &'static str,
        bin: &'static str,
        /// Arguments before `--port 0`, `--quiet` and the app.
        args: &'static [&'static str],
    },
    /// A program of `./.venv/bin`, and its arguments for an app and a port.
    Peer {
        program: &'static str,
        args: fn(app: &str, port: u16) -> Vec<String>,
    },
}

// ANCHOR: servers
/// Every server the benchmark knows, in the order they run and are shown.
pub fn all() -> Vec<ServerSpec> {
    vec![
        // The reference every ratio divides by. It runs first, so that the
        // rows printed while the run goes on already have their ratio.
        peer("gunicorn", false, "gunicorn", |app, port| {
            vec![
                "--workers=2".into(),
                "--worker-class=sync".into(),
                format!("--bind=127.0.0.1:{port}"),
                app.into(),
            ]
        }),
        ours("part2", "part2", "part2", &[]),
        ours("webserver3h", "part3", "webserver3h", &[]),
        // The pre-fork server: as many workers as gunicorn's, and the only
        // one of ours that keeps connections alive. (A server that cargo
        // cannot build is skipped, and the table says so.)
        ServerSpec {
            keep_alive: true,
            ..ours("webserver3i", "part3", "webserver3i", &["--workers=2"])
        },
        // The threaded servers, ours and their peers, with 4 threads each
        // (waitress's default). 3j has no fixed count: a thread per client.
        ServerSpec {
            keep_alive: true,
            ..ours("webserver3j", "part3", "webserver3j", &[])
        },
        ServerSpec {
            keep_alive: true,
            ..ours("webserver3k", "part3", "webserver3k", &["--threads=4"])
        },
        // The event loop: one process, one thread, every connection kept.
        ServerSpec {
            keep_alive: true,
            ..ours("webserver3l", "part3", "webserver3l", &[])
        },
        // Pre-fork x event loop: as many workers as gunicorn's, each
        // running 3l's loop, the app on the loop.
        ServerSpec {
            keep_alive: true,
            ..ours("webserver3m", "part3", "webserver3m", &["--workers=2"])
        },
        peer("waitress", true, "waitress-serve", |app, port| {
            vec![
                "--threads=4".into(),
                format!("--listen=127.0.0.1:{port}"),
                app.into(),
            ]
        }),
        // gunicorn's threaded worker: one process, as 3k is.
        peer("gunicorn-gthread", true, "gunicorn", |app, port| {
            vec![
                "--workers=1".into(),
                "--worker-class=gthread".into(),
                "--threads=4".into(),
                format!("--bind=127.0.0.1:{port}"),
                app.into(),
            ]
        }),
        peer("granian", true, "granian", |app, port| {
            vec![
                "--interface=wsgi".into(),
                "--workers=2".into(),
                "--log-level=warning".into(),
                "--host=127.0.0.1".into(),
                format!("--port={port}"),
                app.into(),
            ]
        }),
        // Two servers written in C that run the app on an event loop, in
        // one process and one thread, as 3l does. bjoern has no command
        // line of its own: a line of Python starts it.
        peer("fastwsgi", true, "fastwsgi", |app, port| {
            vec![
                "--host=127.0.0.1".into(),
                format!("--port={port}"),
                "--loglevel=0".into(),
                app.into(),
            ]
        }),
        peer("bjoern", true, "python", |app, port| {
            let (module, callable) =
                app.split_once(':').unwrap_or((app, "app"));
            vec![
                "-c".into(),
                format!(
                    "import bjoern, {module}; \
                     bjoern.run({module}.{callable}, '127.0.0.1', {port})"
                ),
            ]
        }),
        // Not a WSGI server: the ceiling. It writes one fixed reply for
        // each request, with two event loops, so its requests/s are the
        // most this machine carries with wrk beside it (see its source).
        ServerSpec {
            keep_alive: true,
            only_app: Some("wsgiapp"),
            ..ours("canned-reply", "bench", "canned-reply", &[])
        },
    ]
}
// ANCHOR_END: servers

fn ours(
    name: &'static str,
    package: &'static str,
    bin: &'static str,
    args: &'static [&'static str],
) -> ServerSpec {
    ServerSpec {
        name,
        keep_alive: false,
        launch: Launch::Ours { package, bin, args },
        program: PathBuf::new(),
        quiet: false,
        only_app: None,
    }
}

fn peer(
    name: &'static str,
    keep_alive: bool,
    program: &'static str,
    args: fn(&str, u16) -> Vec<String>,
) -> ServerSpec {
    ServerSpec {
        name,
        keep_alive,
        launch: Launch::Peer { program, args },
        program: PathBuf::new(),
        quiet: false,
        only_app: None,
    }
}

/// Makes `./.venv` if needed (as ./test.sh does) and installs the apps'
/// frameworks and the pinned peers into it. Returns the venv's path.
pub fn ensure_venv(root: &Path) -> Result<PathBuf, String> {
    let venv = root.join(".venv");
    if !venv.join("bin/python").exists() {
        // The venv must come from the Python that part2 is built against:
        // pyo3 builds against $VIRTUAL_ENV's python if set, else python3.
        let python = match env::var_os("VIRTUAL_ENV") {
            Some(active) => PathBuf::from(active).join("bin/python"),
            None => PathBuf::from("python3"),
        };
        eprintln!("bench: creating {}", venv.display());
        run_quietly(Command::new(python).arg("-m").arg("venv").arg(&venv))?;
    }
    eprintln!("bench: installing requirements.txt and bench/requirements.txt");
    run_quietly(
        Command::new(venv.join("bin/python"))
            .args(["-m", "pip", "install", "--quiet"])
            .arg("--disable-pip-version-check")
            .arg("-r")
            .arg(root.join("requirements.txt"))
            .arg("-r")
            .arg(root.join("bench/requirements.txt")),
    )?;
    Ok(venv)
}

/// Finds the server's executable: cargo builds ours in release (a no-op
/// when they are up to date); peers must be in the venv.
pub fn build(server: &mut ServerSpec, root: &Path) -> Result<(), String> {
    match &server.launch {
        Launch::Ours { package, bin, .. } => {
            eprintln!("bench: cargo build --release -p {package} --bin {bin}");
            let built = escargot::CargoBuild::new()
                .manifest_path(root.join("Cargo.toml"))
                .package(package)
                .bin(bin)
                .release()
                .run()
                .map_err(|e| {
                    format!("cargo cannot build it: {}", first_error(&e))
                })?;
            server.program = built.path().to_path_buf();
            // Printing every request would measure the terminal, not the
            // server: pass --quiet to those of ours that have it.
            let help = Command::new(&server.program)
                .arg("--help")
                .output()
                .map_err(|e| format!("cannot run it: {e}"))?;
            server.quiet =
                String::from_utf8_lossy(&help.stdout).contains("--quiet");
        }
        Launch::Peer { program, .. } => {
            server.program = root.join(".venv/bin").join(program);
            if !server.program.exists() {
                return Err(format!("{} is missing", server.program.display()));
            }
        }
    }
    Ok(())
}

/// The line of cargo's output that says what went wrong.
fn first_error(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with("error"))
        .or_else(|| text.lines().next())
        .unwrap_or("");
    line.trim().to_string()
}

/// A server that is running, ready to answer; dropping it stops it.
pub struct Running {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

/// Starts `server` serving `app` (module:callable) and waits until it
/// answers `GET /hello` with a 200.
pub fn start(
    server: &ServerSpec,
    app: &str,
    root: &Path,
    venv: &Path,
) -> Result<Running, String> {
    // The server's stderr goes to a log, which is shown if it fails.
    let log_path = env::temp_dir().join(format!("bench-{}.log", server.name));
    let log = File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let mut command = Command::new(&server.program);
    command
        .current_dir(root)
        // Our servers find part2's apps themselves; the peers look in
        // PYTHONPATH. Ours use the venv of VIRTUAL_ENV.
        .env("PYTHONPATH", root.join("part2/apps"))
        .env("VIRTUAL_ENV", venv)
        .stdin(Stdio::null())
        .stderr(log);
    let (mut child, port) = match &server.launch {
        Launch::Ours { args, .. } => {
            command.args(*args).args(["--port", "0"]);
            if server.quiet {
                command.arg("--quiet");
            }
            command.arg(app).stdout(Stdio::piped());
            let mut child = spawn(&mut command)?;
            let port = first_line_port(&mut child);
            (child, port)
        }
        Launch::Peer { args, .. } => {
            // Peers take a port but do not print it: pick a free one.
            let port = free_port()?;
            command.args(args(app, port)).stdout(Stdio::null());
            (spawn(&mut command)?, Some(port))
        }
    };
    let ready = port
        .ok_or("printed no port".to_string())
        .and_then(|port| wait_until_ready(&mut child, port).map(|()| port));
    match ready {
        Ok(port) => Ok(Running { child, port }),
        Err(why) => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(format!("{why}; its stderr ends:\n{}", tail.join("\n")))
        }
    }
}

fn spawn(command: &mut Command) -> Result<Child, String> {
    command
        .spawn()
        .map_err(|e| format!("cannot start {command:?}: {e}"))
}

/// Reads the port from the server's first line (`... port N ...`), then
/// keeps emptying its stdout, so that a server that prints never blocks.
fn first_line_port(child: &mut Child) -> Option<u16> {
    let stdout = child.stdout.take()?;
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let _ = sender.send(line);
        let _ = io::copy(&mut stdout, &mut io::sink());
    });
    let line = receiver.recv_timeout(PATIENCE).ok()?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == "port")?;
    words.next()?.parse().ok()
}

/// A port that was free a moment ago (the kernel's choice for port 0).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// Asks for /hello until a 200 comes back; fails if the server exits.
fn wait_until_ready(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited ({status})"));
        }
        if answers_hello(port) {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no 200 for GET /hello within {PATIENCE:?}"))
}

fn answers_hello(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                   Connection: close\r\n\r\n";
    let mut reply = Vec::new();
    if stream.write_all(request.as_bytes()).is_err()
        || stream.read_to_end(&mut reply).is_err()
    {
        return false;
    }
    reply.starts_with(b"HTTP/1.1 200") || reply.starts_with(b"HTTP/1.0 200")
}

impl Running {
    /// The server's process id: the root of the tree that memory sums.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server as a service manager would: SIGTERM, then wait
    /// (SIGKILL if it takes longer than PATIENCE).
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // A pid fits an i32: the kernel's pid_max is at most 2^22.
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}
