//! Part 1's server, over real sockets: exact bytes, real clients, bad input.

use std::net::TcpListener;
use std::time::Duration;

use wire_tests::{
    PATIENCE, Server, assert_wire, body, output_within, run_tool,
};

// ANCHOR: part1
fn part1() -> Server {
    Server::start("part1", "part1", &[])
}
// ANCHOR_END: part1

// ANCHOR: get_root
#[test]
fn get_root() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = part1().exchange(request);
    assert_wire("part1-get-root", request, &reply);
}
// ANCHOR_END: get_root

#[test]
fn get_hello_as_curl_sends_it() {
    let request = b"GET /hello HTTP/1.1\r\nHost: localhost:8888\r\n\
        User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
    let reply = part1().exchange(request);
    assert_wire("part1-get-hello", request, &reply);
}

/// The article reads once, at most 1024 bytes; this head is three times that.
#[test]
fn request_over_the_articles_1024_byte_read() {
    let padding = "x".repeat(3100);
    let request = format!(
        "GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Padding: {padding}\r\n\r\n"
    );
    assert!(request.len() > 3 * 1024);
    let server = part1();
    let reply = server.exchange(request.as_bytes());
    assert_wire("part1-3k-request", request.as_bytes(), &reply);
    // The server printed the request whole, padding and blank line included.
    assert!(server.wait_for_output("\r\n\r\n", Duration::from_secs(5)));
    assert!(server.output().contains(&padding));
}

/// One request in three writes, as a slow client or a small MTU sends it.
#[test]
fn request_split_in_three_writes() {
    let parts: [&[u8]; 3] =
        [b"GET /hello HT", b"TP/1.1\r\nHost: local", b"host\r\n\r\n"];
    let server = part1();
    let reply = server.exchange_in_parts(&parts, Duration::from_millis(200));
    assert_wire("part1-split-request", &parts.concat(), &reply);
}

#[test]
fn curl_gets_hello_world() {
    let server = part1();
    let url = format!("http://127.0.0.1:{}/hello", server.port);
    assert_eq!(
        run_tool("curl", &["--silent", "--show-error", &url]),
        "Hello, World!"
    );
}

#[test]
fn python_http_client_gets_hello_world() {
    let server = part1();
    let script = format!(
        "import http.client\n\
         c = http.client.HTTPConnection('127.0.0.1', {})\n\
         c.request('GET', '/hello')\n\
         r = c.getresponse()\n\
         print(r.status, r.reason, r.getheader('Content-Length'))\n\
         print(r.read().decode(), end='')\n",
        server.port
    );
    let out = run_tool("python3", &["-c", &script]);
    assert_eq!(out, "200 OK 13\nHello, World!");
}

#[test]
fn garbage_gets_400_and_the_server_goes_on() {
    let server = part1();
    let request = b"HELLO\r\n\r\n";
    let reply = server.exchange(request);
    assert_wire("part1-bad-request", request, &reply);
    let reply = server.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(body(&reply), b"Hello, World!");
}

#[test]
fn oversized_head_gets_431_and_the_server_goes_on() {
    let server = part1();
    let request = format!(
        "GET / HTTP/1.1\r\nX-Padding: {}\r\n\r\n",
        "x".repeat(20_000)
    );
    let reply = server.exchange(request.as_bytes());
    assert!(
        reply.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let reply = server.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(body(&reply), b"Hello, World!");
}

#[test]
fn a_silent_client_does_not_block_the_next_one() {
    let server = part1();
    let _silent = server.connect();
    // The silent client is accepted first; the server gives up on it after
    // its read timeout and then serves this one.
    let reply = server.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(body(&reply), b"Hello, World!");
}

#[test]
fn a_busy_port_is_one_line_and_exit_code_2() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("address").port().to_string();
    let out = output_within(
        std::process::Command::new(wire_tests::binary("part1", "part1"))
            .args(["--port", &port]),
        PATIENCE,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_server() {
    let mut server = part1();
    server.signal(libc::SIGINT);
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(status.is_some(), "part1 still runs after SIGINT");
}
