//! The WSGI server: accept a connection, read one request, call the app,
//! send its response, close.
//!
//! Ports the `WSGIServer` class of `part2/webserver2.py`, method by method:
//! make_server, serve_forever, handle_one_request, parse_request,
//! get_environ and finish_response (start_response has a file of its own).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{
    Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::time::{Duration, SystemTime};

use percent_encoding::percent_decode;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use socket2::{Domain, Socket, Type};

use crate::start_response::{ClientGone, StartResponse, WSGIError};

// ANCHOR: limits
/// The most a request head (request line and headers) may take: 431 beyond.
pub const MAX_HEAD: usize = 8 * 1024;
/// The most headers a request may have: 431 beyond.
const MAX_HEADERS: usize = 64;
/// The largest request body we accept: 413 beyond.
pub const MAX_BODY: usize = 10 * 1024 * 1024;
/// How long a read or a write may wait for the client.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// What goes into every response's `Server` header.
pub const SERVER_SOFTWARE: &str = "WSGIServer/0.2 (lsbaws-rs)";
// ANCHOR_END: limits

// ANCHOR: struct
/// A WSGI server: a listening socket and the application it serves.
pub struct WSGIServer {
    listen_socket: TcpListener,
    application: Py<PyAny>,
    /// `SERVER_NAME` and `SERVER_PORT` for the environ.
    pub server_name: String,
    pub server_port: u16,
    /// Print each request and response a la `curl -v`, as the article does.
    pub verbose: bool,
    /// `wsgi.multiprocess`: true when requests are served by forked
    /// processes (part 3's webserver3h), false for this one process.
    pub multiprocess: bool,
    /// `wsgi.multithread`: true when threads of this process may call the
    /// application at the same time (part 3's threaded servers).
    pub multithread: bool,
    /// `io.BytesIO` and `sys.stderr`, looked up once, not per request.
    bytes_io: Py<PyAny>,
    stderr: Py<PyAny>,
}
// ANCHOR_END: struct

// ANCHOR: make_server
/// Binds the listening socket and returns a server ready to serve.
/// `request_queue_size` is the listen backlog: how many clients the kernel
/// keeps waiting, connected, until we accept them.
pub fn make_server(
    host: &str,
    port: u16,
    application: Py<PyAny>,
    request_queue_size: i32,
) -> io::Result<WSGIServer> {
    let listen_socket = listen(host, port, request_queue_size)?;
    let server_port = listen_socket.local_addr()?.port();
    let (bytes_io, stderr) = Python::attach(|py| -> PyResult<_> {
        let bytes_io = py.import("io")?.getattr("BytesIO")?.unbind();
        let stderr = py.import("sys")?.getattr("stderr")?.unbind();
        Ok((bytes_io, stderr))
    })?;
    Ok(WSGIServer {
        listen_socket,
        application,
        // ORIGINAL: `socket.getfqdn(host)` asks DNS; the name we were
        // given serves as well and never blocks.
        server_name: host.to_string(),
        server_port,
        verbose: true,
        multiprocess: false,
        multithread: false,
        bytes_io,
        stderr,
    })
}
// ANCHOR_END: make_server

// ANCHOR: listen
/// Binds `host:port` with SO_REUSEADDR and the given backlog.
fn listen(host: &str, port: u16, backlog: i32) -> io::Result<TcpListener> {
    let address = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "no address"))?;
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    // A restarted server may take the port while old connections linger.
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}
// ANCHOR_END: listen

// ANCHOR: serve_forever
impl WSGIServer {
    /// The listening socket (part 3 accepts on it and forks).
    pub fn listen_socket(&self) -> &TcpListener {
        &self.listen_socket
    }

    /// Accepts connections one at a time, forever.
    pub fn serve_forever(&self) -> ! {
        loop {
            // A failed accept (the client gave up early) ends only that
            // client; the loop goes on.
            if let Ok((client_connection, _)) = self.listen_socket.accept() {
                self.handle_one_request(client_connection);
            }
        }
    }
    // ANCHOR_END: serve_forever

