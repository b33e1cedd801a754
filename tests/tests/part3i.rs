//! Step 3i, the pre-fork server: its workers serve at once, a dead worker
//! is replaced, and no worker outlives the parent.
//!
//! The server forks; this test process never does.
#![cfg(unix)]

use std::thread;
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use wire_tests::all_gone;
use wire_tests::{
    GET_HELLO, Server, assert_wire, body, client3, payload, python_has,
    try_get, wait_for_count, workers, zombie_children,
};

/// The arbiter's contract (SIGTERM, SIGQUIT, SIGHUP, --timeout,
/// --max-requests), each test run against webserver3i: arbiter_contract.rs
/// picks its server by the name of the test crate it is compiled into.
#[path = "shared/arbiter_contract.rs"]
mod arbiter_contract;

/// How long a test waits for one reply before it counts as lost.
const PATIENCE: Duration = Duration::from_secs(10);

fn example(app: &str, args: &[&str]) -> Server {
    let mut all = vec![app];
    all.extend_from_slice(args);
    Server::start("part3", "webserver3i", &all)
}

fn testapp(name: &str, args: &[&str]) -> Server {
    Server::start_testapp("part3", "webserver3i", name, args)
}

/// One request, and its reply, up to the close the request asks for.
fn get(server: &Server, target: &str) -> Vec<u8> {
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    server.exchange(request.as_bytes())
}

/// The one reply to GET_HELLO, read by its length: the connection stays
/// open (keep-alive).
fn hello(server: &Server) -> Vec<u8> {
    let mut stream = server.connect();
    std::io::Write::write_all(&mut stream, GET_HELLO).expect("send");
    wire_tests::read_response(&mut stream)
}

#[test]
fn wsgiapp_and_flask_hello() {
    let server = example("wsgiapp:app", &[]);
    let reply = hello(&server);
    assert_wire("part3-3i-wsgiapp-hello", GET_HELLO, &reply);
    if python_has("flask") {
        let server = example("flaskapp:app", &[]);
        let reply = hello(&server);
        assert_wire("part3-3i-flask-hello", GET_HELLO, &reply);
        assert_eq!(payload(&reply), b"Hello world from Flask!\n");
    }
}

#[test]
fn starts_the_workers_it_is_asked_for() {
    let server = example("wsgiapp:app", &["--workers", "3"]);
    assert_eq!(workers(&server, 3).len(), 3);
    for pid in workers(&server, 3) {
        let booted = format!("Booting worker with pid {pid}\n");
        assert!(server.wait_for_output(&booted, Duration::from_secs(5)));
    }
}

/// Two workers answer two 1-second requests in about 1 second; one worker
/// takes 2.
#[test]
fn two_workers_serve_two_clients_at_once() {
    for (workers, at_least, below) in [("2", 1.0, 1.8), ("1", 2.0, 3.5)] {
        let server = testapp("sleepy", &["--workers", workers]);
        // Time from when the workers run: the warm-up request, served by
        // the parent before it forks them, sleeps too.
        let _ = self::workers(&server, workers.parse().expect("a number"));
        let started = Instant::now();
        thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    assert_eq!(body(&get(&server, "/?1")), b"slept\n");
                });
            }
        });
        let took = started.elapsed().as_secs_f64();
        assert!(took >= at_least && took < below, "{workers}: {took}");
    }
}

#[test]
fn a_dead_worker_is_replaced() {
    let server = example("wsgiapp:app", &["--workers", "2"]);
    let before = workers(&server, 2);
    // SAFETY: kill(2) only sends a signal.
    unsafe { libc::kill(before[0] as i32, libc::SIGKILL) };
    let message = format!("Worker {} was killed by SIGKILL", before[0]);
    assert!(server.wait_for_output(&message, Duration::from_secs(5)));
    let after = workers(&server, 2);
    assert!(!after.contains(&before[0]), "{after:?}");
    assert!(after.contains(&before[1]), "{after:?}");
    assert_eq!(zombie_children(server.pid()), 0);
    assert_eq!(body(&get(&server, "/hello")).len(), 44);
}

#[test]
fn the_environ_says_multiprocess() {
    let reply = get(&testapp("echo_environ", &[]), "/");
    let environ = String::from_utf8_lossy(body(&reply)).into_owned();
    assert!(
        environ.contains("\nwsgi.multiprocess bool True\n"),
        "{environ}"
    );
}

/// A burst of client3's connections, served by the two workers in turn,
/// and 2,000 requests: all answered, no zombies.
#[test]
fn serves_a_burst_and_2000_requests() {
    let server = example("wsgiapp:app", &["--quiet"]);
    assert_eq!(client3(&server, 10, 10), (100, 0));
    assert_eq!(client3(&server, 20, 100), (2000, 0));
    // Still the same two workers, and no zombie.
    assert_eq!(workers(&server, 2).len(), 2);
    assert_eq!(zombie_children(server.pid()), 0);
}

