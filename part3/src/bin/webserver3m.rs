//! Step 3m, beyond the article: pre-fork workers, each running 3l's event
//! loop, under 3i's arbiter. 3l is one thread: it holds ten thousand idle
//! connections, but uses one core, and an app that takes two seconds
//! stalls every client for two seconds. This server forks `--workers N`
//! processes (one a core), and each runs the loop of part3's library
//! (`event_loop.rs`) on the listening socket they share; the arbiter of
//! 3i (`arbiter.rs`) watches over them, replaces them and stops them.
//!
//! The app runs on each worker's loop, as in 3l. With `--threads N`, each
//! worker hands its requests to a pool of N threads (3k's pool) and goes on
//! serving its other connections meanwhile, so that a slow app holds a
//! thread, not the loop: the model of waitress and granian.
//!
//! There is no Python original: the article ends at 3h. Run it from the
//! repository root with
//! `cargo run -p part3 --bin webserver3m -- --workers 2 flaskapp:app`,
//! then try `curl -v http://127.0.0.1:8888/hello`.

use std::process::{self, ExitCode};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use part2::WSGIServer;
use part2::cli::ServeArgs;
use part2::connection::FIRST_BYTE_TIMEOUT;
use part3::arbiter::{self, ArbiterArgs, Worker};
use part3::event_loop::{EventLoop, raise_descriptor_limit};

// ANCHOR: args
/// Step 3m of Let's Build A Web Server: pre-fork workers, an event loop in
/// each.
#[derive(Parser)]
struct Args {
    /// module:callable, --host, --port, --quiet
    #[command(flatten)]
    serve: ServeArgs,
    /// --workers, --timeout, --graceful-timeout, --max-requests...
    #[command(flatten)]
    arbiter: ArbiterArgs,
    /// Seconds a kept connection may wait idle for its next request
    /// (0: one request per connection)
    #[arg(long, value_name = "SECONDS",
          default_value_t = FIRST_BYTE_TIMEOUT.as_secs())]
    keep_alive: u64,
    /// Run the app on a pool of this many threads in each worker, beside
    /// its loop (by default, the app runs on the loop)
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

/// How many new connections the kernel keeps waiting until a worker
/// accepts them: as in 3l, the loops accept them as fast as they come.
const REQUEST_QUEUE_SIZE: i32 = 1024;
// ANCHOR_END: args

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    let mut httpd =
        match args.serve.make_server("webserver3m", REQUEST_QUEUE_SIZE) {
            Ok(httpd) => httpd,
            Err(exit_code) => return exit_code,
        };
    httpd.multiprocess = true;
    httpd.multithread = args.threads.is_some();
    println!("WSGIServer: Serving HTTP on port {} ...", httpd.server_port);
    // As in 3i: what the app loads lazily, loaded once, before the fork.
    if let Err(err) = httpd.warm_up() {
        eprintln!("webserver3m: warm-up request failed: {err}");
    }
    // As in 3l, and the workers inherit the limit.
    let room = raise_descriptor_limit();
    println!(
        "webserver3m: {} workers, each with room for {room} connections",
        args.arbiter.workers
    );
    arbiter::enable_faulthandler();
    // Shared, in each worker, by its loop and its pool's threads.
    let httpd = Arc::new(httpd);
    arbiter::run(&args.arbiter, arbiter::python_fork, |worker| {
        run_worker(&httpd, &args, worker)
    })
}
// ANCHOR_END: main

// ANCHOR: run_worker
/// A worker: 3l's loop, told by the arbiter when to stop, and with a pool
/// of threads for the app if --threads says so. Returns when the worker is
/// done: the arbiter's code then ends the process.
fn run_worker(httpd: &Arc<WSGIServer>, args: &Args, worker: &mut Worker) {
    println!("Booting worker with pid {}", process::id());
    let keep_alive = Duration::from_secs(args.keep_alive);
    // Made here, after the fork: a poll instance and threads do not
    // survive one (the child would share the parent's epoll, and have
    // none of its threads).
    let event_loop = EventLoop::new(Arc::clone(httpd), keep_alive)
        .and_then(|event_loop| event_loop.with_worker(worker))
        .and_then(|event_loop| match args.threads {
            Some(threads) => event_loop.with_threads(threads.into()),
            None => Ok(event_loop),
        });
    match event_loop {
        // It tells the arbiter it has booted, and serves until told to stop.
        Ok(mut event_loop) => event_loop.serve_forever(),
        // Not booted: the arbiter tries again, later and later.
        Err(err) => eprintln!("webserver3m: cannot start the loop: {err}"),
    }
}
// ANCHOR_END: run_worker