    // ANCHOR: warm_up
    /// Serves one request to ourselves, before any client comes. Frameworks
    /// finish loading on their first request (Django its URL routes, Flask
    /// its error handlers); a forking server that warms up first does that
    /// work once, in the parent, instead of in every child.
    pub fn warm_up(&mut self) -> io::Result<()> {
        // On a listener of its own: a client that connects early waits in
        // the server's queue, and is never mistaken for our request.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        // The kernel completes the connection before we accept it, so the
        // request waits in the socket until we do.
        let mut client = TcpStream::connect(listener.local_addr()?)?;
        client.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
        let (client_connection, _) = listener.accept()?;
        // Quietly: the request is ours, not a client's.
        let verbose = std::mem::replace(&mut self.verbose, false);
        self.handle_one_request(client_connection);
        self.verbose = verbose;
        Ok(())
    }
    // ANCHOR_END: warm_up

    // ANCHOR: handle_one_request
    /// Reads one request, runs the application on it, sends the response
    /// and closes the connection. Nothing a client or an app does here can
    /// stop the server: every failure ends in an answer or a closed socket.
    pub fn handle_one_request(&self, client_connection: TcpStream) {
        // One request per connection: `Connection: close`, then close.
        let mut received = Vec::new();
        drop(self.handle_request(client_connection, &mut received, false));
    }

    /// The work of handle_one_request, for a server that may keep the
    /// connection open (webserver3i): `received` holds what the client sent
    /// after its previous request, and the connection comes back when the
    /// client may send another request on it. `keep_alive` says whether
    /// the server offers that.
    pub fn handle_request(
        &self,
        mut client_connection: TcpStream,
        received: &mut Vec<u8>,
        keep_alive: bool,
    ) -> Option<TcpStream> {
        let request = match read_request(&mut client_connection, received) {
            Ok(request) => request,
            Err(RequestError::Closed) => return None,
            Err(RequestError::Reply(status, why)) => {
                eprintln!("part2: {status}: {why}");
                let body = format!("{status}: {why}\n");
                let _ = send_plain(&mut client_connection, status, &body);
                linger_and_close(client_connection);
                return None;
            }
        };
        if self.verbose {
            print_lines("< ", &request.head);
        }
        let client_address = client_connection.peer_addr().ok();
        let keep_alive = keep_alive && request.wants_keep_alive();
        Python::attach(|py| {
            let start_response = StartResponse::new(
                client_connection,
                &request,
                self.verbose,
                keep_alive,
            );
            let start_response = match Bound::new(py, start_response) {
                Ok(start_response) => start_response,
                Err(err) => {
                    err.print(py);
                    return None;
                }
            };
            // It's time to call our application callable and get back a
            // result that will become the HTTP response body.
            let result = self
                .get_environ(py, &request, client_address)
                .and_then(|environ| {
                    self.application.bind(py).call1((environ, &start_response))
                });
            // Construct a response and send it back to the client.
            self.finish_response(py, result, &start_response);
            // Take the connection back from start_response: the app may keep
            // start_response alive (in a traceback, say), but not the
            // socket. Then close it, unless the client may send more.
            let mut response = start_response.borrow_mut();
            let client_connection = response.take_connection()?;
            response.may_continue().then_some(client_connection)
        })
    }
    // ANCHOR_END: handle_one_request

