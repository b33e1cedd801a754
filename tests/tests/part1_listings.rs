//! Part 1's build-along (`part1/listings/`, the book's "Build it yourself"),
//! over real sockets: the failure each step shows, and the fix the next
//! step brings, up to part 1 itself. The book's transcripts of each step are
//! the snapshots these tests take, and its diffs between neighbouring steps
//! are checked here too (`diffs_between_the_steps`), so neither can drift.

use std::io::{ErrorKind, Read, Write};
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use wire_tests::{
    GET_HELLO, PATIENCE, Server, assert_text, assert_wire, binary, body,
    listing_diff, output_within,
};

const STEPS: [&str; 5] = [
    "step1-one-read",
    "step2-whole-head",
    "step3-framed-reply",
    "step4-bounded",
    "step5-lingering-close",
];

fn step(n: usize) -> Server {
    Server::start("part1-listings", STEPS[n - 1], &[])
}

/// The request of part 1's split-request test, in three writes.
const SPLIT: [&[u8]; 3] =
    [b"GET /hello HT", b"TP/1.1\r\nHost: local", b"host\r\n\r\n"];

/// A head three times the size of the article's one read.
fn long_head() -> String {
    let padding = "x".repeat(3100);
    format!(
        "GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Padding: {padding}\r\n\r\n"
    )
}

/// Sends `parts`, `pause` apart, and reads until the server closes. Unlike
/// the kit's exchange, a server that closes early is what some of these
/// steps do: a failed write is no failure of the test, and the read's
/// error (a reset) is returned for the test to look at.
fn send(
    server: &Server,
    parts: &[&[u8]],
    pause: Duration,
) -> std::io::Result<Vec<u8>> {
    let mut stream = server.connect();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            thread::sleep(pause);
        }
        let _ = stream.write_all(part);
    }
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).map(|_| reply)
}

/// Runs curl; unlike the kit's `run_tool`, a failing curl is a result.
fn curl(args: &[&str]) -> Output {
    output_within(Command::new("curl").args(args), PATIENCE)
}

