//! Where a server listens: the `--host` and `--port` options of every
//! server of parts 1 and 3, and the listening socket they name.
//!
//! Ports lines 4 to 10 of `part1/webserver1.py` (the address, the socket,
//! the banner) of https://github.com/rspivak/lsbaws.

use std::io::{self, ErrorKind};
use std::net::{TcpListener, ToSocketAddrs};
use std::process::ExitCode;

use socket2::{Domain, Socket, Type};

// ANCHOR: listen_args
/// `--host` and `--port`. A server's own `Args` takes them in with
/// `#[command(flatten)]`, next to the options of its own.
#[derive(clap::Args)]
pub struct ListenArgs {
    /// Address to listen on (`0.0.0.0` listens on every interface)
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 8888)]
    pub port: u16,
}
// ANCHOR_END: listen_args

impl ListenArgs {
    // ANCHOR: listen
    /// Listens on `--host` and `--port`, with `request_queue_size` as the
    /// backlog, and prints the banner; or says on one line why it cannot,
    /// and hands back the exit code 2 for `main` to return.
    pub fn listen(
        &self,
        program_name: &str,
        request_queue_size: i32,
    ) -> Result<TcpListener, ExitCode> {
        let listen_socket =
            match bind_and_listen(&self.host, self.port, request_queue_size) {
                Ok(socket) => socket,
                Err(err) => {
                    eprintln!(
                        "{program_name}: cannot listen on {}:{}: {err}",
                        self.host, self.port
                    );
                    return Err(ExitCode::from(2));
                }
            };
        // With `--port 0` the kernel picked the port: ask which.
        let port = listen_socket.local_addr().map_or(self.port, |a| a.port());
        println!("Serving HTTP on port {port} ...");
        Ok(listen_socket)
    }
    // ANCHOR_END: listen
}

// ANCHOR: bind_and_listen
/// Binds `host:port` with SO_REUSEADDR and listens with the given backlog
/// (part 2's WSGI server listens with it too).
pub fn bind_and_listen(
    host: &str,
    port: u16,
    request_queue_size: i32,
) -> io::Result<TcpListener> {
    let address = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(ErrorKind::NotFound, "no address"))?;
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    // Lets a restarted server take the port at once, while connections
    // from its previous run still linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(request_queue_size)?;
    Ok(socket.into())
}
// ANCHOR_END: bind_and_listen
