//! Part 3's steps, over real sockets: each step's flaw, and its fix, shown
//! by a measurement (time, end-of-file, descriptors, zombies).
//!
//! The servers fork, and so does client3; this test process never does.
#![cfg(unix)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use wire_tests::{
    PATIENCE, Server, assert_wire, binary, body, client3, fds_settle_at,
    open_fds, output_within, read_response, zombie_children,
    zombies_once_children_exit,
};

/// The request client3 sends.
const CLIENT3_GET: &[u8] =
    b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\r\n";
const FIRST_HALF: &[u8] = b"GET /hello HTTP/1.1\r\nHo";
const SECOND_HALF: &[u8] = b"st: localhost:8888\r\n\r\n";

fn start(step: &str, args: &[&str]) -> Server {
    Server::start("part3", &format!("webserver{step}"), args)
}

/// Sends `CLIENT3_GET` on a new connection and returns the reply, read by
/// its Content-Length (the connection may stay open), and when it came.
fn get_hello(server: &Server) -> (Vec<u8>, Instant) {
    let mut stream = server.connect();
    stream.write_all(CLIENT3_GET).expect("send request");
    let reply = read_response(&mut stream);
    (reply, Instant::now())
}

// ---- exact bytes -------------------------------------------------------

/// The exact reply of `step`, read by Content-Length (3d never closes).
fn snapshot(step: &str, args: &[&str]) {
    let server = start(step, args);
    let (reply, _) = get_hello(&server);
    assert_wire(&format!("part3-{step}-hello"), CLIENT3_GET, &reply);
}

#[test]
fn wire_3a() {
    snapshot("3a", &[]);
}

#[test]
fn wire_3b() {
    snapshot("3b", &["--sleep", "0"]);
}

#[test]
fn wire_3c() {
    snapshot("3c", &["--sleep", "0"]);
}

#[test]
fn wire_3d() {
    snapshot("3d", &[]);
}

#[test]
fn wire_3e() {
    snapshot("3e", &[]);
}

#[test]
fn wire_3f() {
    snapshot("3f", &[]);
}

#[test]
fn wire_3g() {
    snapshot("3g", &[]);
}

/// The whole reply, up to the server's close: nothing after the body.
#[test]
fn a_reply_ends_with_its_body_and_the_close() {
    let server = start("3g", &[]);
    let reply = server.exchange(CLIENT3_GET);
    assert_eq!(body(&reply), b"Hello, World!");
}

// ---- 3a, 3b: one client at a time --------------------------------------

// ANCHOR: test_3a
/// Client A sends half a request and holds; client B's reply comes only
/// after A has finished.
#[test]
fn iterative_3a_serves_one_client_at_a_time() {
    let server = start("3a", &[]);
    let mut a = server.connect();
    a.write_all(FIRST_HALF).expect("send half");
    // Let the server accept A and start reading it.
    thread::sleep(Duration::from_millis(300));
    let b = thread::scope(|scope| {
        let b = scope.spawn(|| get_hello(&server));
        thread::sleep(Duration::from_secs(1));
        let a_finished = Instant::now();
        a.write_all(SECOND_HALF).expect("send the rest");
        assert_eq!(body(&read_response(&mut a)), b"Hello, World!");
        let (reply, b_answered) = b.join().expect("client B");
        assert_eq!(body(&reply), b"Hello, World!");
        b_answered.duration_since(a_finished)
    });
    assert!(b > Duration::ZERO, "B was answered before A finished");
}
// ANCHOR_END: test_3a

// ANCHOR: test_3b
/// With `--sleep 1`, B's reply comes about a second after A's.
#[test]
fn iterative_3b_makes_the_next_client_wait() {
    let server = start("3b", &["--sleep", "1"]);
    let started = Instant::now();
    let (a, b) = thread::scope(|scope| {
        let a = scope.spawn(|| get_hello(&server).1);
        thread::sleep(Duration::from_millis(200));
        let b = scope.spawn(|| get_hello(&server).1);
        (a.join().expect("A"), b.join().expect("B"))
    });
    assert!(a - started < Duration::from_millis(800), "A waited");
    let gap = b - a;
    assert!(gap > Duration::from_millis(700), "B did not wait: {gap:?}");
    assert!(gap < Duration::from_secs(5), "B waited too long: {gap:?}");
}
// ANCHOR_END: test_3b

