//! Step 3h, part 2's WSGI server behind 3g's fork loop: the four example
//! apps, what forking an embedded interpreter needs, and no zombies.
//!
//! The server forks; this test process never does.
#![cfg(unix)]

use std::thread;
use std::time::{Duration, Instant};

use wire_tests::{
    GET_HELLO, Server, assert_start_up_contract, assert_wire, body, client3,
    fds_settle_at, payload, python_has, zombies_once_children_exit,
};

/// webserver3h serving an example app from the repository root.
fn example(app: &str, args: &[&str]) -> Server {
    let mut all = vec![app];
    all.extend_from_slice(args);
    Server::start("part3", "webserver3h", &all)
}

/// webserver3h serving `testapps:NAME` from tests/apps.
fn testapp(name: &str) -> Server {
    Server::start_testapp("part3", "webserver3h", name, &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn get(server: &Server, target: &str) -> Vec<u8> {
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    server.exchange(request.as_bytes())
}

// ---- the example apps, byte for byte -------------------------------------

fn hello(app: &str, name: &str, hello: &str) {
    let server = example(app, &[]);
    let reply = server.exchange(GET_HELLO);
    assert_wire(&format!("part3-3h-{name}-hello"), GET_HELLO, &reply);
    assert_eq!(text(&payload(&reply)), hello);
}

#[test]
fn wsgiapp_hello() {
    let text = "Hello world from a simple WSGI application!\n";
    hello("wsgiapp:app", "wsgiapp", text);
}

#[test]
fn flaskapp_hello() {
    if python_has("flask") {
        hello("flaskapp:app", "flask", "Hello world from Flask!\n");
    }
}

#[test]
fn pyramidapp_hello() {
    if python_has("pyramid") {
        hello("pyramidapp:app", "pyramid", "Hello world from Pyramid!\n");
    }
}

#[test]
fn djangoapp_hello() {
    if python_has("django") {
        hello("djangoapp:app", "django", "Hello world from Django!\n");
    }
}

// ---- forking an embedded interpreter -------------------------------------

#[test]
fn the_environ_says_multiprocess() {
    let reply = get(&testapp("echo_environ"), "/");
    let environ = text(body(&reply));
    assert!(
        environ.contains("\nwsgi.multiprocess bool True\n"),
        "{environ}"
    );
    assert!(
        environ.contains("\nwsgi.multithread bool False\n"),
        "{environ}"
    );
}

/// Python reseeds `random` in a child of os.fork(); children of a bare
/// fork(2), without the interpreter's fork hooks, would all give the
/// number the parent would have given.
#[test]
fn each_child_gets_its_own_random_numbers() {
    let server = testapp("random_number");
    let numbers: Vec<String> =
        (0..5).map(|_| text(body(&get(&server, "/")))).collect();
    for (i, a) in numbers.iter().enumerate() {
        assert!(a.starts_with("0."), "{a}");
        for b in &numbers[i + 1..] {
            assert_ne!(a, b, "two children gave the same number");
        }
    }
}

/// The child resets SIGCHLD: otherwise the parent's grim reaper, inherited
/// by the child, would collect the app's subprocess before the app could,
/// and the app would see the wrong exit status.
#[test]
fn an_apps_subprocess_reports_its_own_exit_status() {
    let reply = get(&testapp("subprocess_status"), "/");
    assert_eq!(text(body(&reply)), "exit status 3\n");
}

/// What the app prints in a child reaches the output before it exits.
#[test]
fn what_the_app_prints_in_a_child_is_not_lost() {
    let server = testapp("prints");
    assert_eq!(body(&get(&server, "/")), b"printed\n");
    let printed = "printed by the app\n";
    assert!(
        server.wait_for_output(printed, Duration::from_secs(5)),
        "{}",
        server.output()
    );
}

#[test]
fn an_app_that_raises_gets_500_and_the_server_goes_on() {
    let server = testapp("raises");
    for _ in 0..2 {
        let reply = get(&server, "/");
        assert!(reply.starts_with(b"HTTP/1.1 500 "), "{}", text(&reply));
    }
    let traceback = "RuntimeError: the app failed on purpose";
    assert!(server.wait_for_output(traceback, Duration::from_secs(5)));
}

// ---- concurrency, zombies, descriptors -----------------------------------

/// Twenty requests to an app that takes 2 s each finish in about 2 s,
/// where part 2 would take 40 s, one after the other.
#[test]
fn twenty_2_second_requests_finish_in_about_2_seconds() {
    let server = testapp("sleepy");
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..20 {
            scope.spawn(|| {
                assert_eq!(body(&get(&server, "/?2")), b"slept\n");
            });
        }
    });
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(8), "20 requests took {took:?}");
}

#[test]
fn no_zombies_and_no_leaked_descriptors_after_a_burst() {
    let server = example("wsgiapp:app", &["--quiet"]);
    let pid = server.pid();
    // Once a first client is served, the warm-up (which opens sockets of
    // its own) is over: count from there.
    assert_eq!(body(&server.exchange(GET_HELLO)).len(), 44);
    let before = wire_tests::open_fds(pid);
    assert_eq!(client3(&server, 10, 10), (100, 0));
    assert_eq!(zombies_once_children_exit(&server), 0);
    assert_eq!(fds_settle_at(pid, before), before);
}

#[test]
fn no_zombies_and_no_leaked_descriptors_after_2000_requests() {
    let server = example("wsgiapp:app", &["--quiet"]);
    let pid = server.pid();
    // Once a first client is served, the warm-up (which opens sockets of
    // its own) is over: count from there.
    assert_eq!(body(&server.exchange(GET_HELLO)).len(), 44);
    let before = wire_tests::open_fds(pid);
    assert_eq!(client3(&server, 20, 100), (2000, 0));
    assert_eq!(zombies_once_children_exit(&server), 0);
    assert_eq!(fds_settle_at(pid, before), before);
}

// ---- the command line ------------------------------------------------------

#[test]
fn bad_app_and_busy_port_are_one_line_and_exit_code_2() {
    assert_start_up_contract("part3", "webserver3h");
}

#[test]
fn ctrl_c_stops_the_server() {
    let mut server = example("wsgiapp:app", &[]);
    assert_eq!(body(&server.exchange(GET_HELLO)).len(), 44);
    server.signal(libc::SIGINT);
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(status.is_some(), "webserver3h still runs after SIGINT");
}

// ---- the bound on children -------------------------------------------------

/// `--max-children 4` and ten 1-second requests at once: never more than 4
/// children alive (counted while it runs), and all ten answered, in about
/// three rounds.
#[test]
fn max_children_bounds_the_children_and_serves_every_client() {
    let server = Server::start_testapp(
        "part3",
        "webserver3h",
        "sleepy",
        &["--max-children", "4"],
    );
    let started = Instant::now();
    let mut most = 0;
    thread::scope(|scope| {
        let clients: Vec<_> = (0..10)
            .map(|_| scope.spawn(|| body(&get(&server, "/?1")).to_vec()))
            .collect();
        while !clients.iter().all(|client| client.is_finished()) {
            let alive = wire_tests::child_states(server.pid())
                .iter()
                .filter(|&&state| state != 'Z')
                .count();
            most = most.max(alive);
            thread::sleep(Duration::from_millis(20));
        }
        for client in clients {
            assert_eq!(client.join().expect("client"), b"slept\n");
        }
    });
    let took = started.elapsed();
    assert_eq!(most, 4, "at most {most} children at once");
    assert!(took >= Duration::from_secs(3), "{took:?}");
}
