//! Steps 3j (a thread per connection) and 3k (a thread pool): threads
//! overlap their waiting but not their Python, the GIL is free while a
//! thread waits on its socket, threads share the app's memory, 3j's threads
//! have no bound and 3k's do, and both serve the four example apps
//! byte for byte as part 2 does.
//!
//! Timings are compared as ratios within one run, with wide margins: the
//! machine may be busy with other work.
#![cfg(unix)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use wire_tests::{
    GET_HELLO_CLOSE, Server, assert_start_up_contract, assert_wire, body,
    client3, fds_settle_at, open_fds, payload, python_has, read_response,
    redact_date,
};

const STEPS: [&str; 2] = ["webserver3j", "webserver3k"];

/// Taken by the tests that time requests or load the machine, so that
/// they don't run at the same time as each other (cargo runs a file's
/// tests in parallel) and measure each other's work.
fn alone() -> MutexGuard<'static, ()> {
    static TIMED: Mutex<()> = Mutex::new(());
    TIMED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn testapp(bin: &str, name: &str, args: &[&str]) -> Server {
    Server::start_testapp("part3", bin, name, args)
}

/// One request on its own connection, closed after the reply.
fn get(server: &Server, target: &str) -> Vec<u8> {
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    server.exchange(request.as_bytes())
}

/// Sends `count` requests for `target` at once, each on its own
/// connection, and returns how long until the last reply came.
fn at_once(server: &Server, target: &str, count: usize) -> Duration {
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..count {
            scope.spawn(|| {
                let reply = get(server, target);
                assert!(reply.starts_with(b"HTTP/1.1 200"), "{}", text(&reply));
            });
        }
    });
    started.elapsed()
}

/// How many threads the process `pid` runs (Linux: /proc/PID/task).
#[cfg(target_os = "linux")]
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/task: {e}"))
        .count()
}

/// Waits until `pid` runs `expected` threads; returns the count then.
#[cfg(target_os = "linux")]
fn threads_settle_at(pid: u32, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut count = threads(pid);
    while count != expected && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        count = threads(pid);
    }
    count
}

// ---- the example apps, byte for byte -------------------------------------

/// 3j's and 3k's reply to curl's request is part 2's, to the byte (Date
/// aside), and it is the snapshot the book shows.
fn same_as_part2(app: &str, name: &str, hello: &str) {
    let part2 = Server::start("part2", "part2", &[app]);
    let expected = redact_date(&part2.exchange(GET_HELLO_CLOSE));
    for step in STEPS {
        let server = Server::start("part3", step, &[app]);
        let reply = server.exchange(GET_HELLO_CLOSE);
        assert_eq!(text(&redact_date(&reply)), text(&expected), "{step}");
        assert_wire(
            &format!("part3-3jk-{name}-hello"),
            GET_HELLO_CLOSE,
            &reply,
        );
        assert_eq!(text(&payload(&reply)), hello);
    }
}

#[test]
fn wsgiapp_hello() {
    let hello = "Hello world from a simple WSGI application!\n";
    same_as_part2("wsgiapp:app", "wsgiapp", hello);
}

#[test]
fn flaskapp_hello() {
    if python_has("flask") {
        same_as_part2("flaskapp:app", "flask", "Hello world from Flask!\n");
    }
}

#[test]
fn pyramidapp_hello() {
    if python_has("pyramid") {
        let hello = "Hello world from Pyramid!\n";
        same_as_part2("pyramidapp:app", "pyramid", hello);
    }
}

#[test]
fn djangoapp_hello() {
    if python_has("django") {
        same_as_part2("djangoapp:app", "django", "Hello world from Django!\n");
    }
}

#[test]
fn the_environ_says_multithread() {
    for step in STEPS {
        let environ =
            text(body(&get(&testapp(step, "echo_environ", &[]), "/")));
        assert!(
            environ.contains("\nwsgi.multithread bool True\n"),
            "{step}: {environ}"
        );
        assert!(
            environ.contains("\nwsgi.multiprocess bool False\n"),
            "{step}: {environ}"
        );
    }
}

// ---- threads overlap their waiting -----------------------------------------

