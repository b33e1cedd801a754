//! Step 3l, beyond the article: one thread, non-blocking sockets, an event
//! loop. Every server before this one gives each connection a process or a
//! thread, which then waits on it; this one waits on all its connections at
//! once, through the OS's readiness API (epoll on Linux, kqueue on macOS,
//! by way of the mio crate), and does for each one only what can be done
//! without waiting. Each connection is a small state machine: waiting for a
//! request, reading its head, reading its body, writing the response. The
//! app runs on the loop itself, as it does in bjoern and fastwsgi.
//!
//! There is no Python original: the article ends at 3h. Run it from the
//! repository root with
//! `cargo run -p part3 --bin webserver3l -- flaskapp:app`,
//! then try `curl -v http://127.0.0.1:8888/hello`.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::{self, ExitCode};
use std::time::{Duration, Instant};

use clap::Parser;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use part2::WSGIServer;
use part2::body::BodyReader;
use part2::cli::ServeArgs;
use part2::connection::{
    BODY_GRACE, BODY_MIN_RATE, FIRST_BYTE_TIMEOUT, HEAD_DEADLINE, LINGER,
    MAX_LINGER, SEND_TIMEOUT, body_too_slow, cut_short, head_too_slow,
    send_refusal,
};
use part2::request::{Refusal, Request, parse_request};
use part2::response::Sink;
use slab::Slab;

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
// ANCHOR_END: args

// ANCHOR: constants
/// How many new connections the kernel keeps waiting until we accept them.
/// The loop accepts them as fast as they come; this covers a burst.
const REQUEST_QUEUE_SIZE: i32 = 1024;
/// How long accept() rests when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// The most one read takes from a socket.
const READ_SIZE: usize = 64 * 1024;
/// mio's name for the listening socket. A connection's name is its key in
/// the slab, a small number, so this one can never be taken.
const LISTENER: Token = Token(usize::MAX);
// ANCHOR_END: constants

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
    match EventLoop::new(httpd, keep_alive) {
        Ok(mut event_loop) => event_loop.serve_forever(),
        Err(err) => {
            eprintln!("webserver3l: cannot start the event loop: {err}");
            ExitCode::FAILURE
        }
    }
}
// ANCHOR_END: main

