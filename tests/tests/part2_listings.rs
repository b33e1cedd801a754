//! Part 2's build-along (`part2/listings/`, the book's "Build it
//! yourself"), over real sockets: the failure each step shows, and the fix
//! the next step brings. The apps are `tests/apps/testapps.py`'s and
//! part 2's `wsgiapp`; none needs a framework. The book's transcripts are
//! the snapshots these tests take, and its diffs between the steps are
//! checked here too, so neither can drift.

use std::time::Duration;

use wire_tests::{
    GET_HELLO, PATIENCE, Server, assert_text, listing_diff, render,
};

const STEPS: [&str; 3] = [
    "step1-webserver2",
    "step2-whole-request",
    "step3-survives-its-apps",
];

/// Step `n` serving `testapps:APP`.
fn step(n: usize, app: &str) -> Server {
    Server::start_testapp("part2-listings", STEPS[n - 1], app, &[])
}

/// A browser's POST of a one-field form: the head, then the body. The
/// app, `read_input`, answers with what `wsgi.input.read()` gave it.
const POST_HEAD: &[u8] = b"POST /read HTTP/1.1\r\nHost: localhost:8888\r\n\
    Content-Type: application/x-www-form-urlencoded\r\n\
    Content-Length: 10\r\n\r\n";
const POST_BODY: &[u8] = b"name=World";

/// The request and the reply, as the kit's transcripts show them, but with
/// the Date left as it is: until part 2 itself, the steps send the
/// article's fixed one, `Mon, 15 Jul 2019 5:54:48 GMT`.
fn raw_transcript(request: &[u8], reply: &[u8]) -> String {
    format!(
        "request ({} bytes):\n{}\n\nreply ({} bytes):\n{}\n",
        request.len(),
        render(request).trim_end_matches('\n'),
        reply.len(),
        render(reply).trim_end_matches('\n'),
    )
}

/// The server has exited, and said why on stderr.
fn assert_died_saying(mut server: Server, why: &str) {
    let status = server.wait_exit(Duration::from_secs(10));
    let status = status.expect("the server should have stopped");
    assert!(!status.success(), "{status}");
    // The kit reads the server's output on a thread of its own: let it
    // catch up with what the server printed before it ended.
    assert!(
        server.wait_for_output(why, Duration::from_secs(5)),
        "{}",
        server.output()
    );
}

// ANCHOR: step1_tests
/// Step 1 serves part 2's wsgiapp as the article does: no length, and a
/// Date of 2019 in no format HTTP knows.
#[test]
fn step1_serves_wsgiapp_as_the_article_does() {
    let server = Server::start("part2-listings", STEPS[0], &["wsgiapp:app"]);
    let reply = server.exchange(GET_HELLO);
    assert_text(
        "listing-part2-step1-hello",
        &raw_transcript(GET_HELLO, &reply),
    );
}

/// The form's body, sent after the head, is not there: one read took the
/// head, and `wsgi.input` holds that, as text, where PEP 3333 wants the
/// body, as bytes.
#[test]
fn step1_loses_the_body_of_a_post() {
    let server = step(1, "read_input");
    let reply = server
        .exchange_in_parts(&[POST_HEAD, POST_BODY], Duration::from_millis(300));
    let request = [POST_HEAD, POST_BODY].concat();
    assert_text(
        "listing-part2-step1-post",
        &raw_transcript(&request, &reply),
    );
    assert!(!String::from_utf8_lossy(&reply).contains("name=World"));
}

/// An app that raises ends the server: the next client finds nobody.
#[test]
fn step1_dies_of_an_exception() {
    let server = step(1, "raises");
    let _ = server.exchange_in_parts(&[GET_HELLO], Duration::ZERO);
    assert_died_saying(server, "RuntimeError: the app failed on purpose");
}

/// So does a `str` in the body, where WSGI wants bytes.
#[test]
fn step1_dies_of_a_str_body() {
    let server = step(1, "str_body");
    let _ = server.exchange(GET_HELLO);
    assert_died_saying(server, "TypeError: 'str' object is not an instance");
}
// ANCHOR_END: step1_tests

// ANCHOR: step2_tests
/// Step 2 reads the head, then the body its Content-Length announces, even
/// when it comes later: the app reads it from `wsgi.input`.
#[test]
fn step2_hands_the_body_to_the_app() {
    let server = step(2, "read_input");
    let reply = server
        .exchange_in_parts(&[POST_HEAD, POST_BODY], Duration::from_millis(300));
    let request = [POST_HEAD, POST_BODY].concat();
    assert_text(
        "listing-part2-step2-post",
        &raw_transcript(&request, &reply),
    );
    assert!(
        reply.ends_with(b"\r\n\r\n[b'name=World', b'']\n"),
        "{}",
        render(&reply)
    );
}

/// An app's exception still ends it.
#[test]
fn step2_still_dies_of_an_exception() {
    let server = step(2, "raises");
    let _ = server.exchange(GET_HELLO);
    assert_died_saying(server, "RuntimeError: the app failed on purpose");
}
// ANCHOR_END: step2_tests

// ANCHOR: step3_tests
/// Step 3 answers an app's exception with a 500, prints the traceback, and
/// serves the next client.
#[test]
fn step3_answers_an_exception_with_500_and_goes_on() {
    let server = step(3, "raises");
    let reply = server.exchange(GET_HELLO);
    assert_text(
        "listing-part2-step3-raises",
        &raw_transcript(GET_HELLO, &reply),
    );
    assert!(server.wait_for_output("RuntimeError: the app failed", PATIENCE));
    let again = server.exchange(GET_HELLO);
    assert_eq!(again, reply, "the server should still be there");
}

/// ... and a `str` body too.
#[test]
fn step3_answers_a_str_body_with_500() {
    let server = step(3, "str_body");
    let reply = server.exchange(GET_HELLO);
    assert!(reply.starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
    assert!(server.wait_for_output("TypeError: 'str' object", PATIENCE));
    assert!(server.exchange(GET_HELLO).starts_with(b"HTTP/1.1 500 "));
}

/// ... and garbage with a 400, where steps 1 and 2 would end.
#[test]
fn step3_refuses_garbage_and_goes_on() {
    let server = step(3, "read_input");
    let reply = server.exchange(b"HELLO\r\n\r\n");
    assert!(reply.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    let request = [POST_HEAD, POST_BODY].concat();
    let reply = server.exchange(&request);
    assert!(
        reply.ends_with(b"[b'name=World', b'']\n"),
        "{}",
        render(&reply)
    );
}
// ANCHOR_END: step3_tests

/// The diffs the book shows between neighbouring steps, as snapshots.
#[test]
fn diffs_between_the_steps() {
    let file = |bin: &str| format!("part2/listings/src/bin/{bin}.rs");
    for (n, pair) in STEPS.windows(2).enumerate() {
        let diff = listing_diff(&file(pair[0]), &file(pair[1]));
        assert_text(&format!("listing-part2-diff-{}-{}", n + 1, n + 2), &diff);
    }
}
