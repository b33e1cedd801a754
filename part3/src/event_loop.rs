//! The event loop of webserver3l, and of each of webserver3m's workers:
//! one thread, non-blocking sockets, and the OS's readiness API (epoll on
//! Linux, kqueue on macOS, by way of the mio crate). The loop waits on all
//! its connections at once, and does for each one only what can be done
//! without waiting. Each connection is a small state machine: waiting for
//! a request, reading its head, reading its body, in the app (3m's
//! `--threads`), writing the response.
//!
//! 3l runs it alone, the app on the loop itself, as bjoern and fastwsgi
//! do. 3m runs one in each worker of the arbiter ([`EventLoop::with_worker`]:
//! the word to stop, the worker timeout, --max-requests), and may hand the
//! app to a pool of threads ([`EventLoop::with_threads`]), so that a slow
//! app holds a thread, not the loop.

use std::collections::BTreeSet;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::process;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use part2::WSGIServer;
use part2::body::BodyReader;
use part2::connection::{
    BODY_GRACE, BODY_MIN_RATE, FIRST_BYTE_TIMEOUT, HEAD_DEADLINE, LINGER,
    MAX_LINGER, SEND_TIMEOUT, body_too_slow, cut_short, head_too_slow,
    send_refusal,
};
use part2::request::{Refusal, Request, parse_request};
use part2::response::Sink;
use slab::Slab;

use crate::arbiter::Worker;
use crate::thread_pool::ThreadPool;

// ANCHOR: constants
/// How long accept() rests when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// 3m: how long a worker that holds two more connections than another
/// leaves a new client to that one, before it takes the client itself.
const LEAVE_TO_OTHERS: Duration = Duration::from_millis(2);
/// The most one read takes from a socket.
const READ_SIZE: usize = 64 * 1024;
/// mio's name for the listening socket. A connection's name is its key in
/// the slab, a small number, so this one can never be taken.
const LISTENER: Token = Token(usize::MAX);
// ANCHOR_END: constants

// ANCHOR: worker_constants
/// mio's names for the arbiter's word to stop, and for the pool's call to
/// say that a response is ready (3m).
const STOP: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
/// Once a worker stops, how long a kept connection has to send the request
/// it may be sending now: closing under its feet would lose it.
const GRACE: Duration = Duration::from_millis(100);
/// How many requests may wait for a thread of the pool, for each thread;
/// beyond, handing one over waits (3k's bound).
const QUEUED_PER_THREAD: usize = 64;
/// A connection in the app has no deadline of the loop's (the app's is
/// the arbiter's --timeout): its timer only comes round this seldom.
const IN_THE_APP: Duration = Duration::from_secs(3600);
// ANCHOR_END: worker_constants

// ANCHOR: raise_descriptor_limit
/// Raises our limit on open descriptors to the most we may have, and tells
/// how many connections fit: one descriptor each, besides those open now.
// The soft limit is often 1024, which would make a server that can hold
// ten thousand connections turn the 1025th away. The hard limit is the
// ceiling an unprivileged process may raise it to.
pub fn raise_descriptor_limit() -> u64 {
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
pub struct EventLoop<'w> {
    /// The app, and how a request is served (see `Service`).
    service: Service<'w>,
    /// The OS's readiness API: we register sockets with it, and it tells
    /// us which of them can be read or written without waiting.
    poll: Poll,
    /// `None` once a worker of 3m has stopped accepting.
    listener: Option<TcpListener>,
    /// Every open connection, under the key that is its mio token.
    connections: Slab<Connection>,
    /// Each connection's deadline and key, soonest first.
    timers: BTreeSet<(Instant, usize)>,
    /// While we are out of descriptors, accept() rests until then.
    accept_paused_until: Option<Instant>,
    /// 3m: a new client is left to a worker that holds fewer connections,
    /// until then (see `accept_clients`).
    left_to_others_until: Option<Instant>,
    /// Connections that have just been served a request, to be looked at
    /// again once the other ready connections have had their turn.
    come_back: Vec<usize>,
    /// Every read goes through this one buffer: an idle connection then
    /// holds no buffer of its own.
    read_buffer: Vec<u8>,
    /// 3m's --threads: where the pool's threads put the responses.
    responses: Option<mpsc::Receiver<AppResponse>>,
}