/// Killing the parent alone (not Ctrl-C, which signals the whole group)
/// still stops every worker: Linux sends them their parent-death signal.
#[cfg(target_os = "linux")]
#[test]
fn no_worker_outlives_the_parent() {
    for signal in [libc::SIGKILL, libc::SIGTERM, libc::SIGINT] {
        let mut server = example("wsgiapp:app", &["--workers", "2"]);
        let pids = workers(&server, 2);
        server.signal(signal);
        assert!(server.wait_exit(Duration::from_secs(5)).is_some());
        assert!(all_gone(&pids), "signal {signal}: workers {pids:?} live on");
    }
}

// ---- keep-alive ----------------------------------------------------------

/// Two requests in one write, the second asking to close: two replies on
/// one connection, the first without `Connection: close`.
#[test]
fn keep_alive_serves_pipelined_requests_on_one_connection() {
    let server = example("wsgiapp:app", &[]);
    let request = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n\
        GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let reply = server.exchange(request);
    assert_wire("part3-3i-keep-alive", request, &reply);
}

/// Sends `request` on `stream` and reads one reply, by its length.
fn ask(stream: &mut std::net::TcpStream, request: &[u8]) -> String {
    std::io::Write::write_all(stream, request).expect("send");
    String::from_utf8_lossy(&wire_tests::read_response(stream)).into_owned()
}

/// Whether the server closes `stream` within `patience`.
fn closed_within(stream: &mut std::net::TcpStream, patience: Duration) -> bool {
    stream
        .set_read_timeout(Some(patience))
        .expect("set timeout");
    matches!(std::io::Read::read(stream, &mut [0; 1]), Ok(0))
}

#[test]
fn keep_alive_follows_what_the_client_asks() {
    let server = example("wsgiapp:app", &["--workers", "1"]);
    let mut stream = server.connect();
    let get = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for _ in 0..3 {
        let reply = ask(&mut stream, get);
        assert!(reply.ends_with("application!\n"), "{reply}");
        assert!(!reply.contains("Connection:"), "{reply}");
    }
    let close =
        b"GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    assert!(ask(&mut stream, close).contains("\r\nConnection: close\r\n"));
    assert!(closed_within(&mut stream, Duration::from_secs(1)));
    // HTTP/1.0 keeps the connection only when it asks to.
    let mut stream = server.connect();
    let get10 = b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    let reply = ask(&mut stream, get10);
    assert!(reply.contains("\r\nConnection: keep-alive\r\n"), "{reply}");
    let reply = ask(&mut stream, b"GET /hello HTTP/1.0\r\n\r\n");
    assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    assert!(closed_within(&mut stream, Duration::from_secs(1)));
}

/// A worker holding a kept connection gives way to a client that waits:
/// the new client is served at once, not after the 2 s idle timeout.
#[test]
fn a_kept_connection_gives_way_to_a_waiting_client() {
    let server = example("wsgiapp:app", &["--workers", "1"]);
    let _ = workers(&server, 1);
    let mut kept = server.connect();
    let keep = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert!(!ask(&mut kept, keep).contains("Connection:"));
    let started = Instant::now();
    let reply = get(&server, "/hello");
    let waited = started.elapsed();
    assert_eq!(body(&reply).len(), 44);
    assert!(waited < Duration::from_secs(1), "waited {waited:?}");
    assert!(closed_within(&mut kept, Duration::from_secs(1)));
}

/// An idle kept connection is closed after the keep-alive timeout.
#[test]
fn an_idle_kept_connection_is_closed_after_2_seconds() {
    let server = example("wsgiapp:app", &["--workers", "1"]);
    let mut kept = server.connect();
    let get = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let _ = ask(&mut kept, get);
    let started = Instant::now();
    assert!(closed_within(&mut kept, Duration::from_secs(5)));
    let idle = started.elapsed();
    assert!(idle > Duration::from_millis(1500), "closed after {idle:?}");
}

