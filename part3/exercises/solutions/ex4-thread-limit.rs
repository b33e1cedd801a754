//! Part 3, exercise 4, solved: a bound on 3j's threads. When
//! `--max-threads` threads are at work, the next client gets
//! `503 Service Unavailable`.
//!
//! The starter `part3/exercises/src/bin/ex4-thread-limit.rs`, done; the
//! lines between the ANCHOR comments are what changed. Try the exercise
//! before you read on. Run it from the repository root with
//! `cargo run -p part3-exercises --bin ex4-thread-limit -- --max-threads 2
//! wsgiapp:app`, check it with
//! `cargo exercises check part3-ex4-thread-limit`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, SystemTime};

use clap::Parser;
use part2::cli::ServeArgs;
use part2::{Connection, WSGIServer};

/// Part 3, exercise 4: a thread per connection, and a bound.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
    /// The most threads that may serve clients at once
    #[arg(long, default_value_t = 64)]
    max_threads: usize,
}

/// How many connections the kernel keeps waiting until we accept them.
const REQUEST_QUEUE_SIZE: i32 = 1024;

// ANCHOR: solution_count
/// How many threads serve clients now: shared by the accept loop, which
/// adds one for each thread it starts, and the threads, which take
/// themselves off when they end.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// One thread's place in the count, given back when it is dropped: when
/// the thread ends, whether it returns or panics, or when it could not be
/// started at all and the closure that owns it is dropped unrun.
struct Counted;

impl Counted {
    /// Takes a place, and says whether the count was already at `max`.
    fn take(max: usize) -> (Counted, bool) {
        let before = THREADS.fetch_add(1, Ordering::SeqCst);
        (Counted, before >= max)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        THREADS.fetch_sub(1, Ordering::SeqCst);
    }
}
// ANCHOR_END: solution_count

fn main() -> ExitCode {
    let args = Args::parse();
    let mut httpd = match args
        .serve
        .make_server("ex4-thread-limit", REQUEST_QUEUE_SIZE)
    {
        Ok(httpd) => httpd,
        Err(exit_code) => return exit_code,
    };
    // Requests are served by threads of this one process: tell the app
    // (PEP 3333's wsgi.multithread), which may keep state in its module.
    httpd.multithread = true;
    println!("WSGIServer: Serving HTTP on port {} ...", httpd.server_port);
    // Every thread serves with the same server: it is shared, not copied.
    serve_forever(Arc::new(httpd), args.max_threads)
}

/// Accepts connections forever, and starts a thread for each one.
fn serve_forever(httpd: Arc<WSGIServer>, max_threads: usize) -> ExitCode {
    loop {
        let client_connection = match httpd.listen_socket().accept() {
            Ok((client_connection, _)) => client_connection,
            Err(err) => {
                // Say, too many open files: wait for some to close.
                eprintln!("ex4-thread-limit: accept failed: {err}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // The thread gets its own handle on the server (a reference
        // count, not a copy) and the connection, which it owns from now on.
        let httpd = Arc::clone(&httpd);
        // ANCHOR: solution_spawn
        // A refused client costs a thread too, but only while its request
        // is read, and a second of silence ends that.
        let (counted, too_many) = Counted::take(max_threads);
        let spawned =
            thread::Builder::new()
                .name("connection".into())
                .spawn(move || {
                    let _counted = counted;
                    if too_many {
                        refuse(client_connection);
                    } else {
                        handle_connection(&httpd, client_connection);
                    }
                });
        // ANCHOR_END: solution_spawn
        // No thread to be had (the process's limit): this client is
        // closed unserved, as 3h's is when fork fails.
        if let Err(err) = spawned {
            eprintln!("ex4-thread-limit: cannot start a thread: {err}");
        }
        // The JoinHandle is dropped: nobody waits for the thread, which
        // ends, and frees its stack, when its client is done.
    }
}

/// A thread's whole life: serve one client's requests, one after another,
/// on its connection (HTTP/1.1 keep-alive), until either side closes.
// Unlike 3i's worker, this thread has nobody else to serve: it can wait
// for the client's next request without making anyone else wait. The core
// gives up on a client that sends nothing for a while.
fn handle_connection(httpd: &WSGIServer, client_connection: TcpStream) {
    let mut connection = Connection::new(client_connection);
    while httpd.handle_one_request(&mut connection, true) {}
    connection.close();
}

/// Tells a client that the server is too busy, and when to come back.
// The request is read first: closing a connection with a request unread in
// it would reset the connection, and the client could lose the reply.
fn refuse(mut client_connection: TcpStream) {
    let _ = client_connection.set_read_timeout(Some(Duration::from_secs(1)));
    let mut head = Vec::new();
    let mut chunk = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        match client_connection.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(read) => head.extend_from_slice(&chunk[..read]),
        }
    }
    let body = "Busy, try again later\n";
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\n\
         Date: {date}\r\n\
         Retry-After: 1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {length}\r\n\
         Connection: close\r\n\
         \r\n\
         {body}",
        date = httpdate::fmt_http_date(SystemTime::now()),
        length = body.len(),
    );
    let _ = client_connection.write_all(reply.as_bytes());
}
