//! Step 3f: a SIGCHLD handler waits for each child that exits, once per
//! signal. Under a burst, signals merge and zombies remain.
//!
//! Ports `part3/webserver3e.py` and `part3/webserver3f.py` of Ruslan
//! Spivak's "Let's Build A Web Server" (https://github.com/rspivak/lsbaws).
//! Run it with `cargo run -p part3 --bin webserver3f`, then run
//! `cargo run -p part3 --bin client3 -- --max-clients 10 --max-conns 10`
//! and `ps -A -o pid,ppid,stat,command`: some children are `<defunct>`.
//!
//! Listening, reading a request and answering it are part 1's library
//! (`part1/src/cli.rs`, `part1/src/http.rs`): this file is the lesson.

// ANCHOR: use
use std::ffi::c_int;
use std::io::Write;
use std::net::TcpStream;
use std::os::unix::process::parent_id;
use std::process::{self, ExitCode};
use std::thread;
use std::time::Duration;

use clap::Parser;
use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction,
};
use nix::sys::wait::{WaitStatus, wait};
use nix::unistd::{ForkResult, Pid, fork};
use part1::cli::ListenArgs;
use part1::http::{READ_TIMEOUT, read_request, refuse, send_response};
// ANCHOR_END: use

// ANCHOR: args
/// Step 3f of Let's Build A Web Server: a reaper that misses signals.
#[derive(Parser)]
struct Args {
    /// `--host` and `--port`, as in part 1
    #[command(flatten)]
    address: ListenArgs,
}
// ANCHOR_END: args

/// How many connections the kernel keeps waiting while we are busy.
// ANCHOR: main
// As in the article, a longer queue from here on, for client3's bursts.
const REQUEST_QUEUE_SIZE: i32 = 1024;

fn main() -> ExitCode {
    let args = Args::parse();
    serve_forever(&args)
}
// ANCHOR_END: main

// ANCHOR: grim_reaper
/// Runs when a child exits (the kernel sends SIGCHLD): collects its exit
/// status, so that the child does not stay a zombie.
// The flaw of this step: a signal that arrives while the same signal is
// still pending is merged with it. When two children exit before the
// handler runs, it runs once and waits once: the other stays a zombie.
extern "C" fn grim_reaper(_signum: c_int) {
    // The handler may run just after a call of the loop failed and before
    // the loop reads errno; wait() would overwrite it: keep it.
    let saved_errno = Errno::last_raw();
    if let Ok(WaitStatus::Exited(pid, status)) = wait() {
        say_terminated(pid, status);
    }
    Errno::set_raw(saved_errno);
}
// ANCHOR_END: grim_reaper

// ANCHOR: say_terminated
/// Prints `Child PID terminated with status N` from a signal handler.
// ORIGINAL: the article calls print() in the handler, and warns not to.
// A handler may only call async-signal-safe functions, and println! is not
// one. Its lock on stdout is reentrant, so if the code we interrupted is
// inside a println!, the handler takes the lock again and finds stdout's
// buffer in use: a panic, which aborts the process in an extern "C" fn.
// And it may allocate, while the interrupted code may be inside malloc,
// whose own lock is not reentrant: a deadlock. So we format into a buffer
// on the stack (no lock, no allocation) and hand it to write(2), which
// POSIX lists as async-signal-safe.
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
// ANCHOR_END: say_terminated

// ANCHOR: handle_request
fn handle_request(client_connection: &TcpStream) {
    let request = match read_request(client_connection, READ_TIMEOUT) {
        Ok(request) => request,
        Err(err) => {
            eprintln!("{}: bad request: {err}", env!("CARGO_BIN_NAME"));
            return refuse(client_connection, &err);
        }
    };
    println!("Child PID: {}. Parent PID {}", process::id(), parent_id());
    print!("{request}");
    // The client may have gone already; the next one still gets served.
    let _ = send_response(client_connection, "200 OK", "Hello, World!");
}
// ANCHOR_END: handle_request

// ANCHOR: serve_forever
fn serve_forever(args: &Args) -> ExitCode {
    let listen_socket = match args
        .address
        .listen(env!("CARGO_BIN_NAME"), REQUEST_QUEUE_SIZE)
    {
        Ok(socket) => socket,
        Err(exit_code) => return exit_code,
    };
    println!("Parent PID (PPID): {}\n", process::id());

    // ANCHOR: install_grim_reaper
    let grim_reaper = SigAction::new(
        SigHandler::Handler(grim_reaper),
        // No SA_RESTART, as Python's signal.signal(): a blocking call that
        // the signal interrupts fails with EINTR (see accept() below).
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: grim_reaper calls only async-signal-safe functions (wait
    // and write) and touches no memory that the rest of the program uses.
    unsafe { sigaction(Signal::SIGCHLD, &grim_reaper) }
        .expect("SIGCHLD is a signal that may be caught");
    // ANCHOR_END: install_grim_reaper

    loop {
        // ANCHOR: accept
        // ORIGINAL: here the article's server crashed with "Interrupted
        // system call": a child exits while the parent waits in accept(),
        // the kernel interrupts accept() to run grim_reaper, and accept()
        // fails with EINTR; webserver3f.py catches EINTR and accepts again.
        // Rust's std does that for us: its accept() retries a call that
        // failed with EINTR (as Python does since 3.5, PEP 475), so that
        // error never reaches this loop.
        let (client_connection, _client_address) = match listen_socket.accept()
        {
            Ok(connection) => connection,
            Err(err) => {
                // Say, out of descriptors: tell, and don't spin.
                eprintln!("{}: accept failed: {err}", env!("CARGO_BIN_NAME"));
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // ANCHOR_END: accept
        // ANCHOR: fork
        // SAFETY: the server runs a single thread, so the child's copy of
        // memory holds no lock or half-done update of another thread, and
        // the child may go on as an ordinary program.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop(listen_socket); // close child copy
                handle_request(&client_connection);
                drop(client_connection); // close
                // ORIGINAL: `os._exit(0)`. exit() never returns either, so
                // the child never loops back to accept; it flushes stdout.
                process::exit(0); // child exits here
            }
            // ANCHOR: parent
            Ok(ForkResult::Parent { .. }) => {
                drop(client_connection); // close parent copy and loop over
            }
            // ANCHOR_END: parent
            Err(err) => {
                // Say, too many processes: this client is closed unserved.
                eprintln!("{}: fork failed: {err}", env!("CARGO_BIN_NAME"));
            }
        }
        // ANCHOR_END: fork
    }
}
// ANCHOR_END: serve_forever
