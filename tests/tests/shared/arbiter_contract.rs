//! The arbiter's contract, over real processes and real signals: SIGTERM
//! lets the requests in flight finish, the graceful timeout ends the wait,
//! SIGQUIT stops now, SIGHUP loses no request, a stuck worker is killed
//! and replaced, --max-requests recycles.
//!
//! webserver3i and webserver3m run under the same arbiter: part3i.rs and
//! part3m.rs each include this file as a module, and it picks its server
//! by the name of the test crate it is compiled into (see `SERVER`). (In a
//! folder of its own, so that cargo does not build it as a test crate.)

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use wire_tests::all_gone;
use wire_tests::{
    Server, body, try_get, wait_for_count, workers, zombie_children,
};

/// The server under test, and the ways it runs a request, each of which a
/// test may try: 3i's one; 3m's app on the loop, and on a pool of threads.
const SERVER: (&str, &[&[&str]]) = match env!("CARGO_CRATE_NAME").as_bytes() {
    b"part3m" => ("webserver3m", &[&[], &["--threads", "3"]]),
    _ => ("webserver3i", &[&[]]),
};

/// How long a test waits for one reply before it counts as lost.
const PATIENCE: Duration = Duration::from_secs(10);

/// The server under test serving `testapps:NAME`, once its `count`
/// workers have booted; and their PIDs.
fn booted(name: &str, args: &[&str], count: usize) -> (Server, Vec<u32>) {
    let server = Server::start_testapp("part3", SERVER.0, name, args);
    let pids = workers(&server, count);
    // The warm-up request runs before the fork: sleepy's sleeps 2 s.
    wait_for_count(&server, "Booting worker with pid", count);
    (server, pids)
}

/// SIGTERM while 2-second requests are being served, as many as the
/// workers (or their threads) take at once: every one is answered, then
/// the server exits 0, at once, with no worker left.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_lets_the_requests_in_flight_finish() {
    for mode in SERVER.1 {
        // Four workers, one request each; on threads, two workers with
        // three each.
        let (workers, in_flight) =
            if mode.is_empty() { (4, 4) } else { (2, 6) };
        let count = workers.to_string();
        let args = [&["--workers", &count][..], mode].concat();
        let (mut server, pids) = booted("sleepy", &args, workers);
        let answered = thread::scope(|scope| {
            let clients: Vec<_> = (0..in_flight)
                .map(|_| {
                    scope.spawn(|| {
                        let reply = try_get(&server, "/?2", PATIENCE);
                        (reply, Instant::now())
                    })
                })
                .collect();
            // Once each request has reached the app (it is printed), stop.
            wait_for_count(&server, "< GET /?2 HTTP/1.1", in_flight);
            server.signal(libc::SIGTERM);
            let answered: Vec<_> = clients
                .into_iter()
                .map(|c| c.join().expect("client"))
                .collect();
            answered
        });
        let last = answered.iter().map(|(_, at)| *at).max().expect("replies");
        for (reply, _) in &answered {
            let reply = reply.as_ref().expect("an answer");
            assert_eq!(body(reply), b"slept\n", "{mode:?}");
        }
        let status = server.wait_exit(Duration::from_secs(10));
        let exited_after = last.elapsed();
        eprintln!(
            "{}{mode:?}: {in_flight} requests in flight on SIGTERM, all \
             answered; exit {exited_after:?} after the last",
            SERVER.0
        );
        assert!(status.expect("exited").success(), "{}", server.output());
        assert!(exited_after < Duration::from_secs(2), "{exited_after:?}");
        assert!(all_gone(&pids), "{mode:?}: workers {pids:?} live on");
    }
}

/// With --graceful-timeout 1, a request that takes 5 s is cut: the server
/// exits after about a second, not after five.
#[test]
fn the_graceful_timeout_ends_the_wait() {
    let args = ["--workers", "1", "--graceful-timeout", "1"];
    let (mut server, _) = booted("sleepy", &args, 1);
    thread::scope(|scope| {
        let client = scope.spawn(|| try_get(&server, "/?5", PATIENCE));
        wait_for_count(&server, "< GET /?5 HTTP/1.1", 1);
        let started = Instant::now();
        server.signal(libc::SIGTERM);
        assert!(client.join().expect("client").is_err());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "cut after {took:?}");
    });
    assert!(server.wait_exit(Duration::from_secs(5)).is_some());
    let output = server.output();
    assert!(output.contains("Graceful timeout: killing 1 workers"));
}

/// SIGQUIT stops now: a request in flight is cut at once.
#[test]
fn sigquit_stops_now() {
    let (mut server, _) = booted("sleepy", &["--workers", "1"], 1);
    thread::scope(|scope| {
        let client = scope.spawn(|| try_get(&server, "/?5", PATIENCE));
        wait_for_count(&server, "< GET /?5 HTTP/1.1", 1);
        let started = Instant::now();
        server.signal(libc::SIGQUIT);
        assert!(client.join().expect("client").is_err());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "cut after {took:?}");
    });
    assert!(server.wait_exit(Duration::from_secs(5)).is_some());
}

