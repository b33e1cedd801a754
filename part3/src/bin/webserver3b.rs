//! Step 3b: the iterative server sleeps after each reply, so the next
//! client has to wait.
//!
//! Ports `part3/webserver3b.py` of Ruslan Spivak's "Let's Build A Web
//! Server" (https://github.com/rspivak/lsbaws). Run it with
//! `cargo run -p part3 --bin webserver3b`, then run
//! `curl -v http://127.0.0.1:8888/hello` in two terminals at once.
//!
//! Listening, reading a request and answering it are part 1's library
//! (`part1/src/cli.rs`, `part1/src/http.rs`): this file is the lesson.

// ANCHOR: use
use std::net::TcpStream;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Parser;
use part1::cli::ListenArgs;
use part1::http::{READ_TIMEOUT, read_request, refuse, send_response};
// ANCHOR_END: use

// ANCHOR: args
/// Step 3b of Let's Build A Web Server: an iterative server that sleeps.
#[derive(Parser)]
struct Args {
    /// `--host` and `--port`, as in part 1
    #[command(flatten)]
    address: ListenArgs,
    /// Seconds to sleep after each reply (the article's 60 by default)
    #[arg(long, default_value_t = 60)]
    sleep: u64,
}
// ANCHOR_END: args

// ANCHOR: main
/// How many connections the kernel keeps waiting while we are busy.
const REQUEST_QUEUE_SIZE: i32 = 5;

fn main() -> ExitCode {
    let args = Args::parse();
    serve_forever(&args)
}
// ANCHOR_END: main

// ANCHOR: handle_request
fn handle_request(client_connection: &TcpStream, sleep: Duration) {
    let request = match read_request(client_connection, READ_TIMEOUT) {
        Ok(request) => request,
        Err(err) => {
            eprintln!("{}: bad request: {err}", env!("CARGO_BIN_NAME"));
            return refuse(client_connection, &err);
        }
    };
    print!("{request}");
    // The client may have gone already; the next one still gets served.
    let _ = send_response(client_connection, "200 OK", "Hello, World!");
    thread::sleep(sleep); // sleep and block the process
}
// ANCHOR_END: handle_request

// ANCHOR: serve_forever
fn serve_forever(args: &Args) -> ExitCode {
    let listen_socket = match args
        .address
        .listen(env!("CARGO_BIN_NAME"), REQUEST_QUEUE_SIZE)
    {
        Ok(socket) => socket,
        Err(exit_code) => return exit_code,
    };
    let sleep = Duration::from_secs(args.sleep);

    loop {
        let (client_connection, _client_address) = match listen_socket.accept()
        {
            Ok(connection) => connection,
            Err(err) => {
                // Say, out of descriptors: tell, and don't spin.
                eprintln!("{}: accept failed: {err}", env!("CARGO_BIN_NAME"));
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        handle_request(&client_connection, sleep);
        drop(client_connection); // close
    }
}
// ANCHOR_END: serve_forever
