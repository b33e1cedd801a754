//! Step 3i, beyond the article: a pre-fork WSGI server. 3h forks a child
//! for every client, and pays for a fork each time; this one forks a few
//! workers once, at start-up, and each of them accepts clients in a loop.
//! It is the model of gunicorn's sync workers.
//!
//! There is no Python original: the article ends at 3h. Run it from the
//! repository root with
//! `cargo run -p part3 --bin webserver3i -- --workers 2 flaskapp:app`,
//! then try `curl -v http://127.0.0.1:8888/hello`.

use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::process::{self, ExitCode};
use std::thread;
use std::time::Duration;

use clap::Parser;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, getppid};
use part2::{Connection, WSGIServer};
use pyo3::prelude::*;

// ANCHOR: args
/// Step 3i of Let's Build A Web Server: a pre-fork WSGI server.
#[derive(Parser)]
struct Args {
    /// The WSGI application, as module:callable (e.g. flaskapp:app)
    app: String,
    /// Address to listen on (`0.0.0.0` listens on every interface)
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 8888)]
    port: u16,
    /// How many worker processes serve clients at once
    #[arg(long, short, default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..))]
    workers: u16,
    /// Don't print each request and response
    #[arg(long, short)]
    quiet: bool,
}
// ANCHOR_END: args

/// How many connections the kernel keeps waiting while the workers are busy.
const REQUEST_QUEUE_SIZE: i32 = 1024;
/// How long a worker keeps an idle connection open for its next request.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a kept client may take to send its next request, once another
/// client waits for the worker.
const GRACE: Duration = Duration::from_millis(10);

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    let httpd = part2::make_server_for(
        &args.app,
        &args.host,
        args.port,
        REQUEST_QUEUE_SIZE,
    );
    let mut httpd = match httpd {
        Ok(httpd) => httpd,
        Err(message) => {
            eprintln!("webserver3i: {message}");
            return ExitCode::from(2);
        }
    };
    httpd.verbose = !args.quiet;
    httpd.multiprocess = true;
    println!("WSGIServer: Serving HTTP on port {} ...", httpd.server_port);
    // Load everything the app loads lazily now, before the fork: every
    // worker then starts with it, in memory pages it shares with us.
    if let Err(err) = httpd.warm_up() {
        eprintln!("webserver3i: warm-up request failed: {err}");
    }
    // The parent takes its signals one at a time, when it asks for them
    // (see arbiter); blocked from now on, so that none is lost meanwhile.
    let signals = arbiter_signals();
    if let Err(err) = signals.thread_block() {
        eprintln!("webserver3i: cannot block signals: {err}");
        return ExitCode::FAILURE;
    }
    let mut workers = Vec::new();
    for _ in 0..args.workers {
        workers.extend(spawn_worker(&httpd));
    }
    arbiter(&httpd, &signals, workers)
}
// ANCHOR_END: main

// ANCHOR: arbiter
/// The signals the parent waits for: a worker ended, or we are told to stop.
fn arbiter_signals() -> SigSet {
    let mut signals = SigSet::empty();
    for signal in [Signal::SIGCHLD, Signal::SIGINT, Signal::SIGTERM] {
        signals.add(signal);
    }
    signals
}

