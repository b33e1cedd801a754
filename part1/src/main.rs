//! Part 1: a web server that answers every request with `Hello, World!`.
//!
//! Ports `part1/webserver1.py` of Ruslan Spivak's "Let's Build A Web Server"
//! (https://github.com/rspivak/lsbaws). Run it with `cargo run -p part1`,
//! then try `curl -v http://127.0.0.1:8888/hello`.
//!
//! This file is the article's loop; the plumbing it calls (the listening
//! socket, reading a request, writing a reply) is this package's library,
//! `src/cli.rs` and `src/http.rs`, which part 3's steps use too.

// ANCHOR: use
use std::process::ExitCode;

use clap::Parser;
use part1::cli::ListenArgs;
use part1::http::{READ_TIMEOUT, linger, read_request, refuse, send_response};
// ANCHOR_END: use

// ANCHOR: args
/// Part 1 of Let's Build A Web Server: a raw-socket HTTP server.
#[derive(Parser)]
struct Args {
    /// `--host` and `--port`
    #[command(flatten)]
    address: ListenArgs,
}

/// The article's backlog: the kernel queues at most one waiting client.
const REQUEST_QUEUE_SIZE: i32 = 1;
// ANCHOR_END: args

// ANCHOR: main
fn main() -> ExitCode {
    // ANCHOR: startup
    let args = Args::parse();
    let listen_socket = match args.address.listen("part1", REQUEST_QUEUE_SIZE) {
        Ok(socket) => socket,
        Err(exit_code) => return exit_code,
    };
    // ANCHOR_END: startup

    // ANCHOR: accept
    for client_connection in listen_socket.incoming() {
        // A failed accept (say, the client gave up) ends only that client.
        let Ok(client_connection) = client_connection else {
            continue;
        };
        // ANCHOR_END: accept
        // ANCHOR: respond
        match read_request(&client_connection, READ_TIMEOUT) {
            Ok(request) => {
                print!("{request}");
                // The client may have gone already; the next one still
                // gets served.
                let _ = send_response(
                    &client_connection,
                    "200 OK",
                    "Hello, World!",
                );
                // A body, if the request had one, is still unread.
                linger(&client_connection);
            }
            Err(err) => {
                eprintln!("part1: bad request: {err}");
                refuse(&client_connection, &err);
            }
        }
        // ANCHOR_END: respond
        // ANCHOR: close
        drop(client_connection); // close
    }
    // ANCHOR_END: close
    ExitCode::SUCCESS
}
// ANCHOR_END: main
