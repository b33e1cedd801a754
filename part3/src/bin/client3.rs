//! The load client of part 3: many processes, each holding many
//! connections open at once, to fill a server with children.
//!
//! Ports `part3/client3.py` of Ruslan Spivak's "Let's Build A Web Server"
//! (https://github.com/rspivak/lsbaws). Start a server (say
//! `cargo run -p part3 --bin webserver3g`), then run
//! `cargo run -p part3 --bin client3 -- --max-clients 10 --max-conns 10`.
//! Its last line reads `client3: 100 connections: 100 succeeded, 0 failed`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::{self, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sys::wait::wait;
use nix::unistd::{ForkResult, fork, pipe};

// ANCHOR: args
/// Test client for LSBAWS: opens many connections from many processes.
#[derive(Parser)]
struct Args {
    /// The server's address
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// The server's port
    #[arg(long, default_value_t = 8888)]
    port: u16,
    /// Maximum number of connections per client
    #[arg(long, default_value_t = 1024)]
    max_conns: usize,
    /// Maximum number of clients (processes)
    #[arg(long, default_value_t = 1)]
    max_clients: usize,
    /// Seconds each client keeps its connections open after the replies
    #[arg(long, default_value_t = 0)]
    hold: u64,
}
// ANCHOR_END: args

/// How long a client waits to connect, or for all its replies.
const PATIENCE: Duration = Duration::from_secs(10);
/// The most a reply's head may take.
const MAX_HEAD: usize = 8 * 1024;

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    let server_address = match (args.host.as_str(), args.port)
        .to_socket_addrs()
        .map(|mut addresses| addresses.next())
    {
        Ok(Some(address)) => address,
        Ok(None) | Err(_) => {
            eprintln!("client3: cannot resolve {}", args.host);
            return ExitCode::from(2);
        }
    };
    let request = format!(
        "GET /hello HTTP/1.1\r\nHost: {}:{}\r\n\r\n",
        args.host, args.port
    );

    // Each client reports `SUCCEEDED FAILED` on one line through this pipe.
    let (reports, report_writer) = pipe().expect("a process can make a pipe");
    for client_num in 0..args.max_clients {
        // SAFETY: client3 runs a single thread, so the child's copy of
        // memory holds no lock or half-done update of another thread.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop(reports);
                let (succeeded, failed) =
                    client(&args, client_num, server_address, &request);
                // A write this short to a pipe is atomic: reports from
                // several clients never mix.
                let report = format!("{succeeded} {failed}\n");
                let _ = File::from(report_writer).write_all(report.as_bytes());
                // ORIGINAL: `os._exit(0)`, right after the first connection;
                // we open them all, as the article means. Exiting closes
                // every connection of this client at once.
                process::exit(0);
            }
            Ok(ForkResult::Parent { .. }) => {}
            Err(err) => eprintln!("client3: fork failed: {err}"),
        }
    }
    drop(report_writer);

    // The pipe ends when the last client has exited and closed its end.
    let mut reports_text = String::new();
    let _ = File::from(reports).read_to_string(&mut reports_text);
    // Collect our own children's exit statuses: no zombies here.
    while wait().is_ok() {}

    // A client that could not report (it failed to fork, or crashed)
    // counts as all its connections failed.
    let succeeded: usize = reports_text
        .lines()
        .filter_map(|line| {
            line.split_whitespace().next()?.parse::<usize>().ok()
        })
        .sum();
    let total = args.max_clients * args.max_conns;
    let failed = total - succeeded;
    println!(
        "client3: {total} connections: {succeeded} succeeded, {failed} failed"
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
// ANCHOR_END: main

// ANCHOR: client
/// One client process: opens `max_conns` connections, sends a request on
/// each and keeps them all open, then reads every reply.
fn client(
    args: &Args,
    client_num: usize,
    server_address: SocketAddr,
    request: &str,
) -> (usize, usize) {
    let mut socks = Vec::new();
    let mut failed = 0;
    for connection_num in 0..args.max_conns {
        let sock = TcpStream::connect_timeout(&server_address, PATIENCE)
            .and_then(|mut sock| {
                sock.write_all(request.as_bytes()).map(|()| sock)
            });
        match sock {
            Ok(sock) => socks.push(sock),
            Err(err) => {
                failed += 1;
                eprintln!(
                    "client3: client {client_num}, \
                     connection {connection_num}: {err}"
                );
            }
        }
    }
    // Every connection is open now, each holding a server's child busy.
    let deadline = Instant::now() + PATIENCE;
    let mut succeeded = 0;
    for (connection_num, sock) in socks.iter().enumerate() {
        match read_reply(sock, deadline) {
            Ok(()) => succeeded += 1,
            Err(err) => {
                failed += 1;
                eprintln!(
                    "client3: client {client_num}, \
                     reply {connection_num}: {err}"
                );
            }
        }
    }
    thread::sleep(Duration::from_secs(args.hold));
    (succeeded, failed)
}
// ANCHOR_END: client

// ANCHOR: read_reply
/// Reads one `200 OK` reply: the head, then Content-Length bytes of body.
/// It does not wait for the server to close: webserver3d never does.
fn read_reply(sock: &TcpStream, deadline: Instant) -> io::Result<()> {
    let patience = deadline.saturating_duration_since(Instant::now());
    // Past the deadline, a last short try: a zero timeout is refused.
    sock.set_read_timeout(Some(patience.max(Duration::from_millis(1))))?;
    let mut reader = BufReader::new(sock);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        if reader.read_line(&mut head)? == 0 || head.len() > MAX_HEAD {
            return Err(io::Error::new(ErrorKind::InvalidData, "no head"));
        }
    }
    if !head.starts_with("HTTP/1.1 200 ") {
        let status = head.lines().next().unwrap_or_default();
        return Err(io::Error::other(format!("got {status:?}")));
    }
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<u64>().ok())?
        })
        .ok_or_else(|| io::Error::other("no Content-Length"))?;
    // The reader may hold part of the body already: read on through it.
    let mut body = Vec::new();
    reader.take(length).read_to_end(&mut body)?;
    if body.len() as u64 != length {
        return Err(io::Error::new(ErrorKind::UnexpectedEof, "body cut short"));
    }
    Ok(())
}
// ANCHOR_END: read_reply
