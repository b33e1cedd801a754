//! Part 3, exercise 5: a kept connection serves at most
//! `--max-keep-alive-requests` requests, then closes.
//!
//! A copy of step 3k (`part3/src/bin/webserver3k.rs`; the pool comes from
//! part 3's library, as 3k's does), with the limit as an option, for you
//! to change where it says TODO. The book's page
//! "Part 3: Exercises" gives the task, a hint and the expected reply. Run
//! it from the repository root with
//! `cargo run -p part3-exercises --bin ex5-keep-alive-limit --
//! --max-keep-alive-requests 2 wsgiapp:app`, check it with
//! `cargo exercises check part3-ex5-keep-alive-limit`.

use std::io::Write;
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use part2::cli::ServeArgs;
use part2::{Connection, WSGIServer};
use part3::thread_pool::ThreadPool;

/// Part 3, exercise 5: a thread pool, and a limit on a kept connection.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
    /// How many threads serve clients at once
    #[arg(long, short, default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// The most requests one connection may carry
    #[arg(long, default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_keep_alive_requests: u32,
}

/// How many connections the kernel keeps waiting while the pool is full.
const REQUEST_QUEUE_SIZE: i32 = 1024;
/// How many accepted connections may wait in the pool's queue for a
/// thread, for each thread: beyond, the accept loop waits.
const QUEUED_PER_THREAD: usize = 1;
/// How long a thread keeps an idle connection open for its next request.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a thread that waits on an idle connection looks at the queue.
const LOOK_AT_THE_QUEUE: Duration = Duration::from_millis(10);
/// How long a kept client may take to send its next request, once another
/// client waits for a thread.
const GRACE: Duration = Duration::from_millis(10);

fn main() -> ExitCode {
    let args = Args::parse();
    let mut httpd = match args
        .serve
        .make_server("ex5-keep-alive-limit", REQUEST_QUEUE_SIZE)
    {
        Ok(httpd) => httpd,
        Err(exit_code) => return exit_code,
    };
    httpd.multithread = true;
    // Blocked before any thread starts, so that every thread inherits the
    // mask and the signals wait for the one thread that asks for them.
    let stop = match stop_on_signal() {
        Ok(stop) => stop,
        Err(err) => {
            eprintln!("ex5-keep-alive-limit: cannot wait for signals: {err}");
            return ExitCode::FAILURE;
        }
    };
    let threads = usize::from(args.threads);
    let pool = ThreadPool::new(threads, threads * QUEUED_PER_THREAD);
    let server = Arc::new(Server {
        httpd,
        queued: pool.queued(),
        stopping: AtomicBool::new(false),
        max_keep_alive_requests: args.max_keep_alive_requests,
    });
    println!(
        "WSGIServer: Serving HTTP on port {} with {threads} threads ...",
        server.httpd.server_port
    );
    serve_forever(&server, &pool, &stop);
    // Let the threads finish what they have, then join them (Drop).
    drop(pool);
    ExitCode::SUCCESS
}

/// What a job needs, besides its connection: shared by every thread.
struct Server {
    httpd: WSGIServer,
    /// How many connections wait in the pool's queue for a thread.
    queued: Arc<AtomicUsize>,
    /// Set once we are told to stop: kept connections then close.
    stopping: AtomicBool,
    /// `--max-keep-alive-requests`. (Not read yet: that is the exercise;
    /// then the `allow` can go.)
    #[allow(dead_code)]
    max_keep_alive_requests: u32,
}

impl Server {
    /// Whether a kept connection should give its thread up: somebody
    /// waits for one, or the server is stopping.
    fn others_wait(&self) -> bool {
        self.queued.load(Ordering::SeqCst) > 0
            || self.stopping.load(Ordering::SeqCst)
    }
}

/// Accepts connections and queues each one for the pool, until a signal
/// says stop.
fn serve_forever(server: &Arc<Server>, pool: &ThreadPool, stop: &UnixStream) {
    let listener = server.httpd.listen_socket();
    loop {
        // Wait for a client, or for the signal thread's byte.
        let ready = readable(&[listener.as_fd(), stop.as_fd()], None);
        if ready[1] {
            server.stopping.store(true, Ordering::SeqCst);
            return;
        }
        let client_connection = match listener.accept() {
            Ok((client_connection, _)) => client_connection,
            Err(err) => {
                eprintln!("ex5-keep-alive-limit: accept failed: {err}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let server = Arc::clone(server);
        // With every thread busy and the queue full, this waits: the next
        // clients wait in the kernel's backlog meanwhile.
        pool.execute(move || handle_connection(&server, client_connection));
    }
}

/// Blocks SIGINT and SIGTERM, and starts a thread that waits for either.
/// When one comes, the thread writes a byte on a socket pair: the accept
/// loop watches the other end beside the listening socket. Returns that end.
fn stop_on_signal() -> std::io::Result<UnixStream> {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block()?;
    let (mut notify, stop) = UnixStream::pair()?;
    thread::spawn(move || {
        if let Ok(signal) = signals.wait() {
            println!("{signal}: finishing the requests in hand");
            let _ = notify.write_all(b"!");
        }
    });
    Ok(stop)
}

/// A job: serve one client's requests, one after another, on one
/// connection (keep-alive), while nobody else waits for the thread.
// As 3i's workers do: a thread that waits for this client's next request
// serves nobody else meanwhile, so it offers to keep the connection only
// while the queue is empty, and gives way when a client comes.
fn handle_connection(server: &Server, client_connection: TcpStream) {
    let mut connection = Connection::new(client_connection);
    loop {
        // TODO: the connection's `server.max_keep_alive_requests`th
        // request must be its last.
        let keep_alive = !server.others_wait();
        if !server.httpd.handle_one_request(&mut connection, keep_alive) {
            return connection.close();
        }
        if !connection.has_buffered_bytes()
            && !next_request_comes(server, &connection)
        {
            return connection.close();
        }
    }
}

/// Waits for the client's next request: true when it starts to come;
/// false after the keep-alive timeout, or when another client waits for
/// the thread and this one sends nothing within a short grace.
fn next_request_comes(server: &Server, connection: &Connection) -> bool {
    let deadline = Instant::now() + KEEP_ALIVE_TIMEOUT;
    // The queue is no file: poll() can't watch it beside the socket, so
    // we look at it between short waits.
    while Instant::now() < deadline {
        if readable(&[connection.socket().as_fd()], Some(LOOK_AT_THE_QUEUE))[0]
        {
            return true;
        }
        if server.others_wait() {
            return readable(&[connection.socket().as_fd()], Some(GRACE))[0];
        }
    }
    false
}

/// Waits until one of `fds` can be read, at most `timeout` (`None`: as
/// long as it takes), and tells which can.
fn readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> Vec<bool> {
    let timeout = timeout.map_or(PollTimeout::NONE, |timeout| {
        PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX)
    });
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