// ANCHOR: raise_descriptor_limit
/// Raises our limit on open descriptors to the most we may have, and tells
/// how many connections fit: one descriptor each, besides those open now.
// The soft limit is often 1024, which would make a server that can hold
// ten thousand connections turn the 1025th away. The hard limit is the
// ceiling an unprivileged process may raise it to.
fn raise_descriptor_limit() -> u64 {
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        // SIMPLIFICATION: macOS reports an unlimited hard limit that it
        // then refuses to grant; there the soft one stays.
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    // The limit now in force, whether raised or not.
    let Ok((limit, _)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    // /dev/fd lists our open descriptors (on Linux and macOS); reading it
    // opens one more, which closes again.
    let open = std::fs::read_dir("/dev/fd").map_or(0, |fds| fds.count() - 1);
    limit.saturating_sub(open as u64)
}
// ANCHOR_END: raise_descriptor_limit

// ANCHOR: event_loop
/// The server: the app, the sockets, and what each connection waits for.
struct EventLoop {
    httpd: WSGIServer,
    /// How long a kept connection may wait idle; zero: keep none.
    keep_alive: Duration,
    /// The OS's readiness API: we register sockets with it, and it tells
    /// us which of them can be read or written without waiting.
    poll: Poll,
    listener: TcpListener,
    /// Every open connection, under the key that is its mio token.
    connections: Slab<Connection>,
    /// Each connection's deadline and key, soonest first.
    timers: BTreeSet<(Instant, usize)>,
    /// While we are out of descriptors, accept() rests until then.
    accept_paused_until: Option<Instant>,
    /// Every read goes through this one buffer: an idle connection then
    /// holds no buffer of its own.
    read_buffer: Vec<u8>,
}
// ANCHOR_END: event_loop

// ANCHOR: connection
/// One client's connection, and where it stands.
struct Connection {
    socket: TcpStream,
    client_address: SocketAddr,
    /// Bytes received that no request has used yet.
    received: Vec<u8>,
    state: State,
    /// When the state's time is up (see `time_out`).
    deadline: Instant,
    /// A refused request may have left bytes unread: close with care.
    refused: bool,
}

/// Where a connection is in its life. Each state ends in another one as
/// bytes come or go, or at the connection's deadline.
enum State {
    /// No byte yet of a request: the connection's first, or the next one
    /// on a kept connection. Closed without a word at the deadline.
    Waiting,
    /// The head has begun: 408 at the deadline.
    ReadingHead,
    /// The head has come; the body is on its way. 408 at the deadline,
    /// which moves on as the body comes.
    ReadingBody {
        // Boxed: a Request is ten times the size of the other states.
        request: Box<Request>,
        body: BodyReader,
        started: Instant,
    },
    /// The app's response, written as fast as the client takes it. Closed
    /// when the client takes nothing for SEND_TIMEOUT.
    Writing {
        response: Vec<u8>,
        written: usize,
        keep_alive: bool,
    },
    /// After a refusal, or with a request of the client's unread: we have
    /// stopped writing, and read and drop what comes until the client
    /// closes too, or LINGER passes (part2's `Connection::close`).
    Lingering { drained: u64 },
}

/// What a step of a connection's state machine came to.
enum Step {
    /// The state moved on: take the next step.
    Again,
    /// The next step would wait for the client: back to the loop.
    Blocked,
    /// The connection is over: close it.
    Closed,
}
// ANCHOR_END: connection

impl EventLoop {
    fn new(
        httpd: WSGIServer,
        keep_alive: Duration,
    ) -> std::io::Result<EventLoop> {
        // mio needs the socket in non-blocking mode, as its own type. The
        // copy shares the socket with the one the server made.
        let listener = httpd.listen_socket().try_clone()?;
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry().register(
            &mut listener,
            LISTENER,
            Interest::READABLE,
        )?;
        Ok(EventLoop {
            httpd,
            keep_alive,
            poll,
            listener,
            connections: Slab::new(),
            timers: BTreeSet::new(),
            accept_paused_until: None,
            read_buffer: vec![0; READ_SIZE],
        })
    }

    // ANCHOR: serve_forever
    /// The event loop: wait until some socket is ready or some deadline is
    /// due, handle that, and again. Nothing in it waits for a client: it
    /// waits for all of them at once, in `poll`.
    fn serve_forever(&mut self) -> ! {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self
                .next_deadline()
                .map(|when| when.saturating_duration_since(Instant::now()));
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() == ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("webserver3l: poll failed: {err}");
                process::exit(1);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    Token(key) => self.handle_event(key),
                }
            }
            self.expire_timers();
        }
    }

    /// The soonest deadline: a connection's, or the end of a pause.
    fn next_deadline(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|&(when, _)| when);
        timer.into_iter().chain(self.accept_paused_until).min()
    }
    // ANCHOR_END: serve_forever

    // ANCHOR: accept_all
    /// Accepts every connection that waits, and registers each with poll.
    fn accept_all(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            match self.listener.accept() {
                Ok((socket, client_address)) => {
                    self.add(socket, client_address)
                }
                // Nobody else waits. mio tells us about sockets that have
                // become ready (edge-triggered), so we stop only here.
                Err(err) if err.kind() == ErrorKind::WouldBlock => return,
                // That client gave up before we accepted it.
                Err(err)
                    if matches!(
                        err.kind(),
                        ErrorKind::ConnectionAborted | ErrorKind::Interrupted
                    ) => {}
                // Out of descriptors (EMFILE), most likely. Trying again
                // at once would fail at once, in a loop that spins. The
                // clients stay queued: rest a moment, while connections
                // finish and give their descriptors back, then try again
                // (expire_timers), since poll will not tell us of them.
                Err(err) => {
                    eprintln!(
                        "webserver3l: cannot accept ({err}): \
                         pausing for {ACCEPT_PAUSE:?}"
                    );
                    self.accept_paused_until =
                        Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    /// Takes a new connection in: registered, with its first deadline.
    fn add(&mut self, mut socket: TcpStream, client_address: SocketAddr) {
        // As in part2's Connection::new: each write leaves at once.
        let _ = socket.set_nodelay(true);
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        // Readable and writable, once: mio then tells us each time either
        // becomes true, and we never have to register the socket again.
        let interest = Interest::READABLE | Interest::WRITABLE;
        let registered =
            self.poll
                .registry()
                .register(&mut socket, Token(key), interest);
        if let Err(err) = registered {
            eprintln!("webserver3l: cannot watch a connection: {err}");
            return; // the socket is dropped: closed
        }
        let connection = Connection::new(socket, client_address);
        self.timers.insert((connection.deadline, key));
        entry.insert(connection);
    }
    // ANCHOR_END: accept_all

    // ANCHOR: handle_event
    /// A connection's socket is ready: take every step that does not wait.
    fn handle_event(&mut self, key: usize) {
        // Closed by an earlier event of the same batch: nothing to do.
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        let deadline = connection.deadline;
        let open = connection.make_progress(
            &self.httpd,
            self.keep_alive,
            &mut self.read_buffer,
        );
        self.update(key, deadline, open);
    }

    /// Moves the connection's timer to its new deadline, or forgets the
    /// connection once it is over (dropping its socket closes it, and a
    /// closed socket leaves poll's set by itself).
    fn update(&mut self, key: usize, old_deadline: Instant, open: bool) {
        self.timers.remove(&(old_deadline, key));
        if open {
            self.timers.insert((self.connections[key].deadline, key));
        } else {
            self.connections.remove(key);
        }
    }

    /// Every connection whose deadline has passed gets what its state
    /// says (see `time_out`); the end of a pause lets accept() try again.
    fn expire_timers(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, key)) = self.timers.first() {
            if deadline > now {
                break;
            }
            let connection = &mut self.connections[key];
            let open = connection.time_out()
                && connection.make_progress(
                    &self.httpd,
                    self.keep_alive,
                    &mut self.read_buffer,
                );
            self.update(key, deadline, open);
        }
        if self.accept_paused_until.is_some_and(|until| until <= now) {
            self.accept_paused_until = None;
            // Edge-triggered: no new event comes for clients that waited
            // through the pause, so look for them now.
            self.accept_all();
        }
    }
    // ANCHOR_END: handle_event
}

