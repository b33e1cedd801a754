//! Step 3l, beyond the article: one thread, non-blocking sockets, an event
//! loop. Every server before this one gives each connection a process or a
//! thread, which then waits on it; this one waits on all its connections at
//! once, through the OS's readiness API (epoll on Linux, kqueue on macOS,
//! by way of the mio crate), and does for each one only what can be done
//! without waiting. Each connection is a small state machine: waiting for a
//! request, reading its head, reading its body, writing the response. The
//! app runs on the loop itself, as it does in bjoern and fastwsgi.
//!
//! The loop lives in part3's library (`event_loop.rs`), since each worker
//! of webserver3m runs it too: this file starts it.
//!
//! There is no Python original: the article ends at 3h. Run it from the
//! repository root with
//! `cargo run -p part3 --bin webserver3l -- flaskapp:app`,
//! then try `curl -v http://127.0.0.1:8888/hello`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use part2::cli::ServeArgs;
use part2::connection::FIRST_BYTE_TIMEOUT;
use part3::event_loop::{EventLoop, raise_descriptor_limit};

// ANCHOR: args
/// Step 3l of Let's Build A Web Server: one thread, an event loop.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
    /// Seconds a kept connection may wait idle for its next request
    /// (0: one request per connection)
    // By default, the time a new connection has to begin its request.
    #[arg(long, value_name = "SECONDS",
          default_value_t = FIRST_BYTE_TIMEOUT.as_secs())]
    keep_alive: u64,
}

/// How many new connections the kernel keeps waiting until we accept them.
/// The loop accepts them as fast as they come; this covers a burst.
const REQUEST_QUEUE_SIZE: i32 = 1024;
// ANCHOR_END: args

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    let httpd = match args.serve.make_server("webserver3l", REQUEST_QUEUE_SIZE)
    {
        Ok(httpd) => httpd,
        Err(exit_code) => return exit_code,
    };
    println!("WSGIServer: Serving HTTP on port {} ...", httpd.server_port);
    let room = raise_descriptor_limit();
    println!("webserver3l: one thread, room for {room} connections at once");
    let keep_alive = Duration::from_secs(args.keep_alive);
    // The loop (part3/src/event_loop.rs) runs until the process is killed.
    match EventLoop::new(httpd, keep_alive) {
        Ok(mut event_loop) => {
            event_loop.serve_forever();
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("webserver3l: cannot start the event loop: {err}");
            ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: main
