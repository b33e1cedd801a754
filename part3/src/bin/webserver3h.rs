//! Step 3h: the concurrent WSGI server. Part 2's server, with 3g's fork
//! loop: a child process per client, and a grim reaper for the children.
//!
//! Ports `part3/webserver3h.py` of Ruslan Spivak's "Let's Build A Web
//! Server" (https://github.com/rspivak/lsbaws). Run it from the repository
//! root with `cargo run -p part3 --bin webserver3h -- flaskapp:app`, then
//! try `curl -v http://127.0.0.1:8888/hello`.

use std::ffi::c_int;
use std::io::Write;
use std::num::NonZeroUsize;
use std::os::fd::AsRawFd;
use std::process::{self, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use clap::Parser;
use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use part2::cli::ServeArgs;
use part2::{Connection, WSGIServer};
use pyo3::prelude::*;

// ANCHOR: args
/// Step 3h of Let's Build A Web Server: a forking WSGI server.
#[derive(Parser)]
struct Args {
    /// module:callable, --host, --port, --quiet
    #[command(flatten)]
    serve: ServeArgs,
    /// Stop accepting while this many children are alive (clients wait in
    /// the backlog); without it, as in the article, there is no bound
    #[arg(long)]
    max_children: Option<NonZeroUsize>,
}
// ANCHOR_END: args

/// How many connections the kernel keeps waiting while we are busy.
const REQUEST_QUEUE_SIZE: i32 = 1024;

// ANCHOR: grim_reaper
/// How many children are alive: counted up before each fork, down by the
/// grim reaper (an atomic is safe to touch in a signal handler).
static CHILDREN: AtomicUsize = AtomicUsize::new(0);

/// Runs when a child exits (the kernel sends SIGCHLD): collects the exit
/// status of every child that has exited, so that none stays a zombie.
extern "C" fn grim_reaper(_signum: c_int) {
    // The handler may run just after a call of the main loop failed and
    // before the loop reads errno; waitpid() would overwrite it: keep it.
    let saved_errno = Errno::last_raw();
    loop {
        // WNOHANG: if no child has exited (yet), return at once.
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, status)) => {
                CHILDREN.fetch_sub(1, Ordering::SeqCst);
                say_terminated(pid, status);
            }
            // No more zombies, or no children at all (ECHILD).
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            // Killed by a signal: collected all the same.
            Ok(_) => {
                CHILDREN.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
    Errno::set_raw(saved_errno);
}

/// Prints `Child PID terminated with status N` from a signal handler:
/// formatted on the stack, written with write(2), both safe in a handler
/// (see webserver3f.rs for why println! is not).
fn say_terminated(pid: Pid, status: i32) {
    let mut line = [0u8; 80];
    let mut rest = &mut line[..];
    let _ = writeln!(rest, "Child {pid} terminated with status {status}");
    let unused = rest.len();
    let length = line.len() - unused;
    // SAFETY: the pointer and length describe `line`, which outlives the
    // call; standard output stays open as long as the process runs.
    unsafe { libc::write(libc::STDOUT_FILENO, line.as_ptr().cast(), length) };
}
// ANCHOR_END: grim_reaper

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    let mut httpd =
        match args.serve.make_server("webserver3h", REQUEST_QUEUE_SIZE) {
            Ok(httpd) => httpd,
            Err(exit_code) => return exit_code,
        };
    // Each request is served by a process of its own: tell the app.
    httpd.multiprocess = true;
    println!("WSGIServer: Serving HTTP on port {} ...", httpd.server_port);
    // Let the framework finish loading here, once, not in every child.
    if let Err(err) = httpd.warm_up() {
        eprintln!("webserver3h: warm-up request failed: {err}");
    }
    serve_forever(&httpd, args.max_children)
}
// ANCHOR_END: main

