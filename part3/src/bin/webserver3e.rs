//! Step 3e: the parent closes its copies again, but nobody waits for the
//! children: each one that exits stays behind as a zombie.
//!
//! Ports the zombie half of `part3/webserver3d.py` of Ruslan Spivak's
//! "Let's Build A Web Server" (https://github.com/rspivak/lsbaws). Run it
//! with `cargo run -p part3 --bin webserver3e`, then run
//! `curl http://127.0.0.1:8888/hello` and `ps -A -o pid,ppid,stat,command`:
//! the server's children are `<defunct>` (state Z).
//!
//! Listening, reading a request and answering it are part 1's library
//! (`part1/src/cli.rs`, `part1/src/http.rs`): this file is the lesson.

// ANCHOR: use
use std::net::TcpStream;
use std::os::unix::process::parent_id;
use std::process::{self, ExitCode};
use std::thread;
use std::time::Duration;

use clap::Parser;
use nix::unistd::{ForkResult, fork};
use part1::cli::ListenArgs;
use part1::http::{READ_TIMEOUT, read_request, refuse, send_response};
// ANCHOR_END: use

// ANCHOR: args
/// Step 3e of Let's Build A Web Server: a server that leaves zombies.
#[derive(Parser)]
struct Args {
    /// `--host` and `--port`, as in part 1
    #[command(flatten)]
    address: ListenArgs,
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
fn handle_request(client_connection: &TcpStream) {
    let request = match read_request(client_connection, READ_TIMEOUT) {
        Ok(request) => request,
        Err(err) => {
            eprintln!("{}: bad request: {err}", env!("CARGO_BIN_NAME"));
            return refuse(client_connection, &err);
        }
    };
    println!("Child PID: {}. Parent PID {}", process::id(), parent_id());
    print!("{request}");
    // The client may have gone already; the next one still gets served.
    let _ = send_response(client_connection, "200 OK", "Hello, World!");
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
    println!("Parent PID (PPID): {}\n", process::id());

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
        // ANCHOR: fork
        // SAFETY: the server runs a single thread, so the child's copy of
        // memory holds no lock or half-done update of another thread, and
        // the child may go on as an ordinary program.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop(listen_socket); // close child copy
                handle_request(&client_connection);
                drop(client_connection); // close
                // ORIGINAL: `os._exit(0)`. exit() never returns either, so
                // the child never loops back to accept; it flushes stdout.
                process::exit(0); // child exits here
            }
            // ANCHOR: parent
            Ok(ForkResult::Parent { .. }) => {
                drop(client_connection); // close parent copy and loop over
                // Nobody waits for the child: when it exits, the kernel
                // keeps its exit status, in a zombie, until somebody asks.
            }
            // ANCHOR_END: parent
            Err(err) => {
                // Say, too many processes: this client is closed unserved.
                eprintln!("{}: fork failed: {err}", env!("CARGO_BIN_NAME"));
            }
        }
        // ANCHOR_END: fork
    }
}
// ANCHOR_END: serve_forever