/// What a connection's steps need from the loop to serve a request.
struct Service<'w> {
    /// Shared with the pool's threads, when there is a pool (3m).
    httpd: Arc<WSGIServer>,
    /// How long a kept connection may wait idle; zero: keep none.
    keep_alive: Duration,
    /// 3m: this worker's side of the arbiter.
    worker: Option<&'w mut Worker>,
    /// The worker has been told to stop: it accepts no more clients and
    /// keeps no more connections.
    stopping: bool,
    /// 3m's --threads: the app runs there, not on the loop.
    pool: Option<AppPool>,
}
// ANCHOR_END: event_loop

// ANCHOR: app_pool
/// 3m's --threads: a pool of threads that run the app, and their way back
/// to the loop.
struct AppPool {
    threads: ThreadPool,
    /// Each thread sends the response it made here...
    responses: mpsc::Sender<AppResponse>,
    /// ...and wakes the loop: poll() watches sockets, not channels, so the
    /// waker makes the loop's poll return with the WAKER token.
    waker: Arc<Waker>,
}

/// A response that a thread of the pool made, for connection `key`.
struct AppResponse {
    key: usize,
    response: Vec<u8>,
    keep_alive: bool,
}
// ANCHOR_END: app_pool

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
    /// A response has been written and the connection kept for another.
    kept: bool,
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
    /// 3m's --threads: a thread of the pool runs the app on the request.
    /// What the client sends meanwhile (a pipelined request) waits: the
    /// next request is read only once this one is answered, in order.
    InApp,
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
    /// A response is out, and the connection is kept: the other ready
    /// connections get their turn before this one's next request.
    Served,
    /// The connection is over: close it.
    Closed,
}

/// Where `make_progress` leaves a connection.
#[derive(PartialEq)]
enum Progress {
    /// Waiting for its socket, or for its deadline.
    Waits,
    /// Served one request: to be looked at again after the others.
    ComesBack,
    /// Over: to be closed.
    Over,
}
// ANCHOR_END: connection