/// Twenty 2-second requests at once (`time.sleep` releases the GIL): 3j
/// answers them all in about 2 seconds, one thread each; 3k's ten threads
/// take two turns, about 4 seconds. One at a time would take 40.
#[test]
fn waiting_overlaps() {
    let _alone = alone();
    let sleepy_3j = testapp("webserver3j", "sleepy", &["--quiet"]);
    let took_3j = at_once(&sleepy_3j, "/?2", 20).as_secs_f64();
    let sleepy_3k = testapp("webserver3k", "sleepy", &["--quiet", "-t", "10"]);
    let took_3k = at_once(&sleepy_3k, "/?2", 20).as_secs_f64();
    eprintln!("20 x 2 s: 3j {took_3j:.2} s, 3k (10 threads) {took_3k:.2} s");
    assert!((2.0..5.0).contains(&took_3j), "3j: {took_3j}");
    // ceil(20 / 10) = 2 turns of 2 seconds.
    assert!((4.0..8.0).contains(&took_3k), "3k: {took_3k}");
}

// ---- but not their Python ------------------------------------------------

/// Sends `count` CPU-bound requests at once (the test app `spin`); returns
/// how much CPU time their Python loops took in all, per second of the
/// wall clock it took to answer them all: how many interpreters ran at
/// once, on average.
fn parallelism(server: &Server, count: usize) -> f64 {
    let started = Instant::now();
    let cpu: f64 = thread::scope(|scope| {
        let requests: Vec<_> = (0..count)
            .map(|_| scope.spawn(|| text(body(&get(server, "/?4")))))
            .collect();
        requests
            .into_iter()
            .map(|request| {
                let spent = request.join().expect("a request's thread");
                spent.trim().parse::<f64>().expect("the loop's CPU time")
            })
            .sum()
    });
    cpu / started.elapsed().as_secs_f64()
}

/// CPU-bound requests (a Python loop holds the GIL throughout) don't
/// overlap on threads: 3j's and 3k's loops, together, never use more than
/// one core's time, however many requests run at once. 3i's two
/// processes have an interpreter and a GIL each, and use two.
// A busy machine takes cores from every server, so 3i is measured at the
// same time as the threaded server it is compared with, under the same
// load: its two processes then get two shares of the machine where a
// server with one GIL gets one. It gets twice as many requests, so that
// it is still busy when the other is done.
#[test]
fn python_does_not_overlap_on_threads() {
    const N: usize = 8;
    let _alone = alone();
    let prefork = testapp("webserver3i", "spin", &["--quiet", "-w", "2"]);
    for step in STEPS {
        let threaded = testapp(step, "spin", &["--quiet"]);
        // Up to five tries: the load of other work comes and goes.
        let mut ratio = 0.0;
        for _ in 0..5 {
            let (on_threads, on_3i) = thread::scope(|scope| {
                let on_threads = scope.spawn(|| parallelism(&threaded, N));
                let on_3i = parallelism(&prefork, 2 * N);
                (on_threads.join().expect(step), on_3i)
            });
            eprintln!(
                "CPU-bound requests, CPU time per wall time: {step} \
                 {on_threads:.2}, 3i --workers 2 {on_3i:.2}"
            );
            // One GIL: at most one loop runs at any moment (a little
            // margin for the clocks' granularity).
            assert!(on_threads < 1.1, "{step}: {on_threads}");
            ratio = on_3i / on_threads;
            if ratio > 1.4 {
                break;
            }
        }
        assert!(ratio > 1.4, "3i ran only {ratio:.2} times {step}'s Python");
    }
}

// ---- the GIL is free while a thread waits ----------------------------------

/// A client that sends half a head and stops holds a thread, which waits
/// on the socket for the rest: without the GIL. Another client is served
/// at once, not when the first one times out.
#[test]
fn a_half_sent_head_does_not_delay_another_client() {
    for step in STEPS {
        let server = testapp(step, "echo_form", &["--quiet"]);
        let mut stalled = server.connect();
        stalled
            .write_all(b"GET /?a=1 HTTP/1.1\r\nHost: loc")
            .expect("send half a head");
        // Let the server accept it and start waiting.
        thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let reply = get(&server, "/?b=2");
        let took = started.elapsed();
        assert_eq!(body(&reply), b"b=2\n", "{step}");
        assert!(took < Duration::from_secs(2), "{step}: waited {took:?}");
        drop(stalled);
    }
}

