//! Step 3i, beyond the article: a pre-fork WSGI server. 3h forks a child
//! for every client, and pays for a fork each time; this one forks a few
//! workers once, at start-up, and each of them accepts clients in a loop.
//! It is the model of gunicorn's sync workers.
//!
//! There is no Python original: the article ends at 3h. Run it from the
//! repository root with
//! `cargo run -p part3 --bin webserver3i -- --workers 2 flaskapp:app`,
//! then try `curl -v http://127.0.0.1:8888/hello`.

use std::process::{self, ExitCode};

use clap::Parser;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{WaitStatus, wait};
use nix::unistd::{Pid, getppid};
use part2::WSGIServer;
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

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(message) = part2::start_python() {
        eprintln!("webserver3i: {message}");
        return ExitCode::from(2);
    }
    let application =
        Python::attach(|py| part2::load_application(py, &args.app));
    let application = match application {
        Ok(application) => application,
        Err(message) => {
            eprintln!("webserver3i: {message}");
            return ExitCode::from(2);
        }
    };
    let httpd = part2::make_server(
        &args.host,
        args.port,
        application,
        REQUEST_QUEUE_SIZE,
    );
    let mut httpd = match httpd {
        Ok(httpd) => httpd,
        Err(err) => {
            eprintln!(
                "webserver3i: cannot listen on {}:{}: {err}",
                args.host, args.port
            );
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
    for _ in 0..args.workers {
        spawn_worker(&httpd);
    }
    arbiter(&httpd)
}
// ANCHOR_END: main

// ANCHOR: arbiter
/// The parent's whole job once the workers run: wait for one to end, and
/// start another in its place, so that a crashed worker (a segfault in a C
/// extension, an out-of-memory kill) does not shrink the server.
// No SIGCHLD handler here, unlike 3g: the parent has nothing else to do,
// so it can simply block in wait() until a worker ends.
fn arbiter(httpd: &WSGIServer) -> ExitCode {
    loop {
        match wait() {
            Ok(WaitStatus::Exited(pid, status)) => {
                println!("Worker {pid} exited with status {status}");
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) => {
                println!("Worker {pid} was killed by {signal}");
            }
            // Stopped or continued (a debugger, Ctrl-Z): still a worker.
            Ok(_) => continue,
            Err(err) => {
                eprintln!("webserver3i: wait failed: {err}");
                return ExitCode::FAILURE;
            }
        }
        spawn_worker(httpd);
    }
}
// ANCHOR_END: arbiter

// ANCHOR: spawn_worker
/// Forks one worker, which serves clients until it dies.
fn spawn_worker(httpd: &WSGIServer) {
    let parent = Pid::this();
    // As in 3h: fork through the interpreter, with os.fork().
    let forked = Python::attach(|py| -> PyResult<i32> {
        py.import("os")?.call_method0("fork")?.extract()
    });
    match forked {
        Ok(0) => {
            // The worker.
            die_with_parent(parent);
            println!("Booting worker with pid {}", process::id());
            // part 2's own loop: accept, handle_one_request, close, again.
            // All the workers wait in accept() on the one listening socket
            // they inherited; the kernel hands each new client to one.
            httpd.serve_forever()
        }
        Ok(_worker_pid) => {}
        Err(err) => eprintln!("webserver3i: fork failed: {err}"),
    }
}
// ANCHOR_END: spawn_worker

// ANCHOR: die_with_parent
/// A worker must not outlive the parent: it would hold the port and serve
/// on, unwatched. Ctrl-C reaches every process of the terminal's group;
/// a `kill` of the parent alone does not, so the worker asks Linux to send
/// it SIGTERM when its parent dies.
fn die_with_parent(parent: Pid) {
    // Workers have no children of their own to wait for; an app's
    // subprocess needs SIGCHLD's default action (see 3h).
    let default =
        SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    // SAFETY: the default action is not a handler of ours.
    let _ = unsafe { nix::sys::signal::sigaction(Signal::SIGCHLD, &default) };
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    // SIMPLIFICATION: macOS has no parent-death signal; there a worker
    // whose parent was killed alone serves on until it is killed too.
    // The parent may have died before we asked: then nobody will tell us.
    if getppid() != parent {
        process::exit(0);
    }
}
// ANCHOR_END: die_with_parent