/// The parent's whole job once the workers run: when one ends, start
/// another in its place, so that a crashed worker (a segfault in a C
/// extension, an out-of-memory kill) does not shrink the server; when told
/// to stop, stop the workers first.
// Unlike 3g, no signal handler: the parent has nothing else to do, so it
// blocks its signals and waits for the next one with sigwait(). Each
// arrives here as an ordinary return value, at a moment of our choosing,
// and the code that handles it may do anything, println! included.
fn arbiter(
    httpd: &WSGIServer,
    signals: &SigSet,
    mut workers: Vec<Pid>,
) -> ExitCode {
    loop {
        match signals.wait() {
            Ok(Signal::SIGCHLD) => {
                // Signals merge (3f): collect every worker that has ended.
                while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG))
                {
                    let Some(pid) = status.pid() else { break };
                    match status {
                        WaitStatus::Exited(_, code) => {
                            println!("Worker {pid} exited with status {code}");
                        }
                        WaitStatus::Signaled(_, signal, _) => {
                            println!("Worker {pid} was killed by {signal}");
                        }
                        // Stopped or continued (a debugger): still a worker.
                        _ => continue,
                    }
                    workers.retain(|&worker| worker != pid);
                    workers.extend(spawn_worker(httpd));
                }
            }
            Ok(signal) => {
                println!("{signal}: stopping {} workers", workers.len());
                for &worker in &workers {
                    let _ = kill(worker, Signal::SIGTERM);
                }
                // Collect them all: no zombie is left behind.
                for &worker in &workers {
                    let _ = waitpid(worker, None);
                }
                return ExitCode::SUCCESS;
            }
            Err(err) => {
                eprintln!("webserver3i: sigwait failed: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
}
// ANCHOR_END: arbiter

// ANCHOR: spawn_worker
/// Forks one worker, which serves clients until it dies. Returns its PID.
fn spawn_worker(httpd: &WSGIServer) -> Option<Pid> {
    let parent = Pid::this();
    // As in 3h: fork through the interpreter, with os.fork().
    let forked = Python::attach(|py| -> PyResult<i32> {
        py.import("os")?.call_method0("fork")?.extract()
    });
    match forked {
        Ok(0) => {
            // The worker.
            become_worker(parent);
            println!("Booting worker with pid {}", process::id());
            serve_forever(httpd)
        }
        Ok(worker) => Some(Pid::from_raw(worker)),
        Err(err) => {
            eprintln!("webserver3i: fork failed: {err}");
            None
        }
    }
}
// ANCHOR_END: spawn_worker

// ANCHOR: serve_forever
/// A worker's loop: accept a client, serve it, and again. All the workers
/// wait in accept() on the one listening socket they inherited; the kernel
/// hands each new client to one of them.
fn serve_forever(httpd: &WSGIServer) -> ! {
    loop {
        match httpd.listen_socket().accept() {
            Ok((client_connection, _)) => {
                handle_connection(httpd, client_connection)
            }
            Err(err) => {
                eprintln!("webserver3i: accept failed: {err}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
// ANCHOR_END: serve_forever

// ANCHOR: handle_connection
/// Serves one client's requests one after another, on one connection
/// (HTTP/1.1 keep-alive), for as long as the client wants and nobody else
/// is waiting.
// A worker serves one connection at a time: while it waits for this
// client's next request, it serves nobody else. gunicorn's sync workers
// don't keep connections open at all for that reason. We do, but only
// while no other client waits to be accepted.
fn handle_connection(httpd: &WSGIServer, client_connection: TcpStream) {
    let mut connection = Connection::new(client_connection);
    loop {
        // Offer to keep the connection only if nobody waits in the queue.
        let listener = httpd.listen_socket().as_fd();
        let keep_alive = !readable(&[listener], Duration::ZERO)[0];
        if !httpd.handle_one_request(&mut connection, keep_alive) {
            break;
        }
        if connection.has_buffered_bytes() {
            continue; // the next request is here already
        }
        // Wait for the client's next request; give up after a while.
        let fds = [connection.socket().as_fd(), listener];
        let ready = readable(&fds, KEEP_ALIVE_TIMEOUT);
        let (request, newcomer) = (ready[0], ready[1]);
        // A new client came first: give way to it, but not before the kept
        // client has had a moment to send the request it may be sending
        // now (closing under its feet would lose that request).
        let next_request =
            request || (newcomer && readable(&fds[..1], GRACE)[0]);
        if !next_request {
            break;
        }
    }
    connection.close();
}

/// Waits until one of `fds` can be read, at most `timeout`, and tells
/// which can (none, on time-out).
fn readable(fds: &[BorrowedFd<'_>], timeout: Duration) -> Vec<bool> {
    let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    let mut poll_fds: Vec<PollFd> = fds
        .iter()
        .map(|&fd| PollFd::new(fd, PollFlags::POLLIN))
        .collect();
    // An error (say, EINTR) counts as a time-out: nothing is ready.
    let _ = poll(&mut poll_fds, timeout);
    poll_fds
        .iter()
        .map(|fd| fd.revents().is_some_and(|events| !events.is_empty()))
        .collect()
}
// ANCHOR_END: handle_connection

// ANCHOR: become_worker
/// Sets up a new worker. A worker must not outlive the parent: it would
/// hold the port and serve on, unwatched. Ctrl-C reaches every process of
/// the terminal's group; a `kill` of the parent alone does not, so the
/// worker asks Linux to send it SIGTERM when its parent dies.
fn become_worker(parent: Pid) {
    // The parent's blocked signals come with the fork: a worker wants
    // SIGTERM and SIGINT to stop it, and SIGCHLD for an app's subprocess.
    let _ = arbiter_signals().thread_unblock();
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    // SIMPLIFICATION: macOS has no parent-death signal; there a worker
    // whose parent was killed alone serves on until it is killed too.
    // The parent may have died before we asked: then nobody will tell us.
    if getppid() != parent {
        process::exit(0);
    }
}
// ANCHOR_END: become_worker