/// A body shorter than its Content-Length ends the connection: kept open,
/// the client would wait for bytes that never come, and read the next
/// reply as the rest of this one.
#[test]
fn a_short_body_is_never_kept_alive() {
    let server = testapp("short_body", &["--workers", "1"]);
    let _ = workers(&server, 1);
    let started = Instant::now();
    let reply = server.exchange(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(
        body(&reply) == b"short",
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // Closed at once, not after the 2 s keep-alive timeout.
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "closed after {took:?}");
}

/// Twenty-five chunked responses on one kept connection take milliseconds.
/// (Without TCP_NODELAY, the last chunk of each, a small second write,
/// waited for the client's delayed ACK: 40 ms a response.)
#[test]
fn chunked_responses_on_a_kept_connection_do_not_stall() {
    let server = testapp("generator", &["--workers", "1"]);
    let _ = workers(&server, 1);
    let mut stream = server.connect();
    let get = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let started = Instant::now();
    for _ in 0..25 {
        std::io::Write::write_all(&mut stream, get).expect("send");
        let mut reply = Vec::new();
        while !reply.ends_with(b"0\r\n\r\n") {
            let mut byte = [0; 1];
            std::io::Read::read_exact(&mut stream, &mut byte).expect("read");
            reply.push(byte[0]);
        }
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(500),
        "25 responses took {took:?}"
    );
}

// ---- the arbiter: signals, time-outs, recycling, back-off ----------------

/// A worker that dies while booting, again and again, is restarted after
/// 0.5, 1, 2 s...: the arbiter says so once per try, and the tries come
/// further and further apart, not in a tight fork loop.
#[test]
fn a_worker_that_dies_while_booting_is_restarted_ever_more_slowly() {
    let server = testapp("dies_at_fork", &["--workers", "1"]);
    let line = " while booting; next try in ";
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.len() < 4 {
        let count = server.output().matches(line).count();
        while seen.len() < count {
            seen.push(Instant::now());
        }
        assert!(Instant::now() < deadline, "{}", server.output());
        thread::sleep(Duration::from_millis(10));
    }
    let output = server.output();
    for delay in ["0.5 s", "1.0 s", "2.0 s"] {
        assert!(output.contains(&format!("{line}{delay}")), "{output}");
    }
    let gaps: Vec<f64> = seen
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).as_secs_f64())
        .collect();
    // Each try came no sooner than the line before it said (a little
    // later: a tick of the arbiter's clock, a fork), and they spread out.
    for (gap, said) in gaps.iter().zip([0.5, 1.0, 2.0]) {
        assert!(*gap > said - 0.05, "{gaps:?}");
    }
    assert!(gaps[2] > gaps[0] * 1.5, "{gaps:?}");
    assert!(
        output.contains("exited with status 3 while booting"),
        "{output}"
    );
}

/// Out of descriptors, accept() fails while the client waits: the worker
/// says so once a second and sleeps in between, instead of spinning.
#[cfg(target_os = "linux")]
#[test]
fn out_of_descriptors_a_worker_waits_instead_of_spinning() {
    let server = testapp("leaks_descriptors", &["--workers", "1"]);
    let worker = workers(&server, 1)[0];
    let reply = try_get(&server, "/leak", PATIENCE).expect("a first request");
    assert_eq!(body(&reply), b"no descriptor left\n");
    let cpu_before = cpu_ticks(worker);
    let _waiting = server.connect();
    thread::sleep(Duration::from_secs(3));
    let said = server.output().matches("Too many open files").count();
    let cpu = cpu_ticks(worker) - cpu_before;
    assert!((2..=5).contains(&said), "said it {said} times");
    // A spinning worker would use most of the 3 s (300 ticks).
    assert!(cpu < 50, "{cpu} ticks of CPU in 3 s");
}

/// The CPU time that process `pid` has used, in clock ticks (1/100 s).
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .expect("the worker's /proc stat");
    // Fields 14 and 15, utime and stime, after the `(command)` field.
    let after_command = &stat[stat.rfind(')').expect("(comm)") + 2..];
    let fields: Vec<&str> = after_command.split(' ').collect();
    fields[11].parse::<u64>().expect("utime")
        + fields[12].parse::<u64>().expect("stime")
}

/// SIGTERM while a kept connection waits for its next request: the worker
/// closes it at once (not after the 2 s keep-alive timeout) and exits.
#[test]
fn sigterm_closes_an_idle_kept_connection_at_once() {
    let mut server = example("wsgiapp:app", &["--workers", "1"]);
    let _ = workers(&server, 1);
    let mut kept = server.connect();
    let keep = b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    assert!(!ask(&mut kept, keep).contains("Connection:"));
    let started = Instant::now();
    server.signal(libc::SIGTERM);
    assert!(closed_within(&mut kept, Duration::from_secs(5)));
    assert!(server.wait_exit(Duration::from_secs(5)).is_some());
    let took = started.elapsed();
    // The keep-alive timeout would take 2 s.
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

/// SIGHUP when the new workers cannot boot: the old ones serve on (they
/// are stopped only once a new set has booted), and once booting works
/// again, the new set takes over.
#[test]
fn a_reload_whose_workers_cannot_boot_leaves_the_old_ones_serving() {
    let server = testapp("boot_fails_when_flagged", &["--quiet"]);
    let before = workers(&server, 2);
    let flag =
        std::env::temp_dir().join(format!("boot-fails-{}", server.pid()));
    std::fs::write(&flag, "").expect("write the flag file");
    server.signal(libc::SIGHUP);
    wait_for_count(&server, " while booting; next try in ", 2);
    let served: Result<Vec<_>, _> =
        (0..10).map(|_| try_get(&server, "/", PATIENCE)).collect();
    let _ = std::fs::remove_file(&flag);
    let served = served.expect("the old workers serve on");
    for reply in served {
        let pid: u32 = String::from_utf8_lossy(body(&reply))
            .trim()
            .parse()
            .expect("a PID");
        assert!(before.contains(&pid), "{pid} is not one of {before:?}");
    }
    // Booting works again: the new set boots, and the old one goes.
    let deadline = Instant::now() + Duration::from_secs(20);
    while workers(&server, 2).iter().any(|pid| before.contains(pid)) {
        assert!(Instant::now() < deadline, "{}", server.output());
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn bad_app_and_busy_port_are_one_line_and_exit_code_2() {
    wire_tests::assert_start_up_contract("part3", "webserver3i");
}
