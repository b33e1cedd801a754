//! `part2 module:callable`: serve a WSGI application.
//!
//! Ports the `if __name__ == '__main__':` block of `part2/webserver2.py`.
//! Run it from the repository root: `cargo run -p part2 -- flaskapp:app`,
//! then `curl -v http://127.0.0.1:8888/hello`.

use std::process::ExitCode;

use clap::Parser;

// ANCHOR: args
/// Part 2 of Let's Build A Web Server: a WSGI server embedding Python.
#[derive(Parser)]
struct Args {
    /// The WSGI application, as module:callable (e.g. flaskapp:app)
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
// ANCHOR_END: args

/// The article's backlog: one client waits while we serve another.
const REQUEST_QUEUE_SIZE: i32 = 1;

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    let httpd = part2::make_server_for(
        &args.app,
        &args.host,
        args.port,
        REQUEST_QUEUE_SIZE,
    );
    let mut httpd = match httpd {
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
// ANCHOR_END: main
