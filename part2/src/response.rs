//! A response on the wire: the status line, the headers, and a body framed
//! so that the client knows where it ends. No Python here: `start_response`
//! hands in what the app gave, already checked, and the server's own error
//! replies (`send_plain`) are built here too, so both heads carry the same
//! `Date` and `Server` lines, made in one place.
//!
//! Ports `finish_response` of `part2/webserver2.py`, which writes the
//! status line, the headers and the body in one go, always closes, and
//! leaves the client to guess where the body ends.

use std::cell::RefCell;
use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{SystemTime, UNIX_EPOCH};

use socket2::SockRef;

use crate::request::Request;

/// What goes into every response's `Server` header.
pub const SERVER_SOFTWARE: &str = "WSGIServer/0.2 (lsbaws-rs)";

// ANCHOR: framing
/// How the client learns where the body ends.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Framing {
    /// `Content-Length: n`: exactly n bytes follow.
    Length(u64),
    /// `Transfer-Encoding: chunked`: each piece is sent with its size.
    Chunked,
    /// HTTP/1.0 without a length: the body ends when we close.
    UntilClose,
    /// HEAD, 1xx, 204 and 304 responses have no body at all.
    NoBody,
}
// ANCHOR_END: framing

// ANCHOR: sink
/// Where a response's bytes go.
pub enum Sink {
    /// Straight to the client, as they come: the blocking servers.
    Socket(TcpStream),
    /// Into memory, for a server that writes them when the socket is ready
    /// (an event loop, which must never wait on one client).
    Buffer(Vec<u8>),
}