// ANCHOR: test_silent
#[test]
fn a_silent_client_holds_3a_until_its_read_timeout() {
    let server = start("3a", &[]);
    let _silent = server.connect();
    let started = Instant::now();
    let (reply, answered) = get_hello(&server);
    assert_eq!(body(&reply), b"Hello, World!");
    let waited = answered - started;
    assert!(waited > Duration::from_secs(3), "{waited:?}");
}
// ANCHOR_END: test_silent

#[test]
fn bad_requests_get_4xx_and_the_server_goes_on() {
    for step in ["3a", "3g"] {
        let server = start(step, &[]);
        let reply = server.exchange(b"HELLO\r\n\r\n");
        assert!(reply.starts_with(b"HTTP/1.1 400 Bad Request\r\n"), "{step}");
        let request = format!(
            "GET / HTTP/1.1\r\nX-Padding: {}\r\n\r\n",
            "x".repeat(20_000)
        );
        let reply = server.exchange(request.as_bytes());
        assert!(
            reply.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large"),
            "{step}: {}",
            String::from_utf8_lossy(&reply)
        );
        // A client that hangs up half-way through its request.
        let mut gone = server.connect();
        gone.write_all(FIRST_HALF).expect("send half");
        drop(gone);
        assert_eq!(body(&get_hello(&server).0), b"Hello, World!", "{step}");
    }
}

// ---- 3c: a child per client ---------------------------------------------

// ANCHOR: test_3c
/// Five clients of a server whose children sleep 2 s are all answered at
/// once; an iterative server would take 2 s more for each.
#[test]
fn forking_3c_serves_clients_at_once() {
    let server = start("3c", &["--sleep", "2"]);
    let started = Instant::now();
    let answered: Vec<Instant> = thread::scope(|scope| {
        let clients: Vec<_> = (0..5)
            .map(|_| scope.spawn(|| get_hello(&server).1))
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().expect("client"))
            .collect()
    });
    for when in answered {
        let took = when - started;
        assert!(took < Duration::from_millis(1500), "took {took:?}");
    }
    // Each child says who it is, and who its parent is: the server.
    let parent = format!("Parent PID {}", server.pid());
    assert!(server.wait_for_output(&parent, Duration::from_secs(5)));
    let output = server.output();
    let children: std::collections::BTreeSet<&str> = output
        .lines()
        .filter(|line| {
            line.starts_with("Child PID: ") && line.contains(&parent)
        })
        .collect();
    assert_eq!(children.len(), 5, "{output}");
}
// ANCHOR_END: test_3c

// ---- 3d: the parent keeps its copies ------------------------------------

// ANCHOR: closes_after_reply
/// Reads past a reply for half a second: true if the server closed.
fn closes_after_reply(server: &Server) -> bool {
    let mut stream = server.connect();
    stream.write_all(CLIENT3_GET).expect("send request");
    assert_eq!(body(&read_response(&mut stream)), b"Hello, World!");
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("set timeout");
    match stream.read(&mut [0; 1]) {
        Ok(0) => true,
        Ok(_) => panic!("bytes after the reply"),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Err(e) => panic!("reading past the reply: {e}"),
    }
}
// ANCHOR_END: closes_after_reply

// ANCHOR: test_3d
#[test]
fn forking_3d_never_closes_and_leaks_descriptors() {
    let server = start("3d", &[]);
    let pid = server.pid();
    let before = open_fds(pid);
    assert!(!closes_after_reply(&server), "3d closed the connection");
    assert_eq!(fds_settle_at(pid, before + 1), before + 1);
    for more in 2..=4 {
        let (reply, _) = get_hello(&server);
        assert_eq!(body(&reply), b"Hello, World!");
        assert_eq!(fds_settle_at(pid, before + more), before + more);
    }
    // The fix, in 3e: the same client sees the end of the reply.
    let fixed = start("3e", &[]);
    assert!(closes_after_reply(&fixed), "3e kept the connection open");
}
// ANCHOR_END: test_3d

// ---- 3e, 3f, 3g: zombies ------------------------------------------------

// ANCHOR: test_3e
#[test]
fn forking_3e_leaves_a_zombie_per_client() {
    let server = start("3e", &[]);
    assert_eq!(client3(&server, 2, 10), (20, 0));
    assert_eq!(zombies_once_children_exit(&server), 20);
    assert_eq!(zombie_children(server.pid()), 20);
}
// ANCHOR_END: test_3e

