//! part2's HTTP core, the request side, over real sockets: chunked bodies,
//! the request target's four forms, the header rules, every limit at its
//! boundary, and the deadlines that bound a slow client (RFC 9112). Every
//! refusal is checked by its status line, the commonest also by snapshot.
//!
//! Every WSGI step stands on this core: part2 runs here, and webserver3i
//! where a test needs a server that can serve two clients at once. The
//! event loop reads requests without blocking, through the same parser:
//! part3l.rs and part3m.rs include this file as a module, and there every
//! test runs against webserver3l or webserver3m (see `SERVER`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use wire_tests::{
    GET_HELLO, PATIENCE, Server, assert_wire, body, output_within, payload,
    python_has, read_reply, status_line,
};

/// The limits of part2/src/request.rs, as a client must meet them.
const MAX_REQUEST_LINE: usize = 8 * 1024;
const MAX_HEADER_LINE: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 10 * 1024 * 1024;

/// The server under test, as package, binary and arguments: part2, or
/// webserver3l or webserver3m when this file is compiled into the test
/// crate of part3l.rs or part3m.rs. These tests read each reply until the
/// server closes, as part2 always does after one: 3l and 3m are asked to
/// keep no connection.
const SERVER: (&str, &str, &[&str]) = match env!("CARGO_CRATE_NAME").as_bytes()
{
    b"part3l" => ("part3", "webserver3l", &["--keep-alive", "0"]),
    b"part3m" => ("part3", "webserver3m", &["--keep-alive", "0"]),
    _ => ("part2", "part2", &[]),
};

/// The server under test serving `module:callable` of tests/apps.
fn test_module(app: &str, args: &[&str]) -> Server {
    let (package, bin, server_args) = SERVER;
    let args = [server_args, args].concat();
    Server::start_test_module(package, bin, app, &args)
}

