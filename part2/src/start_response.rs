//! `start_response`, the callable a WSGI app calls to set the status and the
//! headers, and the `write` callable it returns.
//!
//! Ports `WSGIServer.start_response` of `part2/webserver2.py`. The article
//! stores the status and headers and leaves the rest out; PEP 3333 asks for
//! more, and this file does all of it: check what the app passes, allow a
//! second call only with `exc_info`, return a working `write`, and send the
//! head only when the first byte of body is ready.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::SystemTime;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::server::{Request, SERVER_SOFTWARE, print_lines, send_plain};

// ANCHOR: wsgi_error
// The error for an app that breaks the rules of PEP 3333 (a str body, a
// malformed header, a second start_response). Its message goes into the
// 500 response too: it is about WSGI, not about the app's secrets.
create_exception!(part2, WSGIError, PyException);

// The error for a response that can't reach its client: it hung up, or
// stopped reading. An OSError, as Python's own socket errors are, so an app
// that calls write() may catch it as one; the server reports it in one line,
// since it is nobody's bug.
create_exception!(part2, ClientGone, PyOSError);

/// Turns a failed write to the client into a ClientGone.
fn client_gone(err: io::Error) -> PyErr {
    ClientGone::new_err(format!("the client went away: {err}"))
}
// ANCHOR_END: wsgi_error

// ANCHOR: framing
/// Headers that describe the connection, not the content: the server owns
/// them, and PEP 3333 forbids apps to send them.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

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

// ANCHOR: struct
/// The `start_response` callable handed to the app, with the state of the
/// response it starts.
#[pyclass(module = "part2")]
pub struct StartResponse {
    /// Taken back by the server when the response is done: the app may keep
    /// this object alive (say, in a traceback), but not the connection.
    client_connection: Option<TcpStream>,
    /// HEAD gets the head of a GET response and no body.
    is_head: bool,
    /// Chunked encoding needs an HTTP/1.1 client.
    is_http11: bool,
    verbose: bool,
    /// What the app passed: the status line and its headers.
    headers_set: Option<(String, Vec<(String, String)>)>,
    /// Once the head is on the wire, the status can no longer change.
    headers_sent: bool,
    framing: Framing,
    /// Body bytes sent so far.
    sent: u64,
    /// The server offers, and the client asks for, another request on this
    /// connection. Turned off when this response can't allow one.
    keep_alive: bool,
    /// The whole response went out.
    finished: bool,
}
// ANCHOR_END: struct

impl StartResponse {
    // ANCHOR: new
    pub fn new(
        client_connection: TcpStream,
        request: &Request,
        verbose: bool,
        keep_alive: bool,
    ) -> Self {
        StartResponse {
            client_connection: Some(client_connection),
            is_head: request.method == "HEAD",
            is_http11: request.version == "HTTP/1.1",
            verbose,
            headers_set: None,
            headers_sent: false,
            framing: Framing::NoBody,
            sent: 0,
            keep_alive,
            finished: false,
        }
    }
    // ANCHOR_END: new
}

#[pymethods]
impl StartResponse {
    // ANCHOR: call
    /// `start_response(status, response_headers, exc_info=None)`.
    #[pyo3(signature = (status, response_headers, exc_info = None))]
    fn __call__(
        slf: &Bound<'_, Self>,
        status: &Bound<'_, PyAny>,
        response_headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let mut this = slf.borrow_mut();
        match exc_info.filter(|info| !info.is_none()) {
            // The app caught an error and wants to send an error page
            // instead. Too late if the head is out: re-raise its error.
            Some(info) if this.headers_sent => {
                return Err(PyErr::from_value(info.get_item(1)?));
            }
            Some(_) => {}
            None if this.headers_set.is_some() => {
                return Err(WSGIError::new_err(
                    "start_response was called a second time without exc_info",
                ));
            }
            None => {}
        }
        let status = check_status(status)?;
        let headers = check_headers(response_headers)?;
        this.headers_set = Some((status, headers));
        drop(this);
        // To adhere to PEP 3333, start_response returns a `write` callable.
        Ok(slf.getattr("write")?.unbind())
    }
    // ANCHOR_END: call

    // ANCHOR: write
    /// `write(data)`: the old, imperative way for an app to send body.
    fn write(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let data = data.cast::<PyBytes>().map_err(|_| {
            WSGIError::new_err("write() needs bytes, not str: encode it")
        })?;
        self.send(data.as_bytes(), false)?;
        Ok(())
    }
    // ANCHOR_END: write
}

