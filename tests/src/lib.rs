//! The wire-test kit that every stage's tests use.
//!
//! A test starts the real server binary with `--port 0`, reads the port from
//! the first line the server prints, sends raw bytes over a real socket, reads
//! the whole reply, and compares it with a snapshot. The snapshot shows the
//! bytes exactly: every `\r` and `\n` is spelled out, because insta folds CRLF
//! into LF and trims trailing whitespace before it compares, and a snapshot of
//! the raw text could not tell a correct reply from a bare-LF one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use std::{env, thread};

pub mod exercises;

/// How long a test waits for a server to start or to answer before failing.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// What curl sends for `curl http://localhost:8888/hello`.
pub const GET_HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\
    User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
/// The same, asking the server to close the connection after its reply
/// (a server that keeps connections then closes, and the reply ends there).
pub const GET_HELLO_CLOSE: &[u8] =
    b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\
    User-Agent: curl/7.88.1\r\nAccept: */*\r\nConnection: close\r\n\r\n";

/// The repository root: servers run from here, as the README's commands do.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

/// Builds (if needed) a binary of a workspace package and returns its path.
///
/// Cargo only hands a test the binaries of its own package, so the kit asks
/// cargo for the others; an up-to-date build takes a fraction of a second.
pub fn binary(package: &str, bin: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let key = format!("{package}/{bin}");
    if let Some((_, path)) = built.iter().find(|(k, _)| *k == key) {
        return path.clone();
    }
    let run = escargot::CargoBuild::new()
        .manifest_path(workspace_root().join("Cargo.toml"))
        .package(package)
        .bin(bin)
        .current_release()
        .run()
        .unwrap_or_else(|e| panic!("cargo could not build {key}: {e}"));
    let path = run.path().to_path_buf();
    built.push((key, path.clone()));
    path
}

/// A server binary running on a free port; dropping it stops the server.
pub struct Server {
    child: Child,
    /// The port the server printed on its first line.
    pub port: u16,
    /// Everything the server printed after that line, stdout and stderr.
    output: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// Starts `bin` of `package` with `--port 0` and the given arguments.
    pub fn start(package: &str, bin: &str, args: &[&str]) -> Server {
        Self::start_with(package, bin, args, &[])
    }

    /// As [`Server::start`], with extra environment variables.
    pub fn start_with(
        package: &str,
        bin: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Server {
        Self::start_in(&workspace_root(), package, bin, args, envs)
    }

    /// As [`Server::start_with`], in the folder `dir` instead of the
    /// repository root.
    pub fn start_in(
        dir: &Path,
        package: &str,
        bin: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Server {
        Self::start_binary(&binary(package, bin), dir, args, envs)
    }

    /// Starts the program at `path` with `--port 0` and the given
    /// arguments, in the folder `dir` (for a binary that the kit did not
    /// build: an exercise's pristine copy).
    pub fn start_binary(
        path: &Path,
        dir: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Server {
        let bin = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        let mut child = Command::new(path)
            .args(["--port", "0"])
            .args(args)
            .envs(envs.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let (first_line, first_line_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        collect(stdout, Arc::clone(&output), Some(first_line));
        collect(stderr, Arc::clone(&output), None);

        let line: String = match first_line_rx.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                // Give the readers a moment to drain the pipes.
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "{bin} printed no first line; it said:\n{}",
                    String::from_utf8_lossy(&output.lock().expect("lock"))
                );
            }
        };
        let port = port_in(&line).unwrap_or_else(|| {
            panic!("{bin}'s first line names no port: {line:?}")
        });
        Server {
            child,
            port,
            output,
        }
    }

    /// Starts `bin` of `package` serving `testapps:NAME`, the test apps
    /// of `tests/apps/testapps.py`, from that folder (so the module is found
    /// in the current directory, as a learner's own would be), with the
    /// project's venv named in VIRTUAL_ENV. `args` go before the app.
    pub fn start_testapp(
        package: &str,
        bin: &str,
        name: &str,
        args: &[&str],
    ) -> Server {
        Self::start_test_module(package, bin, &format!("testapps:{name}"), args)
    }

    /// As [`Server::start_testapp`], for any `module:callable` of
    /// `tests/apps` (`flask_echo:app`...).
    pub fn start_test_module(
        package: &str,
        bin: &str,
        app: &str,
        args: &[&str],
    ) -> Server {
        let mut all = args.to_vec();
        all.push(app);
        let venv = venv();
        Server::start_in(
            &workspace_root().join("tests/apps"),
            package,
            bin,
            &all,
            &[("VIRTUAL_ENV", venv.to_str().expect("a UTF-8 path"))],
        )
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server printed after its first line (stdout and stderr).
    pub fn output(&self) -> String {
        let output = self.output.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&output).into_owned()
    }

    /// Waits until the server's output contains `text`; false on time-out.
    pub fn wait_for_output(&self, text: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.output().contains(text) {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Opens a connection to the server.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("cannot connect: {e}"));
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("set timeout");
        // Each write leaves as its own segment, as a slow client's would.
        stream.set_nodelay(true).expect("set nodelay");
        stream
    }

    /// Sends `request` in one write and returns the whole reply.
    pub fn exchange(&self, request: &[u8]) -> Vec<u8> {
        self.exchange_in_parts(&[request], Duration::ZERO)
    }

    // ANCHOR: exchange_in_parts
    /// Sends `parts` in separate writes, `pause` apart, and returns the
    /// whole reply: every byte until the server closes the connection. A
    /// server may answer before the request is whole (say, a 408 for a
    /// client too slow), and close: a write that fails ends the sending,
    /// and the reply is what the server sent.
    pub fn exchange_in_parts(
        &self,
        parts: &[&[u8]],
        pause: Duration,
    ) -> Vec<u8> {
        let mut stream = self.connect();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                thread::sleep(pause);
            }
            if stream.write_all(part).is_err() {
                break;
            }
        }
        read_reply(&mut stream)
    }
    // ANCHOR_END: exchange_in_parts

    /// Sends a signal (e.g. `libc::SIGINT`) to the server.
    #[cfg(unix)]
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.pid()).expect("pid fits an i32");
        // SAFETY: kill(2) only sends a signal; it touches no memory of ours.
        unsafe { libc::kill(pid, signal) };
    }

    /// Waits for the server to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies a pipe into `output`; the first line goes to `first_line` instead.
fn collect(
    pipe: impl Read + Send + 'static,
    output: Arc<Mutex<Vec<u8>>>,
    mut first_line: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while let Ok(n) = reader.read_until(b'\n', &mut line) {
            if n == 0 {
                break;
            }
            match first_line.take() {
                Some(tx) => {
                    let _ = tx.send(String::from_utf8_lossy(&line).into());
                }
                None => output.lock().expect("lock").extend_from_slice(&line),
            }
            line.clear();
        }
    });
}

/// Finds `port N` in the server's first line.
fn port_in(line: &str) -> Option<u16> {
    let rest = &line[line.find("port ")? + "port ".len()..];
    let digits: String =
        rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Reads until the server closes the connection.
pub fn read_reply(stream: &mut TcpStream) -> Vec<u8> {
    let mut reply = Vec::new();
    if let Err(e) = stream.read_to_end(&mut reply) {
        panic!(
            "reading the reply failed after {} bytes: {e}\n{}",
            reply.len(),
            render(&reply)
        );
    }
    let _ = stream.shutdown(Shutdown::Both);
    reply
}

// ANCHOR: render
/// Shows bytes exactly: `\r`, `\n`, `\t`, `\\` and every byte outside
/// printable ASCII are escaped, and each `\n` also ends the line, so the
/// text reads like the message while no byte is hidden.
pub fn render(bytes: &[u8]) -> String {
    let mut text = String::new();
    for (i, &byte) in bytes.iter().enumerate() {
        match byte {
            b'\r' => text.push_str("\\r"),
            b'\n' => text.push_str("\\n\n"),
            b'\t' => text.push_str("\\t"),
            b'\\' => text.push_str("\\\\"),
            // A space at the very end would be trimmed by insta.
            b' ' if i + 1 == bytes.len() => text.push_str("\\x20"),
            0x20..=0x7e => text.push(char::from(byte)),
            _ => text.push_str(&format!("\\x{byte:02x}")),
        }
    }
    text
}
// ANCHOR_END: render

// ANCHOR: transcript
/// The text a wire snapshot holds: the request and the reply, each with its
/// exact length and rendered by [`render`]. The reply's Date value is the one
/// thing that changes from run to run: it is checked to be the current time
/// in IMF-fixdate format, then shown as `<IMF-fixdate>`.
pub fn transcript(request: &[u8], reply: &[u8]) -> String {
    let reply_shown = redact_date(reply);
    format!(
        "request ({} bytes):\n{}\n\nreply ({} bytes):\n{}\n",
        request.len(),
        render(request).trim_end_matches('\n'),
        reply.len(),
        render(&reply_shown).trim_end_matches('\n'),
    )
}
// ANCHOR_END: transcript

// ANCHOR: redact_date
/// Checks every `Date:` header in the reply's heads and hides its value. A
/// reply holds several responses when its connection carried several
/// requests (keep-alive); the next head starts after the body before it,
/// whose length that head's Content-Length gives.
pub fn redact_date(reply: &[u8]) -> Vec<u8> {
    let mut shown = Vec::with_capacity(reply.len());
    let mut rest = reply;
    while let Some(end) = find(rest, b"\r\n\r\n") {
        let (head, after) = rest.split_at(end + 4);
        redact_head(head, &mut shown);
        // Without a Content-Length, the body is the rest of the reply.
        let length = content_length(head).unwrap_or(after.len());
        let (body, next) = after.split_at(length.min(after.len()));
        shown.extend_from_slice(body);
        rest = next;
    }
    shown.extend_from_slice(rest);
    shown
}

/// Copies one head into `shown`, each Date value checked and hidden.
fn redact_head(head: &[u8], shown: &mut Vec<u8>) {
    for line in head.split_inclusive(|&b| b == b'\n') {
        let is_date =
            line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:");
        if !is_date {
            shown.extend_from_slice(line);
            continue;
        }
        // Keep every byte but the value: the name, the spaces, the ending.
        let spaces = line[5..].iter().take_while(|&&b| b == b' ').count();
        let ending = line
            .iter()
            .rev()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let (start, end) = (5 + spaces, line.len() - ending);
        assert_imf_fixdate(&String::from_utf8_lossy(&line[start..end]));
        shown.extend_from_slice(&line[..start]);
        shown.extend_from_slice(b"<IMF-fixdate>");
        shown.extend_from_slice(&line[end..]);
    }
}

/// The Content-Length a head gives, if any.
pub fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}
// ANCHOR_END: redact_date

/// Panics unless `value` is IMF-fixdate (RFC 9110, 5.6.7) and within a
/// minute of now.
pub fn assert_imf_fixdate(value: &str) {
    let when = httpdate::parse_http_date(value)
        .unwrap_or_else(|e| panic!("Date {value:?} is not an HTTP date: {e}"));
    // httpdate also reads the two obsolete formats; only IMF-fixdate
    // prints back unchanged.
    assert_eq!(
        httpdate::fmt_http_date(when),
        value,
        "Date {value:?} is not IMF-fixdate"
    );
    let now = SystemTime::now();
    let skew = now.duration_since(when).unwrap_or_else(|e| e.duration());
    assert!(skew < Duration::from_secs(60), "Date {value:?} is not now");
}

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The payload of a reply: its body, with the chunks of a chunked body
/// joined (the test then reads what the app sent, however it was framed).
pub fn payload(reply: &[u8]) -> Vec<u8> {
    let head =
        String::from_utf8_lossy(&reply[..reply.len() - body(reply).len()]);
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body(reply).to_vec();
    }
    let mut rest = body(reply);
    let mut joined = Vec::new();
    while let Some(line_end) = find(rest, b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size.trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size:?}"));
        let chunk = &rest[line_end + 2..];
        if size == 0 || chunk.len() < size + 2 {
            break;
        }
        joined.extend_from_slice(&chunk[..size]);
        rest = &chunk[size + 2..];
    }
    joined
}

/// The status line of a reply, without its CRLF (`HTTP/1.1 200 OK`).
pub fn status_line(reply: &[u8]) -> String {
    let end = find(reply, b"\r\n").unwrap_or(reply.len());
    String::from_utf8_lossy(&reply[..end]).into_owned()
}

/// The body of a reply: what follows the blank line after the head.
pub fn body(reply: &[u8]) -> &[u8] {
    find(reply, b"\r\n\r\n").map_or(&[][..], |i| &reply[i + 4..])
}

// ANCHOR: assert_wire
/// Compares a transcript with the snapshot `name` in `tests/snapshots/`.
///
/// Snapshots are named by the caller, not by the test function, so the book
/// can include them by a path that never changes.
#[track_caller]
pub fn assert_wire(name: &str, request: &[u8], reply: &[u8]) {
    assert_text(name, &transcript(request, reply));
}

/// Compares any text with the snapshot `name` in `tests/snapshots/`, with
/// the same settings (insta's 3-line header, the name as given).
#[track_caller]
pub fn assert_text(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}
// ANCHOR_END: assert_wire

/// True when running under CI, where nothing may be skipped.
pub fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The project's venv, made by `./test.sh`.
pub fn venv() -> PathBuf {
    workspace_root().join(".venv")
}

/// Whether the project's venv can import the Python `module` (a framework
/// an example app needs). Outside CI a test without it says so and skips;
/// under CI it fails instead, so a missing framework can't pass unnoticed.
pub fn python_has(module: &str) -> bool {
    let python = venv().join("bin/python");
    let found = python.exists()
        && output_within(
            Command::new(&python).args(["-c", &format!("import {module}")]),
            PATIENCE,
        )
        .status
        .success();
    if !found {
        assert!(
            !in_ci(),
            "{} cannot import {module}: ./test.sh installs it",
            python.display()
        );
        eprintln!("skipped: {module} is not installed; run ./test.sh");
    }
    found
}

/// Runs `command` to its end, as `Command::output` does, but kills it and
/// panics if it is still running after `timeout`: a program that should
/// exit and serves forever instead must fail the test, not hang it.
pub fn output_within(command: &mut Command, timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("piped")));
    let stderr = read_all(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} still ran after {timeout:?}: killed");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// The start-up contract of every WSGI server of the project: a
/// module that does not exist, and a port that is taken, each give one
/// line on stderr that says so, and the exit code 2.
pub fn assert_start_up_contract(package: &str, bin: &str) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port().to_string();
    let cases: [(&[&str], &str); 2] = [
        (&["--port", "0", "nosuchmodule:app"], "no module named"),
        (&["--port", &port, "wsgiapp:app"], "in use"),
    ];
    for (args, want) in cases {
        let out = output_within(
            Command::new(binary(package, bin))
                .args(args)
                .current_dir(workspace_root()),
            PATIENCE,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bin}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{bin}: {stderr}");
        assert!(stderr.contains(want), "{bin}: {want:?} not in {stderr}");
    }
}

/// Runs `program` with `args` and returns its stdout; panics on failure.
pub fn run_tool(program: &str, args: &[&str]) -> String {
    let output = output_within(
        Command::new(program)
            .args(args)
            .current_dir(workspace_root()),
        PATIENCE,
    );
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Reads one reply without waiting for the server to close: the head, up
/// to the blank line, then as many body bytes as its Content-Length says.
pub fn read_response(stream: &mut TcpStream) -> Vec<u8> {
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    // One byte at a time, so that nothing after the reply is consumed.
    while find(&reply, b"\r\n\r\n").is_none() {
        match stream.read(&mut byte) {
            Ok(0) => panic!("the head was cut short:\n{}", render(&reply)),
            Ok(_) => reply.push(byte[0]),
            Err(e) => {
                panic!("reading the head failed: {e}\n{}", render(&reply))
            }
        }
    }
    let length = content_length(&reply)
        .unwrap_or_else(|| panic!("no Content-Length in:\n{}", render(&reply)));
    let mut body = vec![0; length];
    stream
        .read_exact(&mut body)
        .unwrap_or_else(|e| panic!("reading the body failed: {e}"));
    reply.extend_from_slice(&body);
    reply
}

/// Each child process of `pid`: its pid and its state letter (`R`, `S`,
/// `Z` for a zombie...), as `ps` shows them on Linux and macOS.
#[cfg(unix)]
pub fn children(pid: u32) -> Vec<(u32, char)> {
    run_tool("ps", &["-A", "-o", "pid=,ppid=,stat="])
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let child: u32 = fields.next()?.parse().ok()?;
            let ppid: u32 = fields.next()?.parse().ok()?;
            let state = fields.next()?.chars().next()?;
            (ppid == pid).then_some((child, state))
        })
        .collect()
}

/// The state letter of each child process of `pid` (see [`children`]).
#[cfg(unix)]
pub fn child_states(pid: u32) -> Vec<char> {
    children(pid).into_iter().map(|(_, state)| state).collect()
}

/// How many children of `pid` are zombies (`<defunct>` in `ps`, state Z):
/// they have exited, and their parent has not collected their status.
#[cfg(unix)]
pub fn zombie_children(pid: u32) -> usize {
    child_states(pid)
        .iter()
        .filter(|&&state| state == 'Z')
        .count()
}

/// How many file descriptors the process `pid` has open.
#[cfg(unix)]
pub fn open_fds(pid: u32) -> usize {
    if cfg!(target_os = "linux") {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/fd: {e}"))
            .count()
    } else {
        // No /proc on macOS: lsof lists each descriptor as a line `fN`.
        run_tool("lsof", &["-p", &pid.to_string(), "-F", "f"])
            .lines()
            .filter_map(|line| line.strip_prefix('f'))
            .filter(|fd| fd.parse::<u32>().is_ok())
            .count()
    }
}

/// Runs part 3's client3 against `server`: `clients` processes, each
/// holding `conns` connections. Returns (succeeded, failed), read from the
/// summary that ends its output.
#[cfg(unix)]
pub fn client3(
    server: &Server,
    clients: usize,
    conns: usize,
) -> (usize, usize) {
    let out = output_within(
        Command::new(binary("part3", "client3"))
            .args(["--port", &server.port.to_string()])
            .args(["--max-clients", &clients.to_string()])
            .args(["--max-conns", &conns.to_string()]),
        PATIENCE,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    // `client3: 100 connections: 100 succeeded, 0 failed`
    let numbers: Vec<usize> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [_, total, succeeded, failed] = numbers[..] else {
        panic!("client3's summary: {summary:?}\n{stdout}");
    };
    assert_eq!(total, clients * conns, "{summary}");
    assert_eq!(out.status.success(), failed == 0, "{summary}");
    (succeeded, failed)
}

// ANCHOR: zombies_once_children_exit
/// Waits until every child of the server has exited: each one is gone or
/// a zombie. Returns how many zombies stay.
#[cfg(unix)]
pub fn zombies_once_children_exit(server: &Server) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let states = child_states(server.pid());
        if states.iter().all(|&state| state == 'Z') {
            return states.len();
        }
        assert!(
            Instant::now() < deadline,
            "children still running: {states:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}
// ANCHOR_END: zombies_once_children_exit

/// Waits until `pid` has `expected` descriptors open; returns the count.
#[cfg(unix)]
pub fn fds_settle_at(pid: u32, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut fds = open_fds(pid);
    while fds != expected && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        fds = open_fds(pid);
    }
    fds
}

// ANCHOR: listing_diff
/// The diff the book shows from one listing to the next (files from the
/// repository root): the code only, without the `//!` header that opens
/// each file or the `ANCHOR` comments that mark what the book includes.
pub fn listing_diff(old: &str, new: &str) -> String {
    let code = |file: &str| {
        let path = workspace_root().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let lines: Vec<&str> = text
            .lines()
            .skip_while(|line| line.starts_with("//!") || line.is_empty())
            .filter(|line| !line.trim_start().starts_with("// ANCHOR"))
            .collect();
        lines.join("\n") + "\n"
    };
    let (old_code, new_code) = (code(old), code(new));
    similar::TextDiff::from_lines(&old_code, &new_code)
        .unified_diff()
        .context_radius(2)
        .header(old, new)
        .to_string()
}
// ANCHOR_END: listing_diff

// ---- the steps that answer as part2 does --------------------------------

/// The reply part of a transcript, from `reply (N bytes):` on.
pub fn reply_part(transcript: &str) -> &str {
    let start = transcript.find("reply (").expect("a reply part");
    transcript[start..].trim_end()
}

/// The reply of part2's snapshot `part2-NAME-hello`, as tests/snapshots
/// holds it.
pub fn part2_hello_reply(name: &str) -> String {
    let path = workspace_root()
        .join(format!("tests/snapshots/part2-{name}-hello.snap"));
    let snapshot = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    reply_part(&snapshot).to_string()
}

/// The reply of `server` to GET_HELLO (asking to close) is the very reply
/// of part2's snapshot for the app `name`: the same bytes, length and all.
pub fn assert_hello_as_part2(server: &Server, name: &str) {
    let reply = server.exchange(GET_HELLO_CLOSE);
    let ours = transcript(GET_HELLO_CLOSE, &reply);
    assert_eq!(reply_part(&ours), part2_hello_reply(name));
}

/// `count` requests in one write to the test app `echo_form`, each with
/// its own query: `count` replies, in the order of the requests.
pub fn assert_pipelined_in_order(server: &Server, count: usize) {
    let mut request = Vec::new();
    for n in 0..count {
        let line = format!("GET /?n={n} HTTP/1.1\r\nHost: x\r\n\r\n");
        request.extend_from_slice(line.as_bytes());
    }
    let mut stream = server.connect();
    stream.write_all(&request).expect("send");
    for n in 0..count {
        let reply = read_response(&mut stream);
        let echoed = String::from_utf8_lossy(body(&reply)).into_owned();
        assert_eq!(echoed, format!("n={n}\n"));
    }
}

/// For the test app `sleepy`: starts a request that sleeps 2 s, then,
/// 0.3 s later, three quick requests at once; how long each quick one took.
pub fn quick_while_one_sleeps(server: &Server) -> Vec<Duration> {
    let port = server.port;
    let slow = thread::spawn(move || {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .write_all(
                b"GET /?2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .expect("send");
        read_reply(&mut stream)
    });
    thread::sleep(Duration::from_millis(300));
    let delayed: Vec<Duration> = thread::scope(|scope| {
        let clients: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let started = Instant::now();
                    let reply = try_get(server, "/?0", PATIENCE).expect("ok");
                    assert_eq!(body(&reply), b"slept\n");
                    started.elapsed()
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().expect("a client"))
            .collect()
    });
    assert_eq!(body(&slow.join().expect("the slow client")), b"slept\n");
    delayed
}

// ---- the pre-fork servers (3i, 3m) ----------------------------------------

/// The PIDs of a pre-fork server's workers, once `count` of them run.
#[cfg(unix)]
pub fn workers(server: &Server, count: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids: Vec<u32> = children(server.pid())
            .into_iter()
            .filter(|&(_, state)| state != 'Z')
            .map(|(pid, _)| pid)
            .collect();
        if pids.len() == count {
            return pids;
        }
        assert!(Instant::now() < deadline, "workers: {pids:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until none of `pids` runs any more; true if so.
#[cfg(target_os = "linux")]
pub fn all_gone(pids: &[u32]) -> bool {
    let alive = |pid: &u32| Path::new(&format!("/proc/{pid}")).exists();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(alive) {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
    true
}

/// One request on a connection of its own, answered or not: the reply, or
/// what went wrong. A reply that has not come after `patience` is an error,
/// and so is any reply but a 200.
pub fn try_get(
    server: &Server,
    target: &str,
    patience: Duration,
) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(patience))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .map_err(|e| format!("read: {e} after {} bytes", reply.len()))?;
    if !reply.starts_with(b"HTTP/1.1 200 OK\r\n") {
        return Err(format!("not a 200: {}", String::from_utf8_lossy(&reply)));
    }
    Ok(reply)
}

/// Waits until the server has printed `text` `count` times.
pub fn wait_for_count(server: &Server, text: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.output().matches(text).count() < count {
        assert!(Instant::now() < deadline, "{}", server.output());
        thread::sleep(Duration::from_millis(20));
    }
}
