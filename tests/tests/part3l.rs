//! Step 3l, the event loop: one thread holds ten thousand idle connections
//! and still answers at once; slow clients cost it nothing but a timer; a
//! slow app stalls every client (the lesson's flaw). Its HTTP is part2's:
//! the example apps answer byte for byte as part2's snapshots say, and the
//! HTTP-core tests of http_core.rs run here against webserver3l too.
#![cfg(unix)]

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wire_tests::{
    GET_HELLO, GET_HELLO_CLOSE, PATIENCE, Server, assert_hello_as_part2,
    assert_pipelined_in_order, assert_start_up_contract, assert_wire, binary,
    body, open_fds, payload, python_has, quick_while_one_sleeps, read_reply,
    read_response, status_line, workspace_root,
};

/// part2's HTTP-core tests, every one run against webserver3l: http_core.rs
/// picks its server by the name of the test crate it is compiled into.
#[path = "http_core.rs"]
mod http_core;

fn example(app: &str) -> Server {
    Server::start("part3", "webserver3l", &[app, "--quiet"])
}

fn testapp(name: &str) -> Server {
    Server::start_testapp("part3", "webserver3l", name, &["--quiet"])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One GET_HELLO on a new connection, closed after; and how long it took.
fn timed_hello(server: &Server) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    let reply = server.exchange(GET_HELLO_CLOSE);
    (reply, started.elapsed())
}

// ---- the example apps, byte for byte as part2's --------------------------

/// The reply to GET_HELLO is the very reply of part2's snapshot.
fn hello_as_part2(app: &str, name: &str) {
    assert_hello_as_part2(&example(app), name);
}

#[test]
fn wsgiapp_answers_as_part2() {
    hello_as_part2("wsgiapp:app", "wsgiapp");
}

#[test]
fn flaskapp_answers_as_part2() {
    if python_has("flask") {
        hello_as_part2("flaskapp:app", "flask");
    }
}

#[test]
fn pyramidapp_answers_as_part2() {
    if python_has("pyramid") {
        hello_as_part2("pyramidapp:app", "pyramid");
    }
}

#[test]
fn djangoapp_answers_as_part2() {
    if python_has("django") {
        hello_as_part2("djangoapp:app", "django");
    }
}