impl Sink {
    /// Writes what the sink takes at once, without waiting for the client,
    /// and says how many bytes that was: a buffer takes them all, a socket
    /// what fits in its send buffer (usually all of a small response).
    fn write_now(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let socket = match self {
            Sink::Socket(socket) => socket,
            Sink::Buffer(buffer) => {
                buffer.extend_from_slice(bytes);
                return Ok(bytes.len());
            }
        };
        // MSG_DONTWAIT makes this one send non-blocking, whatever the
        // socket's mode: a full buffer answers WouldBlock instead of
        // waiting. (MSG_NOSIGNAL: a client gone is an error, not SIGPIPE.)
        let socket = SockRef::from(&*socket);
        let mut taken = 0;
        while taken < bytes.len() {
            match socket.send_with_flags(
                &bytes[taken..],
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            ) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(sent) => taken += sent,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(taken)
    }
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Socket(socket) => socket.write(bytes),
            Sink::Buffer(buffer) => buffer.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
// ANCHOR_END: sink

// ANCHOR: struct
/// One response, from the app's status and headers to its last byte.
pub struct Response {
    /// Where the bytes go, for as long as the response lasts: a handle of
    /// the client's socket, or a buffer.
    sink: Option<Sink>,
    /// HEAD gets the head of a GET response and no body.
    is_head: bool,
    /// Chunked encoding needs an HTTP/1.1 client.
    is_http11: bool,
    /// Print the head a la `curl -v`.
    verbose: bool,
    /// What the app passed to start_response: the status and its headers.
    headers_set: Option<(String, Vec<(String, String)>)>,
    /// Once the head is on the wire, the status can no longer change.
    headers_sent: bool,
    framing: Framing,
    /// Body bytes sent so far.
    sent: u64,
    /// The server offers, and the client asks for, another request on this
    /// connection. Turned off when this response can't allow one.
    keep_alive: bool,
    /// The app's iterable is exhausted and the response is complete.
    finished: bool,
    /// Bytes written that the client has not taken yet: they wait for
    /// `flush`, which may block (see `write`).
    unsent: Vec<u8>,
}

/// Why a piece of the response could not be sent.
#[derive(Debug)]
pub enum SendError {
    /// Body came before the app called start_response.
    NotStarted,
    /// The response is over: the server has taken the socket back.
    Over,
    /// Writing to the client failed: it hung up, or stopped reading.
    ClientGone(io::Error),
}
// ANCHOR_END: struct

impl Response {
    // ANCHOR: new
    /// A response to `request`, written to `sink`.
    pub fn new(
        sink: Sink,
        request: &Request,
        keep_alive: bool,
        verbose: bool,
    ) -> Response {
        Response {
            sink: Some(sink),
            is_head: request.method == "HEAD",
            is_http11: request.version == "HTTP/1.1",
            verbose,
            headers_set: None,
            headers_sent: false,
            framing: Framing::NoBody,
            sent: 0,
            keep_alive,
            finished: false,
            unsent: Vec::new(),
        }
    }
    // ANCHOR_END: new

    // ANCHOR: set_headers
    /// Stores the status and headers; they go out with the first body.
    pub fn set_headers(
        &mut self,
        status: String,
        headers: Vec<(String, String)>,
    ) {
        self.headers_set = Some((status, headers));
    }

    /// Whether the app has called start_response.
    pub fn headers_set(&self) -> bool {
        self.headers_set.is_some()
    }

    /// Whether the head is on the wire.
    pub fn headers_sent(&self) -> bool {
        self.headers_sent
    }
    // ANCHOR_END: set_headers

    // ANCHOR: may_continue
    /// Whether the client may send another request on this connection: the
    /// server offered it, the client asked for it, and this response went
    /// out whole, with a length the client can trust.
    pub fn may_continue(&self) -> bool {
        self.keep_alive && self.finished && self.unsent.is_empty()
    }

    /// Ends the response and hands back its sink (a socket's handle, to
    /// drop; a buffer, to send): a `write` the app calls later fails
    /// instead of writing to the client.
    pub fn close(&mut self) -> Option<Sink> {
        self.sink.take()
    }
    // ANCHOR_END: may_continue

    // ANCHOR: write
    /// Writes `bytes` to the client as far as it takes them at once; the
    /// rest waits in `unsent` for `flush`. Writing never waits here, and so
    /// the caller may hold the GIL meanwhile: it lets it go only when there
    /// is something to wait for (`must_wait`).
    fn write(&mut self, bytes: &[u8]) -> Result<(), SendError> {
        let sink = self.sink.as_mut().ok_or(SendError::Over)?;
        // Bytes already waiting go first: the order on the wire holds.
        let taken = if self.unsent.is_empty() {
            sink.write_now(bytes).map_err(SendError::ClientGone)?
        } else {
            0
        };
        self.unsent.extend_from_slice(&bytes[taken..]);
        Ok(())
    }

    /// Whether bytes wait for the client to read: `flush` would block.
    pub fn must_wait(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Sends the bytes that wait, waiting for the client as long as it
    /// takes to read them (each wait is bounded by the socket's timeout).
    pub fn flush(&mut self) -> Result<(), SendError> {
        let sink = self.sink.as_mut().ok_or(SendError::Over)?;
        sink.write_all(&self.unsent)
            .map_err(SendError::ClientGone)?;
        self.unsent.clear();
        Ok(())
    }
    // ANCHOR_END: write

    // ANCHOR: send
    /// Sends one piece of body, with the head first if it has not gone yet.
    /// `whole_body` says this piece is all the body there is. What the
    /// client does not take at once waits for `flush`.
    pub fn send(
        &mut self,
        data: &[u8],
        whole_body: bool,
    ) -> Result<(), SendError> {
        if self.headers_set.is_none() {
            return Err(SendError::NotStarted);
        }
        // PEP 3333: the head waits for the first non-empty piece of body.
        if data.is_empty() {
            return Ok(());
        }
        // The head and the first piece leave in one write: one system call,
        // and one packet where they fit.
        let mut out = Vec::new();
        if !self.headers_sent {
            let known_length = whole_body.then_some(data.len() as u64);
            out = self.head(known_length);
        }
        let data = match self.framing {
            Framing::NoBody => &[][..],
            // Never send more than the Content-Length promised.
            Framing::Length(length) => {
                let room = length.saturating_sub(self.sent);
                &data[..data
                    .len()
                    .min(usize::try_from(room).unwrap_or(usize::MAX))]
            }
            Framing::Chunked | Framing::UntilClose => data,
        };
        if self.framing == Framing::Chunked && !data.is_empty() {
            out.extend_from_slice(format!("{:X}\r\n", data.len()).as_bytes());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(data);
        }
        self.write(&out)?;
        self.sent += data.len() as u64;
        Ok(())
    }
    // ANCHOR_END: send

    // ANCHOR: finish
    /// Ends the response once the app's iterable is exhausted (then
    /// `flush`, as after `send`).
    pub fn finish(&mut self) -> Result<(), SendError> {
        if self.headers_set.is_none() {
            return Err(SendError::NotStarted);
        }
        let mut out = Vec::new();
        if !self.headers_sent {
            // No body at all: the head says so with Content-Length: 0.
            out = self.head(Some(0));
        }
        if self.framing == Framing::Chunked {
            // The last chunk has size zero.
            out.extend_from_slice(b"0\r\n\r\n");
        }
        self.write(&out)?;
        // A body shorter than its Content-Length leaves the client waiting
        // for the rest: only closing the connection can end that wait.
        if let Framing::Length(length) = self.framing {
            self.keep_alive &= self.sent == length;
        }
        self.finished = true;
        if self.verbose {
            println!("> [{} bytes of body]\n", self.sent);
        }
        Ok(())
    }
    // ANCHOR_END: finish

    // ANCHOR: head
    /// The status line and the headers: the app's, then ours. Decides how
    /// the body is framed, and counts the head as sent.
    fn head(&mut self, known_length: Option<u64>) -> Vec<u8> {
        let (status, headers) = self
            .headers_set
            .as_ref()
            .expect("send() and finish() check start_response came first");
        let has = |wanted: &str| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        };
        let app_length = has("Content-Length")
            .and_then(|(_, value)| value.trim().parse::<u64>().ok());
        let code = &status[..3];
        let has_body =
            !(code.starts_with('1') || code == "204" || code == "304");
        self.framing = match (app_length, known_length) {
            _ if !has_body => Framing::NoBody,
            (Some(length), _) | (None, Some(length)) => Framing::Length(length),
            (None, None) if self.is_http11 => Framing::Chunked,
            (None, None) => Framing::UntilClose,
        };
        // Pushed piece by piece: a `format!` a line would make a string a
        // line, only to copy it into `head` and free it.
        let mut head = String::with_capacity(256);
        for piece in ["HTTP/1.1 ", status, "\r\n"] {
            head.push_str(piece);
        }
        for (name, value) in headers {
            for piece in [name, ": ", value, "\r\n"] {
                head.push_str(piece);
            }
        }
        add_server_headers(
            &mut head,
            has("Date").is_some(),
            has("Server").is_some(),
        );
        match self.framing {
            Framing::Length(length) if app_length.is_none() => {
                head.push_str(&format!("Content-Length: {length}\r\n"));
            }
            Framing::Chunked => head.push_str("Transfer-Encoding: chunked\r\n"),
            _ => {}
        }
        // Without a length or chunks, only our close tells the client where
        // the body ends: then this connection can carry no more requests.
        self.keep_alive &= self.framing != Framing::UntilClose;
        head.push_str(match (self.keep_alive, self.is_http11) {
            // One request per connection: say so, and the client won't wait.
            (false, _) => "Connection: close\r\n\r\n",
            // HTTP/1.1 keeps a connection open unless told otherwise.
            (true, true) => "\r\n",
            (true, false) => "Connection: keep-alive\r\n\r\n",
        });
        if self.is_head {
            self.framing = Framing::NoBody;
        }
        self.headers_sent = true;
        if self.verbose {
            print_lines("> ", head.as_bytes());
        }
        // Every char is at most U+00FF (start_response checked): one byte.
        // Nearly every head is ASCII, whose UTF-8 bytes are those bytes.
        if head.is_ascii() {
            head.into_bytes()
        } else {
            head.chars().map(|c| c as u8).collect()
        }
    }
    // ANCHOR_END: head

    // ANCHOR: fail
    /// The app failed. If nothing has been sent, answer 500 (with `message`
    /// when it is the server's own, e.g. a str body); if the head is out,
    /// all we can do is close, and the client sees a cut-off response.
    pub fn fail(&mut self, message: Option<&str>) {
        // Either way, this connection ends with this response.
        self.keep_alive = false;
        if self.headers_sent {
            return;
        }
        let status = "500 Internal Server Error";
        let body = match message {
            Some(message) => format!("{status}: {message}\n"),
            None => format!("{status}\n"),
        };
        if let Some(sink) = self.sink.as_mut() {
            let _ = send_plain(sink, status, &body);
        }
        self.headers_sent = true;
        if self.verbose {
            println!("> HTTP/1.1 {status}\n");
        }
    }
    // ANCHOR_END: fail
}

// ANCHOR: send_plain
/// Adds the head lines every response of ours carries, after the app's
/// own: `Date` and `Server`, each unless the app set its own.
fn add_server_headers(head: &mut String, has_date: bool, has_server: bool) {
    if !has_date {
        head.push_str("Date: ");
        add_date(head);
        head.push_str("\r\n");
    }
    if !has_server {
        head.push_str("Server: ");
        head.push_str(SERVER_SOFTWARE);
        head.push_str("\r\n");
    }
}

/// Adds the date of now, as HTTP writes it (`Tue, 01 Dec 2026 10:55:08
/// GMT`). The text changes once a second, and a busy server answers many
/// requests a second: each thread keeps the text of the current second,
/// and formats a date only when the second has changed.
fn add_date(head: &mut String) {
    thread_local! {
        static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |t| t.as_secs());
    DATE.with_borrow_mut(|(cached_second, text)| {
        if *cached_second != second || text.is_empty() {
            *cached_second = second;
            *text = httpdate::fmt_http_date(now);
        }
        head.push_str(text);
    });
}

/// A short plain-text response, for the errors the server answers itself.
pub fn send_plain(
    client_connection: &mut impl Write,
    status: &str,
    body: &str,
) -> io::Result<()> {
    let mut response = format!("HTTP/1.1 {status}\r\n");
    add_server_headers(&mut response, false, false);
    response.push_str(&format!(
        "Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {length}\r\n\
         Connection: close\r\n\
         \r\n\
         {body}",
        length = body.len(),
    ));
    client_connection.write_all(response.as_bytes())
}
// ANCHOR_END: send_plain

// ANCHOR: print_lines
/// Prints a message's head a la `curl -v`: each line behind `prefix`.
pub fn print_lines(prefix: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for line in text.lines() {
        out.push_str(prefix);
        out.push_str(line);
        out.push('\n');
    }
    print!("{out}");
}
// ANCHOR_END: print_lines

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// The bytes a response to `request` puts on the wire when the app
    /// sets `headers` and sends `pieces` (`whole` when it is one piece).
    fn wire(
        request: &str,
        headers: &[(&str, &str)],
        pieces: &[&[u8]],
    ) -> String {
        let request = crate::request::parse_request(request.as_bytes())
            .expect("valid")
            .expect("complete");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().expect("accept");
        let sink = Sink::Socket(server_side);
        let mut response = Response::new(sink, &request, true, false);
        let headers =
            headers.iter().map(|(n, v)| (n.to_string(), v.to_string()));
        response.set_headers("200 OK".into(), headers.collect());
        for piece in pieces {
            response.send(piece, pieces.len() == 1).expect("send");
            response.flush().expect("flush");
        }
        response.finish().expect("finish");
        response.flush().expect("flush");
        response.close();
        let mut got = String::new();
        (&client).read_to_string(&mut got).expect("read");
        // The Date changes from run to run: cut its line out.
        let date = got.find("Date: ").expect("a Date line");
        let end = date + got[date..].find("\r\n").expect("a line end") + 2;
        got.replace_range(date..end, "");
        got
    }

    const GET11: &str = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    const GET10: &str = "GET / HTTP/1.0\r\n\r\n";

    #[test]
    fn one_piece_gets_a_content_length() {
        let got = wire(GET11, &[("Content-Type", "text/plain")], &[b"hi"]);
        assert_eq!(
            got,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
             Server: WSGIServer/0.2 (lsbaws-rs)\r\nContent-Length: 2\r\n\r\nhi"
        );
    }

    #[test]
    fn pieces_are_chunked_for_http11_and_end_with_the_close_for_http10() {
        let got = wire(GET11, &[], &[b"a", b"bc"]);
        assert!(got.contains(
            "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"
        ));
        let got = wire(GET10, &[], &[b"a", b"bc"]);
        assert!(got.ends_with("Connection: close\r\n\r\nabc"), "{got:?}");
    }

    #[test]
    fn a_buffer_sink_holds_the_whole_response() {
        let request = crate::request::parse_request(GET11.as_bytes())
            .expect("valid")
            .expect("complete");
        let sink = Sink::Buffer(Vec::new());
        let mut response = Response::new(sink, &request, true, false);
        response.set_headers("204 No Content".into(), Vec::new());
        response.finish().expect("finish");
        assert!(response.may_continue());
        let Some(Sink::Buffer(bytes)) = response.close() else {
            panic!("the buffer comes back");
        };
        assert!(bytes.starts_with(b"HTTP/1.1 204 No Content\r\n"));
        assert!(bytes.ends_with(b"\r\n\r\n"));
    }

    #[test]
    fn the_apps_own_date_and_server_win() {
        let got = wire(GET11, &[("Server", "mine"), ("Date", "x")], &[b""]);
        assert!(
            got.contains("Server: mine\r\n") && !got.contains("WSGIServer")
        );
        assert_eq!(got.matches("Date: ").count(), 0, "the app's Date was cut");
    }
}
