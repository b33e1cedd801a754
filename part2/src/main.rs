//! `part2 module:callable`: serve a WSGI application.
//!
//! Ports the `if __name__ == '__main__':` block of `part2/webserver2.py`.
//! Run it from the repository root: `cargo run -p part2 -- flaskapp:app`,
//! then `curl -v http://127.0.0.1:8888/hello`.

use std::process::ExitCode;

use clap::Parser;
use part2::cli::ServeArgs;

// ANCHOR: args
/// Part 2 of Let's Build A Web Server: a WSGI server embedding Python.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}
// ANCHOR_END: args

/// The article's backlog: one client waits while we serve another.
const REQUEST_QUEUE_SIZE: i32 = 1;

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    let httpd = match args.serve.make_server("part2", REQUEST_QUEUE_SIZE) {
        Ok(httpd) => httpd,
        Err(exit_code) => return exit_code,
    };
    println!("WSGIServer: Serving HTTP on port {} ...", httpd.server_port);
    httpd.serve_forever()
}
// ANCHOR_END: main