#[test]
fn the_environ_says_one_thread_one_process() {
    let reply = testapp("echo_environ")
        .exchange(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let environ = text(body(&reply));
    assert!(
        environ.contains("\nwsgi.multithread bool False\n"),
        "{environ}"
    );
    assert!(
        environ.contains("\nwsgi.multiprocess bool False\n"),
        "{environ}"
    );
}

/// An exception in the app is a 500, with its traceback on stderr, and a
/// closed connection (as in part2); the loop goes on serving.
#[test]
fn an_app_that_raises_gets_500_and_the_loop_goes_on() {
    let server = testapp("raises");
    for _ in 0..2 {
        let reply = server.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(reply.starts_with(b"HTTP/1.1 500 "), "{}", text(&reply));
        assert!(text(&reply).contains("Connection: close\r\n"));
    }
    let traceback = "RuntimeError: the app failed on purpose";
    assert!(server.wait_for_output(traceback, Duration::from_secs(5)));
}

// ---- keep-alive and pipelining ---------------------------------------------

/// Two requests in one write, the second asking to close: the same two
/// replies, byte for byte, as 3i's keep-alive snapshot.
#[test]
fn pipelined_requests_get_3is_replies() {
    let server = example("wsgiapp:app");
    let request = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n\
        GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let reply = server.exchange(request);
    assert_wire("part3-3i-keep-alive", request, &reply);
}

/// A hundred requests in one write, each with its own query: a hundred
/// replies, in the order of the requests.
#[test]
fn a_hundred_pipelined_requests_are_answered_in_order() {
    assert_pipelined_in_order(&testapp("echo_form"), 100);
}

/// The loop serves one request of a connection a turn. A client with 200
/// requests waiting (pipelined here; a client that sends its next request
/// as soon as it reads a response comes to the same) gets the loop for one
/// of them, then the others get theirs: a second client's request is
/// answered after a few of the first one's 5 ms requests, not after all.
#[test]
fn a_client_with_many_requests_waiting_does_not_starve_another() {
    let server = testapp("sleepy");
    let mut request = Vec::new();
    for _ in 0..200 {
        request.extend_from_slice(b"GET /?0.005 HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    let mut busy = server.connect();
    busy.write_all(&request).expect("send");
    thread::sleep(Duration::from_millis(100));
    let asked = Instant::now();
    let reply = server
        .exchange(b"GET /?0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let took = asked.elapsed();
    assert_eq!(body(&reply), b"slept\n");
    eprintln!("a request among 200 pipelined ones took {took:?}");
    // All 200 take a second; one at a time, the second client waits for
    // the one in progress, a few milliseconds.
    assert!(took < Duration::from_millis(400), "{took:?}");
    busy.set_read_timeout(Some(PATIENCE)).expect("timeout");
    for _ in 0..200 {
        assert_eq!(body(&read_response(&mut busy)), b"slept\n");
    }
}

/// A kept connection that sends nothing more is closed, without a word,
/// once `--keep-alive` seconds have passed.
#[test]
fn a_kept_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start(
        "part3",
        "webserver3l",
        &["--keep-alive", "2", "wsgiapp:app"],
    );
    let mut stream = server.connect();
    stream.write_all(GET_HELLO).expect("send");
    assert_eq!(body(&read_response(&mut stream)).len(), 44);
    let idle = Instant::now();
    assert_eq!(read_reply(&mut stream), b"");
    let took = idle.elapsed();
    assert!(took > Duration::from_millis(1_800), "{took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
}

// ---- ten thousand idle connections -----------------------------------------

/// Raises this test process's own descriptor limit to its hard limit, so
/// that it can hold ten thousand sockets; returns the limit.
fn raise_own_descriptor_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the one struct we
    // hand them, which lives on our stack for the whole call.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    limit.rlim_cur
}

/// The resident memory of process `pid`, in KiB (VmRSS, from /proc).
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("read /proc/PID/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib = line.split_whitespace().nth(1).expect("a number");
    kib.parse().expect("VmRSS in kB")
}

/// Waits until the server has at least `count` descriptors open.
fn wait_for_fds(pid: u32, count: usize) -> usize {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let open = open_fds(pid);
        if open >= count || Instant::now() > deadline {
            return open;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The C10K lesson: one thread holds ten thousand connections that send
/// nothing, at a cost of a few hundred bytes each, and a normal client is
/// answered at once meanwhile. (3i's two workers, held by two idle
/// connections, would make it wait seconds.)
#[test]
#[cfg(target_os = "linux")]
fn ten_thousand_idle_connections_cost_little_and_block_nobody() {
    const IDLE: usize = 10_000;
    let limit = raise_own_descriptor_limit();
    assert!(limit > IDLE as u64 + 100, "the hard limit is {limit}");
    let server = example("wsgiapp:app");
    let pid = server.pid();
    let (reply, alone) = timed_hello(&server);
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
    let fds_before = open_fds(pid);
    let rss_before = rss_kib(pid);
    // In batches, each accepted before the next: never more waiting at
    // once than the listen queue holds. Every idle connection must open
    // within part2's 5 s first-byte timeout, after which they close.
    let opening = Instant::now();
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE / 500 {
        for _ in 0..500 {
            idle.push(server.connect());
        }
        wait_for_fds(pid, fds_before + idle.len());
    }
    let opened = opening.elapsed();
    let rss_after = rss_kib(pid);
    let (reply, meanwhile) = timed_hello(&server);
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
    let held = open_fds(pid) - fds_before;
    let per_connection = (rss_after - rss_before) as f64 * 1024.0 / IDLE as f64;
    eprintln!(
        "3l: {held} idle connections opened in {opened:?}; RSS {rss_before} \
         KiB -> {rss_after} KiB, {per_connection:.0} bytes a connection; \
         GET /hello took {alone:?} alone, {meanwhile:?} among them"
    );
    assert!(
        opened < Duration::from_secs(4),
        "too slow to open: {opened:?}"
    );
    assert_eq!(held, IDLE, "the server holds every idle connection");
    // A few KiB at most (3h needed a process for each one); the test only
    // guards against a buffer per connection (64 KiB) creeping in.
    assert!(per_connection < 8.0 * 1024.0, "{per_connection} bytes");
    // The issue asks for 100 ms; this machine is shared and busy, so the
    // test allows five times that. Holding a connection costs no time.
    assert!(meanwhile < Duration::from_millis(500), "{meanwhile:?}");
}

/// At start the server raises its descriptor limit to the hard limit and
/// says how many connections fit. It is started here with a soft limit of
/// 256, the hard one unchanged, as a login shell would start it.
#[test]
fn raises_its_descriptor_limit_and_says_how_many_connections_fit() {
    let hard = raise_own_descriptor_limit();
    let mut command = Command::new(binary("part3", "webserver3l"));
    command
        .args(["--port", "0", "--quiet", "wsgiapp:app"])
        .current_dir(workspace_root())
        .stdout(Stdio::piped());
    // SAFETY: between fork and exec the child may only call functions
    // that are async-signal-safe, as setrlimit is; it touches only the
    // struct it was given.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = 256;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    let mut child = command.spawn().expect("start webserver3l");
    let stdout = child.stdout.take().expect("piped");
    let (lines, received) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let said = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) if line.contains("room for ") => break line,
            Ok(_) => {}
            Err(_) => break String::new(), // it exited, or said nothing
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let room: u64 = said
        .split("room for ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {said:?}"));
    // All but the few descriptors it has open already (stdio, the
    // listening socket, poll's, Python's).
    assert!(room <= hard && room > hard - 64, "{room} of {hard}");
}

// ---- slow clients ------------------------------------------------------------

/// A slowloris client: sends the start of a head, then a byte a second,
/// and reads whatever comes. Returns the reply and when it began to come.
fn drip_head(port: u16) -> (Vec<u8>, Duration) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let started = Instant::now();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .expect("send");
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut reply = Vec::new();
    let mut first_byte = None;
    let mut chunk = [0; 1024];
    while started.elapsed() < PATIENCE {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => {
                first_byte.get_or_insert(started.elapsed());
                reply.extend_from_slice(&chunk[..read]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock) => {
                // A second of silence from the server: drip one more byte.
                let _ = stream.write_all(b"a");
            }
            Err(_) => break,
        }
    }
    (reply, first_byte.unwrap_or(PATIENCE))
}

/// Fifty clients dripping their heads a byte a second hold 3i's workers
/// for 10 s; here they cost a timer each. A normal client is answered at
/// once all along, and each dripper gets its 408 at the head's deadline.
#[test]
fn fifty_dripping_heads_delay_nobody_and_each_gets_408() {
    let server = example("wsgiapp:app");
    let port = server.port;
    let drippers: Vec<_> = (0..50)
        .map(|_| thread::spawn(move || drip_head(port)))
        .collect();
    thread::sleep(Duration::from_millis(500));
    let mut slowest = Duration::ZERO;
    for _ in 0..8 {
        let (reply, took) = timed_hello(&server);
        assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
        slowest = slowest.max(took);
        thread::sleep(Duration::from_secs(1));
    }
    let mut at = Vec::new();
    for dripper in drippers {
        let (reply, when) = dripper.join().expect("a dripping client");
        assert_eq!(status_line(&reply), "HTTP/1.1 408 Request Timeout");
        at.push(when);
    }
    let first = at.iter().min().expect("fifty");
    let last = at.iter().max().expect("fifty");
    eprintln!(
        "3l: 50 dripping clients got their 408 between {first:?} and \
         {last:?}; a normal GET took {slowest:?} at most meanwhile"
    );
    // The head's deadline is 10 s from its first byte.
    assert!(*first > Duration::from_millis(9_500), "{first:?}");
    assert!(*last < Duration::from_secs(16), "{last:?}");
    // A tenth of the deadline: a normal client waits for none of them.
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
}

/// A client that asks for 20 MB and reads none of it holds its own
/// response, not the loop: others are served meanwhile, and its connection
/// is closed once it has taken nothing for part2's SEND_TIMEOUT (10 s).
#[test]
fn a_client_that_stops_reading_stalls_nobody() {
    let server = testapp("big_body");
    let mut stuck = server.connect();
    let started = Instant::now();
    stuck
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    thread::sleep(Duration::from_millis(500));
    // HEAD: the same app, and a reply of a head alone.
    let head = b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for _ in 0..5 {
        let asked = Instant::now();
        let reply = server.exchange(head);
        assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
        let took = asked.elapsed();
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    // Past the send timeout, the server has given up on the stuck client:
    // what it reads now is what the socket buffers held, then the end.
    thread::sleep(Duration::from_secs(13).saturating_sub(started.elapsed()));
    let mut got = Vec::new();
    let _ = stuck.read_to_end(&mut got);
    assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", text(&got));
    assert!(got.len() < 20_000_000, "all {} bytes came", got.len());
}

// ---- the lesson's flaw: a slow app stalls the loop ---------------------------

/// One request to an app that sleeps 2 s: while it sleeps, the loop runs
/// nothing else, and every other client waits for it.
#[test]
fn one_slow_request_delays_every_other_client() {
    let server = testapp("sleepy");
    let quick = |server: &Server| {
        let started = Instant::now();
        let reply = server.exchange(
            b"GET /?0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(body(&reply), b"slept\n");
        started.elapsed()
    };
    let alone = quick(&server);
    let delayed = quick_while_one_sleeps(&server);
    eprintln!(
        "3l: a request to a quick app took {alone:?} alone, {delayed:?} \
         while another client's request slept 2 s"
    );
    assert!(alone < Duration::from_millis(500), "{alone:?}");
    for took in delayed {
        // The 2 s sleep had 1.7 s left when they came.
        assert!(took > Duration::from_millis(1_200), "{took:?}");
    }
}

/// The GIL is held only while Python runs: a thread of the app's own ticks
/// while the loop waits for clients.
#[test]
fn python_threads_run_while_the_loop_waits() {
    let server = testapp("ticker");
    let ticks = |server: &Server| -> u64 {
        let reply = server.exchange(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        text(body(&reply)).parse().expect("a count")
    };
    let first = ticks(&server);
    thread::sleep(Duration::from_secs(1));
    let ticked = ticks(&server) - first;
    // A tick every 10 ms: about 100, fewer on a busy machine; none at all
    // if the loop held the GIL while it waited.
    assert!(ticked > 20, "{ticked} ticks in 1 s");
}

// ---- out of descriptors ------------------------------------------------------

/// The CPU time (user and system) that process `pid` has used.
#[cfg(target_os = "linux")]
fn cpu_time(pid: u32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The fields after the command's `(name)`: utime and stime are the
    // 12th and 13th, in clock ticks (100 a second on Linux).
    let after_name = &stat[stat.rfind(')').expect("(name)") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime")
        + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

/// When accept fails for want of descriptors (EMFILE), the server rests
/// and tries again, instead of spinning; once connections close, the
/// clients that waited in the queue are served, though none comes after.
#[test]
#[cfg(target_os = "linux")]
fn out_of_descriptors_it_pauses_instead_of_spinning() {
    let server = example("wsgiapp:app");
    let pid = server.pid();
    assert_eq!(status_line(&timed_hello(&server).0), "HTTP/1.1 200 OK");
    // Lower the running server's limit to 40 descriptors.
    let limit = libc::rlimit {
        rlim_cur: 40,
        rlim_max: 40,
    };
    let pid_t = libc::pid_t::try_from(pid).expect("a pid");
    // SAFETY: prlimit reads the one struct we hand it, on our stack; the
    // old limits are not asked for (a null pointer is allowed there).
    let set = unsafe {
        libc::prlimit(pid_t, libc::RLIMIT_NOFILE, &limit, std::ptr::null_mut())
    };
    assert_eq!(set, 0, "prlimit failed");
    // Idle connections take every descriptor left; then clients that send
    // a request wait in the listen queue.
    let idle: Vec<TcpStream> = (0..40).map(|_| server.connect()).collect();
    let waiting: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut stream = server.connect();
            stream.write_all(GET_HELLO_CLOSE).expect("send");
            stream
        })
        .collect();
    assert!(
        server.wait_for_output("cannot accept", Duration::from_secs(5)),
        "{}",
        server.output()
    );
    let before = cpu_time(pid);
    thread::sleep(Duration::from_millis(1_500));
    let used = cpu_time(pid) - before;
    // Spinning on accept would take the whole 1.5 s of a core.
    assert!(
        used < Duration::from_millis(300),
        "{used:?} of CPU in 1.5 s"
    );
    // Free the descriptors: the waiting clients are served.
    drop(idle);
    for mut stream in waiting {
        let reply = read_reply(&mut stream);
        assert_eq!(payload(&reply).len(), 44, "{}", text(&reply));
    }
}

// ---- the command line ----------------------------------------------------------

#[test]
fn bad_app_and_busy_port_are_one_line_and_exit_code_2() {
    assert_start_up_contract("part3", "webserver3l");
}

#[test]
fn ctrl_c_stops_the_server() {
    let mut server = example("wsgiapp:app");
    assert_eq!(payload(&timed_hello(&server).0).len(), 44);
    server.signal(libc::SIGINT);
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(status.is_some(), "webserver3l still runs after SIGINT");
}
