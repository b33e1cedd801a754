//! One client's connection: its socket, the bytes read from it that no
//! request has used yet, and the deadlines that bound what a slow or silent
//! client can cost. It reads a whole request (head, then body) through
//! `request.rs` and `body.rs`, and answers the requests they refuse.
//!
//! The article reads a request with one `recv(1024)`: whatever the first
//! packet brings, at most 1024 bytes, waiting as long as the client likes.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::body::BodyReader;
use crate::request::{Refusal, Request, bad_request, parse_request, refuse};
use crate::response::send_plain;

// ANCHOR: deadlines
/// How long a connection may stay silent before its request's first byte:
/// then it is closed without a word (there is no request to answer). A
/// browser opens connections it may never use; they must not hold us long.
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the whole head may take, from its first byte: 408 after. A
/// deadline for the whole, not for each read: a client that sends a byte
/// every second would never trip a per-read timeout.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// The body may take this long, plus a second for every BODY_MIN_RATE
/// bytes that have come: 408 after. A client that keeps up the rate is
/// never cut off; one that drips is, after about 10 seconds.
pub const BODY_GRACE: Duration = Duration::from_secs(10);
pub const BODY_MIN_RATE: u64 = 64 * 1024;
/// How long a write may wait for a client that does not read.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// After refusing a request, how long we read (and drop) what the client
/// still sends, at most MAX_LINGER bytes, before we close (`close`).
pub const LINGER: Duration = Duration::from_secs(2);
pub const MAX_LINGER: u64 = 10 * 1024 * 1024;
// ANCHOR_END: deadlines

// ANCHOR: connection
/// A client's connection, as the server reads requests from it.
pub struct Connection {
    socket: TcpStream,
    /// Bytes received that no request has used yet: the start of the
    /// client's next request, when it sends two at once (pipelining).
    received: Vec<u8>,
    /// A refused request may have left bytes unread: close with care.
    refused: bool,
}

/// Why no request came from the connection.
#[derive(Debug)]
pub enum ReadError {
    /// The client left, or sent nothing in time: nobody to answer.
    Closed,
    /// The request breaks a rule: answer with this refusal, then close.
    Refused(Refusal),
}

impl From<Refusal> for ReadError {
    fn from(refusal: Refusal) -> ReadError {
        ReadError::Refused(refusal)
    }
}
// ANCHOR_END: connection

impl Connection {
    // ANCHOR: new
    /// Takes over a socket that `accept` returned.
    pub fn new(socket: TcpStream) -> Connection {
        // Each write leaves at once. By default the kernel holds back a
        // small write while an earlier one waits for its ACK (Nagle's
        // algorithm), and the client delays its ACK by 40 ms or more: a
        // response written in two pieces (a chunked body's last chunk)
        // would stall on a kept connection.
        let _ = socket.set_nodelay(true);
        let _ = socket.set_write_timeout(Some(SEND_TIMEOUT));
        Connection {
            socket,
            received: Vec::new(),
            refused: false,
        }
    }
    // ANCHOR_END: new

    /// The socket, to wait on it (poll) or to make a handle of it.
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Whether bytes of the client's next request have come already.
    pub fn has_buffered_bytes(&self) -> bool {
        !self.received.is_empty()
    }

    // ANCHOR: read_request
    /// Reads one request: the head until its blank line, then the body as
    /// the head frames it, each within its deadline.
    // ORIGINAL: `recv(1024)` takes whatever the first packet brings, at
    // most 1024 bytes, so long or slow requests arrive cut short.
    pub fn read_request(&mut self) -> Result<Request, ReadError> {
        // Before its first byte, a request may keep us waiting for
        // FIRST_BYTE_TIMEOUT; from its first byte, the whole head has
        // HEAD_DEADLINE.
        let mut deadline = Instant::now() + FIRST_BYTE_TIMEOUT;
        let mut head_started = false;
        let mut request = loop {
            if !head_started && !self.received.is_empty() {
                head_started = true;
                deadline = Instant::now() + HEAD_DEADLINE;
            }
            if let Some(request) = parse_request(&self.received)? {
                break request;
            }
            match self.read_more(deadline) {
                Ok(()) => {}
                // Silent, or gone, before a byte came: nobody to answer.
                Err(_) if self.received.is_empty() => {
                    return Err(ReadError::Closed);
                }
                Err(Nothing::TimedOut) => return Err(head_too_slow().into()),
                Err(Nothing::Ended) => return Err(cut_short().into()),
            }
        };
        self.received.drain(..request.head.len());
        request.body = self.read_body(&request)?;
        Ok(request)
    }
    // ANCHOR_END: read_request

