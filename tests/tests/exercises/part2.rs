//! Part 2's exercises (`part2/exercises/`; the book's "Part 2: Exercises").
//!
//! Each exercise is a WSGI app in Python that part 2's server serves: the
//! starter `part2/exercises/exN_name.py`, served by the `exercise` binary,
//! and its solution `part2/exercises/solutions/exN_name.py`, served by the
//! `solution` binary. Check your work on exercise N with
//! `cargo test -p wire-tests --test exercises part2::exN -- --ignored`.

use std::fs;

use wire_tests::workspace_root;

use super::{Check, Exercise};

/// What curl sends for `curl http://localhost:8888/hello`, the request of
/// part 2's own tests.
const GET_HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\
    User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

// ANCHOR: ex1
const EX1: Exercise = Exercise {
    package: "part2-exercises",
    starter: "exercise",
    solution: "solution",
    args: &["ex1_hello_name:app"],
    checks: &[
        Check {
            snapshot: "exercise-part2-ex1-hello-name",
            request: b"GET /hello?name=Ada%20Lovelace HTTP/1.1\r\n\
                Host: localhost:8888\r\n\r\n",
        },
        Check {
            snapshot: "exercise-part2-ex1-hello-accent",
            request: b"GET /hello?name=Andr%C3%A9 HTTP/1.1\r\n\
                Host: localhost:8888\r\n\r\n",
        },
        Check {
            snapshot: "exercise-part2-ex1-hello-world",
            request: b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\r\n",
        },
    ],
};
// ANCHOR_END: ex1

const EX2: Exercise = Exercise {
    package: "part2-exercises",
    starter: "exercise",
    solution: "solution",
    args: &["ex2_echo_body:app"],
    checks: &[
        Check {
            snapshot: "exercise-part2-ex2-echo-body",
            // What a browser sends for a one-field form.
            request: b"POST /echo HTTP/1.1\r\nHost: localhost:8888\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 10\r\n\r\nname=World",
        },
        Check {
            snapshot: "exercise-part2-ex2-no-body",
            request: b"GET /echo HTTP/1.1\r\nHost: localhost:8888\r\n\r\n",
        },
    ],
};

const EX3: Exercise = Exercise {
    package: "part2-exercises",
    starter: "exercise",
    solution: "solution",
    args: &["ex3_routes:app"],
    checks: &[
        Check {
            snapshot: "exercise-part2-ex3-method-not-allowed",
            request: b"DELETE /hello HTTP/1.1\r\nHost: localhost:8888\r\n\r\n",
        },
        Check {
            snapshot: "exercise-part2-ex3-not-found",
            request: b"GET /goodbye HTTP/1.1\r\nHost: localhost:8888\r\n\r\n",
        },
        Check {
            snapshot: "part2-wsgiapp-hello",
            request: GET_HELLO,
        },
        Check {
            snapshot: "exercise-part2-ex3-head",
            // What `curl --head` sends.
            request: b"HEAD /hello HTTP/1.1\r\nHost: localhost:8888\r\n\
                User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
        },
    ],
};

const EX4: Exercise = Exercise {
    package: "part2-exercises",
    starter: "exercise",
    solution: "solution",
    args: &["ex4_content_length:app"],
    checks: &[Check {
        snapshot: "exercise-part2-ex4-content-length",
        request: b"GET / HTTP/1.1\r\nHost: localhost:8888\r\n\r\n",
    }],
};

const ALL: [Exercise; 4] = [EX1, EX2, EX3, EX4];

/// Every starter module in `part2/exercises/` is an exercise here, and has
/// a solution, so an exercise can't be added and forgotten by the tests.
#[test]
fn every_exercise_is_tested() {
    let dir = workspace_root().join("part2/exercises");
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|ext| ext != "py") {
            continue;
        }
        let module = path.file_stem().and_then(|s| s.to_str());
        let module = module.expect("a UTF-8 file name");
        let callable = format!("{module}:app");
        assert!(
            ALL.iter()
                .any(|exercise| exercise.args == [callable.as_str()]),
            "{} is not in the list of exercises",
            path.display()
        );
        let solution = dir.join("solutions").join(format!("{module}.py"));
        assert!(solution.exists(), "{} is missing", solution.display());
    }
}

// ANCHOR: ex1_tests
// A student's check is ignored by default: the untouched starter fails it,
// as it must (see ex1_starter_fails).
#[test]
#[ignore = "a student's check: run it with --ignored"]
fn ex1_hello_name() {
    EX1.student_check();
}

#[test]
fn ex1_solution_passes() {
    EX1.solution_passes();
}

#[test]
fn ex1_starter_fails() {
    EX1.starter_fails();
}
// ANCHOR_END: ex1_tests

#[test]
#[ignore = "a student's check: run it with --ignored"]
fn ex2_echo_body() {
    EX2.student_check();
}

#[test]
fn ex2_solution_passes() {
    EX2.solution_passes();
}

#[test]
fn ex2_starter_fails() {
    EX2.starter_fails();
}

#[test]
#[ignore = "a student's check: run it with --ignored"]
fn ex3_routes() {
    EX3.student_check();
}

#[test]
fn ex3_solution_passes() {
    EX3.solution_passes();
}

#[test]
fn ex3_starter_fails() {
    EX3.starter_fails();
}

#[test]
#[ignore = "a student's check: run it with --ignored"]
fn ex4_content_length() {
    EX4.student_check();
}

#[test]
fn ex4_solution_passes() {
    EX4.solution_passes();
}

#[test]
fn ex4_starter_fails() {
    EX4.starter_fails();
}
