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
use std::time::Duration;

use clap::Parser;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use part2::cli::ServeArgs;
use part2::{Connection, WSGIServer};
use part3::arbiter::{self, ArbiterArgs, Worker};

// ANCHOR: args
/// Step 3i of Let's Build A Web Server: a pre-fork WSGI server.
#[derive(Parser)]
struct Args {
    /// module:callable, --host, --port, --quiet
    #[command(flatten)]
    serve: ServeArgs,
    /// --workers, --timeout, --graceful-timeout, --max-requests...
    #[command(flatten)]
    arbiter: ArbiterArgs,
}
// ANCHOR_END: args

/// How many connections the kernel keeps waiting while the workers are busy.
const REQUEST_QUEUE_SIZE: i32 = 1024;
/// How long a worker keeps an idle connection open for its next request.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a kept client may take to send its next request, once another
/// client waits for the worker.
const GRACE: Duration = Duration::from_millis(10);
/// How long a worker waits before it tries accept() again, when the
/// process or the system is out of file descriptors.
const OUT_OF_DESCRIPTORS_PAUSE: Duration = Duration::from_secs(1);

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    let mut httpd =
        match args.serve.make_server("webserver3i", REQUEST_QUEUE_SIZE) {
            Ok(httpd) => httpd,
            Err(exit_code) => return exit_code,
        };
    httpd.multiprocess = true;
    println!("WSGIServer: Serving HTTP on port {} ...", httpd.server_port);
    // Load everything the app loads lazily now, before the fork: every
    // worker then starts with it, in memory pages it shares with us.
    if let Err(err) = httpd.warm_up() {
        eprintln!("webserver3i: warm-up request failed: {err}");
    }
    // A worker killed for hanging (SIGABRT) prints where it hung.
    arbiter::enable_faulthandler();
    // The arbiter forks the workers and watches over them from now on.
    arbiter::run(&args.arbiter, arbiter::python_fork, |worker| {
        serve_forever(&httpd, worker)
    })
}
// ANCHOR_END: main

// ANCHOR: serve_forever
/// A worker's loop: wait for a client, accept it, serve it, and again,
/// until the arbiter says stop (or --max-requests is reached).
// Not a blocking accept() as in 3h: std retries accept() when a signal
// interrupts it, so a worker asleep in accept() would hear of SIGTERM only
// at its next client. poll() waits for a client *or* the stop descriptor.
fn serve_forever(httpd: &WSGIServer, worker: &mut Worker) {
    println!("Booting worker with pid {}", process::id());
    let listener = httpd.listen_socket();
    // Every worker polls, so all of them wake for each client, and all but
    // one find the queue empty: accept() must then say so, not wait.
    if let Err(err) = listener.set_nonblocking(true) {
        eprintln!("webserver3i: cannot make accept() non-blocking: {err}");
        return;
    }
    worker.ready();
    while !worker.should_stop() {
        let fds = [listener.as_fd(), worker.stop_fd()];
        if !readable(&fds, Duration::MAX)[0] {
            continue; // told to stop
        }
        match listener.accept() {
            Ok((client_connection, _)) => {
                // macOS passes the listener's non-blocking mode on.
                let _ = client_connection.set_nonblocking(false);
                handle_connection(httpd, worker, client_connection)
            }
            // Another worker took the client first.
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) if out_of_descriptors(&err) => {
                // The client stays queued: trying again at once would spin
                // at full speed until a descriptor is free.
                eprintln!(
                    "webserver3i: worker {}: accept failed: {err}; \
                     trying again in 1 s",
                    process::id()
                );
                let _ = readable(&[worker.stop_fd()], OUT_OF_DESCRIPTORS_PAUSE);
            }
            // Say, the client hung up before we accepted it.
            Err(err) => eprintln!("webserver3i: accept failed: {err}"),
        }
    }
}

/// EMFILE: this process has all the descriptors it may open; ENFILE: the
/// whole system has.
fn out_of_descriptors(err: &std::io::Error) -> bool {
    let errno = Errno::from_raw(err.raw_os_error().unwrap_or(0));
    matches!(errno, Errno::EMFILE | Errno::ENFILE)
}
// ANCHOR_END: serve_forever

// ANCHOR: handle_connection
/// Serves one client's requests one after another, on one connection
/// (HTTP/1.1 keep-alive), for as long as the client wants, nobody else
/// is waiting, and the worker is not told to stop.
// A worker serves one connection at a time: while it waits for this
// client's next request, it serves nobody else. gunicorn's sync workers
// don't keep connections open at all for that reason. We do, but only
// while no other client waits to be accepted.
fn handle_connection(
    httpd: &WSGIServer,
    worker: &mut Worker,
    client_connection: TcpStream,
) {
    let mut connection = Connection::new(client_connection);
    loop {
        // Offer to keep the connection only if nobody waits in the queue,
        // and this worker will serve another request.
        let listener = httpd.listen_socket().as_fd();
        let keep_alive = worker.may_keep_alive()
            && !readable(&[listener], Duration::ZERO)[0];
        worker.start_request();
        let kept = httpd.handle_one_request(&mut connection, keep_alive);
        worker.finish_request();
        if !kept {
            break;
        }
        if connection.has_buffered_bytes() {
            continue; // the next request is here already
        }
        // Wait for the client's next request; give up after a while.
        let fds = [connection.socket().as_fd(), listener, worker.stop_fd()];
        let ready = readable(&fds, KEEP_ALIVE_TIMEOUT);
        let (request, newcomer, stop) = (ready[0], ready[1], ready[2]);
        // A new client came first, or the word to stop: give way, but not
        // before the kept client has had a moment to send the request it
        // may be sending now (closing under its feet would lose it).
        let next_request =
            request || ((newcomer || stop) && readable(&fds[..1], GRACE)[0]);
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