    // ANCHOR: read_body
    /// Reads the body that the head announced, decoding it if chunked.
    fn read_body(&mut self, request: &Request) -> Result<Vec<u8>, ReadError> {
        let mut body = BodyReader::new(request.framing);
        let start = Instant::now();
        let mut asked_to_continue = false;
        loop {
            let used = body.feed(&self.received)?;
            self.received.drain(..used);
            if body.is_done() {
                return Ok(body.into_body());
            }
            // A client may ask before it sends a body (curl does above
            // 1 MiB), and then wait a second for our go: say go at once.
            if request.expects_continue() && !asked_to_continue {
                asked_to_continue = true;
                let continue_ = b"HTTP/1.1 100 Continue\r\n\r\n";
                let _ = self.socket.write_all(continue_);
            }
            let rate = body.received() as u64 / BODY_MIN_RATE;
            let deadline = start + BODY_GRACE + Duration::from_secs(rate);
            match self.read_more(deadline) {
                Ok(()) => {}
                Err(Nothing::TimedOut) => return Err(body_too_slow().into()),
                Err(Nothing::Ended) => return Err(cut_short().into()),
            }
        }
    }
    // ANCHOR_END: read_body

    // ANCHOR: read_more
    /// One read into `received`, waiting at most until `deadline`.
    fn read_more(&mut self, deadline: Instant) -> Result<(), Nothing> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Nothing::TimedOut);
        }
        // The timeout applies to this read only: set it to what is left.
        let _ = self.socket.set_read_timeout(Some(left));
        let mut chunk = [0; 16 * 1024];
        match self.socket.read(&mut chunk) {
            Ok(0) => Err(Nothing::Ended),
            Ok(read) => {
                self.received.extend_from_slice(&chunk[..read]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                ) =>
            {
                Err(Nothing::TimedOut)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            // A reset, say: the client is gone, as if it had closed.
            Err(_) => Err(Nothing::Ended),
        }
    }
    // ANCHOR_END: read_more

    // ANCHOR: refuse
    /// Answers a refused request, in plain text, and marks the connection
    /// to be closed with care (the rest of that request may be on its way).
    pub fn refuse(&mut self, refusal: &Refusal) {
        let _ = send_refusal(&mut self.socket, refusal);
        self.refused = true;
    }

    /// Closes the connection. If the client may still be sending (a body we
    /// refused, a request after the one we answered), closing at once would
    /// make the kernel reset the connection, and the client could lose our
    /// answer before reading it: so stop writing, and read what comes,
    /// within LINGER and MAX_LINGER, until the client closes too.
    pub fn close(mut self) {
        if !self.refused && self.received.is_empty() {
            return; // dropped: closed
        }
        let _ = self.socket.shutdown(Shutdown::Write);
        let deadline = Instant::now() + LINGER;
        let mut drained = 0;
        while drained < MAX_LINGER {
            self.received.clear();
            match self.read_more(deadline) {
                Ok(()) => drained += self.received.len() as u64,
                Err(_) => break,
            }
        }
    }
    // ANCHOR_END: refuse
}

// ANCHOR: nothing
/// Why a read brought nothing.
enum Nothing {
    /// The deadline passed.
    TimedOut,
    /// The client closed its side, or reset the connection.
    Ended,
}

// ANCHOR: refusals
/// The refusals of a client too slow with its head, or with its body. They
/// are public, as `send_refusal` is, so that a server that reads without
/// blocking (part 3's event loop) refuses slow clients in the same words.
pub fn head_too_slow() -> Refusal {
    refuse("408 Request Timeout", "the head did not come in time")
}

pub fn body_too_slow() -> Refusal {
    refuse("408 Request Timeout", "the body came too slowly")
}

/// A request that stops half-way: never an app's, with a truncated body.
pub fn cut_short() -> Refusal {
    bad_request("the request was cut short")
}

/// Writes the answer to a refused request, in plain text.
pub fn send_refusal(out: &mut impl Write, refusal: &Refusal) -> io::Result<()> {
    let body = format!("{}: {}\n", refusal.status, refusal.why);
    send_plain(out, refusal.status, &body)
}
// ANCHOR_END: refusals
// ANCHOR_END: nothing