/// The server under test serving `testapps:NAME`.
fn testapp(name: &str) -> Server {
    test_module(&format!("testapps:{name}"), &["--quiet"])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What `echo_body` says it got.
fn echoed(reply: &[u8]) -> String {
    assert_eq!(status_line(reply), "HTTP/1.1 200 OK", "{}", text(reply));
    text(&payload(reply))
}

/// The environ `echo_environ` saw: each key and the repr of its value.
fn environ(server: &Server, request: &[u8]) -> HashMap<String, String> {
    let reply = server.exchange(request);
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK", "{}", text(&reply));
    text(&payload(&reply))
        .lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(' ')?;
            let (_type, value) = rest.split_once(' ')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

/// A POST of `body` in `Transfer-Encoding: chunked`, one chunk per piece.
fn chunked_post(path: &str, pieces: &[&[u8]]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for piece in pieces {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

// ---- 1. chunked request bodies -------------------------------------------

/// RFC 9112 §7.1: a server MUST be able to decode chunked. Sizes in hex,
/// an extension, a trailer: the app gets the decoded body, with its length.
#[test]
fn a_chunked_body_is_decoded_for_the_app() {
    let server = testapp("echo_body");
    let request = b"POST /upload HTTP/1.1\r\nHost: x\r\n\
        Transfer-Encoding: chunked\r\n\r\n\
        5;name=value\r\nhello\r\nA\r\n, world! 1\r\n0\r\nChecksum: abc\r\n\r\n";
    let reply = server.exchange(request);
    assert_wire("part2-chunked-request", request, &reply);
    assert_eq!(
        echoed(&reply),
        "CONTENT_LENGTH '15'\nwsgi.input_terminated True\n\
         HTTP_TRANSFER_ENCODING None\nbody b'hello, world! 1'\n"
    );
}

/// A chunked body sent three bytes at a time, with pauses, as a slow
/// network would bring it: every boundary falls somewhere new.
#[test]
fn a_chunked_body_in_many_pieces_is_read_whole() {
    let server = testapp("echo_body");
    let request = chunked_post("/", &[b"abc", b"defghijklmnopq", b"r"]);
    let parts: Vec<&[u8]> = request.chunks(3).collect();
    let reply = server.exchange_in_parts(&parts, Duration::from_millis(5));
    assert!(echoed(&reply).ends_with("body b'abcdefghijklmnopqr'\n"));
}

/// Real clients that send chunked bodies: curl, and Python's http.client.
#[test]
fn curl_and_http_client_upload_chunked() {
    let server = testapp("echo_body");
    let url = format!("http://127.0.0.1:{}/", server.port);
    let out = output_within(
        Command::new("curl").args([
            "--silent",
            "--show-error",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "from curl",
            &url,
        ]),
        PATIENCE,
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out.stdout).ends_with("body b'from curl'\n"),
        "{out:?}"
    );
    let script = format!(
        "import http.client\n\
         c = http.client.HTTPConnection('127.0.0.1', {})\n\
         c.request('POST', '/', body=iter([b'from ', b'http.client']),\n\
                   encode_chunked=True)\n\
         print(c.getresponse().read().decode(), end='')\n",
        server.port
    );
    let out =
        output_within(Command::new("python3").args(["-c", &script]), PATIENCE);
    assert!(
        text(&out.stdout).ends_with("body b'from http.client'\n"),
        "{out:?}"
    );
}

/// Flask's `request.get_data()`, Pyramid's and Django's `request.body`
/// read a chunked upload, sent in pieces, as if it had a length.
#[test]
fn frameworks_read_chunked_uploads() {
    let apps = [
        ("flask", "flask_echo:app", "Flask"),
        ("pyramid", "pyramid_echo:app", "Pyramid"),
        ("django", "django_echo:app", "Django"),
    ];
    for (module, app, name) in apps {
        if !python_has(module) {
            continue;
        }
        let server = test_module(app, &[]);
        let request = chunked_post("/echo", &[b"hello", b" from ", b"chunks"]);
        let parts: Vec<&[u8]> = request.chunks(20).collect();
        let reply = server.exchange_in_parts(&parts, Duration::from_millis(10));
        assert_eq!(status_line(&reply), "HTTP/1.1 200 OK", "{}", text(&reply));
        assert_eq!(
            text(&payload(&reply)),
            format!("{name} got 17 bytes: hello from chunks"),
            "{app}"
        );
    }
}

/// The body limit holds however the body is framed: the largest chunked
/// body is read, one byte more is refused, as is a chunk that says at once
/// it is too big.
#[test]
fn a_chunked_body_over_the_limit_gets_413() {
    let server = testapp("echo_body");
    let mib = vec![b'x'; 1024 * 1024];
    let pieces: Vec<&[u8]> =
        (0..MAX_BODY / mib.len()).map(|_| &mib[..]).collect();
    let reply = server.exchange(&chunked_post("/", &pieces));
    assert!(echoed(&reply).ends_with(&format!("body of {MAX_BODY} bytes\n")));
    let mut over = pieces.clone();
    over.push(b"!");
    let reply = server.exchange(&chunked_post("/", &over));
    assert_eq!(status_line(&reply), "HTTP/1.1 413 Content Too Large");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n",
        MAX_BODY + 1
    );
    let reply = server.exchange(request.as_bytes());
    assert_eq!(status_line(&reply), "HTTP/1.1 413 Content Too Large");
}

/// Malformed framing gets 400 and a closed connection, never a 200 with
/// a body cut short.
#[test]
fn malformed_chunked_framing_gets_400() {
    let server = testapp("echo_body");
    let head =
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let request = format!("{head}zz\r\nhello\r\n0\r\n\r\n");
    let reply = server.exchange(request.as_bytes());
    assert_wire("part2-chunked-bad-size", request.as_bytes(), &reply);
    let cases = [
        ("-5\r\nhello\r\n0\r\n\r\n", "hex digits"),
        ("5 x\r\nhello\r\n0\r\n\r\n", "junk after a chunk size"),
        ("5\r\nhelloXX\r\n0\r\n\r\n", "longer than its size"),
        ("fffffffffffffffff\r\n", "absurdly large"),
        ("5\nhello\n0\n\n", "CRLF"),
    ];
    for (framing, why) in cases {
        let reply = server.exchange(format!("{head}{framing}").as_bytes());
        assert_eq!(
            status_line(&reply),
            "HTTP/1.1 400 Bad Request",
            "{framing:?}"
        );
        assert!(text(body(&reply)).contains(why), "{}", text(&reply));
    }
    // A body cut short: the client stops sending (and says so) mid-chunk.
    let mut stream = server.connect();
    stream
        .write_all(format!("{head}a\r\nhello").as_bytes())
        .expect("send");
    stream.shutdown(Shutdown::Write).expect("shutdown");
    let reply = read_reply(&mut stream);
    assert_eq!(status_line(&reply), "HTTP/1.1 400 Bad Request");
    assert!(text(body(&reply)).contains("cut short"), "{}", text(&reply));
}

/// RFC 9112 §6.1 and §6.3: the framing must be one that both ends read the
/// same way, or a proxy in front of us could be made to disagree with us.
#[test]
fn transfer_encoding_rules() {
    let server = testapp("echo_body");
    let cases = [
        ("HTTP/1.1", "Transfer-Encoding: gzip\r\n", "400 Bad Request"),
        (
            "HTTP/1.1",
            "Transfer-Encoding: chunked, gzip\r\n",
            "400 Bad Request",
        ),
        (
            "HTTP/1.1",
            "Transfer-Encoding: gzip, chunked\r\n",
            "501 Not Implemented",
        ),
        (
            "HTTP/1.1",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "400 Bad Request",
        ),
        (
            "HTTP/1.0",
            "Transfer-Encoding: chunked\r\n",
            "400 Bad Request",
        ),
        (
            "HTTP/1.1",
            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            "400 Bad Request",
        ),
        (
            "HTTP/1.1",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "400 Bad Request",
        ),
    ];
    for (version, headers, want) in cases {
        let request = format!(
            "POST / {version}\r\nHost: x\r\n{headers}\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        let reply = server.exchange(request.as_bytes());
        assert_eq!(
            status_line(&reply),
            format!("HTTP/1.1 {want}"),
            "{headers:?}"
        );
        // Refused, and closed: exchange() read until the server closed.
        assert!(text(&reply).contains("Connection: close\r\n"));
    }
    // Chunked in any letter case is still chunked.
    let request =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n\
        2\r\nok\r\n0\r\n\r\n";
    assert!(echoed(&server.exchange(request)).ends_with("body b'ok'\n"));
}

// ---- 2. the request target -----------------------------------------------

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

/// The query starts at the first `?`, whatever follows it: a login form's
/// `?next=http://example.com/home` is a query, not a new target.
#[test]
fn the_query_starts_at_the_first_question_mark() {
    let server = testapp("echo_environ");
    let env = environ(&server, &get("/login?next=http://example.com/home"));
    assert_eq!(env["PATH_INFO"], "'/login'");
    assert_eq!(env["QUERY_STRING"], "'next=http://example.com/home'");
    let env = environ(&server, &get("/a/b?c=d?e"));
    assert_eq!(
        (&*env["PATH_INFO"], &*env["QUERY_STRING"]),
        ("'/a/b'", "'c=d?e'")
    );
}

/// A `#fragment` is the client's business: it never reaches the app.
#[test]
fn a_fragment_never_reaches_the_app() {
    let server = testapp("echo_environ");
    let env = environ(&server, &get("/page?x=1#section"));
    assert_eq!(
        (&*env["PATH_INFO"], &*env["QUERY_STRING"]),
        ("'/page'", "'x=1'")
    );
    let env = environ(&server, &get("/page#frag?not=query"));
    assert_eq!(
        (&*env["PATH_INFO"], &*env["QUERY_STRING"]),
        ("'/page'", "''")
    );
}

/// absolute-form, as clients send to a proxy: the path and query are the
/// target's, and its host replaces the Host header (RFC 9112 §3.2.2).
#[test]
fn absolute_form_gives_path_query_and_host() {
    let server = testapp("echo_environ");
    let request =
        b"GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n";
    let env = environ(&server, request);
    assert_eq!(env["PATH_INFO"], "'/p'");
    assert_eq!(env["QUERY_STRING"], "'q=1'");
    assert_eq!(env["HTTP_HOST"], "'example.com:8080'");
    let env = environ(&server, &get("http://example.com"));
    assert_eq!(env["PATH_INFO"], "'/'");
}

/// asterisk-form is OPTIONS's alone; authority-form is CONNECT's, and a
/// WSGI server makes no tunnels; any other target must start with `/`.
#[test]
fn asterisk_and_authority_forms() {
    let server = testapp("echo_environ");
    let env = environ(&server, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(env["PATH_INFO"], "'*'");
    let reply = server.exchange(&get("*"));
    assert_eq!(status_line(&reply), "HTTP/1.1 400 Bad Request");
    let request =
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    let reply = server.exchange(request);
    assert_wire("part2-connect", request, &reply);
    for target in ["example.com:443", "page", "ftp://example.com/"] {
        let reply = server.exchange(&get(target));
        assert_eq!(status_line(&reply), "HTTP/1.1 400 Bad Request", "{target}");
        assert!(text(body(&reply)).contains("must start with /"), "{target}");
    }
}

/// A raw byte outside visible ASCII in the target (UTF-8, a control
/// character, DEL, a tab) gets 400: a client must percent-encode it.
#[test]
fn raw_bytes_in_the_target_get_400() {
    let server = testapp("echo_environ");
    for target in [
        &b"/caf\xc3\xa9"[..],
        b"/a\x01b",
        b"/a\x7f",
        b"/a\tb",
        b"/a\x00",
    ] {
        let mut request = b"GET ".to_vec();
        request.extend_from_slice(target);
        request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        let reply = server.exchange(&request);
        assert_eq!(
            status_line(&reply),
            "HTTP/1.1 400 Bad Request",
            "{target:?}"
        );
    }
    // Percent-encoded, the same bytes are fine, and decoded as latin-1.
    let env = environ(&server, &get("/caf%C3%A9"));
    assert_eq!(env["PATH_INFO"], "'/caf\\xc3\\xa9'");
}

// ---- 3. header rules -----------------------------------------------------

/// RFC 9112 §3.2: one Host, exactly, in HTTP/1.1; none is fine in 1.0.
#[test]
fn host_rules() {
    let server = testapp("echo_body");
    let request = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    let reply = server.exchange(request);
    assert_wire("part2-two-hosts", request, &reply);
    let reply = server.exchange(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(status_line(&reply), "HTTP/1.1 400 Bad Request");
    let reply = server.exchange(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
}

/// Lengths that agree are one length; lengths that differ are a 400.
#[test]
fn content_length_rules() {
    let server = testapp("echo_body");
    let post = |headers: &str| {
        let request = format!("POST / HTTP/1.1\r\nHost: x\r\n{headers}\r\nabc");
        server.exchange(request.as_bytes())
    };
    let agree = post("Content-Length: 3\r\nContent-Length: 3\r\n");
    assert!(echoed(&agree).contains("CONTENT_LENGTH '3'"));
    assert!(echoed(&post("Content-Length: 3, 3\r\n")).ends_with("b'abc'\n"));
    for bad in [
        "Content-Length: 3\r\nContent-Length: 2\r\n",
        "Content-Length: 3, 2\r\n",
        "Content-Length: -3\r\n",
        "Content-Length: +3\r\n",
        "Content-Length: 0x3\r\n",
        "Content-Length: \r\n",
        "Content-Length: 3,\r\n",
    ] {
        let reply = post(bad);
        assert_eq!(status_line(&reply), "HTTP/1.1 400 Bad Request", "{bad:?}");
    }
}

/// What a field line must not hold: whitespace before the colon, a
/// control character or NUL in the value, an obs-fold continuation, a
/// bare CR. Each is how one header has been made to look like another.
#[test]
fn malformed_header_lines_get_400() {
    let server = testapp("echo_body");
    for line in [
        &b"Host : x\r\n"[..],
        b"X-A: a\x01b\r\n",
        b"X-A: a\x00b\r\n",
        b"X-A: a\x7fb\r\n",
        b"X-A: a\r\n folded\r\n",
        b"X-A: a\rX-B: b\r\n",
        b"X\x01A: a\r\n",
    ] {
        let mut request = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        request.extend_from_slice(line);
        request.extend_from_slice(b"\r\n");
        let reply = server.exchange(&request);
        assert_eq!(status_line(&reply), "HTTP/1.1 400 Bad Request", "{line:?}");
    }
}

/// One rule for line ends, the whole head through: a bare LF ends a line
/// wherever it stands, as `nc` sends it; a body's bytes are not changed.
#[test]
fn bare_lf_ends_lines_anywhere_in_the_head() {
    let server = testapp("echo_body");
    for request in [
        &b"POST / HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc"[..],
        b"POST / HTTP/1.1\r\nHost: x\nContent-Length: 3\r\n\nabc",
        b"POST / HTTP/1.1\nHost: x\r\nContent-Length: 3\n\r\nabc",
    ] {
        let reply = server.exchange(request);
        assert!(echoed(&reply).ends_with("body b'abc'\n"), "{request:?}");
    }
}

/// Versions: 1.0 and 1.1 are ours; a well-formed other one gets 505.
#[test]
fn another_http_version_gets_505() {
    let server = testapp("echo_body");
    let reply = server.exchange(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n");
    assert_eq!(
        status_line(&reply),
        "HTTP/1.1 505 HTTP Version Not Supported"
    );
    let reply = server.exchange(b"GET / HTTP/1\r\nHost: x\r\n\r\n");
    assert_eq!(status_line(&reply), "HTTP/1.1 400 Bad Request");
}

// ---- 4. limits, each at its boundary ---------------------------------------

/// A GET whose request line is `length` bytes long.
fn request_line_of(length: usize) -> Vec<u8> {
    let target = format!("/{}", "a".repeat(length - "GET / HTTP/1.1".len()));
    get(&target)
}

/// A GET whose head (request line to blank line) is `length` bytes, made
/// of header lines as long as they may be.
fn head_of(length: usize) -> Vec<u8> {
    let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    // What is left to fill, before the blank line that ends the head.
    let left = |head: &Vec<u8>| length - head.len() - 2;
    while left(&head) > 0 {
        // A line `X: v...\r\n` of `line` bytes; no shorter than 6, so the
        // last one is never left with too little room for `X: v\r\n`.
        let mut line = left(&head).min(MAX_HEADER_LINE + 2);
        if (1..6).contains(&(left(&head) - line)) {
            line -= 6;
        }
        head.extend_from_slice(
            format!("X: {}\r\n", "v".repeat(line - 5)).as_bytes(),
        );
    }
    head.extend_from_slice(b"\r\n");
    assert_eq!(head.len(), length);
    head
}

#[test]
fn the_request_line_limit_is_8_kib_then_414() {
    let server = testapp("echo_body");
    let reply = server.exchange(&request_line_of(MAX_REQUEST_LINE));
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
    let reply = server.exchange(&request_line_of(MAX_REQUEST_LINE + 1));
    assert_eq!(status_line(&reply), "HTTP/1.1 414 URI Too Long");
    assert_eq!(
        text(body(&reply)),
        format!(
            "414 URI Too Long: the request line is over {MAX_REQUEST_LINE} bytes\n"
        )
    );
}

/// A header line may take 16 KiB: a browser's 8 KB of cookies fit.
#[test]
fn a_header_line_may_be_16_kib_then_431() {
    let server = testapp("echo_body");
    let header = |length: usize| {
        let value = "v".repeat(length - "Cookie: ".len());
        format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {value}\r\n\r\n")
    };
    let reply = server.exchange(header(8 * 1024).as_bytes());
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
    let reply = server.exchange(header(MAX_HEADER_LINE).as_bytes());
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
    let reply = server.exchange(header(MAX_HEADER_LINE + 1).as_bytes());
    assert_eq!(
        status_line(&reply),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert!(text(body(&reply)).contains("a header line is over 16384 bytes"));
}

#[test]
fn a_hundred_header_fields_then_431() {
    let server = testapp("echo_body");
    let fields = |count: usize| {
        let mut request = "GET / HTTP/1.1\r\nHost: x\r\n".to_string();
        for i in 1..count {
            request.push_str(&format!("X-{i}: {i}\r\n"));
        }
        request + "\r\n"
    };
    let reply = server.exchange(fields(MAX_HEADERS).as_bytes());
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
    let reply = server.exchange(fields(MAX_HEADERS + 1).as_bytes());
    assert_eq!(
        status_line(&reply),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert!(text(body(&reply)).contains("more than 100 header fields"));
}

#[test]
fn the_whole_head_may_be_64_kib_then_431() {
    let server = testapp("echo_body");
    let reply = server.exchange(&head_of(MAX_HEAD));
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
    let reply = server.exchange(&head_of(MAX_HEAD + 1));
    assert_eq!(
        status_line(&reply),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert!(text(body(&reply)).contains("the head is over 65536 bytes"));
}

#[test]
fn a_body_may_be_10_mib_then_413() {
    let server = testapp("echo_body");
    let post = |length: usize| {
        let mut request = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n"
        )
        .into_bytes();
        request.resize(request.len() + length, b'x');
        request
    };
    let reply = server.exchange(&post(MAX_BODY));
    assert!(echoed(&reply).ends_with(&format!("body of {MAX_BODY} bytes\n")));
    // Refused from the head alone: the body is not even read.
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    );
    let reply = server.exchange(request.as_bytes());
    assert_eq!(status_line(&reply), "HTTP/1.1 413 Content Too Large");
}

// ---- 5. deadlines for slow clients -----------------------------------------

/// Sends `first`, then one byte of `drip` every `every` on a thread of
/// its own, until the server stops reading; returns the reply, and how
/// long after the first byte it came.
fn drip(server: &Server, first: &[u8], every: Duration) -> (Vec<u8>, Duration) {
    let mut stream = server.connect();
    let started = Instant::now();
    stream.write_all(first).expect("send");
    let mut writer = stream.try_clone().expect("clone");
    thread::spawn(move || {
        while writer.write_all(b"a").is_ok() {
            thread::sleep(every);
        }
    });
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    (reply, started.elapsed())
}

/// A client that sends a byte of its head every half second never trips a
/// per-read timeout; the head's deadline stops it after 10 seconds.
#[test]
fn a_dripped_head_gets_408_at_its_deadline() {
    let server = testapp("echo_body");
    let (reply, took) = drip(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ",
        Duration::from_millis(500),
    );
    assert_eq!(
        status_line(&reply),
        "HTTP/1.1 408 Request Timeout",
        "{}",
        text(&reply)
    );
    assert!(text(body(&reply)).contains("the head did not come in time"));
    assert!(took > Duration::from_millis(9_500), "{took:?}");
    assert!(took < Duration::from_secs(16), "{took:?}");
}

/// The body's deadline grows with what has come (64 KiB a second after a
/// 10 second start): a byte every half second is far too slow.
#[test]
fn a_dripped_body_gets_408() {
    let server = testapp("echo_body");
    let head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
    let (reply, took) = drip(&server, head, Duration::from_millis(500));
    assert_eq!(
        status_line(&reply),
        "HTTP/1.1 408 Request Timeout",
        "{}",
        text(&reply)
    );
    assert!(text(body(&reply)).contains("the body came too slowly"));
    assert!(took > Duration::from_millis(9_500), "{took:?}");
    assert!(took < Duration::from_secs(16), "{took:?}");
}

/// A connection that never sends a byte is closed, without a reply (there
/// is no request to answer), after the first-byte timeout of 5 seconds.
#[test]
fn a_silent_client_is_dropped_after_5_seconds() {
    let server = testapp("echo_body");
    let mut stream = server.connect();
    let started = Instant::now();
    let reply = read_reply(&mut stream);
    let took = started.elapsed();
    assert_eq!(reply, b"", "{}", text(&reply));
    assert!(took > Duration::from_millis(4_500), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Then part2, which serves one client at a time, serves the next.
    let reply = server.exchange(GET_HELLO);
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
}

/// After a refusal, the server reads what the client still sends, so that
/// its answer is not lost to a reset; but only for 2 seconds, however
/// fast or slow the client goes on.
#[test]
fn the_drain_after_a_refusal_is_bounded() {
    let server = testapp("echo_body");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY + 1
    );
    let (reply, took) =
        drip(&server, head.as_bytes(), Duration::from_millis(50));
    assert_eq!(status_line(&reply), "HTTP/1.1 413 Content Too Large");
    assert!(took < Duration::from_secs(6), "{took:?}");
    let reply = server.exchange(GET_HELLO);
    assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
}

/// Where a step can serve two clients (webserver3i with two workers), a
/// client that drips its head holds one worker, and only until its
/// deadline: the other clients are served meanwhile.
#[test]
fn a_dripping_client_holds_one_worker_of_3i_not_the_server() {
    let server = Server::start_testapp(
        "part3",
        "webserver3i",
        "echo_body",
        &["--workers", "2", "--quiet"],
    );
    let port = server.port;
    let dripping = thread::spawn(move || {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .expect("send");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            thread::sleep(Duration::from_millis(200));
            let _ = stream.write_all(b"a");
        }
    });
    thread::sleep(Duration::from_millis(300));
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for _ in 0..5 {
        let started = Instant::now();
        let reply = server.exchange(request);
        assert_eq!(status_line(&reply), "HTTP/1.1 200 OK");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    dripping.join().expect("the dripping client");
}
