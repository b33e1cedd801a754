//! Part 3, exercise 3: when too many children are at work, say
//! `503 Service Unavailable` and when to come back.
//!
//! A copy of step 3g (`part3/src/bin/webserver3g.rs`, which ports
//! `part3/webserver3g.py` of https://github.com/rspivak/lsbaws), with a
//! limit on its children as an option, for you to change where it says
//! TODO. The book's page "Part 3: Exercises" gives the task, a hint and
//! the expected reply. Run it with
//! `cargo run -p part3-exercises --bin ex3-too-busy -- --max-children 2
//! --sleep 10`, check it with
//! `cargo exercises check part3-ex3-too-busy`.

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
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use part1::cli::ListenArgs;
use part1::http::{READ_TIMEOUT, read_request, refuse, send_response};

/// Part 3, exercise 3: a forking server that knows when it is too busy.
#[derive(Parser)]
struct Args {
    /// `--host` and `--port`, as in part 1
    #[command(flatten)]
    address: ListenArgs,
    /// How many children may be at work at once
    #[arg(long, default_value_t = 64)]
    max_children: usize,
    /// Seconds each child sleeps after its reply, as if the work were slow
    #[arg(long, default_value_t = 0)]
    sleep: u64,
}

/// How many connections the kernel keeps waiting while we are busy.
// As in the article, a longer queue from here on, for client3's bursts.
const REQUEST_QUEUE_SIZE: i32 = 1024;

fn main() -> ExitCode {
    let args = Args::parse();
    serve_forever(&args)
}

/// Runs when a child exits (the kernel sends SIGCHLD): collects its exit
/// status, so that the child does not stay a zombie.
// A signal that arrives while the same signal is still pending is merged
// with it, so one call may stand for many children: wait for all of them.
extern "C" fn grim_reaper(_signum: c_int) {
    // The handler may run just after a call of the loop failed and before
    // the loop reads errno; waitpid() would overwrite it: keep it.
    let saved_errno = Errno::last_raw();
    loop {
        // WNOHANG: if no child has exited (yet), return at once.
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, status)) => say_terminated(pid, status),
            // No more zombies, or no children at all (ECHILD).
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            // Killed by a signal: collected all the same.
            Ok(_) => {}
        }
    }
    Errno::set_raw(saved_errno);
}

/// Prints `Child PID terminated with status N` from a signal handler.
// ORIGINAL: the article calls print() in the handler, and warns not to.
// A handler may only call async-signal-safe functions, and println! is not
// one: it takes the lock on stdout, which the code we interrupted may hold
// (the handler then deadlocks, or panics on stdout's inner RefCell), and it
// may allocate, while the interrupted code may be inside malloc. So we
// format into a buffer on the stack (no lock, no allocation) and hand it to
// write(2), which POSIX lists as async-signal-safe.
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

fn handle_request(client_connection: &TcpStream, sleep: Duration) {
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
    thread::sleep(sleep); // only this child sleeps: the others go on
}

fn serve_forever(args: &Args) -> ExitCode {
    let listen_socket = match args
        .address
        .listen(env!("CARGO_BIN_NAME"), REQUEST_QUEUE_SIZE)
    {
        Ok(socket) => socket,
        Err(exit_code) => return exit_code,
    };
    println!("Parent PID (PPID): {}\n", process::id());
    let sleep = Duration::from_secs(args.sleep);

    let grim_reaper = SigAction::new(
        SigHandler::Handler(grim_reaper),
        // No SA_RESTART, as Python's signal.signal(): a blocking call that
        // the signal interrupts fails with EINTR (see accept() below).
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: grim_reaper calls only async-signal-safe functions (waitpid
    // and write) and touches no memory that the rest of the program uses.
    unsafe { sigaction(Signal::SIGCHLD, &grim_reaper) }
        .expect("SIGCHLD is a signal that may be caught");

    loop {
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
        // TODO: when `--max-children` children are still at work, the
        // new client gets `503 Service Unavailable`, with the header
        // `Retry-After: 1` after the Date and the body
        // `Busy, try again later\n`, instead of `Hello, World!`.
        // SAFETY: the server runs a single thread, so the child's copy of
        // memory holds no lock or half-done update of another thread, and
        // the child may go on as an ordinary program.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop(listen_socket); // close child copy
                handle_request(&client_connection, sleep);
                drop(client_connection); // close
                // ORIGINAL: `os._exit(0)`. exit() never returns either, so
                // the child never loops back to accept; it flushes stdout.
                process::exit(0); // child exits here
            }
            Ok(ForkResult::Parent { .. }) => {
                drop(client_connection); // close parent copy and loop over
            }
            Err(err) => {
                // Say, too many processes: this client is closed unserved.
                eprintln!("{}: fork failed: {err}", env!("CARGO_BIN_NAME"));
            }
        }
    }
}