impl<'w> EventLoop<'w> {
    /// A loop that serves `httpd`'s listening socket, keeping idle
    /// connections for `keep_alive`.
    pub fn new(
        httpd: impl Into<Arc<WSGIServer>>,
        keep_alive: Duration,
    ) -> io::Result<EventLoop<'w>> {
        let httpd = httpd.into();
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
        let service = Service {
            httpd,
            keep_alive,
            worker: None,
            stopping: false,
            pool: None,
        };
        Ok(EventLoop {
            service,
            poll,
            listener: Some(listener),
            connections: Slab::new(),
            timers: BTreeSet::new(),
            accept_paused_until: None,
            left_to_others_until: None,
            come_back: Vec::new(),
            read_buffer: vec![0; READ_SIZE],
            responses: None,
        })
    }

    // ANCHOR: with_worker
    /// 3m: the loop of a worker of the arbiter. It watches the word to stop
    /// beside its sockets, says when it is busy with a request (the worker
    /// timeout), and counts its requests (--max-requests).
    pub fn with_worker(
        mut self,
        worker: &'w mut Worker,
    ) -> io::Result<EventLoop<'w>> {
        let stop = worker.stop_fd().as_raw_fd();
        self.poll.registry().register(
            &mut SourceFd(&stop),
            STOP,
            Interest::READABLE,
        )?;
        self.service.worker = Some(worker);
        Ok(self)
    }

    /// 3m's --threads: the app runs on a pool of `threads` threads, and
    /// the loop goes on with every other connection meanwhile.
    pub fn with_threads(mut self, threads: usize) -> io::Result<EventLoop<'w>> {
        let waker = Arc::new(Waker::new(self.poll.registry(), WAKER)?);
        let (responses, receiver) = mpsc::channel();
        let threads = ThreadPool::new(threads, threads * QUEUED_PER_THREAD);
        self.service.pool = Some(AppPool {
            threads,
            responses,
            waker,
        });
        self.responses = Some(receiver);
        Ok(self)
    }
    // ANCHOR_END: with_worker

    // ANCHOR: serve_forever
    /// The event loop: wait until some socket is ready or some deadline is
    /// due, handle that, and again. Nothing in it waits for a client: it
    /// waits for all of them at once, in `poll`. (A worker of 3m returns
    /// once it has been told to stop and has served its last client.)
    pub fn serve_forever(&mut self) {
        let mut events = Events::with_capacity(1024);
        if let Some(worker) = &self.service.worker {
            worker.ready(); // booted: tell the arbiter
        }
        loop {
            let worker = self.service.worker.as_ref();
            if worker.is_some_and(|worker| worker.should_stop()) {
                self.stop_accepting();
            }
            if self.service.stopping && self.connections.is_empty() {
                return;
            }
            // 3m: tell the other workers how many connections this one
            // holds, for them to leave it clients or not (accept_clients).
            if let Some(worker) = &self.service.worker {
                let accepting = self.listener.is_some();
                worker.hold_connections(
                    accepting.then_some(self.connections.len()),
                );
            }
            // Connections that come back may have their next request
            // here already: poll then only looks, and does not wait.
            let timeout = if self.come_back.is_empty() {
                self.next_deadline()
                    .map(|when| when.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() == ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("event loop: poll failed: {err}");
                process::exit(1);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_clients(),
                    // The word to stop: should_stop() says so, above.
                    STOP => {}
                    WAKER => self.take_responses(),
                    Token(key) => self.handle_event(key),
                }
            }
            self.expire_timers();
            // One more request each for the connections just served: their
            // next request may have come in the same read as the last one,
            // and poll tells only of bytes that arrive after it looked.
            for key in std::mem::take(&mut self.come_back) {
                self.handle_event(key);
            }
        }
    }

    /// The soonest deadline: a connection's, or the end of a pause, or of
    /// the time a client is left to other workers.
    fn next_deadline(&self) -> Option<Instant> {
        let timer = self.timers.first().map(|&(when, _)| when);
        timer
            .into_iter()
            .chain(self.accept_paused_until)
            .chain(self.left_to_others_until)
            .min()
    }
    // ANCHOR_END: serve_forever

    // ANCHOR: accept_clients
    /// Accepts the clients that wait, and registers each with poll.
    // In 3m every worker's loop is told of each new client, and the first
    // one awake would take them all, and serve them all for as long as
    // they keep their connections (16 of 16, measured), while the other
    // worker idles. So, before each accept, a worker that holds two more
    // connections than another leaves the client to that one, which the
    // scoreboard tells; only if the client still waits LEAVE_TO_OTHERS
    // later (that worker may be busy in a slow app) does it take it.
    fn accept_clients(&mut self) {
        loop {
            // Paused (the end of the pause looks again), or a worker of 3m
            // that has stopped accepting: no client is for us now.
            let listener = match &self.listener {
                Some(listener) if self.accept_paused_until.is_none() => {
                    listener
                }
                _ => return,
            };
            if let Some(worker) = &self.service.worker {
                worker.hold_connections(Some(self.connections.len()));
                if worker.another_holds_fewer_connections() {
                    let now = Instant::now();
                    let until = *self
                        .left_to_others_until
                        .get_or_insert(now + LEAVE_TO_OTHERS);
                    if until > now {
                        return; // expire_timers looks again at `until`
                    }
                }
            }
            self.left_to_others_until = None;
            match listener.accept() {
                Ok((socket, client_address)) => {
                    self.add(socket, client_address)
                }
                // Nobody else waits, or, in 3m, another worker took the
                // client first. mio tells us about sockets that have become
                // ready (edge-triggered), so we stop only here.
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
                        "event loop {}: cannot accept ({err}): pausing for \
                         {ACCEPT_PAUSE:?}",
                        process::id()
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
            eprintln!("event loop: cannot watch a connection: {err}");
            return; // the socket is dropped: closed
        }
        let connection = Connection::new(socket, client_address);
        self.timers.insert((connection.deadline, key));
        entry.insert(connection);
    }
    // ANCHOR_END: accept_clients

    // ANCHOR: handle_event
    /// A connection's socket is ready: take every step that does not wait.
    fn handle_event(&mut self, key: usize) {
        // Closed by an earlier event of the same batch: nothing to do.
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        let deadline = connection.deadline;
        let progress = connection.make_progress(
            key,
            &mut self.service,
            &mut self.read_buffer,
        );
        self.update(key, deadline, progress);
    }

    /// Moves the connection's timer to its new deadline, or forgets the
    /// connection once it is over (dropping its socket closes it, and a
    /// closed socket leaves poll's set by itself).
    fn update(
        &mut self,
        key: usize,
        old_deadline: Instant,
        progress: Progress,
    ) {
        self.timers.remove(&(old_deadline, key));
        if progress == Progress::Over {
            self.connections.remove(key);
            return;
        }
        self.timers.insert((self.connections[key].deadline, key));
        if progress == Progress::ComesBack {
            self.come_back.push(key);
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
            let progress = if connection.time_out() {
                connection.make_progress(
                    key,
                    &mut self.service,
                    &mut self.read_buffer,
                )
            } else {
                Progress::Over
            };
            self.update(key, deadline, progress);
        }
        if self.accept_paused_until.is_some_and(|until| until <= now) {
            self.accept_paused_until = None;
            // Edge-triggered: no new event comes for clients that waited
            // through the pause, so look for them now.
            self.accept_clients();
        }
        // The client left to other workers still waits: take it now.
        if self.left_to_others_until.is_some_and(|until| until <= now) {
            self.accept_clients();
        }
    }
    // ANCHOR_END: handle_event

    // ANCHOR: stop_accepting
    /// 3m: the worker must stop. It accepts no more clients (the other
    /// workers, or a new set after SIGHUP, take them), finishes every
    /// request it has begun, and closes each kept connection after its
    /// current response; serve_forever returns once none is left.
    fn stop_accepting(&mut self) {
        if self.service.stopping {
            return;
        }
        self.service.stopping = true;
        self.accept_paused_until = None;
        if let Some(mut listener) = self.listener.take() {
            // Dropped here: this worker's copy of the socket is closed.
            let _ = self.poll.registry().deregister(&mut listener);
        }
        // A kept connection that waits for its next request is closed
        // after a short grace, in case that request is on its way now.
        // A new connection keeps its first-byte deadline: its client has
        // just connected to send a request.
        let grace = Instant::now() + GRACE;
        let kept: Vec<usize> = self
            .connections
            .iter()
            .filter(|(_, c)| c.is_kept_and_idle() && c.deadline > grace)
            .map(|(key, _)| key)
            .collect();
        for key in kept {
            let old_deadline = self.connections[key].deadline;
            self.connections[key].deadline = grace;
            self.update(key, old_deadline, Progress::Waits);
        }
    }
    // ANCHOR_END: stop_accepting

    // ANCHOR: take_responses
    /// 3m's --threads: the pool has woken us; each response it has made
    /// goes to its connection, which writes it as it would have written
    /// one from the loop, then reads the client's next request.
    fn take_responses(&mut self) {
        let Some(responses) = &self.responses else {
            return;
        };
        let ready: Vec<AppResponse> = responses.try_iter().collect();
        for AppResponse {
            key,
            response,
            keep_alive,
        } in ready
        {
            if let Some(worker) = self.service.worker.as_mut() {
                worker.finish_request(); // counted for --max-requests
            }
            // A connection in the app has no deadline: it is still there.
            let Some(connection) = self.connections.get_mut(key) else {
                continue;
            };
            let deadline = connection.deadline;
            connection.start_writing(response, keep_alive);
            let progress = connection.make_progress(
                key,
                &mut self.service,
                &mut self.read_buffer,
            );
            self.update(key, deadline, progress);
        }
    }
    // ANCHOR_END: take_responses
}

