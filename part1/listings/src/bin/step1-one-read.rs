//! Part 1, build-along step 1: the article's `webserver1.py`, line for line.
//!
//! Ports `part1/webserver1.py` of https://github.com/rspivak/lsbaws as it
//! is: one read of at most 1024 bytes, then a reply with bare `\n` line
//! ends and no length. It works for curl's short request, and breaks in
//! the ways the book's page "Build it yourself" shows: a request that
//! arrives in pieces, or is longer than 1024 bytes, is cut short.
//! Run it with `cargo run -p part1-listings --bin step1-one-read`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::process::ExitCode;

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
