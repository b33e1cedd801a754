//! The benchmark's ceiling: a server that does the least a server can do,
//! so that its requests/s say how many this machine can carry at all, with
//! wrk on the same cores. For each request head it reads, it writes the
//! reply that part2 gives for wsgiapp's /hello (but for its `Server`),
//! made once a second: no parsing beyond finding the head's end, no app,
//! no Python. Two threads, each with an event loop (mio), as webserver3m
//! runs two workers; the first accepts, and hands a client to the second
//! when the second holds fewer.
//!
//! It is a measuring device, not a server to copy: it drops any client
//! whose reply does not fit the socket at once, and any request with a
//! body is misread. wrk's GETs have neither problem.
//!
//! `canned-reply --port 0 [anything]`: the first line on stdout gives the
//! port (the bench's contract for our servers); the app is ignored.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Accepted, as our servers take a module:callable, and not used.
    app: Option<String>,
}

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
const BODY: &str = "Hello world from a simple WSGI application!\n";

fn main() -> io::Result<()> {
    let args = Args::parse();
    let listener = std::net::TcpListener::bind(("127.0.0.1", args.port))?;
    listener.set_nonblocking(true)?;
    println!(
        "canned-reply: a fixed reply on port {}",
        listener.local_addr()?.port()
    );
    // The first loop accepts, and hands a client to the second (by a
    // channel, and a waker to make its poll return) when the second holds
    // fewer: the load is shared evenly, without the loops racing for each
    // client, and a lone client costs no hand-over.
    let second = Poll::new()?;
    let waker = Waker::new(second.registry(), WAKER)?;
    let (handover, clients) = mpsc::channel();
    let second_holds = Arc::new(AtomicUsize::new(0));
    let held = Arc::clone(&second_holds);
    let second = thread::spawn(move || {
        serve(second, Role::TakesClients(clients), &held)
    });
    let first = Poll::new()?;
    let accepts = Role::Accepts {
        listener: TcpListener::from_std(listener),
        handover,
        waker,
        second_holds: &second_holds,
    };
    serve(first, accepts, &AtomicUsize::new(0))?;
    let _ = second.join();
    Ok(())
}

/// What a loop does besides answering.
enum Role<'a> {
    /// The first: it accepts, and hands clients to the second, whose count
    /// it reads (and raises, for each client it hands over).
    Accepts {
        listener: TcpListener,
        handover: mpsc::Sender<TcpStream>,
        waker: Waker,
        second_holds: &'a AtomicUsize,
    },
    /// The second: it takes the clients the first hands over.
    TakesClients(mpsc::Receiver<TcpStream>),
}

/// One event loop, in its role, answering every head that comes.
/// `holds`: how many clients this loop has, counted up by the first loop
/// as it gives them out, and down by this one as they go.
fn serve(
    mut poll: Poll,
    mut role: Role,
    holds: &AtomicUsize,
) -> io::Result<()> {
    if let Role::Accepts { listener, .. } = &mut role {
        poll.registry()
            .register(listener, LISTENER, Interest::READABLE)?;
    }
    let mut clients: HashMap<usize, TcpStream> = HashMap::new();
    let mut next_token = 0;
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0; 64 * 1024];
    let mut date = Date::default();
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            let mut new = Vec::new();
            match (event.token(), &role) {
                // Edge-triggered: take every waiting client now.
                (
                    LISTENER,
                    Role::Accepts {
                        listener,
                        handover,
                        waker,
                        second_holds,
                    },
                ) => {
                    while let Ok((client, _)) = listener.accept() {
                        if holds.load(Relaxed) <= second_holds.load(Relaxed) {
                            holds.fetch_add(1, Relaxed);
                            new.push(client);
                        } else {
                            // Counted first: the second may be done with
                            // it before this loop goes on.
                            second_holds.fetch_add(1, Relaxed);
                            let _ = handover.send(client);
                            let _ = waker.wake();
                        }
                    }
                }
                (WAKER, Role::TakesClients(handed_over)) => {
                    new.extend(handed_over.try_iter())
                }
                (Token(key), _) => {
                    let Some(client) = clients.get_mut(&key) else {
                        continue;
                    };
                    if !answer(client, &mut buffer, &mut date) {
                        clients.remove(&key); // dropped: closed
                        holds.fetch_sub(1, Relaxed);
                    }
                }
            }
            for mut client in new {
                let _ = client.set_nodelay(true);
                let token = Token(next_token);
                next_token += 1;
                poll.registry().register(
                    &mut client,
                    token,
                    Interest::READABLE,
                )?;
                // Its request may have come already: no new edge would
                // tell us of it.
                if answer(&mut client, &mut buffer, &mut date) {
                    clients.insert(token.0, client);
                } else {
                    holds.fetch_sub(1, Relaxed);
                }
            }
        }
    }
}

/// Reads all that has come and writes a reply per request head; false
/// once the connection is to be closed.
fn answer(client: &mut TcpStream, buffer: &mut [u8], date: &mut Date) -> bool {
    loop {
        let read = match client.read(buffer) {
            Ok(0) => return false,
            Ok(read) => read,
            Err(err) if err.kind() == ErrorKind::WouldBlock => return true,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return false,
        };
        let got = &buffer[..read];
        // SIMPLIFICATION: a head split across two reads is missed; wrk's
        // are 40 bytes, and sent whole.
        let heads = got.windows(4).filter(|w| w == b"\r\n\r\n").count();
        let close = contains(got, b"Connection: close");
        for _ in 0..heads {
            let reply = date.reply(close);
            if !matches!(client.write(reply), Ok(n) if n == reply.len()) {
                return false;
            }
        }
        if close && heads > 0 {
            return false;
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The two replies, remade when the second changes (the Date header).
#[derive(Default)]
struct Date {
    second: u64,
    kept: Vec<u8>,
    closing: Vec<u8>,
}

impl Date {
    fn reply(&mut self, close: bool) -> &[u8] {
        let now = SystemTime::now();
        let second = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        if second != self.second || self.kept.is_empty() {
            self.second = second;
            let date = httpdate::fmt_http_date(now);
            let head = |connection: &str| {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
                     Date: {date}\r\nServer: canned-reply\r\n\
                     Content-Length: {}\r\n{connection}\r\n{BODY}",
                    BODY.len()
                )
                .into_bytes()
            };
            self.kept = head("");
            self.closing = head("Connection: close\r\n");
        }
        if close { &self.closing } else { &self.kept }
    }
}
