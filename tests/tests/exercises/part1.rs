//! Part 1's exercises (`part1/exercises/`; the book's "Part 1: Exercises").
//!
//! Check your work on exercise N with
//! `cargo test -p wire-tests --test exercises part1::exN -- --ignored`.

use super::{Check, Exercise, all_listed};

/// The requests of part 1's own tests, whose snapshots guard what an
/// exercise must not break.
const GET_ROOT: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
const GET_HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\
    User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

// ANCHOR: ex1
const EX1: Exercise = Exercise {
    package: "part1-exercises",
    starter: "ex1-server-header",
    solution: "ex1-server-header-solution",
    args: &[],
    checks: &[Check {
        snapshot: "exercise-part1-ex1-server-header",
        request: GET_HELLO,
    }],
};
// ANCHOR_END: ex1

const EX2: Exercise = Exercise {
    package: "part1-exercises",
    starter: "ex2-not-found",
    solution: "ex2-not-found-solution",
    args: &[],
    checks: &[
        Check {
            snapshot: "exercise-part1-ex2-not-found",
            request: b"GET /goodbye HTTP/1.1\r\nHost: localhost\r\n\r\n",
        },
        Check {
            snapshot: "part1-get-root",
            request: GET_ROOT,
        },
        Check {
            snapshot: "part1-get-hello",
            request: GET_HELLO,
        },
    ],
};

const EX3: Exercise = Exercise {
    package: "part1-exercises",
    starter: "ex3-head",
    solution: "ex3-head-solution",
    args: &[],
    checks: &[
        Check {
            snapshot: "exercise-part1-ex3-head",
            // What `curl --head` sends.
            request: b"HEAD /hello HTTP/1.1\r\nHost: localhost:8888\r\n\
                User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
        },
        Check {
            snapshot: "part1-get-hello",
            request: GET_HELLO,
        },
    ],
};

const EX4: Exercise = Exercise {
    package: "part1-exercises",
    starter: "ex4-method-not-allowed",
    solution: "ex4-method-not-allowed-solution",
    args: &[],
    checks: &[
        Check {
            snapshot: "exercise-part1-ex4-method-not-allowed",
            // What a browser sends for a one-field form.
            request: b"POST /hello HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/x-www-form-urlencoded\r\n\
                Content-Length: 10\r\n\r\nname=World",
        },
        Check {
            snapshot: "part1-get-hello",
            request: GET_HELLO,
        },
    ],
};

#[test]
fn every_exercise_is_tested() {
    all_listed("part1/exercises/src/bin", &[EX1, EX2, EX3, EX4]);
}

// ANCHOR: ex1_tests
// A student's check is ignored by default: the untouched starter fails it,
// as it must (see ex1_starter_fails).
#[test]
#[ignore = "a student's check: run it with --ignored"]
fn ex1_server_header() {
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
fn ex2_not_found() {
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
fn ex3_head() {
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
fn ex4_method_not_allowed() {
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
