//! HTTP/1.1 on one connection, as part 1's server and part 3's steps speak
//! it: read a request's head, answer it, refuse a request we could not
//! read, and end the conversation without losing the reply.
//!
//! Ports lines 13 to 22 of `part1/webserver1.py` (`recv`, `sendall`,
//! `close`) of https://github.com/rspivak/lsbaws, without its shortcuts:
//! each `// ORIGINAL:` comment says where we differ.

// ANCHOR: use
// `Read` and `Write` are traits: their methods (`take`, `write_all`) can
// be called only where the trait is in scope. The standard library
// implements both for `&TcpStream` as well as for `TcpStream`, so a
// shared reference to a connection can be read and written.
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, SystemTime};
// ANCHOR_END: use

// ANCHOR: limits
/// The most a request head may take; bigger ones get a 431.
const MAX_HEAD: u64 = 8 * 1024;
/// How long a client may stay silent before we give up on it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The most we read away before closing, so a client can't keep us busy.
const LINGER: u64 = 64 * 1024;
// ANCHOR_END: limits

// ANCHOR: read_request
// ANCHOR: read_head
/// Reads the request line and the headers, up to the blank line, waiting
/// at most `timeout` for each piece.
// ORIGINAL: `recv(1024)` returns whatever has arrived so far, at most 1024
// bytes: a longer request is cut short and a slow one is read half-way.
// SIMPLIFICATION: a request body is left unread; closing a socket with
// unread bytes resets the connection (see `linger`). A GET has no body;
// part 2 reads it.
pub fn read_request(
    client_connection: &TcpStream,
    timeout: Duration,
) -> io::Result<String> {
    // A client that connects and sends nothing must not hold us forever.
    client_connection.set_read_timeout(Some(timeout))?;
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
    // ANCHOR_END: read_head
    // ANCHOR: request_line
    // The request line must read `METHOD /target HTTP/1.x`.
    let request_line: Vec<&str> = request.split_whitespace().take(3).collect();
    match request_line[..] {
        [_, _, version] if version.starts_with("HTTP/1.") => Ok(request),
        _ => Err(io::Error::new(ErrorKind::InvalidData, "bad request line")),
    }
}
// ANCHOR_END: request_line
// ANCHOR_END: read_request

// ANCHOR: refuse
/// Answers a request that `read_request` could not read: a 4xx, then
/// `linger`; or nothing, when nobody is left to answer.
pub fn refuse(client_connection: &TcpStream, err: &io::Error) {
    let (status, body) = match err.kind() {
        ErrorKind::FileTooLarge => {
            ("431 Request Header Fields Too Large", "Too large\n")
        }
        ErrorKind::InvalidData => ("400 Bad Request", "Bad request\n"),
        // The client hung up or went quiet: nobody to answer.
        _ => return,
    };
    // The client may have gone already: there is nobody to tell.
    let _ = send_response(client_connection, status, body);
    // The rest of a bad request is still unread.
    linger(client_connection);
}
// ANCHOR_END: refuse

// ANCHOR: send_response
/// Sends a whole reply: the status line, the headers, the body.
// ORIGINAL: the article sends bare `\n` line ends and no Content-Length.
// HTTP/1.1 wants `\r\n`, a Date, and a length the client can trust.
pub fn send_response(
    client_connection: &TcpStream,
    status: &str,
    body: &str,
) -> io::Result<()> {
    send_response_with_headers(client_connection, status, "", body)
}

/// `send_response`, with more header lines (each ending in `\r\n`) after
/// the Date: say, a 503's `Retry-After: 1\r\n`.
pub fn send_response_with_headers(
    // `mut` lets `write_all`, which takes `&mut self`, borrow the
    // reference itself mutably: the connection is still shared.
    mut client_connection: &TcpStream,
    status: &str,
    headers: &str,
    body: &str,
) -> io::Result<()> {
    let http_response = format!(
        "HTTP/1.1 {status}\r\n\
         Date: {date}\r\n\
         {headers}\
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
// ANCHOR_END: send_response

// ANCHOR: linger
/// Ends our side of the conversation so that the client gets the whole
/// reply: a "lingering close". The caller then drops the connection.
// Closing a socket that still holds unread bytes (a body, the rest of an
// oversized head) makes the kernel reset the connection, and the client
// may lose our reply: say we are done, then read them away.
pub fn linger(client_connection: &TcpStream) {
    let _ = client_connection.shutdown(Shutdown::Write);
    // Until the client closes its side, LINGER bytes have come, or the
    // read timeout, still set from `read_request`, runs out.
    let _ = io::copy(&mut client_connection.take(LINGER), &mut io::sink());
}
// ANCHOR_END: linger