impl Connection {
    fn new(socket: TcpStream, client_address: SocketAddr) -> Connection {
        Connection {
            socket,
            client_address,
            received: Vec::new(),
            state: State::Waiting,
            deadline: Instant::now() + FIRST_BYTE_TIMEOUT,
            refused: false,
        }
    }

    // ANCHOR: make_progress
    /// Does all that can be done now, without waiting: reads what has come,
    /// serves each request that is complete, writes what the client takes.
    /// Returns false once the connection is over, to be closed.
    fn make_progress(
        &mut self,
        httpd: &WSGIServer,
        keep_alive: Duration,
        buffer: &mut [u8],
    ) -> bool {
        loop {
            let step = match self.state {
                State::Writing { .. } => self.write_response(keep_alive),
                State::Lingering { .. } => self.linger(buffer),
                _ => self.read_request(httpd, keep_alive, buffer),
            };
            match step {
                Step::Again => continue,
                Step::Blocked => return true,
                Step::Closed => return false,
            }
        }
    }

    /// The deadline has passed: what happens depends on the state.
    /// Returns false when the connection is to be closed at once.
    fn time_out(&mut self) -> bool {
        match self.state {
            // No request has begun: there is nobody to answer.
            State::Waiting => false,
            State::ReadingHead => self.refuse(head_too_slow()),
            State::ReadingBody { .. } => self.refuse(body_too_slow()),
            // The client takes nothing, or will not close.
            State::Writing { .. } | State::Lingering { .. } => false,
        }
    }
    // ANCHOR_END: make_progress