    // ANCHOR: get_environ
    /// Builds the environ dict of PEP 3333 for one request.
    pub fn get_environ<'py>(
        &self,
        py: Python<'py>,
        request: &Request,
        client_address: Option<SocketAddr>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let env = PyDict::new(py);
        // Required WSGI variables
        env.set_item(intern!(py, "wsgi.version"), (1, 0))?;
        env.set_item(intern!(py, "wsgi.url_scheme"), intern!(py, "http"))?;
        // ORIGINAL: io.StringIO(request_data) handed the app the request
        // head as text; wsgi.input is the body, as bytes.
        let body = PyBytes::new(py, &request.body);
        let input = self.bytes_io.bind(py).call1((body,))?;
        env.set_item(intern!(py, "wsgi.input"), input)?;
        env.set_item(intern!(py, "wsgi.errors"), self.stderr.bind(py))?;
        env.set_item(intern!(py, "wsgi.multithread"), self.multithread)?;
        env.set_item(intern!(py, "wsgi.multiprocess"), self.multiprocess)?;
        env.set_item(intern!(py, "wsgi.run_once"), false)?;
        // Required CGI variables
        let (path, query) = split_target(&request.path);
        env.set_item(intern!(py, "REQUEST_METHOD"), &request.method)?;
        env.set_item(intern!(py, "SCRIPT_NAME"), intern!(py, ""))?;
        env.set_item(
            intern!(py, "PATH_INFO"),
            latin1(&percent_decode(path.as_bytes()).collect::<Vec<u8>>()),
        )?;
        env.set_item(intern!(py, "QUERY_STRING"), query)?;
        env.set_item(intern!(py, "SERVER_NAME"), &self.server_name)?;
        env.set_item(intern!(py, "SERVER_PORT"), self.server_port.to_string())?;
        env.set_item(intern!(py, "SERVER_PROTOCOL"), &request.version)?;
        env.set_item(intern!(py, "SERVER_SOFTWARE"), SERVER_SOFTWARE)?;
        if let Some(address) = client_address {
            env.set_item(intern!(py, "REMOTE_ADDR"), address.ip().to_string())?;
            env.set_item(
                intern!(py, "REMOTE_PORT"),
                address.port().to_string(),
            )?;
        }
        // Every header, as HTTP_NAME; two of them have names of their own.
        for (name, value) in &request.headers {
            // `X-User_Id` and `X-User-Id` would both become HTTP_X_USER_ID:
            // drop names with `_`, so one can't pose as the other.
            if name.contains('_') {
                continue;
            }
            let key = match name.to_ascii_uppercase().replace('-', "_") {
                key if key == "CONTENT_TYPE" || key == "CONTENT_LENGTH" => key,
                key => format!("HTTP_{key}"),
            };
            let value = latin1(value.trim_ascii());
            // A repeated header becomes one, its values joined by commas.
            let value = match env.get_item(&key)? {
                Some(first) => format!("{first},{value}"),
                None => value,
            };
            env.set_item(PyString::new(py, &key), value)?;
        }
        Ok(env)
    }
    // ANCHOR_END: get_environ

    // ANCHOR: finish_response
    /// Sends what the application returned, then calls the iterable's
    /// `close()`, which PEP 3333 says the server must always do.
    fn finish_response(
        &self,
        py: Python<'_>,
        result: PyResult<Bound<'_, PyAny>>,
        start_response: &Bound<'_, StartResponse>,
    ) {
        let outcome = result.and_then(|result| {
            let sent = send_body(&result, start_response);
            let closed = match result.getattr_opt(intern!(py, "close")) {
                Ok(Some(close)) => close.call0().map(drop),
                Ok(None) => Ok(()),
                Err(err) => Err(err),
            };
            sent.and(closed)
        });
        if let Err(err) = outcome {
            // The traceback goes to stderr; the client gets a 500 if no
            // byte of the response has left yet, else a cut-off response.
            // A client that hung up is no bug: one line says so.
            if err.is_instance_of::<ClientGone>(py) {
                eprintln!("part2: {}", err.value(py));
            } else {
                err.print(py);
            }
            let message = err
                .is_instance_of::<WSGIError>(py)
                .then(|| err.value(py).to_string());
            start_response.borrow_mut().fail(message.as_deref());
        }
    }
    // ANCHOR_END: finish_response
}

// ANCHOR: send_body
/// Sends each bytestring the iterable yields, then ends the response.
fn send_body(
    result: &Bound<'_, PyAny>,
    start_response: &Bound<'_, StartResponse>,
) -> PyResult<()> {
    // PEP 3333: when the iterable has a len() of 1, its one bytestring is
    // the whole body, and its length is the Content-Length.
    let whole_body_in_one = result.len().is_ok_and(|n| n == 1);
    for data in result.try_iter()? {
        let data = data?;
        let Ok(data) = data.cast::<PyBytes>() else {
            return Err(WSGIError::new_err(format!(
                "the application returned {} where WSGI needs bytes; \
                 encode it, e.g. \"Hello\".encode(\"utf-8\")",
                data.get_type().name()?
            )));
        };
        // Borrow only while sending: the iterable may itself call
        // start_response or write (a generator that starts late).
        let mut response = start_response.borrow_mut();
        response.send(data.as_bytes(), whole_body_in_one)?;
    }
    start_response.borrow_mut().finish()?;
    Ok(())
}
// ANCHOR_END: send_body

