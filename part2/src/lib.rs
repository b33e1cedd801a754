//! Part 2 of Let's Build A Web Server: a WSGI server that embeds CPython.
//!
//! Ports `part2/webserver2.py` (https://github.com/rspivak/lsbaws). The
//! library holds the server so that part 3's webserver3h and webserver3i
//! can reuse it; the `part2` binary (src/main.rs) only reads the command
//! line and starts it.
//!
//! - [`cli`]: the command line every WSGI server shares;
//! - [`python`]: start the interpreter, import `module:callable`;
//! - [`server`]: make_server, serve_forever, handle_one_request,
//!   get_environ, finish_response: the article's methods;
//!
//! and below the server, each owning one thing, none importing upward:
//! - [`connection`]: a client's socket, its unread bytes, the deadlines;
//!   reads whole requests;
//! - [`request`]: parses and checks a request's head (no I/O, no Python);
//! - [`body`]: reads a body, Content-Length or chunked (no I/O, no Python);
//! - [`environ`]: the environ dict of PEP 3333;
//! - [`start_response`]: the `start_response` and `write` callables;
//! - [`response`]: frames and writes a response (no Python).

pub mod body;
pub mod cli;
pub mod connection;
pub mod environ;
pub mod python;
pub mod request;
pub mod response;
pub mod server;
pub mod start_response;

pub use connection::Connection;
pub use python::{load_application, start_python};
pub use server::{WSGIServer, make_server};

use pyo3::Python;

// ANCHOR: make_server_for
/// What `webserver2.py` does before `serve_forever`, for `module:callable`:
/// start Python, import the application, bind the listening socket. Each
/// failure is one line, for the caller to print before it exits with 2.
pub fn make_server_for(
    app_path: &str,
    host: &str,
    port: u16,
    request_queue_size: i32,
) -> Result<WSGIServer, String> {
    start_python()?;
    let application = Python::attach(|py| load_application(py, app_path))?;
    make_server(host, port, application, request_queue_size)
        .map_err(|err| format!("cannot listen on {host}:{port}: {err}"))
}
// ANCHOR_END: make_server_for
