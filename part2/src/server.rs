//! The WSGI server: accept a connection, read a request, call the app,
//! send its response, close.
//!
//! Ports the `WSGIServer` class of `part2/webserver2.py`, method by method:
//! make_server, serve_forever, handle_one_request and finish_response. The
//! pieces they stand on have files of their own, each below this one:
//! reading a request (`connection.rs`, `request.rs`, `body.rs`), the
//! environ (`environ.rs`), start_response (`start_response.rs`) and the
//! response on the wire (`response.rs`).

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};

use part1::cli::bind_and_listen;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::connection::{Connection, ReadError};
use crate::environ::{ServerFacts, base_environ, get_environ};
use crate::request::Request;
use crate::response::{Response, Sink, print_lines};
use crate::start_response::{ClientGone, StartResponse, WSGIError};

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
    /// The entries every request's environ starts with, made from the
    /// fields above at the first request: set them before serving.
    base_environ: PyOnceLock<Py<PyDict>>,
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
    // Part 1's listening socket: SO_REUSEADDR, and the given backlog.
    let listen_socket = bind_and_listen(host, port, request_queue_size)?;
    let server_port = listen_socket.local_addr()?.port();
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
        base_environ: PyOnceLock::new(),
    })
}
// ANCHOR_END: make_server

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
                // One request per connection, as the article serves them.
                let mut connection = Connection::new(client_connection);
                self.handle_one_request(&mut connection, false);
                connection.close();
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
        self.handle_one_request(&mut Connection::new(client_connection), false);
        self.verbose = verbose;
        Ok(())
    }
    // ANCHOR_END: warm_up

    // ANCHOR: handle_one_request
    /// Reads one request from `connection`, runs the application on it and
    /// sends the response. Returns whether the connection may carry another
    /// request: the server offers it (`keep_alive`), the client asks for it,
    /// and the response went out whole with a length the client can trust.
    /// Nothing a client or an app does here can stop the server: every
    /// failure ends in an answer, or in a connection the caller closes.
    pub fn handle_one_request(
        &self,
        connection: &mut Connection,
        keep_alive: bool,
    ) -> bool {
        // Reading waits for the client: it runs without the GIL, so that
        // other threads may run Python meanwhile.
        let request = match connection.read_request() {
            Ok(request) => request,
            Err(ReadError::Closed) => return false,
            Err(ReadError::Refused(refusal)) => {
                eprintln!("part2: {}: {}", refusal.status, refusal.why);
                connection.refuse(&refusal);
                return false;
            }
        };
        let client_address = connection.socket().peer_addr().ok();
        // start_response writes to the client while the app runs, and a
        // Python object can't borrow from us: it gets a handle of its own,
        // a duplicate of the socket's descriptor, dropped when it is done.
        let socket = match connection.socket().try_clone() {
            Ok(socket) => socket,
            Err(err) => {
                eprintln!("part2: cannot serve the request: {err}");
                return false;
            }
        };
        let sink = Sink::Socket(socket);
        let (may_continue, _socket) =
            self.run_application(&request, client_address, sink, keep_alive);
        may_continue
    }
    // ANCHOR_END: handle_one_request

    // ANCHOR: run_application
    /// Runs the application on `request` and sends its response to `sink`.
    /// Returns whether the connection may carry another request, and the
    /// sink (a server that buffers responses takes the bytes from it).
    pub fn run_application(
        &self,
        request: &Request,
        client_address: Option<SocketAddr>,
        sink: Sink,
        keep_alive: bool,
    ) -> (bool, Option<Sink>) {
        if self.verbose {
            print_lines("< ", &request.head);
        }
        let keep_alive = keep_alive && request.wants_keep_alive();
        let response = Response::new(sink, request, keep_alive, self.verbose);
        Python::attach(|py| {
            let start_response =
                match Bound::new(py, StartResponse::new(response)) {
                    Ok(start_response) => start_response,
                    Err(err) => {
                        err.print(py);
                        return (false, None);
                    }
                };
            // It's time to call our application callable and get back a
            // result that will become the HTTP response body.
            let result = self
                .get_environ(py, request, client_address)
                .and_then(|environ| {
                    self.application.bind(py).call1((environ, &start_response))
                });
            // Construct a response and send it back to the client.
            self.finish_response(py, result, &start_response);
            start_response.borrow_mut().close()
        })
    }
    // ANCHOR_END: run_application

    // ANCHOR: get_environ
    /// The environ of PEP 3333 for one request (see environ.rs).
    pub fn get_environ<'py>(
        &self,
        py: Python<'py>,
        request: &Request,
        client_address: Option<SocketAddr>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let base = self.base_environ.get_or_try_init(py, || {
            let server = ServerFacts {
                server_name: &self.server_name,
                server_port: self.server_port,
                multithread: self.multithread,
                multiprocess: self.multiprocess,
            };
            base_environ(py, &server).map(Bound::unbind)
        })?;
        get_environ(py, request, base.bind(py), client_address)
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
            // A list or a tuple, what most apps return, has no close():
            // asking would cost a raised, formatted and dropped
            // AttributeError, a few per cent of a small request's time.
            let plain = result.is_exact_instance_of::<PyList>()
                || result.is_exact_instance_of::<PyTuple>();
            let close = if plain {
                Ok(None)
            } else {
                result.getattr_opt(intern!(py, "close"))
            };
            let closed = match close {
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
        start_response.borrow_mut().send(data, whole_body_in_one)?;
    }
    start_response.borrow_mut().finish(result.py())?;
    Ok(())
}
// ANCHOR_END: send_body