// ANCHOR: request
/// A request as it came from the client.
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target, as sent: `/hello?name=x`.
    pub path: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// Each header's name and raw value, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The request line and headers as received (for printing).
    pub head: Vec<u8>,
    /// Exactly Content-Length bytes of body.
    pub body: Vec<u8>,
}

impl Request {
    /// Whether the client asks to keep the connection open for another
    /// request: HTTP/1.1 does unless it says `Connection: close`; HTTP/1.0
    /// does only when it says `Connection: keep-alive`.
    pub fn wants_keep_alive(&self) -> bool {
        let says = |token: &str| {
            self.headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("Connection"))
                .flat_map(|(_, value)| value.split(|&b| b == b','))
                .any(|option| {
                    option.trim_ascii().eq_ignore_ascii_case(token.as_bytes())
                })
        };
        if self.version == "HTTP/1.1" {
            !says("close")
        } else {
            says("keep-alive")
        }
    }

    /// The value of the first header called `name`, if any.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim_ascii())
    }
}

/// Why no request could be read.
pub enum RequestError {
    /// The client left, or sent nothing: there is nobody to answer.
    Closed,
    /// The request was bad: answer with this status, for this reason.
    Reply(&'static str, String),
}

fn bad(status: &'static str, why: impl Into<String>) -> RequestError {
    RequestError::Reply(status, why.into())
}
// ANCHOR_END: request

// ANCHOR: read_request
/// Reads the request head until the blank line, then exactly Content-Length
/// bytes of body.
// ORIGINAL: `recv(1024)` takes whatever the first packet brings, at most
// 1024 bytes, so long or slow requests arrive cut short.
pub fn read_request(
    client_connection: &mut TcpStream,
    received: &mut Vec<u8>,
) -> Result<Request, RequestError> {
    let _ = client_connection.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = client_connection.set_write_timeout(Some(CLIENT_TIMEOUT));
    // Each write leaves at once. By default the kernel holds back a small
    // write while an earlier one waits for its ACK (Nagle's algorithm), and
    // the client delays its ACK by up to 40 ms: a response written in two
    // pieces (a chunked body's last chunk) would stall on a kept connection.
    let _ = client_connection.set_nodelay(true);
    // `received` may hold a whole request already (the client sent two at
    // once) or part of one: parse before reading more.
    let mut request = loop {
        if let Some(request) = parse_request(received)? {
            break request;
        }
        if read_some(client_connection, received)? == 0 {
            return Err(RequestError::Closed);
        }
    };
    received.drain(..request.head.len());
    let length = content_length(&request)?;
    let expects_continue = request
        .header("Expect")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
    if expects_continue && received.len() < length {
        // A client may ask before it sends a big body (curl does above
        // 1 MiB), and then wait a second for our go: say go at once.
        let _ = client_connection.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    while received.len() < length {
        if read_some(client_connection, received)? == 0 {
            return Err(RequestError::Closed);
        }
    }
    // What follows the body, if anything, is the client's next request.
    request.body = received.drain(..length).collect();
    Ok(request)
}
// ANCHOR_END: read_request

// ANCHOR: read_some
/// One read into `buffer`; a client that stops mid-request gets a 408.
fn read_some(
    client_connection: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> Result<usize, RequestError> {
    let mut chunk = [0; 4096];
    match client_connection.read(&mut chunk) {
        Ok(read) => {
            buffer.extend_from_slice(&chunk[..read]);
            Ok(read)
        }
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut
            ) =>
        {
            if buffer.is_empty() {
                Err(RequestError::Closed)
            } else {
                Err(bad("408 Request Timeout", "the request stopped coming"))
            }
        }
        Err(_) => Err(RequestError::Closed),
    }
}
// ANCHOR_END: read_some

// ANCHOR: parse_request
/// Parses the head with httparse: `None` until the blank line has come.
pub fn parse_request(buffer: &[u8]) -> Result<Option<Request>, RequestError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_length = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buffer.len() < MAX_HEAD => {
            return Ok(None);
        }
        Ok(httparse::Status::Partial)
        | Err(httparse::Error::TooManyHeaders) => {
            return Err(bad(
                "431 Request Header Fields Too Large",
                format!(
                    "the head is over {MAX_HEAD} bytes or {MAX_HEADERS} headers"
                ),
            ));
        }
        Err(e) => return Err(bad("400 Bad Request", e.to_string())),
    };
    if head_length > MAX_HEAD {
        return Err(bad(
            "431 Request Header Fields Too Large",
            format!("the head is over {MAX_HEAD} bytes"),
        ));
    }
    // httparse fills all three once the head is complete.
    let method = parsed.method.unwrap_or_default().to_string();
    let path = parsed.path.unwrap_or_default().to_string();
    let version = format!("HTTP/1.{}", parsed.version.unwrap_or(1));
    let headers: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect();
    let request = Request {
        method,
        path,
        version,
        headers,
        head: buffer[..head_length].to_vec(),
        body: Vec::new(),
    };
    if request.version == "HTTP/1.1" && request.header("Host").is_none() {
        return Err(bad("400 Bad Request", "HTTP/1.1 needs a Host header"));
    }
    Ok(Some(request))
}
// ANCHOR_END: parse_request