/// What curl -v says about the reply: the head it read (`<` lines) and
/// its remarks on the framing, without the lines that name the port.
fn curl_view(server: &Server) -> String {
    let url = format!("http://127.0.0.1:{}/hello", server.port);
    let out = curl(&["-sv", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut view: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("< ") || line.contains("no chunk"))
        .collect();
    let stdout = String::from_utf8_lossy(&out.stdout);
    view.push("(the body curl printed:)");
    view.extend(stdout.lines());
    view.join("\n") + "\n"
}

/// Waits a moment for the server's printing to catch up, and returns it.
fn printed(server: &Server, expect: &str) -> String {
    assert!(
        server.wait_for_output(expect, Duration::from_secs(10)),
        "the server printed no {expect:?}: {:?}",
        server.output()
    );
    // What else it prints, it prints at once: give it a moment.
    thread::sleep(Duration::from_millis(300));
    server.output()
}

// ANCHOR: step1_tests
/// Step 1 answers curl, with the article's bytes: bare `\n`, no length.
#[test]
fn step1_answers_with_bare_line_feeds_and_no_length() {
    let reply = step(1).exchange(GET_HELLO);
    assert_wire("listing-part1-step1-hello", GET_HELLO, &reply);
}

/// One read takes what has arrived: the first of three pieces.
#[test]
fn step1_cuts_a_split_request_short() {
    let server = step(1);
    let _ = send(&server, &SPLIT, Duration::from_millis(300));
    let output = printed(&server, "GET /hello HT");
    assert_text("listing-part1-step1-split-printed", &output);
    assert!(!output.contains("TP/1.1"), "{output:?}");
}

/// One read takes 1024 bytes of a 3 KB head; the kernel resets the
/// connection when it is closed with the rest unread, and the client
/// loses the reply.
#[test]
fn step1_loses_a_long_head_and_its_reply() {
    let server = step(1);
    let request = long_head();
    let reply = send(&server, &[request.as_bytes()], Duration::ZERO);
    let err = reply.expect_err("the reply should end in a reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    let output = printed(&server, "X-Padding");
    assert!(output.len() < 1024 + 10, "printed {} bytes", output.len());
}
// ANCHOR_END: step1_tests

// ANCHOR: step2_tests
/// Step 2 reads until the blank line: the split request whole.
#[test]
fn step2_reads_a_split_request_whole() {
    let server = step(2);
    let reply = send(&server, &SPLIT, Duration::from_millis(300))
        .expect("a whole reply");
    assert!(reply.ends_with(b"Hello, World!\n"));
    let output = printed(&server, "localhost");
    assert_text("listing-part1-step2-split-printed", &output);
}

/// ... and the 3 KB head whole: nothing is left unread, nothing reset.
#[test]
fn step2_reads_a_long_head_whole() {
    let server = step(2);
    let request = long_head();
    let reply = send(&server, &[request.as_bytes()], Duration::ZERO)
        .expect("a whole reply");
    assert!(reply.ends_with(b"Hello, World!\n"));
    assert!(printed(&server, "\n\r\n").contains(&"x".repeat(3100)));
}

/// The article's reply has no length, and no `Connection: close`: curl
/// can only guess that the server's close ends it.
#[test]
fn curl_cannot_frame_the_reply_of_steps_1_and_2() {
    let view = curl_view(&step(2));
    assert_text("listing-part1-step2-curl", &view);
    assert!(view.contains("no chunk, no close, no size"), "{view}");
    assert!(curl_view(&step(1)).contains("no chunk, no close, no size"));
}
// ANCHOR_END: step2_tests

// ANCHOR: step3_tests
/// Step 3 sends part 1's reply, byte for byte, and curl frames it.
#[test]
fn step3_replies_as_part1_does() {
    let server = step(3);
    let reply = server.exchange(GET_HELLO);
    assert_wire("part1-get-hello", GET_HELLO, &reply);
    let view = curl_view(&server);
    assert!(!view.contains("no chunk"), "{view}");
    assert!(view.ends_with("Hello, World!\n"), "{view}");
}

/// A client that connects and sends nothing holds step 3 forever: the next
/// one waits. (Two seconds stand for forever; step 4 gives up after five.)
#[test]
fn step3_is_held_by_a_silent_client() {
    let server = step(3);
    let _silent = server.connect();
    let mut next = server.connect();
    next.write_all(GET_HELLO).expect("send");
    next.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("set a timeout");
    let mut reply = [0; 64];
    let err = next.read(&mut reply).expect_err("no reply while held");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
}

/// ... and greets garbage as a request.
#[test]
fn step3_greets_garbage() {
    let reply = step(3).exchange(b"HELLO\r\n\r\n");
    assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n"));
}
// ANCHOR_END: step3_tests

// ANCHOR: step4_tests
/// Step 4 gives up on the silent client, then serves the next one.
#[test]
fn step4_serves_the_client_after_a_silent_one() {
    let server = step(4);
    let _silent = server.connect();
    let reply = server.exchange(GET_HELLO);
    assert_eq!(body(&reply), b"Hello, World!");
}

/// ... and answers garbage with part 1's 400.
#[test]
fn step4_refuses_garbage() {
    let request = b"HELLO\r\n\r\n";
    let reply = step(4).exchange(request);
    assert_wire("part1-bad-request", request, &reply);
}

/// A form's body, unread when step 4 closes the connection, makes the
/// kernel reset it: a client that reads the reply to its end gets an error
/// instead of the end, and may lose the reply.
#[test]
fn step4_resets_a_form_with_a_body() {
    let server = step(4);
    let reply = send(&server, &[&post_form()], Duration::ZERO);
    let err = reply.expect_err("the reply should end in a reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
}

/// Step 5 says it is done writing, then reads the body away before it
/// closes: the reply arrives whole, and ends as it should. So does part
/// 1's, which is step 5 with its plumbing in part 1's library.
#[test]
fn step5_and_part1_keep_the_reply_to_a_form_with_a_body() {
    for server in [step(5), Server::start("part1", "part1", &[])] {
        let reply = send(&server, &[&post_form()], Duration::ZERO)
            .expect("a whole reply, no reset");
        assert_eq!(body(&reply), b"Hello, World!");
    }
}

/// Step 5 gives part 1's replies, byte for byte: to curl's request, to
/// garbage, to a 3 KB head.
#[test]
fn step5_replies_as_part1_does() {
    let server = step(5);
    let reply = server.exchange(GET_HELLO);
    assert_wire("part1-get-hello", GET_HELLO, &reply);
    let garbage = b"HELLO\r\n\r\n";
    assert_wire("part1-bad-request", garbage, &server.exchange(garbage));
    let request = long_head();
    let reply = server.exchange(request.as_bytes());
    assert_wire("part1-3k-request", request.as_bytes(), &reply);
}

/// A form of 10 KB, posted as a browser posts it: more than the server's
/// first read of the head takes in.
fn post_form() -> Vec<u8> {
    let form = format!("text={}", "x".repeat(10_000));
    let head = format!(
        "POST /hello HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
        form.len()
    );
    [head.into_bytes(), form.into_bytes()].concat()
}
// ANCHOR_END: step4_tests

/// A busy port: one line on stderr and exit code 2, at every step.
#[test]
fn every_step_says_a_busy_port_in_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port().to_string();
    for bin in STEPS {
        let out = output_within(
            Command::new(binary("part1-listings", bin)).args(["--port", &port]),
            PATIENCE,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bin}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{bin}: {stderr}");
    }
}

/// The diffs the book shows, from each step to the next, as snapshots: a
/// change to a step changes its diff, and the test fails until the book's
/// diff is the new one.
#[test]
fn diffs_between_the_steps() {
    let file = |bin: &str| format!("part1/listings/src/bin/{bin}.rs");
    for (n, pair) in STEPS.windows(2).enumerate() {
        let diff = listing_diff(&file(pair[0]), &file(pair[1]));
        assert_text(&format!("listing-part1-diff-{}-{}", n + 1, n + 2), &diff);
    }
}

// ANCHOR: compiler_error
/// Step 2 calls `read_line`, a method of the trait `BufRead`: typed without
/// the trait in its `use` line, it does not compile, and the compiler says
/// which `use` is missing. The book shows this very error: the test checks
/// step 2 so, in a scratch workspace laid out as this one is (part 1 and
/// its listings), so that the paths in the message are the ones a reader
/// sees.
#[test]
fn step2_without_bufread_does_not_compile() {
    let root = wire_tests::workspace_root();
    let read = |file: &str| {
        std::fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
    };
    let step2 = "part1/listings/src/bin/step2-whole-head.rs";
    let source = read(step2);
    let typed =
        source.replace("{self, BufRead, BufReader,", "{self, BufReader,");
    assert_ne!(typed, source, "step 2's use line has changed");
    // The workspace's settings and lock, with two members.
    let workspace: Vec<String> = read("Cargo.toml")
        .lines()
        .map(|line| match line.starts_with("members") {
            true => r#"members = ["part1", "part1/listings"]"#.into(),
            false => line.into(),
        })
        .collect();
    let mut files = vec![
        ("Cargo.toml".to_string(), workspace.join("\n")),
        ("Cargo.lock".into(), read("Cargo.lock")),
        ("part1/Cargo.toml".into(), read("part1/Cargo.toml")),
        (
            "part1/listings/Cargo.toml".into(),
            read("part1/listings/Cargo.toml"),
        ),
        (step2.into(), typed),
    ];
    for entry in std::fs::read_dir(root.join("part1/src")).expect("part1/src") {
        let name = entry.expect("an entry").file_name();
        let file = format!("part1/src/{}", name.to_string_lossy());
        files.push((file.clone(), read(&file)));
    }
    let scratch =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("step2-typo");
    for (file, text) in &files {
        let path = scratch.join(file);
        let dir = path.parent().expect("a file in a folder");
        std::fs::create_dir_all(dir).expect("make the scratch folder");
        // Unchanged files keep their time, and cargo its work.
        if std::fs::read_to_string(&path).is_ok_and(|old| old == *text) {
            continue;
        }
        std::fs::write(&path, text).expect("write the scratch workspace");
    }
    // A build from scratch may take minutes; it must still end.
    let out = output_within(
        Command::new(env!("CARGO"))
            .args(["check", "--quiet", "--offline", "--color", "never"])
            .args(["-p", "part1-listings", "--bin", "step2-whole-head"])
            .current_dir(&scratch),
        Duration::from_secs(600),
    );
    assert!(!out.status.success(), "step 2 compiles without BufRead");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The compiler's message, without cargo's own last line.
    let message: Vec<&str> = stderr
        .lines()
        .take_while(|line| !line.starts_with("error: could not compile"))
        .collect();
    // The toolchain's commit, in the path of the standard library's
    // source, changes with every Rust release.
    let message = message.join("\n");
    let message = match message.split_once("/rustc/") {
        Some((before, after)) => {
            let rest = after.split_once('/').map_or("", |(_, rest)| rest);
            format!("{before}/rustc/<commit>/{rest}")
        }
        None => message,
    };
    assert!(message.contains("error[E0599]"), "{stderr}");
    assert_text("listing-part1-step2-without-bufread", &message);
}
// ANCHOR_END: compiler_error