// ANCHOR: test_3f
/// Under a burst, children exit faster than the handler runs: SIGCHLDs
/// merge, the handler waits once per signal, and zombies stay.
#[test]
fn forking_3f_misses_signals_under_a_burst() {
    let server = start("3f", &[]);
    assert_eq!(client3(&server, 10, 10), (100, 0));
    let zombies = zombies_once_children_exit(&server);
    assert!(zombies > 0, "the handler caught every child");
    assert!(zombies < 100, "the handler never ran");
    // Each child the handler did collect, it reported.
    let reaped = 100 - zombies;
    let reported =
        || server.output().matches(" terminated with status 0").count();
    let deadline = Instant::now() + Duration::from_secs(5);
    while reported() < reaped && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(reported(), reaped);
    // No "Interrupted system call": the server still serves.
    assert_eq!(body(&get_hello(&server).0), b"Hello, World!");
}
// ANCHOR_END: test_3f

// ANCHOR: test_3g
#[test]
fn forking_3g_leaves_no_zombies_after_a_burst() {
    let server = start("3g", &[]);
    let pid = server.pid();
    let before = open_fds(pid);
    assert_eq!(client3(&server, 10, 10), (100, 0));
    assert_eq!(zombies_once_children_exit(&server), 0);
    assert_eq!(fds_settle_at(pid, before), before);
}
// ANCHOR_END: test_3g

#[test]
fn forking_3g_leaves_no_zombies_after_2000_requests() {
    let server = start("3g", &[]);
    let pid = server.pid();
    let before = open_fds(pid);
    assert_eq!(client3(&server, 20, 100), (2000, 0));
    assert_eq!(zombies_once_children_exit(&server), 0);
    assert_eq!(fds_settle_at(pid, before), before);
}

/// Twenty clients that each take 2 s to send their request finish in
/// about 2 s, not 40; a quick client meanwhile is answered at once.
#[test]
fn forking_3g_serves_slow_clients_at_once() {
    let server = start("3g", &[]);
    let started = Instant::now();
    let quick = thread::scope(|scope| {
        for _ in 0..20 {
            scope.spawn(|| {
                let mut stream = server.connect();
                stream.write_all(FIRST_HALF).expect("send half");
                thread::sleep(Duration::from_secs(2));
                stream.write_all(SECOND_HALF).expect("send the rest");
                assert_eq!(body(&read_response(&mut stream)), b"Hello, World!");
            });
        }
        thread::sleep(Duration::from_millis(500));
        let asked = Instant::now();
        let (_, answered) = get_hello(&server);
        answered - asked
    });
    let all = started.elapsed();
    assert!(
        quick < Duration::from_secs(1),
        "the quick client waited {quick:?}"
    );
    assert!(all < Duration::from_secs(8), "20 slow clients took {all:?}");
}

// ---- client3 and the command line ---------------------------------------

#[test]
fn client3_against_3g_reports_every_connection() {
    let server = start("3g", &[]);
    assert_eq!(client3(&server, 3, 5), (15, 0));
}

#[test]
fn client3_counts_connections_that_fail() {
    // A port nobody listens on: every connection is refused.
    let port = {
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
        taken.local_addr().expect("address").port()
    };
    let out = output_within(
        Command::new(binary("part3", "client3"))
            .args(["--port", &port.to_string(), "--max-clients", "2"])
            .args(["--max-conns", "3"]),
        PATIENCE,
    );
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().last(),
        Some("client3: 6 connections: 0 succeeded, 6 failed")
    );
}

const STEPS: [&str; 7] = ["3a", "3b", "3c", "3d", "3e", "3f", "3g"];

#[test]
fn a_busy_port_is_one_line_and_exit_code_2() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("address").port().to_string();
    for step in STEPS {
        let bin = format!("webserver{step}");
        let out = output_within(
            Command::new(binary("part3", &bin)).args(["--port", &port]),
            PATIENCE,
        );
        assert_eq!(out.status.code(), Some(2), "{bin}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{bin}: {stderr}");
        assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
        assert!(stderr.contains("in use"), "{bin}: {stderr}");
    }
}

#[test]
fn ctrl_c_stops_every_step() {
    for step in STEPS {
        // 3b sleeps a minute after its reply: SIGINT must end that sleep.
        let sleep: &[&str] = match step {
            "3b" => &["--sleep", "60"],
            "3c" => &["--sleep", "1"],
            _ => &[],
        };
        let mut server = start(step, sleep);
        let _ = get_hello(&server);
        server.signal(libc::SIGINT);
        let status = server.wait_exit(Duration::from_secs(5));
        assert!(status.is_some(), "webserver{step} still runs after SIGINT");
    }
}