// ANCHOR: service
impl Service<'_> {
    /// Whether the next response may offer to keep its connection: not
    /// with --keep-alive 0, nor once the worker stops, nor on the last
    /// request of its --max-requests.
    fn offer_keep_alive(&self) -> bool {
        let worker_goes_on =
            self.worker.as_ref().is_none_or(|w| w.may_keep_alive());
        !self.keep_alive.is_zero() && !self.stopping && worker_goes_on
    }

    /// How long a kept connection may wait for its next request.
    fn idle_timeout(&self) -> Duration {
        if self.stopping {
            GRACE
        } else {
            self.keep_alive
        }
    }

    /// Calls the app on a complete request of connection `key`: on the
    /// loop, returning the response and whether to keep the connection;
    /// or, with a pool, on one of its threads, returning None: the
    /// response comes back by way of `take_responses`.
    fn call_app(
        &mut self,
        key: usize,
        request: Box<Request>,
        client_address: SocketAddr,
    ) -> Option<(bool, Vec<u8>)> {
        let offer = self.offer_keep_alive();
        let Some(pool) = &self.pool else {
            // On the loop: until the app returns, no other connection
            // moves. The arbiter's clock runs meanwhile (--timeout).
            if let Some(worker) = &self.worker {
                worker.start_request();
            }
            let done = respond(&self.httpd, &request, client_address, offer);
            if let Some(worker) = self.worker.as_mut() {
                worker.finish_request();
            }
            return Some(done);
        };
        let httpd = Arc::clone(&self.httpd);
        let responses = pool.responses.clone();
        let waker = Arc::clone(&pool.waker);
        pool.threads.execute(move || {
            let (keep_alive, response) =
                respond(&httpd, &request, client_address, offer);
            // Fails only once the loop is gone: nobody wants it then.
            let _ = responses.send(AppResponse {
                key,
                response,
                keep_alive,
            });
            let _ = waker.wake();
        });
        None
    }
}

