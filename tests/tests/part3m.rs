//! Step 3m, pre-fork workers each running 3l's event loop, under 3i's
//! arbiter. Its HTTP is part2's (the example apps byte for byte, and the
//! HTTP-core tests of http_core.rs run against it too); the arbiter's
//! contract holds for a loop (SIGTERM finishes what is in flight, SIGHUP
//! loses nothing, a stuck worker is replaced, --max-requests recycles);
//! idle clients hold no worker, unlike 3i's; and with --threads, a slow
//! app holds a thread, not the loop, which on 3l stalls every client.
//!
//! The server forks; this test process never does.
#![cfg(unix)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use wire_tests::{
    GET_HELLO_CLOSE, Server, assert_hello_as_part2, assert_pipelined_in_order,
    assert_start_up_contract, body, python_has, quick_while_one_sleeps,
    read_response, status_line, try_get, wait_for_count, workers,
};

/// part2's HTTP-core tests, every one run against webserver3m: http_core.rs
/// picks its server by the name of the test crate it is compiled into.
#[path = "http_core.rs"]
mod http_core;

/// The arbiter's contract (SIGTERM, SIGQUIT, SIGHUP, --timeout,
/// --max-requests), every test run against webserver3m, on the loop and,
/// where it differs, on threads; chosen the same way.
#[path = "shared/arbiter_contract.rs"]
mod arbiter_contract;

/// How long a test waits for one reply before it counts as lost.
const PATIENCE: Duration = Duration::from_secs(10);

fn example(app: &str, args: &[&str]) -> Server {
    let mut all = vec![app];
    all.extend_from_slice(args);
    Server::start("part3", "webserver3m", &all)
}