/// SIGHUP in the middle of a stream of requests, one of them 2 s long:
/// every request is answered, and afterwards every worker is a new one.
/// (On 3m's threads, the long one is in the app when its worker is told
/// to stop; on a loop, the worker hears of it only once it is answered.)
#[test]
fn sighup_replaces_every_worker_and_loses_no_request() {
    for mode in SERVER.1 {
        let args = [&["--workers", "2", "--quiet"][..], mode].concat();
        let (server, before) = booted("sleepy", &args, 2);
        let mut failures = Vec::new();
        thread::scope(|scope| {
            let long = scope.spawn(|| try_get(&server, "/?2", PATIENCE));
            thread::sleep(Duration::from_millis(300));
            for i in 0..150 {
                if i == 30 {
                    server.signal(libc::SIGHUP);
                }
                if let Err(err) = try_get(&server, "/?0.01", PATIENCE) {
                    failures.push(err);
                }
            }
            if let Err(err) = long.join().expect("client") {
                failures.push(format!("the 2 s request: {err}"));
            }
        });
        let output = server.output();
        assert!(failures.is_empty(), "{mode:?}: {failures:?}\n{output}");
        assert!(output.contains("Reloading: starting 2 new workers"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while workers(&server, 2).iter().any(|pid| before.contains(pid)) {
            assert!(Instant::now() < deadline, "{before:?} live on");
            thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(zombie_children(server.pid()), 0);
    }
}

/// --timeout 2: a request that would take 30 s ends after about 2 s, its
/// worker killed (Python says where it was stuck) and replaced, while the
/// other worker serves on. (A worker whose app runs on its loop: on 3m's
/// threads, a stuck app holds a thread, and the arbiter does not see it.)
#[test]
fn a_stuck_worker_is_killed_and_replaced() {
    let args = ["--workers", "2", "--timeout", "2"];
    let (server, before) = booted("sleepy", &args, 2);
    let mut served = 0;
    let (stuck, took) = thread::scope(|scope| {
        let stuck = scope.spawn(|| {
            let started = Instant::now();
            (try_get(&server, "/?30", PATIENCE), started.elapsed())
        });
        wait_for_count(&server, "< GET /?30 HTTP/1.1", 1);
        while !stuck.is_finished() {
            if try_get(&server, "/?0", PATIENCE).is_ok() {
                served += 1;
            }
            thread::sleep(Duration::from_millis(100));
        }
        stuck.join().expect("client")
    });
    eprintln!(
        "{}: the stuck request ended after {took:?}; {served} requests \
         served meanwhile",
        SERVER.0
    );
    assert!(stuck.is_err(), "the stuck request was answered");
    assert!(took < Duration::from_secs(6), "it ended after {took:?}");
    assert!(served >= 3, "{served} requests served meanwhile");
    let output = server.output();
    let timed_out = " timed out: busy with one request";
    assert!(output.contains(timed_out), "{output}");
    assert!(output.contains(", line "), "no traceback: {output}");
    assert!(output.contains(" in sleepy\n"), "no traceback: {output}");
    assert!(output.contains(" was killed by SIGABRT"), "{output}");
    let after = workers(&server, 2);
    let new = after.iter().filter(|pid| !before.contains(pid)).count();
    assert_eq!(new, 1, "{before:?} {after:?}");
    assert!(try_get(&server, "/?0", PATIENCE).is_ok());
}

/// --max-requests 20 (plus 0 to 5): 120 requests, none lost, served by at
/// least 5 workers in turn, none serving more than 25.
#[test]
fn max_requests_recycles_the_workers() {
    let recycle = ["--max-requests", "20", "--max-requests-jitter", "5"];
    for mode in SERVER.1 {
        let args = [&["--quiet"][..], &recycle, mode].concat();
        let server = Server::start_testapp("part3", SERVER.0, "pid", &args);
        let mut served_by = BTreeMap::new();
        let mut failures = Vec::new();
        for _ in 0..120 {
            match try_get(&server, "/", PATIENCE) {
                Ok(reply) => {
                    let pid =
                        String::from_utf8_lossy(body(&reply)).into_owned();
                    *served_by.entry(pid).or_insert(0) += 1;
                }
                Err(err) => failures.push(err),
            }
        }
        assert!(failures.is_empty(), "{mode:?}: {failures:?}");
        assert!(served_by.len() >= 5, "{mode:?}: {served_by:?}");
        assert!(served_by.values().all(|&n| n <= 25), "{served_by:?}");
    }
}