/// Runs the app on `request`, its response into a buffer, which the loop
/// writes as fast as the client takes it. Whether to keep the connection,
/// and the response.
// SIMPLIFICATION: the whole response is buffered before its first byte is
// written, so a 20 MB body costs 20 MB while it is sent.
fn respond(
    httpd: &WSGIServer,
    request: &Request,
    client_address: SocketAddr,
    offer_keep_alive: bool,
) -> (bool, Vec<u8>) {
    let sink = Sink::Buffer(Vec::new());
    // The GIL is taken in here, for the app, and let go when it returns.
    let (keep_alive, sink) = httpd.run_application(
        request,
        Some(client_address),
        sink,
        offer_keep_alive,
    );
    match sink {
        Some(Sink::Buffer(response)) => (keep_alive, response),
        _ => (false, Vec::new()),
    }
}
// ANCHOR_END: service

impl Connection {
    fn new(socket: TcpStream, client_address: SocketAddr) -> Connection {
        Connection {
            socket,
            client_address,
            received: Vec::new(),
            state: State::Waiting,
            deadline: Instant::now() + FIRST_BYTE_TIMEOUT,
            refused: false,
            kept: false,
        }
    }

    /// Whether the connection waits, kept, for its next request.
    fn is_kept_and_idle(&self) -> bool {
        self.kept
            && self.received.is_empty()
            && matches!(self.state, State::Waiting)
    }

    // ANCHOR: make_progress
    /// Does all that can be done now, without waiting: reads what has come,
    /// serves a request that is complete, writes what the client takes;
    /// then says whether the connection waits, comes back for its next
    /// request after the others' turn, or is over.
    // One request a turn: a client that sends its next request as soon as
    // it has read a response could otherwise be served again and again
    // while the others' requests wait. Measured before this rule, 3l with
    // Flask, 16 clients, a busy machine: one connection got 8,000
    // responses in 0.7 s, eleven others 4 or 5 each, and wrk's p99 was
    // 0.5 to 1 s.
    fn make_progress(
        &mut self,
        key: usize,
        service: &mut Service,
        buffer: &mut [u8],
    ) -> Progress {
        loop {
            let step = match self.state {
                State::Writing { .. } => {
                    self.write_response(service.idle_timeout())
                }
                State::Lingering { .. } => self.linger(buffer),
                // The pool's thread will hand the response back.
                State::InApp => Step::Blocked,
                _ => self.read_request(key, service, buffer),
            };
            match step {
                Step::Again => continue,
                Step::Blocked => return Progress::Waits,
                Step::Served => return Progress::ComesBack,
                Step::Closed => return Progress::Over,
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
            // Not ours to time: look again later.
            State::InApp => {
                self.deadline = Instant::now() + IN_THE_APP;
                true
            }
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
        key: usize,
        service: &mut Service,
        buffer: &mut [u8],
    ) -> Step {
        match self.use_received(key, service) {
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
        key: usize,
        service: &mut Service,
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
                self.run_application(key, service, request);
                Ok(true)
            }
            State::InApp | State::Writing { .. } | State::Lingering { .. } => {
                unreachable!("make_progress reads in the reading states only")
            }
        }
    }
    // ANCHOR_END: read_request

    // ANCHOR: run_application
    /// Hands a complete request to the app (see `Service::call_app`): on
    /// the loop, the response is here at once, to be written; on 3m's
    /// pool, the connection waits in the app for it.
    fn run_application(
        &mut self,
        key: usize,
        service: &mut Service,
        request: Box<Request>,
    ) {
        match service.call_app(key, request, self.client_address) {
            Some((keep_alive, response)) => {
                self.start_writing(response, keep_alive)
            }
            None => {
                self.state = State::InApp;
                self.deadline = Instant::now() + IN_THE_APP;
            }
        }
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
    /// the connection waits for its next request, and comes back for it
    /// after the other ready connections (the responses of pipelined
    /// requests leave in order: the next is read only after this one is
    /// written).
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
            self.kept = true;
            self.deadline = Instant::now() + idle_timeout;
            // Free what a big request left (a small one's stays, for the
            // next): an idle connection should cost next to nothing.
            self.received.shrink_to(READ_SIZE);
            Step::Served
        } else {
            self.close()
        }
    }
    // ANCHOR_END: write_response

    // ANCHOR: refuse
    /// Answers a refused request (one line on stderr, as part2 does), and
    /// closes with care once the answer is out.
    fn refuse(&mut self, refusal: Refusal) -> bool {
        eprintln!("event loop: {}: {}", refusal.status, refusal.why);
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
