//! Part 3, exercise 6, a reference solution: a deadline for the whole
//! head, so that a client that trickles its request can't hold an
//! iterative server.
//!
//! The starter `part3/exercises/src/bin/ex6-slow-client.rs`, done; the
//! lines between the ANCHOR comments are what changed. Try the exercise
//! before you read this. Run it with
//! `cargo run -p part3-exercises --bin ex6-slow-client-solution`.

use std::io::{self, BufRead, BufReader, ErrorKind, Read};
use std::net::TcpStream;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use part1::cli::ListenArgs;
use part1::http::{linger, refuse, send_response};

/// Part 3, exercise 6: an iterative server with a deadline for each head.
#[derive(Parser)]
struct Args {
    /// `--host` and `--port`, as in part 1
    #[command(flatten)]
    address: ListenArgs,
    /// Seconds a client may stay silent before we give up on it
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Seconds a client may take to send its whole head
    #[arg(long, default_value_t = 10.0)]
    deadline: f64,
}

/// How many connections the kernel keeps waiting while we are busy.
const REQUEST_QUEUE_SIZE: i32 = 5;

fn main() -> ExitCode {
    let args = Args::parse();
    serve_forever(&args)
}

fn handle_request(client_connection: &TcpStream, args: &Args) {
    let timeout = Duration::from_secs_f64(args.timeout);
    let deadline = Instant::now() + Duration::from_secs_f64(args.deadline);
    let request = match read_request(client_connection, timeout, deadline) {
        Ok(request) => request,
        // ANCHOR: solution_answer
        // Past the deadline: say so, then close gently, reading away the
        // rest of the head (for `timeout` at most).
        Err(err) if err.kind() == ErrorKind::TimedOut => {
            eprintln!("{}: {err}", env!("CARGO_BIN_NAME"));
            let _ = send_response(
                client_connection,
                "408 Request Timeout",
                "Timed out\n",
            );
            let _ = client_connection.set_read_timeout(Some(timeout));
            return linger(client_connection);
        }
        // ANCHOR_END: solution_answer
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
        handle_request(&client_connection, args);
        drop(client_connection); // close
    }
}

/// The most a request head may take; bigger ones get a 431.
const MAX_HEAD: u64 = 8 * 1024;

/// Reads the request line and the headers, up to the blank line, waiting
/// at most `timeout` for each piece.
// Part 1's `read_request` (in `part1/src/http.rs`), copied here to be
// changed: the rest of the plumbing is part 1's library, as in step 3a.
fn read_request(
    client_connection: &TcpStream,
    timeout: Duration,
    deadline: Instant,
) -> io::Result<String> {
    let mut reader = BufReader::new(client_connection.take(MAX_HEAD));
    let mut request = String::new();
    loop {
        // ANCHOR: solution
        // Wait for the next piece no longer than the deadline allows: each
        // read waits `timeout` at most, and never past `deadline`.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(past_deadline());
        }
        client_connection.set_read_timeout(Some(left.min(timeout)))?;
        // Appends one line, `\r\n` included; fails on bytes that are not
        // UTF-8 (ErrorKind::InvalidData). A read that waited until the
        // deadline fails as any timed-out read does (WouldBlock, or
        // TimedOut on Windows): tell it apart by the clock.
        let read = match reader.read_line(&mut request) {
            Err(_) if Instant::now() >= deadline => return Err(past_deadline()),
            read => read?,
        };
        // ANCHOR_END: solution
        if request.len() as u64 >= MAX_HEAD {
            return Err(io::Error::new(
                ErrorKind::FileTooLarge,
                "head too big",
            ));
        }
        if read == 0 {
            return Err(io::Error::new(ErrorKind::UnexpectedEof, "cut short"));
        }
        if request.ends_with("\n\r\n") || request.ends_with("\n\n") {
            break;
        }
    }
    // The request line must read `METHOD /target HTTP/1.x`.
    let request_line: Vec<&str> = request.split_whitespace().take(3).collect();
    match request_line[..] {
        [_, _, version] if version.starts_with("HTTP/1.") => Ok(request),
        _ => Err(io::Error::new(ErrorKind::InvalidData, "bad request line")),
    }
}

// ANCHOR: solution_error
/// The error of a head that took longer than the deadline.
fn past_deadline() -> io::Error {
    io::Error::new(ErrorKind::TimedOut, "the head took too long")
}
// ANCHOR_END: solution_error
