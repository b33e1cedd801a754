//! Step 3j, beyond the article: a thread per connection. 3h forks a child
//! for every client; this server starts a thread for every client instead,
//! in one process, with one Python interpreter that all the threads share.
//! It is the model of the simplest threaded servers (Python's own
//! `socketserver.ThreadingMixIn`, what `wsgiref` serves with when mixed in).
//!
//! There is no Python original: the article ends at 3h. Run it from the
//! repository root with
//! `cargo run -p part3 --bin webserver3j -- flaskapp:app`,
//! then try `curl -v http://127.0.0.1:8888/hello`.

use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use clap::Parser;
use part2::cli::ServeArgs;
use part2::python::as_a_python_thread;
use part2::{Connection, WSGIServer};

// ANCHOR: args
/// Step 3j of Let's Build A Web Server: a thread per connection.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}
// ANCHOR_END: args

/// How many connections the kernel keeps waiting until we accept them.
const REQUEST_QUEUE_SIZE: i32 = 1024;

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    let mut httpd =
        match args.serve.make_server("webserver3j", REQUEST_QUEUE_SIZE) {
            Ok(httpd) => httpd,
            Err(exit_code) => return exit_code,
        };
    // Requests are served by threads of this one process: tell the app
    // (PEP 3333's wsgi.multithread), which may keep state in its module.
    httpd.multithread = true;
    println!("WSGIServer: Serving HTTP on port {} ...", httpd.server_port);
    // Every thread serves with the same server: it is shared, not copied.
    serve_forever(Arc::new(httpd))
}
// ANCHOR_END: main

// ANCHOR: serve_forever
/// Accepts connections forever, and starts a thread for each one.
fn serve_forever(httpd: Arc<WSGIServer>) -> ExitCode {
    loop {
        let client_connection = match httpd.listen_socket().accept() {
            Ok((client_connection, _)) => client_connection,
            Err(err) => {
                // Say, too many open files: wait for some to close.
                eprintln!("webserver3j: accept failed: {err}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        // The thread gets its own handle on the server (a reference
        // count, not a copy) and the connection, which it owns from now on.
        let httpd = Arc::clone(&httpd);
        let work = move || handle_connection(&httpd, client_connection);
        // The thread runs Python for every request of its connection: it
        // is made known to Python once, not once a request.
        let spawned = thread::Builder::new()
            .name("connection".into())
            .spawn(move || as_a_python_thread(work));
        // No thread to be had (the process's limit): this client is
        // closed unserved, as 3h's is when fork fails.
        if let Err(err) = spawned {
            eprintln!("webserver3j: cannot start a thread: {err}");
        }
        // The JoinHandle is dropped: nobody waits for the thread, which
        // ends, and frees its stack, when its client is done.
    }
}
// ANCHOR_END: serve_forever

// ANCHOR: handle_connection
/// A thread's whole life: serve one client's requests, one after another,
/// on its connection (HTTP/1.1 keep-alive), until either side closes.
// Unlike 3i's worker, this thread has nobody else to serve: it can wait
// for the client's next request without making anyone else wait. The core
// gives up on a client that sends nothing within its first-byte timeout
// (5 s), and `close` lingers if the client may still be sending.
fn handle_connection(httpd: &WSGIServer, client_connection: TcpStream) {
    let mut connection = Connection::new(client_connection);
    while httpd.handle_one_request(&mut connection, true) {}
    connection.close();
}
// ANCHOR_END: handle_connection