/// A client that asks for 20 MB and reads none of it holds a thread, which
/// waits to write: without the GIL too. Another client gets its own 20 MB
/// meanwhile, not when the first one's write times out.
#[test]
fn a_client_that_stops_reading_does_not_delay_another() {
    let request =
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    for step in STEPS {
        let server = testapp(step, "big_body", &["--quiet"]);
        let mut stalled = server.connect();
        stalled.write_all(request).expect("send");
        // Let the server fill the socket's buffers and block.
        thread::sleep(Duration::from_millis(500));
        let started = Instant::now();
        let reply = server.exchange(request);
        let took = started.elapsed();
        assert_eq!(payload(&reply).len(), 20_000_000, "{step}");
        assert!(took < Duration::from_secs(3), "{step}: waited {took:?}");
        drop(stalled);
    }
}

// ---- threads share the app's memory -----------------------------------------

/// A module-level counter sees every request, whichever thread serves it
/// (in 3h each forked child counted in its own copy). Read and written
/// back across a wait, without a lock, it loses the updates of the
/// requests that overlapped; with `threading.Lock`, it loses none.
#[test]
fn threads_share_a_counter_that_needs_a_lock() {
    for step in STEPS {
        let args = ["--quiet", "-t", "20"];
        let args = if step == "webserver3k" {
            &args[..]
        } else {
            &args[..1]
        };
        let locked = testapp(step, "counter", args);
        let _ = at_once(&locked, "/locked-visit", 20);
        assert_eq!(text(body(&get(&locked, "/count"))), "20\n", "{step}");
        let unlocked = testapp(step, "counter", args);
        let _ = at_once(&unlocked, "/visit", 20);
        let counted = text(body(&get(&unlocked, "/count")));
        let counted: usize = counted.trim().parse().expect("a number");
        eprintln!("{step}: 20 unlocked visits counted as {counted}");
        assert!(counted < 20, "{step}: no visit was lost ({counted})");
    }
}

// ---- 3j's threads have no bound; 3k's have ----------------------------------

/// Thirty clients that each send half a head and wait: 3j starts a thread
/// for every one of them; 3k keeps its four, and the other clients wait
/// in its queue and in the kernel's backlog.
#[cfg(target_os = "linux")]
#[test]
fn a_burst_makes_3j_threads_without_bound_and_3k_keeps_its_pool() {
    const BURST: usize = 30;
    let _alone = alone();
    // 3j's one thread is the accept loop; 3k has that, the signal thread
    // and its pool of four.
    for (step, idle, bound) in
        [("webserver3j", 1, false), ("webserver3k", 6, true)]
    {
        let server = testapp(step, "echo_form", &["--quiet"]);
        assert_eq!(body(&get(&server, "/?a=1")), b"a=1\n");
        assert_eq!(threads_settle_at(server.pid(), idle), idle, "{step}");
        let stalled: Vec<TcpStream> = (0..BURST)
            .map(|_| {
                let mut stream = server.connect();
                stream.write_all(b"GET / HTTP/1.1\r\n").expect("send");
                stream
            })
            .collect();
        thread::sleep(Duration::from_millis(500));
        let during = threads(server.pid());
        eprintln!("{step}: {idle} threads idle, {during} during the burst");
        if bound {
            assert_eq!(during, idle, "{step}");
        } else {
            assert!(during >= idle + BURST, "{step}: {during}");
        }
        drop(stalled);
        assert_eq!(threads_settle_at(server.pid(), idle), idle, "{step}");
    }
}

/// 2,000 requests, many connections of them open at once, all answered;
/// then the server is back to the threads and descriptors it had.
#[test]
fn no_thread_or_descriptor_is_left_after_2000_requests() {
    let _alone = alone();
    for step in STEPS {
        let server = Server::start("part3", step, &["--quiet", "wsgiapp:app"]);
        assert_eq!(body(&get(&server, "/hello")).len(), 44);
        // Once the thread that served it is done (3j) or idle (3k).
        thread::sleep(Duration::from_millis(300));
        let fds = open_fds(server.pid());
        #[cfg(target_os = "linux")]
        let tasks = threads(server.pid());
        assert_eq!(client3(&server, 20, 100), (2000, 0), "{step}");
        assert_eq!(fds_settle_at(server.pid(), fds), fds, "{step}");
        #[cfg(target_os = "linux")]
        assert_eq!(threads_settle_at(server.pid(), tasks), tasks, "{step}");
    }
}

