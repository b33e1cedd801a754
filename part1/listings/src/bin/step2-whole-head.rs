//! Part 1, build-along step 2: read the whole head.
//!
//! Step 1 with `read_request` reading line by line up to the blank line
//! that ends the head, however the request arrives. The reply is still the
//! article's, which a client cannot frame: it has no length.
//! Run it with `cargo run -p part1-listings --bin step2-whole-head`.

use std::io::{self, BufRead, BufReader, ErrorKind, Write};
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
        print!("{request}");
        let (status, body) = ("200 OK", "Hello, World!");
        // The client may have gone already; the next one still gets served.
        let _ = send_response(&mut client_connection, status, body);
        // Dropping client_connection here closes it.
    }
    ExitCode::SUCCESS
}

/// Reads the request line and the headers, up to the blank line.
// ORIGINAL: `recv(1024)` returns whatever has arrived so far, at most 1024
// bytes: a longer request is cut short and a slow one is read half-way.
fn read_request(client_connection: &TcpStream) -> io::Result<String> {
    let mut reader = BufReader::new(client_connection);
    let mut request = String::new();
    loop {
        // Appends one line, `\r\n` included; fails on bytes that are not
        // UTF-8 (ErrorKind::InvalidData).
        let read = reader.read_line(&mut request)?;
        if read == 0 {
            return Err(io::Error::new(ErrorKind::UnexpectedEof, "cut short"));
        }
        if request.ends_with("\n\r\n") || request.ends_with("\n\n") {
            break;
        }
    }
    Ok(request)
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
