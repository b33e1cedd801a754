//! `start_response`, the callable a WSGI app calls to set the status and the
//! headers, and the `write` callable it returns.
//!
//! Ports `WSGIServer.start_response` of `part2/webserver2.py`. The article
//! stores the status and headers and leaves the rest out; PEP 3333 asks for
//! more, and this file does all of it: check what the app passes, allow a
//! second call only with `exc_info`, return a working `write`, and send the
//! head only when the first byte of body is ready.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::response::{Response, SendError, Sink};

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

/// Turns a failure of the response into the Python error the app sees.
fn send_error(err: SendError) -> PyErr {
    match err {
        SendError::NotStarted => {
            WSGIError::new_err("body before start_response()")
        }
        SendError::Over => WSGIError::new_err("the response is over"),
        SendError::ClientGone(err) => {
            ClientGone::new_err(format!("the client went away: {err}"))
        }
    }
}
// ANCHOR_END: wsgi_error

// ANCHOR: hop_by_hop
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

// ANCHOR_END: hop_by_hop

// ANCHOR: struct
/// The `start_response` callable handed to the app. It checks what the app
/// passes, and hands it to the response it starts.
#[pyclass(module = "part2")]
pub struct StartResponse {
    response: Response,
}
// ANCHOR_END: struct

impl StartResponse {
    // ANCHOR: new
    pub fn new(response: Response) -> Self {
        StartResponse { response }
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
            Some(info) if this.response.headers_sent() => {
                return Err(PyErr::from_value(info.get_item(1)?));
            }
            Some(_) => {}
            None if this.response.headers_set() => {
                return Err(WSGIError::new_err(
                    "start_response was called a second time without exc_info",
                ));
            }
            None => {}
        }
        let status = check_status(status)?;
        let headers = check_headers(response_headers)?;
        this.response.set_headers(status, headers);
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
        self.send(data, false)
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
        // The head we send frames the body by it: it must be a length.
        let is_length = name.eq_ignore_ascii_case("Content-Length");
        let digits = value.trim();
        if is_length
            && (digits.is_empty()
                || !digits.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(WSGIError::new_err(format!(
                "Content-Length {value:?} is not a number of bytes"
            )));
        }
        checked.push((name, value));
    }
    Ok(checked)
}
// ANCHOR_END: check_headers

// ANCHOR: send
impl StartResponse {
    /// Sends one piece of body (`whole_body`: all there is), the head first
    /// if it has not gone yet.
    // Most responses fit in the socket's send buffer and leave at once:
    // written with the GIL held, they cost no hand-over of the GIL to
    // another thread and back. Only when the client reads slowly do bytes
    // have to wait, and then the GIL is let go while they do: a slow
    // reader holds up no other thread that wants to run Python.
    pub fn send(
        &mut self,
        data: &Bound<'_, PyBytes>,
        whole_body: bool,
    ) -> PyResult<()> {
        self.response
            .send(data.as_bytes(), whole_body)
            .map_err(send_error)?;
        self.flush(data.py())
    }

    /// Ends the response once the iterable is exhausted.
    pub fn finish(&mut self, py: Python<'_>) -> PyResult<()> {
        if !self.response.headers_set() {
            return Err(WSGIError::new_err(
                "the application returned without calling start_response()",
            ));
        }
        self.response.finish().map_err(send_error)?;
        self.flush(py)
    }

    /// Waits, without the GIL, for the client to take what it has not.
    fn flush(&mut self, py: Python<'_>) -> PyResult<()> {
        if !self.response.must_wait() {
            return Ok(());
        }
        let response = &mut self.response;
        py.detach(|| response.flush()).map_err(send_error)
    }

    /// The app failed: see [`Response::fail`].
    pub fn fail(&mut self, message: Option<&str>) {
        self.response.fail(message);
    }

    /// Ends the response: tells whether the connection may carry another
    /// request, and hands back the sink. The app may keep this object alive
    /// (in a traceback, say), but not the socket or the bytes.
    pub fn close(&mut self) -> (bool, Option<Sink>) {
        (self.response.may_continue(), self.response.close())
    }
}
// ANCHOR_END: send
