//! Part 2, build-along step 1: the article's `webserver2.py`, as it is.
//!
//! Ports `part2/webserver2.py` of https://github.com/rspivak/lsbaws method
//! for method: one read of at most 1024 bytes, an environ with the whole
//! request as text in `wsgi.input`, a fixed Date, the body joined in memory
//! and sent, then close. Any error (a bad request, an app that raises, a
//! `str` in the body) ends the server with a traceback, as an exception
//! ends the Python. Run it with
//! `cargo run -p part2-listings --bin step1-webserver2 -- wsgiapp:app`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

use clap::Parser;
use part1::cli::bind_and_listen;
use part2::cli::ServeArgs;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// Part 2's WSGI server, as the build-along grows it.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}

/// The article's backlog: one client waits while we serve another.
const REQUEST_QUEUE_SIZE: i32 = 1;

fn main() -> ExitCode {
    let args = Args::parse();
    let httpd = match make_server(&args.serve) {
        Ok(httpd) => httpd,
        Err(message) => {
            eprintln!("part2: {message}");
            return ExitCode::from(2);
        }
    };
    println!("WSGIServer: Serving HTTP on port {} ...", httpd.server_port);
    httpd.serve_forever()
}

/// Starts Python, imports the application, and binds the socket, as the
/// article's `__main__` block and `make_server` do.
fn make_server(args: &ServeArgs) -> Result<WSGIServer, String> {
    part2::start_python()?;
    let application =
        Python::attach(|py| part2::load_application(py, &args.app))?;
    let (host, port) = (&args.address.host, args.address.port);
    // The socket, SO_REUSEADDR, bind and listen of the article's
    // WSGIServer.__init__: part 1's, as part 2 itself uses them.
    let listen_socket = bind_and_listen(host, port, REQUEST_QUEUE_SIZE)
        .map_err(|err| format!("cannot listen on {host}:{port}: {err}"))?;
    let server_port = listen_socket
        .local_addr()
        .map_err(|err| format!("no local address: {err}"))?
        .port();
    Ok(WSGIServer {
        listen_socket,
        // ORIGINAL: socket.getfqdn(host); the host we were given will do.
        server_name: host.clone(),
        server_port,
        application,
        verbose: !args.quiet,
    })
}

struct WSGIServer {
    listen_socket: TcpListener,
    server_name: String,
    server_port: u16,
    application: Py<PyAny>,
    /// Print each request and response, a la `curl -v`.
    verbose: bool,
}

impl WSGIServer {
    // ANCHOR: serve_forever
    fn serve_forever(&self) -> ExitCode {
        for client_connection in self.listen_socket.incoming() {
            let Ok(client_connection) = client_connection else {
                continue;
            };
            // Handle one request and close the client connection. Then
            // loop over to wait for another client connection.
            // ORIGINAL: an exception ends the Python server with its
            // traceback; so does any error here.
            if let Err(err) = self.handle_one_request(client_connection) {
                Python::attach(|py| err.print(py));
                return ExitCode::FAILURE;
            }
        }
        ExitCode::SUCCESS
    }
    // ANCHOR_END: serve_forever

    // ANCHOR: handle_one_request
    fn handle_one_request(
        &self,
        mut client_connection: TcpStream,
    ) -> PyResult<()> {
        let request = read_request(&mut client_connection)?;
        // Print formatted request data a la 'curl -v'
        self.print("< ", &request.head);
        let (request_method, path) = parse_request(&request.head)?;
        let response = Python::attach(|py| {
            // Construct environment dictionary using request data
            let env = self.get_environ(py, &request, &request_method, &path)?;
            let start_response = Bound::new(py, StartResponse::default())?;
            // It's time to call our application callable and get
            // back a result that will become HTTP response body
            let result =
                self.application.bind(py).call1((env, &start_response))?;
            // Construct a response and send it back to the client
            finish_response(&result, &start_response)
        })?;
        self.print("> ", &String::from_utf8_lossy(&response));
        client_connection.write_all(&response)?;
        // Dropping client_connection here closes it.
        Ok(())
    }
    // ANCHOR_END: handle_one_request