    // ANCHOR: read_request
    /// Waiting, reading the head or the body: uses what has come, and
    /// reads more when that is not enough.
    fn read_request(
        &mut self,
        httpd: &WSGIServer,
        keep_alive: Duration,
        buffer: &mut [u8],
    ) -> Step {
        match self.use_received(httpd, keep_alive) {
            Ok(true) => return Step::Again,
            Ok(false) => {} // more bytes needed
            Err(refusal) => {
                self.refuse(refusal);
                return Step::Again;
            }
        }
        match read(&self.socket, buffer) {
            Some(0) if matches!(self.state, State::Waiting) => Step::Closed,
            // The client closed half-way through a request.
            Some(0) => {
                self.refuse(cut_short());
                Step::Again
            }
            Some(read) => {
                self.received.extend_from_slice(&buffer[..read]);
                Step::Again
            }
            None => Step::Blocked,
        }
    }

    /// Moves the request on with the bytes received: a head parsed, a body
    /// fed, an app called. Ok(false) when it needs more bytes first.
    // The same parser (request.rs) and body reader (body.rs) as part2's
    // blocking Connection: only who waits for the bytes differs.
    fn use_received(
        &mut self,
        httpd: &WSGIServer,
        keep_alive: Duration,
    ) -> Result<bool, Refusal> {
        match &mut self.state {
            State::Waiting if self.received.is_empty() => Ok(false),
            State::Waiting => {
                // The first byte of a request: its head's deadline starts.
                self.state = State::ReadingHead;
                self.deadline = Instant::now() + HEAD_DEADLINE;
                Ok(true)
            }
            State::ReadingHead => {
                let Some(request) = parse_request(&self.received)? else {
                    return Ok(false);
                };
                self.received.drain(..request.head.len());
                if request.expects_continue() {
                    // Best effort, as in part2: a client that asks waits
                    // a second for our go, then sends anyway.
                    let _ =
                        (&self.socket).write(b"HTTP/1.1 100 Continue\r\n\r\n");
                }
                let started = Instant::now();
                self.deadline = started + BODY_GRACE;
                let body = BodyReader::new(request.framing);
                self.state = State::ReadingBody {
                    request: Box::new(request),
                    body,
                    started,
                };
                Ok(true)
            }
            State::ReadingBody { body, started, .. } => {
                let used = body.feed(&self.received)?;
                self.received.drain(..used);
                if !body.is_done() {
                    let rate = body.received() as u64 / BODY_MIN_RATE;
                    self.deadline =
                        *started + BODY_GRACE + Duration::from_secs(rate);
                    return Ok(false);
                }
                let State::ReadingBody {
                    mut request, body, ..
                } = std::mem::replace(&mut self.state, State::Waiting)
                else {
                    unreachable!("matched as ReadingBody above");
                };
                request.body = body.into_body();
                self.run_application(httpd, &request, !keep_alive.is_zero());
                Ok(true)
            }
            State::Writing { .. } | State::Lingering { .. } => {
                unreachable!("make_progress reads in the reading states only")
            }
        }
    }
    // ANCHOR_END: read_request

    // ANCHOR: run_application
    /// Runs the app on a complete request, on the loop: until it returns,
    /// no other connection moves. Its response goes into a buffer, which
    /// the loop writes as fast as the client takes it.
    // SIMPLIFICATION: the whole response is buffered before its first
    // byte is written, so a 20 MB body costs 20 MB while it is sent.
    fn run_application(
        &mut self,
        httpd: &WSGIServer,
        request: &Request,
        offer_keep_alive: bool,
    ) {
        let sink = Sink::Buffer(Vec::new());
        // The GIL is taken in here, for the app, and let go when it returns.
        let (keep_alive, sink) = httpd.run_application(
            request,
            Some(self.client_address),
            sink,
            offer_keep_alive,
        );
        let response = match sink {
            Some(Sink::Buffer(response)) => response,
            _ => Vec::new(),
        };
        self.start_writing(response, keep_alive);
    }

