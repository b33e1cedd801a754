//! Part 3, exercise 1: tell a silent client why it is cut off, with a
//! `408 Request Timeout`.
//!
//! A copy of step 3a (`part3/src/bin/webserver3a.rs`, which ports
//! `part3/webserver3a.py` of https://github.com/rspivak/lsbaws), with the
//! read timeout as an option and a copy of part 1's `refuse`, for you to
//! change where it says TODO. The book's page "Part 3: Exercises" gives
//! the task, a hint and the expected reply. Run it with
//! `cargo run -p part3-exercises --bin ex1-request-timeout -- --timeout 2`,
//! check it with
//! `cargo exercises check part3-ex1-request-timeout`.

use std::io::{self, ErrorKind};
use std::net::TcpStream;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Parser;
use part1::cli::ListenArgs;
use part1::http::{linger, read_request, send_response};

/// Part 3, exercise 1: an iterative server that says when it gives up.
#[derive(Parser)]
struct Args {
    /// `--host` and `--port`, as in part 1
    #[command(flatten)]
    address: ListenArgs,
    /// Seconds a client may stay silent before we give up on it
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

/// How many connections the kernel keeps waiting while we are busy.
const REQUEST_QUEUE_SIZE: i32 = 5;

fn main() -> ExitCode {
    let args = Args::parse();
    serve_forever(&args)
}

fn handle_request(client_connection: &TcpStream, timeout: Duration) {
    let request = match read_request(client_connection, timeout) {
        Ok(request) => request,
        Err(err) => {
            eprintln!("{}: bad request: {err}", env!("CARGO_BIN_NAME"));
            return refuse(client_connection, &err);
        }
    };
    print!("{request}");
    // The client may have gone already; the next one still gets served.
    let _ = send_response(client_connection, "200 OK", "Hello, World!");
}

fn serve_forever(args: &Args) -> ExitCode {
    let listen_socket = match args
        .address
        .listen(env!("CARGO_BIN_NAME"), REQUEST_QUEUE_SIZE)
    {
        Ok(socket) => socket,
        Err(exit_code) => return exit_code,
    };
    let timeout = Duration::from_secs(args.timeout);

    loop {
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
        handle_request(&client_connection, timeout);
        drop(client_connection); // close
    }
}

/// Answers a request we could not read with a 4xx, then closes gently.
// Part 1's `refuse` (in `part1/src/http.rs`), copied here to be changed:
// the rest of the plumbing is part 1's library, as in step 3a.
fn refuse(client_connection: &TcpStream, err: &io::Error) {
    let (status, body) = match err.kind() {
        ErrorKind::FileTooLarge => {
            ("431 Request Header Fields Too Large", "Too large\n")
        }
        ErrorKind::InvalidData => ("400 Bad Request", "Bad request\n"),
        // TODO: a client that went quiet for `--timeout` seconds gets
        // `408 Request Timeout`, with the body `Timed out\n`.
        // The client hung up or went quiet: nobody to answer.
        _ => return,
    };
    // The client may have gone already: there is nobody to tell.
    let _ = send_response(client_connection, status, body);
    // The rest of a bad request is still unread.
    linger(client_connection);
}
