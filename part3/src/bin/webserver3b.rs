//! Step 3b: the iterative server sleeps after each reply, so the next
//! client has to wait.
//!
//! Ports `part3/webserver3b.py` of Ruslan Spivak's "Let's Build A Web
//! Server" (https://github.com/rspivak/lsbaws). Run it with
//! `cargo run -p part3 --bin webserver3b`, then run
//! `curl -v http://127.0.0.1:8888/hello` in two terminals at once.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, SystemTime};

use clap::Parser;
use socket2::{Domain, Socket, Type};

// ANCHOR: args
/// Step 3b of Let's Build A Web Server: an iterative server that sleeps.
#[derive(Parser)]
struct Args {
    /// Address to listen on (`0.0.0.0` listens on every interface)
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 8888)]
    port: u16,
    /// Seconds to sleep after each reply (the article's 60 by default)
    #[arg(long, default_value_t = 60)]
    sleep: u64,
}
// ANCHOR_END: args

// ANCHOR: main
/// How many connections the kernel keeps waiting while we are busy.
const REQUEST_QUEUE_SIZE: i32 = 5;

fn main() -> ExitCode {
    let args = Args::parse();
    serve_forever(&args)
}
// ANCHOR_END: main

// ANCHOR: handle_request
fn handle_request(client_connection: &TcpStream, sleep: Duration) {
    let request = match read_request(client_connection) {
        Ok(request) => request,
        Err(err) => return refuse(client_connection, &err),
    };
    print!("{request}");
    // The client may have gone already; the next one still gets served.
    let _ = send_response(client_connection, "200 OK", "Hello, World!");
    thread::sleep(sleep); // sleep and block the process
}
// ANCHOR_END: handle_request

// ANCHOR: serve_forever
fn serve_forever(args: &Args) -> ExitCode {
    let listen_socket = match listen(&args.host, args.port) {
        Ok(socket) => socket,
        Err(err) => {
            eprintln!(
                "{}: cannot listen on {}:{}: {err}",
                env!("CARGO_BIN_NAME"),
                args.host,
                args.port
            );
            return ExitCode::from(2);
        }
    };
    let port = listen_socket.local_addr().map_or(args.port, |a| a.port());
    println!("Serving HTTP on port {port} ...");
    let sleep = Duration::from_secs(args.sleep);

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
        handle_request(&client_connection, sleep);
        drop(client_connection); // close
    }
}
// ANCHOR_END: serve_forever

// ANCHOR: listen
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
    socket.listen(REQUEST_QUEUE_SIZE)?;
    Ok(socket.into())
}
// ANCHOR_END: listen

/// The most a request head may take; bigger ones get a 431.
const MAX_HEAD: u64 = 8 * 1024;
/// The most we read away before closing, so a client can't keep us busy.
const LINGER: u64 = 64 * 1024;

// ANCHOR: read_request
/// Reads the request line and the headers, up to the blank line.
// ORIGINAL: `recv(1024)` returns whatever has arrived so far, at most 1024
// bytes: a longer request is cut short and a slow one is read half-way.
// SIMPLIFICATION: a request body is left unread; closing a socket with
// unread bytes resets the connection. A GET has no body; part 2 reads it.
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
// ANCHOR_END: read_request

// ANCHOR: refuse
/// Answers a request we could not read with a 4xx, then closes gently.
fn refuse(client_connection: &TcpStream, err: &io::Error) {
    eprintln!("{}: bad request: {err}", env!("CARGO_BIN_NAME"));
    let (status, body) = match err.kind() {
        ErrorKind::FileTooLarge => {
            ("431 Request Header Fields Too Large", "Too large\n")
        }
        ErrorKind::InvalidData => ("400 Bad Request", "Bad request\n"),
        // The client hung up or went quiet: nobody to answer.
        _ => return,
    };
    let _ = send_response(client_connection, status, body);
    // The rest of a bad request is still unread, and closing a socket
    // that holds unread bytes resets the connection: the client may lose
    // our reply. Say we are done, then read them away.
    let _ = client_connection.shutdown(Shutdown::Write);
    let _ = io::copy(&mut client_connection.take(LINGER), &mut io::sink());
}
// ANCHOR_END: refuse

// ANCHOR: send_response
// ORIGINAL: the article sends bare `\n` line ends and no Content-Length.
// HTTP/1.1 wants `\r\n`, a Date, and a length the client can trust.
fn send_response(
    mut client_connection: &TcpStream,
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
// ANCHOR_END: send_response