fn testapp(name: &str, args: &[&str]) -> Server {
    Server::start_testapp("part3", "webserver3m", name, args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---- the example apps, byte for byte as part2's --------------------------

#[test]
fn wsgiapp_answers_as_part2() {
    assert_hello_as_part2(&example("wsgiapp:app", &["--quiet"]), "wsgiapp");
}

#[test]
fn flaskapp_answers_as_part2() {
    if python_has("flask") {
        assert_hello_as_part2(&example("flaskapp:app", &["--quiet"]), "flask");
    }
}

#[test]
fn pyramidapp_answers_as_part2() {
    if python_has("pyramid") {
        let server = example("pyramidapp:app", &["--quiet"]);
        assert_hello_as_part2(&server, "pyramid");
    }
}

#[test]
fn djangoapp_answers_as_part2() {
    if python_has("django") {
        let server = example("djangoapp:app", &["--quiet"]);
        assert_hello_as_part2(&server, "django");
    }
}

/// wsgi.multiprocess is true; wsgi.multithread only with --threads.
#[test]
fn the_environ_says_multiprocess_and_with_threads_multithread() {
    let threads: &[&str] = &["--threads", "2"];
    for (args, multithread) in [(&[][..], "False"), (threads, "True")] {
        let server = testapp("echo_environ", args);
        let reply = try_get(&server, "/", PATIENCE).expect("a reply");
        let environ = text(body(&reply));
        assert!(environ.contains("\nwsgi.multiprocess bool True\n"));
        let want = format!("\nwsgi.multithread bool {multithread}\n");
        assert!(environ.contains(&want), "{args:?}: {environ}");
    }
}

/// A hundred requests in one write, on a worker whose app runs on four
/// threads at once: a hundred replies, in the order of the requests.
#[test]
fn pipelined_requests_on_threads_are_answered_in_order() {
    let server = testapp("echo_form", &["--workers", "1", "--threads", "4"]);
    assert_pipelined_in_order(&server, 100);
}

// ---- what a loop survives that 3i's workers do not -------------------------

/// How long a normal request takes on `server` (two workers) while `idle`
/// connections are open and silent.
fn hello_among_idle(server: &Server, idle: usize) -> Duration {
    let _ = workers(server, 2);
    assert!(try_get(server, "/hello", PATIENCE).is_ok());
    let idle: Vec<TcpStream> = (0..idle).map(|_| server.connect()).collect();
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let reply = try_get(server, "/hello", PATIENCE).expect("served");
    let took = started.elapsed();
    assert_eq!(body(&reply).len(), 44);
    drop(idle);
    took
}

/// On 3i, two idle connections hold both workers, and a third client
/// waits for part2's first-byte timeout (5 s) to free one. On 3m, fifty
/// idle connections hold no worker: a normal client is served at once.
#[test]
fn idle_connections_hold_3is_workers_and_none_of_3ms() {
    let args = ["--workers", "2", "--quiet"];
    let sync = Server::start(
        "part3",
        "webserver3i",
        &[&args[..], &["wsgiapp:app"]].concat(),
    );
    let on_3i = hello_among_idle(&sync, 2);
    let on_3m = hello_among_idle(&example("wsgiapp:app", &args), 50);
    eprintln!(
        "a request took {on_3i:?} on 3i among 2 idle connections, {on_3m:?} \
         on 3m among 50"
    );
    // The 5 s timeout had 4.7 s left when it came.
    assert!(on_3i > Duration::from_secs(3), "{on_3i:?}");
    assert!(on_3m < Duration::from_secs(1), "{on_3m:?}");
}

// ---- the workers share the kept connections ------------------------------

/// Sixteen clients that connect at once, as a benchmark's do, and keep
/// their connections: every worker's loop hears of them, and the first one
/// awake would accept all sixteen and serve them alone for as long as they
/// stay. A worker that holds two more connections than another leaves the
/// next client to that one, so both workers get a share.
#[test]
fn kept_connections_are_shared_between_the_workers() {
    let server = testapp("pid", &["--workers", "2", "--quiet"]);
    let _ = workers(&server, 2);
    // Connected before any is served: all sixteen wait in the backlog.
    let mut clients: Vec<TcpStream> =
        (0..16).map(|_| server.connect()).collect();
    let mut served_by = std::collections::HashMap::new();
    for client in &mut clients {
        client.set_read_timeout(Some(PATIENCE)).expect("timeout");
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("send");
        let reply = read_response(client);
        *served_by.entry(text(body(&reply))).or_insert(0) += 1;
    }
    eprintln!("connections per worker: {served_by:?}");
    assert_eq!(
        served_by.len(),
        2,
        "one worker took them all: {served_by:?}"
    );
    assert!(served_by.values().all(|&count| count >= 4), "{served_by:?}");
}

// ---- the lesson: a slow app holds a thread, not the loop -------------------

/// On 3l, and on a 3m worker whose app runs on the loop, one request that
/// sleeps 2 s delays every other client by the rest of its sleep; on one
/// worker with --threads 4, the quick requests go by on other threads.
/// One worker each, so that the threads, not a second worker, make the
/// difference.
#[test]
fn with_threads_a_slow_app_holds_a_thread_not_the_loop() {
    let on_the_loop = {
        let server = Server::start_testapp(
            "part3",
            "webserver3l",
            "sleepy",
            &["--quiet"],
        );
        quick_while_one_sleeps(&server)
    };
    let one_worker = ["--workers", "1", "--quiet"];
    let on_a_worker = {
        let server = testapp("sleepy", &one_worker);
        // Its warm-up request sleeps 2 s before the worker is forked.
        let _ = workers(&server, 1);
        wait_for_count(&server, "Booting worker", 1);
        quick_while_one_sleeps(&server)
    };
    let on_threads = {
        let args = [&one_worker[..], &["--threads", "4"][..]].concat();
        let server = testapp("sleepy", &args);
        let _ = workers(&server, 1);
        wait_for_count(&server, "Booting worker", 1);
        quick_while_one_sleeps(&server)
    };
    eprintln!(
        "while one request slept 2 s, three quick ones took: on 3l \
         {on_the_loop:?}; on one 3m worker {on_a_worker:?}; on one 3m worker \
         with --threads 4 {on_threads:?}"
    );
    // The sleep had 1.7 s left when they came: on a loop, they wait for it.
    for took in on_the_loop.iter().chain(&on_a_worker) {
        assert!(*took > Duration::from_millis(1_200), "{took:?}");
    }
    // On threads they do not: a ratio of one run, with a wide margin.
    let slowest = on_threads.iter().max().expect("three");
    let fastest_on_a_loop =
        on_the_loop.iter().chain(&on_a_worker).min().expect("six");
    assert!(
        *slowest * 3 < *fastest_on_a_loop,
        "{slowest:?} on threads, {fastest_on_a_loop:?} on a loop"
    );
}

// ---- stopping a loop ----------------------------------------------------

/// SIGTERM while a kept connection waits for its next request: the worker
/// closes it at once (after a short grace, not the 5 s keep-alive) and
/// exits.
#[test]
fn sigterm_closes_an_idle_kept_connection_at_once() {
    let mut server = example("wsgiapp:app", &["--workers", "1"]);
    let _ = workers(&server, 1);
    wait_for_count(&server, "Booting worker", 1);
    let mut kept = server.connect();
    kept.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let reply = read_response(&mut kept);
    assert!(!text(&reply).contains("Connection:"), "{}", text(&reply));
    let started = Instant::now();
    server.signal(libc::SIGTERM);
    let mut rest = Vec::new();
    kept.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert_eq!(kept.read_to_end(&mut rest).expect("closed"), 0);
    assert!(server.wait_exit(Duration::from_secs(5)).is_some());
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

#[test]
fn bad_app_and_busy_port_are_one_line_and_exit_code_2() {
    assert_start_up_contract("part3", "webserver3m");
}

#[test]
fn ctrl_c_stops_the_server() {
    let mut server = example("wsgiapp:app", &["--quiet"]);
    let reply = server.exchange(GET_HELLO_CLOSE);
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
    server.signal(libc::SIGINT);
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(status.is_some(), "webserver3m still runs after SIGINT");
}