    fn start_writing(&mut self, response: Vec<u8>, keep_alive: bool) {
        self.state = State::Writing {
            response,
            written: 0,
            keep_alive,
        };
        self.deadline = Instant::now() + SEND_TIMEOUT;
    }
    // ANCHOR_END: run_application

    // ANCHOR: write_response
    /// Writes what the client takes of the response; when all of it is out,
    /// waits for the next request (the responses of pipelined requests
    /// leave in order: the next is read only after this one is written).
    fn write_response(&mut self, idle_timeout: Duration) -> Step {
        let State::Writing {
            response,
            written,
            keep_alive,
        } = &mut self.state
        else {
            unreachable!("make_progress writes in the Writing state only");
        };
        while *written < response.len() {
            match (&self.socket).write(&response[*written..]) {
                Ok(sent) => {
                    *written += sent;
                    // The client takes bytes: its time starts again.
                    self.deadline = Instant::now() + SEND_TIMEOUT;
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {
                    return Step::Blocked;
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                // The client hung up.
                Err(_) => return Step::Closed,
            }
        }
        if *keep_alive {
            self.state = State::Waiting;
            self.deadline = Instant::now() + idle_timeout;
            // Free what a big request left (a small one's stays, for the
            // next): an idle connection should cost next to nothing.
            self.received.shrink_to(READ_SIZE);
            Step::Again
        } else {
            self.close()
        }
    }
    // ANCHOR_END: write_response

    // ANCHOR: refuse
    /// Answers a refused request (one line on stderr, as part2 does), and
    /// closes with care once the answer is out.
    fn refuse(&mut self, refusal: Refusal) -> bool {
        eprintln!("webserver3l: {}: {}", refusal.status, refusal.why);
        let mut response = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = send_refusal(&mut response, &refusal);
        self.refused = true;
        self.start_writing(response, false);
        true
    }

    /// Closes at once, unless the client may still be sending (a request we
    /// refused, or one we did not read): then closing would reset the
    /// connection and could destroy our answer before the client reads it.
    fn close(&mut self) -> Step {
        if !self.refused && self.received.is_empty() {
            return Step::Closed;
        }
        let _ = self.socket.shutdown(Shutdown::Write);
        self.received = Vec::new();
        self.state = State::Lingering { drained: 0 };
        self.deadline = Instant::now() + LINGER;
        Step::Again
    }

    /// Reads and drops what the client sends, until it closes, or until
    /// MAX_LINGER bytes (LINGER's deadline bounds the time).
    fn linger(&mut self, buffer: &mut [u8]) -> Step {
        let State::Lingering { drained } = &mut self.state else {
            unreachable!("make_progress lingers in the Lingering state only");
        };
        loop {
            match read(&self.socket, buffer) {
                Some(0) => return Step::Closed,
                Some(read) => {
                    *drained += read as u64;
                    if *drained >= MAX_LINGER {
                        return Step::Closed;
                    }
                }
                None => return Step::Blocked,
            }
        }
    }
    // ANCHOR_END: refuse
}

// ANCHOR: read
/// One read that never waits: Some(0) when the client has closed, None
/// when there is nothing to read now.
fn read(socket: &TcpStream, buffer: &mut [u8]) -> Option<usize> {
    let mut socket = socket;
    loop {
        match socket.read(buffer) {
            Ok(read) => return Some(read),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) if err.kind() == ErrorKind::WouldBlock => return None,
            // A reset, say: the client is gone, as if it had closed.
            Err(_) => return Some(0),
        }
    }
}
// ANCHOR_END: read
