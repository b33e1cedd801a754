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
//!   parse_request, get_environ, finish_response;
//! - [`start_response`]: the `start_response` and `write` callables.

pub mod cli;
pub mod python;
pub mod server;
pub mod start_response;

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
