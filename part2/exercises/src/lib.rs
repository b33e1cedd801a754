//! Part 2's server, for the exercises: `part2 module:callable` that looks
//! for the module in one folder first.
//!
//! The same steps as `part2/src/main.rs` (which ports the `__main__` block
//! of `part2/webserver2.py`, https://github.com/rspivak/lsbaws), plus one
//! line: the folder of the exercises (or of their solutions) goes first on
//! `sys.path`. Run an exercise with
//! `cargo run -p part2-exercises --bin exercise -- ex1_hello_name:app`.

use std::process::ExitCode;

use clap::Parser;
use part2::WSGIServer;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// Where the starters are: this crate's folder.
pub const EXERCISES: &str = env!("CARGO_MANIFEST_DIR");
/// Where the reference solutions are.
pub const SOLUTIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/solutions");

/// Part 2's server, serving a WSGI app of the exercises.
#[derive(Parser)]
struct Args {
    /// The WSGI application, as module:callable (e.g. ex1_hello_name:app)
    app: String,
    /// Address to listen on (`0.0.0.0` listens on every interface)
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 8888)]
    port: u16,
    /// Don't print each request and response
    #[arg(long, short)]
    quiet: bool,
}

/// Part 2's `main`, with `folder` first on `sys.path`, so that
/// `ex1_hello_name` is the file in `folder` whatever the current directory.
pub fn serve(folder: &str) -> ExitCode {
    let args = Args::parse();
    let mut httpd = match make_server_in(folder, &args) {
        Ok(httpd) => httpd,
        Err(message) => {
            eprintln!("part2: {message}");
            return ExitCode::from(2);
        }
    };
    httpd.verbose = !args.quiet;
    println!("WSGIServer: Serving HTTP on port {} ...", httpd.server_port);
    httpd.serve_forever()
}

/// `part2::make_server_for`, with one step more between starting Python
/// and importing the application: `folder` goes first on `sys.path`.
fn make_server_in(folder: &str, args: &Args) -> Result<WSGIServer, String> {
    part2::start_python()?;
    let application = Python::attach(|py| {
        let sys_path = py
            .import("sys")
            .and_then(|sys| sys.getattr("path"))
            .and_then(|path| Ok(path.cast_into::<PyList>()?))
            .map_err(|err| format!("cannot read sys.path: {err}"))?;
        sys_path
            .insert(0, folder)
            .map_err(|err| format!("cannot set sys.path: {err}"))?;
        part2::load_application(py, &args.app)
    })?;
    // Backlog 1, as part 2's: one client at a time.
    part2::make_server(&args.host, args.port, application, 1).map_err(|err| {
        format!("cannot listen on {}:{}: {err}", args.host, args.port)
    })
}
