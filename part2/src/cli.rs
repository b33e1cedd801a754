//! The command line every WSGI server of the project shares: part2, and
//! part 3's webserver3h, webserver3i and the steps after them.
//!
//! Each binary declares its own `Args` (clap's derive) and flattens these
//! options into it, so the command-line contract (`module:callable`,
//! `--host`, `--port`, `--quiet`, one line and exit code 2 when the server
//! cannot start) is written once.

use std::process::ExitCode;

use part1::cli::ListenArgs;

use crate::WSGIServer;

// ANCHOR: serve_args
/// What every WSGI server takes on its command line.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The WSGI application, as module:callable (e.g. flaskapp:app)
    pub app: String,
    /// `--host` and `--port`, as part 1's servers take them
    #[command(flatten)]
    pub address: ListenArgs,
    /// Don't print each request and response
    #[arg(long, short)]
    pub quiet: bool,
}
// ANCHOR_END: serve_args

// ANCHOR: make_server
impl ServeArgs {
    /// Starts Python, imports the application and binds the socket, with
    /// `request_queue_size` as the listen backlog. When that fails, prints
    /// one line, `NAME: why`, and gives the exit code 2, which in this
    /// project means "could not start": a bad `module:callable`, a missing
    /// framework, a busy port (clap uses 2 for a bad command line too).
    pub fn make_server(
        &self,
        name: &str,
        request_queue_size: i32,
    ) -> Result<WSGIServer, ExitCode> {
        let httpd = crate::make_server_for(
            &self.app,
            &self.address.host,
            self.address.port,
            request_queue_size,
        );
        match httpd {
            Ok(mut httpd) => {
                httpd.verbose = !self.quiet;
                Ok(httpd)
            }
            Err(message) => {
                eprintln!("{name}: {message}");
                Err(ExitCode::from(2))
            }
        }
    }
}
// ANCHOR_END: make_server
