//! Part 1, exercise 3: answer a `HEAD` request with the head only.
//!
//! Part 1's server (`part1/src/main.rs` and its library, `part1/src/cli.rs`
//! and `part1/src/http.rs`, which port `part1/webserver1.py` of
//! https://github.com/rspivak/lsbaws) as one whole program, for you to
//! change where it says TODO. The book's page "Part 1: Exercises" gives the
//! task, a hint and the expected reply. Run it with
//! `cargo run -p part1-exercises --bin ex3-head`,
//! check it with
//! `cargo exercises check part1-ex3-head`.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Parser;
use socket2::{Domain, Socket, Type};

/// Part 1 of Let's Build A Web Server: a raw-socket HTTP server.
#[derive(Parser)]
struct Args {
    /// Address to listen on (`0.0.0.0` listens on every interface)
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 8888)]
    port: u16,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let listen_socket = match listen(&args.host, args.port) {
        Ok(socket) => socket,
        Err(err) => {
            eprintln!(
                "part1: cannot listen on {}:{}: {err}",
                args.host, args.port
            );
            return ExitCode::from(2);
        }
    };
    let port = listen_socket.local_addr().map_or(args.port, |a| a.port());
    println!("Serving HTTP on port {port} ...");

    for client_connection in listen_socket.incoming() {
        // A failed accept (say, the client gave up) ends only that client.
        let Ok(mut client_connection) = client_connection else {
            continue;
        };
        let (status, body) = match read_request(&client_connection) {
            Ok(request) => {
                print!("{request}");
                // TODO: a HEAD request gets the very head that a GET gets,
                // Content-Length included, and no body at all.
                ("200 OK", "Hello, World!")
            }
            Err(err) => {
                eprintln!("part1: bad request: {err}");
                match err.kind() {
                    ErrorKind::FileTooLarge => {
                        ("431 Request Header Fields Too Large", "Too large\n")
                    }
                    ErrorKind::InvalidData => {
                        ("400 Bad Request", "Bad request\n")
                    }
                    // The client hung up or went quiet: nobody to answer.
                    _ => continue,
                }
            }
        };
        // The client may have gone already; the next one still gets served.
        let _ = send_response(&mut client_connection, status, body);
        // Closing a socket that still holds unread bytes (a body, the rest of
        // an oversized head) makes the kernel reset the connection, and the
        // client may lose our reply: say we are done, then read them away.
        let _ = client_connection.shutdown(Shutdown::Write);
        let _ = io::copy(&mut client_connection.take(LINGER), &mut io::sink());
    }
    ExitCode::SUCCESS
}

fn listen(host: &str, port: u16) -> io::Result<TcpListener> {
    let address = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "no address"))?;
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    // Lets a restarted server take the port at once, while connections
    // from its previous run still linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    // The article's backlog: the kernel queues at most one waiting client.
    socket.listen(1)?;
    Ok(socket.into())
}

/// The most a request head may take; bigger ones get a 431.
const MAX_HEAD: u64 = 8 * 1024;
/// The most we read away before closing, so a client can't keep us busy.
const LINGER: u64 = 64 * 1024;

/// Reads the request line and the headers, up to the blank line.
// ORIGINAL: `recv(1024)` returns whatever has arrived so far, at most 1024
// bytes: a longer request is cut short and a slow one is read half-way.
fn read_request(client_connection: &TcpStream) -> io::Result<String> {
    // A client that connects and sends nothing must not hold us forever.
    client_connection.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(client_connection.take(MAX_HEAD));
    let mut request = String::new();
    loop {
        // Appends one line, `\r\n` included; fails on bytes that are not
        // UTF-8 (ErrorKind::InvalidData).
        let read = reader.read_line(&mut request)?;
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

// ORIGINAL: the article sends bare `\n` line ends and no Content-Length.
// HTTP/1.1 wants `\r\n`, a Date, and a length the client can trust.
fn send_response(
    client_connection: &mut TcpStream,
    status: &str,
    body: &str,
) -> io::Result<()> {
    let http_response = format!(
        "HTTP/1.1 {status}\r\n\
         Date: {date}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {length}\r\n\
         Connection: close\r\n\
         \r\n\
         {body}",
        date = httpdate::fmt_http_date(SystemTime::now()),
        length = body.len(),
    );
    client_connection.write_all(http_response.as_bytes())
}
