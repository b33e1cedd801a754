//! Step 3i, the pre-fork server: its workers serve at once, a dead worker
//! is replaced, and no worker outlives the parent.
//!
//! The server forks; this test process never does.
#![cfg(unix)]

#[cfg(target_os = "linux")]
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use wire_tests::{
    Server, assert_wire, body, child_states, client3, payload, python_has,
    run_tool, venv, workspace_root,
};

const GET_HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\
    User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

fn example(app: &str, args: &[&str]) -> Server {
    let mut all = vec![app];
    all.extend_from_slice(args);
    Server::start("part3", "webserver3i", &all)
}

fn testapp(name: &str, args: &[&str]) -> Server {
    let app = format!("testapps:{name}");
    let mut all = vec![app.as_str()];
    all.extend_from_slice(args);
    let venv = venv();
    Server::start_in(
        &workspace_root().join("tests/apps"),
        "part3",
        "webserver3i",
        &all,
        &[("VIRTUAL_ENV", venv.to_str().expect("a UTF-8 path"))],
    )
}

fn get(server: &Server, target: &str) -> Vec<u8> {
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    server.exchange(request.as_bytes())
}

/// The PIDs of the server's workers, once `count` of them run.
fn workers(server: &Server, count: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids: Vec<u32> = run_tool("ps", &["-A", "-o", "pid=,ppid=,stat="])
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let ppid: u32 = fields.get(1)?.parse().ok()?;
                let alive = !fields.get(2)?.starts_with('Z');
                (ppid == server.pid() && alive)
                    .then(|| fields[0].parse().ok())?
            })
            .collect();
        if pids.len() == count {
            return pids;
        }
        assert!(Instant::now() < deadline, "workers: {pids:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until none of `pids` runs any more; true if so.
#[cfg(target_os = "linux")]
fn all_gone(pids: &[u32]) -> bool {
    let alive = |pid: &u32| Path::new(&format!("/proc/{pid}")).exists();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(alive) {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn wsgiapp_and_flask_hello() {
    let server = example("wsgiapp:app", &[]);
    let reply = server.exchange(GET_HELLO);
    assert_wire("part3-3i-wsgiapp-hello", GET_HELLO, &reply);
    if python_has("flask") {
        let server = example("flaskapp:app", &[]);
        let reply = server.exchange(GET_HELLO);
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
    assert_eq!(zombie_count(&server), 0);
    assert_eq!(body(&server.exchange(GET_HELLO)).len(), 44);
}

fn zombie_count(server: &Server) -> usize {
    child_states(server.pid())
        .iter()
        .filter(|&&s| s == 'Z')
        .count()
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
    assert_eq!(zombie_count(&server), 0);
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
