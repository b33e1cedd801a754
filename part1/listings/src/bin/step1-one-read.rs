//! Part 1, build-along step 1: the article's `webserver1.py`, line for line.
//!
//! Ports `part1/webserver1.py` of https://github.com/rspivak/lsbaws as it
//! is: one read of at most 1024 bytes, then a reply with bare `\n` line
//! ends and no length. It works for curl's short request, and breaks in
//! the ways the book's page "Build it yourself" shows: a request that
//! arrives in pieces, or is longer than 1024 bytes, is cut short.
//! Run it with `cargo run -p part1-listings --bin step1-one-read`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use clap::Parser;
use part1::cli::ListenArgs;

/// Part 1 of Let's Build A Web Server: a raw-socket HTTP server.
#[derive(Parser)]
struct Args {
    /// `--host` and `--port`
    #[command(flatten)]
    address: ListenArgs,
}

/// The article's backlog: the kernel queues at most one waiting client.
const REQUEST_QUEUE_SIZE: i32 = 1;

fn main() -> ExitCode {
    // Listening is part 1's, as the chapter reads it: `part1/src/cli.rs`.
    let args = Args::parse();
    let listen_socket = match args.address.listen("part1", REQUEST_QUEUE_SIZE) {
        Ok(socket) => socket,
        Err(exit_code) => return exit_code,
    };

    for client_connection in listen_socket.incoming() {
        // A failed accept (say, the client gave up) ends only that client.
        let Ok(mut client_connection) = client_connection else {
            continue;
        };
        let Ok(request) = read_request(&client_connection) else {
            continue;
        };
        // As Python's `print`, with a line end: what was read may have none.
        println!("{request}");
        let (status, body) = ("200 OK", "Hello, World!");
        // The client may have gone already; the next one still gets served.
        let _ = send_response(&mut client_connection, status, body);
        // Dropping client_connection here closes it.
    }
    ExitCode::SUCCESS
}

/// Reads what the client has sent so far, at most 1024 bytes.
// ORIGINAL: `request = client_connection.recv(1024)`, line for line.
fn read_request(mut client_connection: &TcpStream) -> io::Result<String> {
    let mut request = [0; 1024];
    let received = client_connection.read(&mut request)?;
    Ok(String::from_utf8_lossy(&request[..received]).into_owned())
}

// ORIGINAL: bare `\n` line ends and no length, as the article has it.
fn send_response(
    client_connection: &mut TcpStream,
    status: &str,
    body: &str,
) -> io::Result<()> {
    let http_response = format!(
        "HTTP/1.1 {status}

{body}
"
    );
    client_connection.write_all(http_response.as_bytes())
}
