//! Part 2 of Let's Build A Web Server: a WSGI server that embeds CPython.
//!
//! Ports `part2/webserver2.py` (https://github.com/rspivak/lsbaws). The
//! library holds the server so that part 3's webserver3h can reuse it; the
//! `part2` binary (src/main.rs) only reads the command line and starts it.
//!
//! - [`python`]: start the interpreter, import `module:callable`;
//! - [`server`]: make_server, serve_forever, handle_one_request,
//!   parse_request, get_environ, finish_response;
//! - [`start_response`]: the `start_response` and `write` callables.

pub mod python;
pub mod server;
pub mod start_response;

pub use python::{load_application, start_python};
pub use server::{WSGIServer, make_server};