// ANCHOR: content_length
/// How many body bytes follow the head.
fn content_length(request: &Request) -> Result<usize, RequestError> {
    if request.header("Transfer-Encoding").is_some() {
        // SIMPLIFICATION: a chunked request body would need decoding
        // before it could be wsgi.input; we ask for a Content-Length.
        return Err(bad(
            "411 Length Required",
            "send the body with a Content-Length, not Transfer-Encoding",
        ));
    }
    let mut lengths = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Content-Length"))
        .map(|(_, value)| {
            std::str::from_utf8(value.trim_ascii())
                .ok()
                .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok())
        });
    let length = match (lengths.next(), lengths.next()) {
        (None, _) => 0,
        (Some(Some(length)), None) => length,
        _ => return Err(bad("400 Bad Request", "bad Content-Length")),
    };
    if length > MAX_BODY {
        return Err(bad(
            "413 Content Too Large",
            format!("the body is over {MAX_BODY} bytes"),
        ));
    }
    Ok(length)
}
// ANCHOR_END: content_length

// ANCHOR: split_target
/// Splits `/path?query` into the path and the query string.
fn split_target(target: &str) -> (&str, &str) {
    // A proxy-style absolute target: keep only its path.
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    target.split_once('?').unwrap_or((target, ""))
}

/// WSGI's "native strings" hold bytes as latin-1: one char per byte.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}
// ANCHOR_END: split_target

// ANCHOR: send_plain
/// The head lines every response of ours carries, after the app's own.
fn server_headers() -> String {
    format!(
        "Date: {}\r\nServer: {SERVER_SOFTWARE}\r\n",
        httpdate::fmt_http_date(SystemTime::now())
    )
}

/// A short plain-text response, for the errors the server answers itself.
pub fn send_plain(
    client_connection: &mut TcpStream,
    status: &str,
    body: &str,
) -> io::Result<()> {
    let response = format!(
        "HTTP/1.1 {status}\r\n\
         {server_headers}\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {length}\r\n\
         Connection: close\r\n\
         \r\n\
         {body}",
        server_headers = server_headers(),
        length = body.len(),
    );
    client_connection.write_all(response.as_bytes())
}
// ANCHOR_END: send_plain

// ANCHOR: linger_and_close
/// Closes a connection that may still hold unread bytes (a body we refused,
/// the rest of an oversized head). Closing straight away would make the
/// kernel reset the connection, and the client could lose our answer.
fn linger_and_close(mut client_connection: TcpStream) {
    let _ = client_connection.shutdown(Shutdown::Write);
    let _ = client_connection.set_read_timeout(Some(Duration::from_secs(2)));
    let mut rest = (&mut client_connection).take(MAX_BODY as u64);
    let _ = io::copy(&mut rest, &mut io::sink());
}
// ANCHOR_END: linger_and_close

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
