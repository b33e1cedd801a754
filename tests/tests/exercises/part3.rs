//! Part 3's exercises (`part3/exercises/`; the book's "Part 3: Exercises").
//!
//! Check your work on exercise N with
//! `cargo test -p wire-tests --test exercises part3::exN -- --ignored`.
#![cfg(unix)]

use super::{Check, Exercise, all_listed};

/// The request of part 3's own tests (what client3 sends), whose snapshots
/// guard what an exercise must not break.
const GET_HELLO: &[u8] = b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\r\n";

// ANCHOR: ex1
const EX1: Exercise = Exercise {
    package: "part3-exercises",
    starter: "ex1-request-timeout",
    solution: "ex1-request-timeout-solution",
    // One second of silence is enough: the check need not wait five.
    args: &["--timeout", "1"],
    checks: &[
        Check {
            snapshot: "exercise-part3-ex1-request-timeout",
            // A client that stops half-way: no blank line ends the head.
            request: b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n",
        },
        Check {
            snapshot: "part3-3a-hello",
            request: GET_HELLO,
        },
    ],
};
// ANCHOR_END: ex1

// ANCHOR: ex2
const EX2: Exercise = Exercise {
    package: "part3-exercises",
    starter: "ex2-visitor-count",
    solution: "ex2-visitor-count-solution",
    args: &[],
    // The same request twice, on two connections, one after the other.
    checks: &[
        Check {
            snapshot: "exercise-part3-ex2-visitor-1",
            request: GET_HELLO,
        },
        Check {
            snapshot: "exercise-part3-ex2-visitor-2",
            request: GET_HELLO,
        },
    ],
};
// ANCHOR_END: ex2

// ANCHOR: ex3
const EX3: Exercise = Exercise {
    package: "part3-exercises",
    starter: "ex3-too-busy",
    solution: "ex3-too-busy-solution",
    // No child may work: every client is one too many. (With a real limit
    // the reply would depend on how fast the children before it exit.)
    args: &["--max-children", "0"],
    checks: &[Check {
        snapshot: "exercise-part3-ex3-too-busy",
        request: GET_HELLO,
    }],
};
// ANCHOR_END: ex3

// ANCHOR: ex4
const EX4: Exercise = Exercise {
    package: "part3-exercises",
    starter: "ex4-thread-limit",
    solution: "ex4-thread-limit-solution",
    // No thread may serve: every client is one too many. The reply is
    // exercise 3's, to the byte.
    args: &["--max-threads", "0", "wsgiapp:app"],
    checks: &[Check {
        snapshot: "exercise-part3-ex3-too-busy",
        request: GET_HELLO,
    }],
};
// ANCHOR_END: ex4

// ANCHOR: ex5
const EX5: Exercise = Exercise {
    package: "part3-exercises",
    starter: "ex5-keep-alive-limit",
    solution: "ex5-keep-alive-limit-solution",
    args: &["--max-keep-alive-requests", "2", "wsgiapp:app"],
    checks: &[Check {
        snapshot: "exercise-part3-ex5-keep-alive-limit",
        // Three requests in one write, none asking to close: the limit
        // alone ends the connection, after the second reply.
        request: b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\r\n\
            GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\r\n\
            GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\r\n",
    }],
};
// ANCHOR_END: ex5

#[test]
fn every_exercise_is_tested() {
    all_listed("part3/exercises/src/bin", &[EX1, EX2, EX3, EX4, EX5]);
}

// A student's check is ignored by default: the untouched starter fails it,
// as it must (see ex1_starter_fails).
#[test]
#[ignore = "a student's check: run it with --ignored"]
fn ex1_request_timeout() {
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

#[test]
#[ignore = "a student's check: run it with --ignored"]
fn ex2_visitor_count() {
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
fn ex3_too_busy() {
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
fn ex4_thread_limit() {
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

#[test]
#[ignore = "a student's check: run it with --ignored"]
fn ex5_keep_alive_limit() {
    EX5.student_check();
}

#[test]
fn ex5_solution_passes() {
    EX5.solution_passes();
}

#[test]
fn ex5_starter_fails() {
    EX5.starter_fails();
}