    // ANCHOR: get_environ
    fn get_environ<'py>(
        &self,
        py: Python<'py>,
        request: &Request,
        request_method: &str,
        path: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let env = PyDict::new(py);
        // Required WSGI variables
        env.set_item("wsgi.version", (1, 0))?;
        env.set_item("wsgi.url_scheme", "http")?;
        // ORIGINAL: io.StringIO(self.request_data): the whole request,
        // head and all, as text.
        let input = py.import("io")?.getattr("StringIO")?;
        env.set_item("wsgi.input", input.call1((&request.head,))?)?;
        env.set_item("wsgi.errors", py.import("sys")?.getattr("stderr")?)?;
        env.set_item("wsgi.multithread", false)?;
        env.set_item("wsgi.multiprocess", false)?;
        env.set_item("wsgi.run_once", false)?;
        // Required CGI variables
        env.set_item("REQUEST_METHOD", request_method)?;
        env.set_item("PATH_INFO", path)?;
        env.set_item("SERVER_NAME", &self.server_name)?;
        env.set_item("SERVER_PORT", self.server_port.to_string())?;
        Ok(env)
    }
    // ANCHOR_END: get_environ

    /// Prints `text` line by line, each line after `prefix`.
    fn print(&self, prefix: &str, text: &str) {
        if self.verbose {
            for line in text.lines() {
                println!("{prefix}{line}");
            }
            println!();
        }
    }
}

// ANCHOR: read_request
/// What the client sent.
struct Request {
    head: String,
}

/// Reads what the client has sent so far, at most 1024 bytes.
// ORIGINAL: `self.client_connection.recv(1024)`, then `.decode('utf-8')`.
fn read_request(client_connection: &mut TcpStream) -> io::Result<Request> {
    let mut request_data = [0; 1024];
    let received = client_connection.read(&mut request_data)?;
    let head = String::from_utf8(request_data[..received].to_vec())
        .map_err(|err| io::Error::new(ErrorKind::InvalidData, err))?;
    Ok(Request { head })
}
// ANCHOR_END: read_request

/// The request line's method and path.
// ORIGINAL: `request_line.split()` into three names, which fails (a
// ValueError) unless there are three words.
fn parse_request(text: &str) -> io::Result<(String, String)> {
    let request_line = text.lines().next().unwrap_or_default();
    match request_line.split_whitespace().collect::<Vec<_>>()[..] {
        [method, path, _version] => Ok((method.into(), path.into())),
        _ => Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("bad request line {request_line:?}"),
        )),
    }
}

// ANCHOR: start_response
/// The `start_response` callable handed to the app: it keeps the status
/// and headers for `finish_response`.
#[pyclass]
#[derive(Default)]
struct StartResponse {
    headers_set: Option<(String, Vec<(String, String)>)>,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, response_headers, exc_info=None))]
    fn __call__(
        &mut self,
        status: String,
        response_headers: Vec<(String, String)>,
        exc_info: Option<Bound<'_, PyAny>>,
    ) {
        // ORIGINAL: the article ignores exc_info, and returns no `write`.
        let _ = exc_info;
        // Add necessary server headers
        let mut headers = response_headers;
        // ORIGINAL: the article's fixed date, which is not even in HTTP's
        // format (the hour has one digit).
        headers.push(("Date".into(), "Mon, 15 Jul 2019 5:54:48 GMT".into()));
        headers.push(("Server".into(), "WSGIServer 0.2".into()));
        self.headers_set = Some((status, headers));
    }
}
// ANCHOR_END: start_response

// ANCHOR: finish_response
/// The status line, the headers, and every bytestring of the body.
fn finish_response(
    result: &Bound<'_, PyAny>,
    start_response: &Bound<'_, StartResponse>,
) -> PyResult<Vec<u8>> {
    let Some((status, response_headers)) =
        start_response.borrow().headers_set.clone()
    else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "the application did not call start_response",
        ));
    };
    let mut response = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in response_headers {
        response += &format!("{name}: {value}\r\n");
    }
    response += "\r\n";
    let mut response = response.into_bytes();
    for data in result.try_iter()? {
        // ORIGINAL: `data.decode('utf-8')`: a str has no decode(), and the
        // AttributeError ends the server. Here, a str is no PyBytes.
        response.extend_from_slice(data?.cast::<PyBytes>()?.as_bytes());
    }
    Ok(response)
}
// ANCHOR_END: finish_response