// ANCHOR: check_status
/// A status must read like `200 OK`: three digits, a space, a reason.
fn check_status(status: &Bound<'_, PyAny>) -> PyResult<String> {
    let status: String = status
        .cast::<PyString>()
        .map_err(|_| WSGIError::new_err("status must be a str"))?
        .extract()?;
    let bytes = status.as_bytes();
    let well_formed = bytes.len() > 4
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b' '
        && status.chars().all(|c| c == ' ' || c.is_ascii_graphic());
    if !well_formed {
        return Err(WSGIError::new_err(format!(
            "status {status:?} is not like '200 OK'"
        )));
    }
    Ok(status)
}
// ANCHOR_END: check_status

// ANCHOR: check_headers
/// Headers must be a list of (name, value) str tuples that cannot break
/// the head: no control characters, no hop-by-hop names.
fn check_headers(
    headers: &Bound<'_, PyAny>,
) -> PyResult<Vec<(String, String)>> {
    let headers = headers
        .cast::<PyList>()
        .map_err(|_| WSGIError::new_err("response_headers must be a list"))?;
    let mut checked = Vec::with_capacity(headers.len());
    for header in headers.iter() {
        let pair = header.cast::<PyTuple>().map_err(|_| {
            WSGIError::new_err(format!("header {header} is not a tuple"))
        })?;
        let (name, value): (String, String) = pair.extract().map_err(|_| {
            WSGIError::new_err(format!("header {pair} is not (str, str)"))
        })?;
        let name_ok = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        // PEP 3333: values are latin-1 strings, sent one byte per char.
        let value_ok = value
            .chars()
            .all(|c| c == '\t' || (u32::from(c) <= 0xff && !c.is_control()));
        if !name_ok || !value_ok {
            return Err(WSGIError::new_err(format!(
                "header {name:?}: {value:?} would break the response head"
            )));
        }
        if HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(WSGIError::new_err(format!(
                "header {name:?} is hop-by-hop: the server sets it, not the app"
            )));
        }
        checked.push((name, value));
    }
    Ok(checked)
}
// ANCHOR_END: check_headers

impl StartResponse {
    /// The connection, while the response is still being sent.
    fn connection(&mut self) -> PyResult<&mut TcpStream> {
        self.client_connection
            .as_mut()
            .ok_or_else(|| WSGIError::new_err("the response is over"))
    }

    // ANCHOR: take_connection
    /// Whether the client may send another request on this connection: the
    /// server offered it, the client asked for it, and this response went
    /// out whole, with a length the client can trust.
    pub fn may_continue(&self) -> bool {
        self.keep_alive && self.finished
    }

    /// Ends the response: the server takes the connection back, and a
    /// `write` the app calls later fails instead of writing to it.
    pub fn take_connection(&mut self) -> Option<TcpStream> {
        self.client_connection.take()
    }
    // ANCHOR_END: take_connection

    // ANCHOR: send
    /// Sends one piece of body, with the head first if it has not gone yet.
    /// `whole_body` says this piece is all the body there is.
    pub fn send(&mut self, data: &[u8], whole_body: bool) -> PyResult<()> {
        if self.headers_set.is_none() {
            return Err(WSGIError::new_err("body before start_response()"));
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
        self.connection()?.write_all(&out).map_err(client_gone)?;
        self.sent += data.len() as u64;
        Ok(())
    }
    // ANCHOR_END: send

    // ANCHOR: finish
    /// Ends the response once the iterable is exhausted.
    pub fn finish(&mut self) -> PyResult<()> {
        if self.headers_set.is_none() {
            return Err(WSGIError::new_err(
                "the application returned without calling start_response()",
            ));
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
        self.connection()?.write_all(&out).map_err(client_gone)?;
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
        let mut head = format!("HTTP/1.1 {status}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        // Ours, unless the app set its own.
        if has("Date").is_none() {
            let now = httpdate::fmt_http_date(SystemTime::now());
            head.push_str(&format!("Date: {now}\r\n"));
        }
        if has("Server").is_none() {
            head.push_str(&format!("Server: {SERVER_SOFTWARE}\r\n"));
        }
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
        // Every char is at most U+00FF (check_headers made sure): one byte.
        head.chars().map(|c| c as u8).collect()
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
        let body = match message {
            Some(message) => format!("500 Internal Server Error: {message}\n"),
            None => "500 Internal Server Error\n".to_string(),
        };
        let status = "500 Internal Server Error";
        if let Ok(client_connection) = self.connection() {
            let _ = send_plain(client_connection, status, &body);
        }
        self.headers_sent = true;
        if self.verbose {
            println!("> HTTP/1.1 {status}\n");
        }
    }
    // ANCHOR_END: fail
}