// ANCHOR: serve_forever
fn serve_forever(
    httpd: &WSGIServer,
    max_children: Option<NonZeroUsize>,
) -> ExitCode {
    let grim_reaper = SigAction::new(
        SigHandler::Handler(grim_reaper),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: grim_reaper calls only async-signal-safe functions (waitpid
    // and write) and touches no memory that the rest of the program uses.
    unsafe { sigaction(Signal::SIGCHLD, &grim_reaper) }
        .expect("SIGCHLD is a signal that may be caught");

    loop {
        if let Some(max_children) = max_children {
            wait_while_children_reach(max_children);
        }
        // As in 3g, std's accept() retries after EINTR: no crash here.
        let (client_connection, _client_address) =
            match httpd.listen_socket().accept() {
                Ok(connection) => connection,
                Err(err) => {
                    eprintln!("webserver3h: accept failed: {err}");
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
        // ANCHOR: fork
        // Counted before the fork: the reaper may collect the child
        // before fork() has even returned here.
        CHILDREN.fetch_add(1, Ordering::SeqCst);
        match fork() {
            Ok(0) => {
                // The child. The grim reaper is the parent's business: an
                // app that runs a subprocess must be able to wait for it.
                let default = SigAction::new(
                    SigHandler::SigDfl,
                    SaFlags::empty(),
                    SigSet::empty(),
                );
                // SAFETY: the default action is not a handler of ours.
                let _ = unsafe { sigaction(Signal::SIGCHLD, &default) };
                let listen_fd = httpd.listen_socket().as_raw_fd();
                // SAFETY: the child never touches the listening socket
                // again, and exits below without dropping it.
                unsafe { libc::close(listen_fd) }; // close child copy
                // Handle one request and close the client connection.
                let mut connection = Connection::new(client_connection);
                httpd.handle_one_request(&mut connection, false);
                connection.close();
                flush_python_output();
                process::exit(0); // child exits here
            }
            Ok(_child_pid) => {
                drop(client_connection); // close parent copy and loop over
            }
            Err(err) => {
                // Say, too many processes: this client is closed unserved.
                eprintln!("webserver3h: fork failed: {err}");
                CHILDREN.fetch_sub(1, Ordering::SeqCst);
            }
        }
        // ANCHOR_END: fork
    }
}
// ANCHOR_END: serve_forever

// ANCHOR: max_children
/// Waits while `max_children` children are alive, without accepting: new
/// clients wait in the listen backlog meanwhile.
fn wait_while_children_reach(max_children: NonZeroUsize) {
    // SIGCHLD is blocked while we look at the count, and sigsuspend()
    // unblocks it and sleeps in one step: a child that exits between the
    // look and the sleep cannot go unnoticed (its signal is held, then
    // delivered the moment we sleep, and wakes us).
    let mut sigchld = SigSet::empty();
    sigchld.add(Signal::SIGCHLD);
    let _ = sigchld.thread_block();
    while CHILDREN.load(Ordering::SeqCst) >= max_children.get() {
        // Returns once a handler (the grim reaper) has run.
        let _ = SigSet::empty().suspend();
    }
    let _ = sigchld.thread_unblock();
}
// ANCHOR_END: max_children

// ANCHOR: fork_python
/// Forks with Python's `os.fork()`, as the article does: 0 in the child,
/// the child's PID in the parent.
// Not a bare fork(2): the interpreter has locks and state of its own to
// prepare before the fork and to reset in the child (PyOS_BeforeFork,
// PyOS_AfterFork_Child...), and os.fork() is what does that.
fn fork() -> PyResult<i32> {
    Python::attach(|py| py.import("os")?.call_method0("fork")?.extract())
}

/// The child's last words: what the app printed must not stay in a
/// buffer when the process ends.
fn flush_python_output() {
    Python::attach(|py| {
        if let Ok(sys) = py.import("sys") {
            for stream in ["stdout", "stderr"] {
                let _ =
                    sys.getattr(stream).and_then(|s| s.call_method0("flush"));
            }
        }
    });
}
// ANCHOR_END: fork_python
