//! The `environ` dict of PEP 3333: the request, as the app sees it.
//!
//! Ports `get_environ` of `part2/webserver2.py`, which fills in the dozen
//! keys its example apps read; this one fills in every key PEP 3333 asks
//! for, each header as `HTTP_NAME`, and the body as `wsgi.input`.

use std::net::SocketAddr;

use percent_encoding::percent_decode;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::request::{Framing, Request};
use crate::response::SERVER_SOFTWARE;

// ANCHOR: server_facts
/// What the environ says about the server itself, the same for every
/// request: its name and port, and how it runs the app.
pub struct ServerFacts<'a> {
    pub server_name: &'a str,
    pub server_port: u16,
    /// `wsgi.multithread`: other threads may call the app meanwhile.
    pub multithread: bool,
    /// `wsgi.multiprocess`: other processes may call it meanwhile.
    pub multiprocess: bool,
}
// ANCHOR_END: server_facts

// ANCHOR: base_environ
/// The part of the environ that is the same for every request: made once,
/// and copied into each request's environ by `get_environ`. (Python's own
/// WSGI server, `wsgiref.simple_server`, does the same: its
/// `setup_environ` makes a `base_environ` that each request copies.)
pub fn base_environ<'py>(
    py: Python<'py>,
    server: &ServerFacts<'_>,
) -> PyResult<Bound<'py, PyDict>> {
    let env = PyDict::new(py);
    // Required WSGI variables
    env.set_item(intern!(py, "wsgi.version"), (1, 0))?;
    env.set_item(intern!(py, "wsgi.url_scheme"), intern!(py, "http"))?;
    // The body is read whole, so wsgi.input ends where the body ends: an
    // app (Werkzeug checks this key) may read to the end without a length.
    env.set_item(intern!(py, "wsgi.input_terminated"), true)?;
    let stderr = python_object(py, &STDERR, "sys", "stderr")?;
    env.set_item(intern!(py, "wsgi.errors"), stderr)?;
    env.set_item(intern!(py, "wsgi.multithread"), server.multithread)?;
    env.set_item(intern!(py, "wsgi.multiprocess"), server.multiprocess)?;
    env.set_item(intern!(py, "wsgi.run_once"), false)?;
    // Required CGI variables
    env.set_item(intern!(py, "SCRIPT_NAME"), intern!(py, ""))?;
    env.set_item(intern!(py, "SERVER_NAME"), server.server_name)?;
    env.set_item(intern!(py, "SERVER_PORT"), server.server_port.to_string())?;
    env.set_item(intern!(py, "SERVER_SOFTWARE"), SERVER_SOFTWARE)?;
    Ok(env)
}
// ANCHOR_END: base_environ

// ANCHOR: get_environ
/// Builds the environ dict of PEP 3333 for one request: a copy of `base`
/// (see `base_environ`), and what this request says.
pub fn get_environ<'py>(
    py: Python<'py>,
    request: &Request,
    base: &Bound<'py, PyDict>,
    client_address: Option<SocketAddr>,
) -> PyResult<Bound<'py, PyDict>> {
    // One C call copies the base's table whole: cheaper than setting its
    // entries one by one, and the dict never has to grow for them.
    let env = base.copy()?;
    // ORIGINAL: io.StringIO(request_data) handed the app the request
    // head as text; wsgi.input is the body, as bytes.
    let body = PyBytes::new(py, &request.body);
    let input =
        python_object(py, &BYTES_IO, "io", "BytesIO")?.call1((body,))?;
    env.set_item(intern!(py, "wsgi.input"), input)?;
    env.set_item(intern!(py, "REQUEST_METHOD"), &request.method)?;
    let path = percent_decode(request.path.as_bytes()).collect::<Vec<u8>>();
    env.set_item(intern!(py, "PATH_INFO"), latin1(&path))?;
    env.set_item(intern!(py, "QUERY_STRING"), &request.query)?;
    env.set_item(intern!(py, "SERVER_PROTOCOL"), request.version)?;
    if let Some(address) = client_address {
        env.set_item(intern!(py, "REMOTE_ADDR"), address.ip().to_string())?;
        env.set_item(intern!(py, "REMOTE_PORT"), address.port().to_string())?;
    }
    add_headers(py, &env, request)?;
    Ok(env)
}
// ANCHOR_END: get_environ

// ANCHOR: add_headers
/// Every header, as HTTP_NAME; two of them have names of their own.
fn add_headers(
    py: Python<'_>,
    env: &Bound<'_, PyDict>,
    request: &Request,
) -> PyResult<()> {
    for (name, value) in &request.headers {
        // `X-User_Id` and `X-User-Id` would both become HTTP_X_USER_ID:
        // drop names with `_`, so one can't pose as the other.
        if name.contains('_') {
            continue;
        }
        let key = match name.to_ascii_uppercase().replace('-', "_") {
            key if key == "CONTENT_TYPE" => key,
            // The body the app reads is decoded, and its length is known:
            // the environ describes that body, as a proxy that decodes it
            // would (every framework reads CONTENT_LENGTH).
            key if key == "CONTENT_LENGTH" || key == "TRANSFER_ENCODING" => {
                continue;
            }
            // RFC 9112 §3.2.2: an absolute-form target's host wins.
            key if key == "HOST" && request.target_host.is_some() => continue,
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
    if let Some(host) = &request.target_host {
        env.set_item(intern!(py, "HTTP_HOST"), host)?;
    }
    let had_length = request.values("Content-Length").next().is_some();
    if request.framing == Framing::Chunked || had_length {
        let length = request.body.len().to_string();
        env.set_item(intern!(py, "CONTENT_LENGTH"), length)?;
    }
    Ok(())
}
// ANCHOR_END: add_headers

// ANCHOR: python_object
/// `io.BytesIO` and `sys.stderr`, looked up once, not for every request.
static BYTES_IO: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static STDERR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `module.name`, from `cell` after the first time.
fn python_object<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    module: &str,
    name: &str,
) -> PyResult<&'py Bound<'py, PyAny>> {
    let object = cell.get_or_try_init(py, || {
        py.import(module)?.getattr(name).map(Bound::unbind)
    })?;
    Ok(object.bind(py))
}

/// WSGI's "native strings" hold bytes as latin-1: one char per byte.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}
// ANCHOR_END: python_object