// ---- keep-alive ----------------------------------------------------------

/// Two requests in one write, the second asking to close: two replies on
/// one connection, the first without `Connection: close`.
#[test]
fn keep_alive_serves_pipelined_requests_on_one_connection() {
    let request = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n\
        GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    for step in STEPS {
        let server = Server::start("part3", step, &["wsgiapp:app"]);
        let reply = server.exchange(request);
        assert_wire("part3-3jk-keep-alive", request, &reply);
    }
}

/// Whether the server closes `stream` within `patience`.
fn closed_within(stream: &mut TcpStream, patience: Duration) -> bool {
    stream
        .set_read_timeout(Some(patience))
        .expect("set timeout");
    matches!(stream.read(&mut [0; 1]), Ok(0))
}

/// 3k's one thread, holding a kept connection, gives way to a client that
/// waits for it: the new client is served at once, not after the idle
/// timeout, and the kept connection is closed.
#[test]
fn a_kept_connection_gives_way_to_a_waiting_client_on_3k() {
    let server =
        Server::start("part3", "webserver3k", &["-t", "1", "wsgiapp:app"]);
    let mut kept = server.connect();
    kept.write_all(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    assert!(!text(&read_response(&mut kept)).contains("Connection:"));
    let started = Instant::now();
    assert_eq!(body(&get(&server, "/hello")).len(), 44);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(1), "waited {waited:?}");
    assert!(closed_within(&mut kept, Duration::from_secs(1)));
}

// ---- stopping 3k, and the command line ---------------------------------------

/// SIGTERM or SIGINT while a request is in hand: 3k stops accepting, the
/// thread finishes the request, the pool is joined, the exit code is 0.
#[test]
fn a_signal_lets_3k_finish_its_requests_and_exit_0() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut server = testapp("webserver3k", "sleepy", &["--quiet"]);
        let in_hand = thread::scope(|scope| {
            let request = scope.spawn(|| get(&server, "/?1"));
            thread::sleep(Duration::from_millis(300));
            server.signal(signal);
            request.join().expect("the request's thread")
        });
        assert_eq!(body(&in_hand), b"slept\n", "signal {signal}");
        let status = server.wait_exit(Duration::from_secs(5));
        assert_eq!(status.and_then(|s| s.code()), Some(0), "signal {signal}");
        let joined = "Shutting down worker 3";
        assert!(
            server.wait_for_output(joined, Duration::from_secs(5)),
            "{}",
            server.output()
        );
    }
}

/// An exception in the app is answered with a 500 by the core, and the
/// one thread of the pool goes on serving.
#[test]
fn an_app_that_raises_leaves_3k_its_thread() {
    let server = testapp("webserver3k", "raises", &["-t", "1"]);
    for _ in 0..3 {
        let reply = get(&server, "/");
        assert!(reply.starts_with(b"HTTP/1.1 500 "), "{}", text(&reply));
    }
    assert!(server.wait_for_output(
        "RuntimeError: the app failed on purpose",
        Duration::from_secs(5)
    ));
}

/// Ctrl-C (SIGINT) stops 3j at once, whatever its threads are doing.
#[test]
fn ctrl_c_stops_3j() {
    let mut server = testapp("webserver3j", "sleepy", &["--quiet"]);
    let _sleeping = thread::spawn({
        let port = server.port;
        move || {
            let mut stream = TcpStream::connect(("127.0.0.1", port));
            if let Ok(stream) = &mut stream {
                let _ =
                    stream.write_all(b"GET /?30 HTTP/1.1\r\nHost: x\r\n\r\n");
                let _ = stream.read(&mut [0; 1]);
            }
        }
    });
    thread::sleep(Duration::from_millis(300));
    server.signal(libc::SIGINT);
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(status.is_some(), "webserver3j still runs after SIGINT");
}

#[test]
fn bad_app_and_busy_port_are_one_line_and_exit_code_2() {
    for step in STEPS {
        assert_start_up_contract("part3", step);
    }
}
