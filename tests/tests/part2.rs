//! Part 2's WSGI server, over real sockets: the four example apps with real
//! frameworks, the rules of PEP 3333 one by one, bad input, and start-up
//! errors.
//!
//! The example apps run from the repository root, as the README runs them.
//! The test apps of `tests/apps/testapps.py` run from that folder, so they
//! are found in the current directory, as a learner's own module would be.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use wire_tests::{
    GET_HELLO, PATIENCE, Server, assert_wire, binary, body, output_within,
    payload, python_has, run_tool, venv, workspace_root,
};

const GET_NOPE: &[u8] = b"GET /nope HTTP/1.1\r\nHost: localhost:8888\r\n\
    User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

/// part2 serving an example app (`wsgiapp:app`...) from the repository root.
fn example(app: &str) -> Server {
    Server::start("part2", "part2", &[app])
}

/// part2 serving `testapps:NAME` from tests/apps, with the project's venv.
fn testapp(name: &str) -> Server {
    Server::start_testapp("part2", "part2", name, &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---- the four example apps ---------------------------------------------

/// `/hello`, and a path the app does not know, from one example app.
fn hello_and_404(app: &str, name: &str, hello: &str) {
    let server = example(app);
    let reply = server.exchange(GET_HELLO);
    assert_wire(&format!("part2-{name}-hello"), GET_HELLO, &reply);
    assert_eq!(text(&payload(&reply)), hello);
    let reply = server.exchange(GET_NOPE);
    assert!(reply.starts_with(b"HTTP/1.1 404 "), "{}", text(&reply));
    assert_wire(&format!("part2-{name}-404"), GET_NOPE, &reply);
}

#[test]
fn wsgiapp_hello_and_404() {
    let hello = "Hello world from a simple WSGI application!\n";
    hello_and_404("wsgiapp:app", "wsgiapp", hello);
}

#[test]
fn flaskapp_hello_and_404() {
    if python_has("flask") {
        hello_and_404("flaskapp:app", "flask", "Hello world from Flask!\n");
    }
}

#[test]
fn pyramidapp_hello_and_404() {
    if python_has("pyramid") {
        let hello = "Hello world from Pyramid!\n";
        hello_and_404("pyramidapp:app", "pyramid", hello);
    }
}

#[test]
fn djangoapp_hello_and_404() {
    if python_has("django") {
        let hello = "Hello world from Django!\n";
        hello_and_404("djangoapp:app", "django", hello);
    }
}

/// curl, and Python's http.client, get every example app's page.
#[test]
fn real_clients_get_every_example_app() {
    let apps = [
        ("wsgiapp:app", "", "a simple WSGI application"),
        ("flaskapp:app", "flask", "Flask"),
        ("pyramidapp:app", "pyramid", "Pyramid"),
        ("djangoapp:app", "django", "Django"),
    ];
    for (app, module, name) in apps {
        if !module.is_empty() && !python_has(module) {
            continue;
        }
        let server = example(app);
        let url = format!("http://127.0.0.1:{}/hello", server.port);
        let hello = format!("Hello world from {name}!\n");
        let got = run_tool("curl", &["--silent", "--show-error", &url]);
        assert_eq!(got, hello, "curl, {app}");
        let script = format!(
            "import http.client\n\
             c = http.client.HTTPConnection('127.0.0.1', {})\n\
             c.request('GET', '/hello')\n\
             r = c.getresponse()\n\
             print(r.status, r.reason)\n\
             print(r.read().decode(), end='')\n",
            server.port
        );
        let got = run_tool("python3", &["-c", &script]);
        assert_eq!(got, format!("200 OK\n{hello}"), "http.client, {app}");
    }
}

/// The server prints the request and the response a la `curl -v`.
#[test]
fn prints_request_and_response_like_curl_v() {
    let server = example("wsgiapp:app");
    server.exchange(GET_HELLO);
    assert!(server.wait_for_output("bytes of body]", Duration::from_secs(5)));
    let output = server.output();
    assert!(output.contains("< GET /hello HTTP/1.1\n"), "{output}");
    assert!(output.contains("< User-Agent: curl/7.88.1\n"), "{output}");
    assert!(output.contains("> HTTP/1.1 200 OK\n"), "{output}");
    assert!(output.contains("> Content-Length: 44\n"), "{output}");
}

// ---- reading the request whole ------------------------------------------

/// A form, POSTed as a browser sends it, parsed by the app from wsgi.input.
#[test]
fn urlencoded_post_is_echoed_back() {
    let request = b"POST /form HTTP/1.1\r\nHost: localhost\r\n\
        Content-Type: application/x-www-form-urlencoded\r\n\
        Content-Length: 31\r\n\r\nname=Ada+Lovelace&lang=en&lang=";
    let reply = testapp("echo_form").exchange(request);
    assert_wire("part2-post-form", request, &reply);
    assert_eq!(text(body(&reply)), "lang=en\nname=Ada Lovelace\n");
}

/// A POST whose body arrives after a pause, in several writes.
#[test]
fn post_body_in_pieces_is_read_whole() {
    let parts: [&[u8]; 3] = [
        b"POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n",
        b"greeting=hel",
        b"lo+world",
    ];
    let server = testapp("echo_form");
    let reply = server.exchange_in_parts(&parts, Duration::from_millis(200));
    assert_eq!(text(body(&reply)), "greeting=hello world\n");
}

#[test]
fn query_string_is_split_off_the_path() {
    let request =
        b"GET /search?q=web+server&page=2 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = testapp("echo_form").exchange(request);
    assert_wire("part2-query-string", request, &reply);
    assert_eq!(text(body(&reply)), "page=2\nq=web server\n");
}

#[test]
fn request_split_in_three_writes() {
    let parts: [&[u8]; 3] = [
        b"GET /hello HT",
        b"TP/1.1\r\nHost: local",
        b"host:8888\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    ];
    let server = example("wsgiapp:app");
    let reply = server.exchange_in_parts(&parts, Duration::from_millis(200));
    assert_wire("part2-split-request", &parts.concat(), &reply);
}

#[test]
fn head_of_3k_is_read_whole() {
    let padding = "x".repeat(3100);
    let request = format!(
        "GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Padding: {padding}\r\n\r\n"
    );
    let reply = testapp("echo_environ").exchange(request.as_bytes());
    let got = text(body(&reply));
    assert!(
        got.contains(&format!("HTTP_X_PADDING str '{padding}'")),
        "{got}"
    );
}

/// A client that sends `Expect: 100-continue` waits for the server's go
/// before it sends the body (curl does for big bodies).
#[test]
fn expect_100_continue_gets_the_go_ahead() {
    let server = testapp("echo_form");
    let mut stream = server.connect();
    let head = b"POST /form HTTP/1.1\r\nHost: localhost\r\n\
        Content-Length: 11\r\nExpect: 100-continue\r\n\r\n";
    std::io::Write::write_all(&mut stream, head).expect("send the head");
    let go = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut got = [0; 25];
    std::io::Read::read_exact(&mut stream, &mut got).expect("read the go");
    assert_eq!(&got, go, "{}", text(&got));
    std::io::Write::write_all(&mut stream, b"name=hello!").expect("send");
    let reply = wire_tests::read_reply(&mut stream);
    assert_eq!(text(body(&reply)), "name=hello!\n");
}

// ---- the environ of PEP 3333 --------------------------------------------

/// The environ, key by key: every required key with the type PEP 3333
/// asks for, CGI values as native strings (latin-1), headers as HTTP_*.
#[test]
fn environ_has_every_key_of_pep_3333_with_its_type() {
    let server = testapp("echo_environ");
    let request = b"POST /caf%C3%A9/x%2Fy?a=1&b=%20 HTTP/1.1\r\n\
        Host: localhost:8888\r\nContent-Type: text/plain\r\n\
        Content-Length: 5\r\nX-Repeat: one\r\nX-Repeat: two\r\n\
        X-Latin: caf\xe9\r\nX_Underscore: dropped\r\n\r\nhello";
    let reply = server.exchange(request);
    let environ = text(body(&reply));
    let value = |key: &str| -> String {
        let prefix = format!("{key} ");
        environ
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {key} in:\n{environ}"))
            .to_string()
    };
    let port = server.port;
    let expected = [
        ("REQUEST_METHOD", "str 'POST'"),
        ("SCRIPT_NAME", "str ''"),
        // Percent-decoded, each byte one latin-1 char: UTF-8 `é` is two.
        ("PATH_INFO", "str '/caf\\xc3\\xa9/x/y'"),
        ("QUERY_STRING", "str 'a=1&b=%20'"),
        ("CONTENT_TYPE", "str 'text/plain'"),
        ("CONTENT_LENGTH", "str '5'"),
        ("SERVER_NAME", "str '127.0.0.1'"),
        ("SERVER_PORT", &format!("str '{port}'")),
        ("SERVER_PROTOCOL", "str 'HTTP/1.1'"),
        ("REMOTE_ADDR", "str '127.0.0.1'"),
        ("HTTP_HOST", "str 'localhost:8888'"),
        // A repeated header is one key, its values joined by commas.
        ("HTTP_X_REPEAT", "str 'one,two'"),
        ("HTTP_X_LATIN", "str 'caf\\xe9'"),
        ("wsgi.version", "tuple (1, 0)"),
        ("wsgi.url_scheme", "str 'http'"),
        ("wsgi.multithread", "bool False"),
        ("wsgi.multiprocess", "bool False"),
        ("wsgi.run_once", "bool False"),
        ("body", "b'hello'"),
    ];
    for (key, want) in expected {
        assert_eq!(value(key), want, "{key}");
    }
    assert!(value("wsgi.input").starts_with("BytesIO "), "{environ}");
    assert!(
        value("wsgi.errors").starts_with("TextIOWrapper "),
        "{environ}"
    );
    assert!(value("SERVER_SOFTWARE").starts_with("str 'WSGIServer"));
    assert!(value("REMOTE_PORT").starts_with("str '"));
    // CONTENT_TYPE and CONTENT_LENGTH have no HTTP_ twin, and a header
    // with `_` could pose as one with `-`: it is dropped.
    for absent in [
        "HTTP_CONTENT_TYPE",
        "HTTP_CONTENT_LENGTH",
        "HTTP_X_UNDERSCORE",
    ] {
        assert!(!environ.contains(&format!("\n{absent} ")), "{absent}");
    }
}

/// wsgi.input reads like a file of exactly the body, every way PEP 3333
/// lists, and ends where the body ends.
#[test]
fn wsgi_input_reads_every_way_and_ends_with_the_body() {
    let server = testapp("read_input");
    let cases = [
        ("/read", "[b'ab\\ncd\\nef', b'']"),
        ("/read-n", "[b'ab\\nc', b'd\\nef', b'', b'']"),
        ("/readline", "[b'ab\\n', b'cd\\n', b'ef', b'']"),
        ("/readlines", "[b'ab\\n', b'cd\\n', b'ef', b'']"),
        ("/iterate", "[b'ab\\n', b'cd\\n', b'ef', b'']"),
    ];
    for (path, want) in cases {
        // More bytes follow the body: they are not part of it.
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n\
             ab\ncd\nefEXTRA"
        );
        let reply = server.exchange(request.as_bytes());
        assert_eq!(text(body(&reply)), format!("{want}\n"), "{path}");
    }
}

/// wsgiref's validator checks both sides of PEP 3333; with its warnings
/// made errors, any rule the server broke would turn into a 500.
#[test]
fn wsgiref_validator_finds_nothing_wrong() {
    let server = testapp("validated");
    let get =
        server.exchange(b"GET /v?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(get.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", text(&get));
    assert_eq!(body(&get), b"got ");
    let post = server.exchange(
        b"POST /v HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n\
          Content-Length: 4\r\n\r\ndata",
    );
    assert!(post.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", text(&post));
    assert_eq!(body(&post), b"got data");
    let output = server.output();
    for sign in ["Warning", "Error", "Traceback", "Exception"] {
        assert!(!output.contains(sign), "{sign} in the output:\n{output}");
    }
}

// ---- start_response, write, close and the body -------------------------

#[test]
fn an_app_that_raises_gets_500_and_the_server_goes_on() {
    let server = testapp("raises");
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = server.exchange(request);
    assert_wire("part2-app-raises", request, &reply);
    // The traceback goes to stderr, where the developer looks.
    let traceback = "RuntimeError: the app failed on purpose";
    assert!(server.wait_for_output(traceback, Duration::from_secs(5)));
    assert!(
        server
            .output()
            .contains("Traceback (most recent call last)")
    );
    // And the next request is served as usual.
    let reply = server.exchange(request);
    assert!(reply.starts_with(b"HTTP/1.1 500 "));
}

/// Once the head is out, a 500 is too late: the client gets a chunked
/// reply without its last chunk, which every client sees as cut short.
#[test]
fn an_app_that_fails_half_way_cuts_the_reply_short() {
    let server = testapp("raises_late");
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = server.exchange(request);
    assert_wire("part2-app-fails-half-way", request, &reply);
    assert!(!reply.ends_with(b"0\r\n\r\n"));
    let url = format!("http://127.0.0.1:{}/", server.port);
    let curl =
        output_within(Command::new("curl").args(["--silent", &url]), PATIENCE);
    // curl's exit code 18: "Partial file. Only a part of the file was
    // transferred."
    assert_eq!(curl.status.code(), Some(18), "{curl:?}");
}

#[test]
fn a_str_body_gets_500_that_says_why() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = testapp("str_body").exchange(request);
    assert_wire("part2-str-body", request, &reply);
    assert!(text(body(&reply)).contains("returned str where WSGI needs bytes"));
}

#[test]
fn write_sends_the_body_as_the_app_writes_it() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = testapp("writer").exchange(request);
    assert_wire("part2-write", request, &reply);
}

#[test]
fn a_body_of_unknown_length_is_chunked() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = testapp("generator").exchange(request);
    assert_wire("part2-chunked", request, &reply);
}

/// An HTTP/1.0 client can't read chunks: the body ends when we close.
#[test]
fn http_1_0_gets_a_body_that_ends_at_the_close() {
    let request = b"GET / HTTP/1.0\r\n\r\n";
    let reply = testapp("generator").exchange(request);
    assert_wire("part2-http-1-0", request, &reply);
}

#[test]
fn head_gets_the_head_of_get_and_no_body() {
    let request = b"HEAD /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = example("wsgiapp:app").exchange(request);
    assert_wire("part2-head", request, &reply);
    assert!(body(&reply).is_empty());
}

/// The app's own Date and Server win over ours; header values go out as
/// latin-1, one byte per char. (No snapshot: the kit would rightly refuse
/// a Date that is not now.)
#[test]
fn the_apps_headers_go_out_as_it_set_them() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = testapp("app_headers").exchange(request);
    let head = &reply[..reply.len() - body(&reply).len()];
    let count =
        |line: &[u8]| head.windows(line.len()).filter(|w| *w == line).count();
    assert_eq!(count(b"\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), 1);
    assert_eq!(count(b"\r\nDate: "), 1);
    assert_eq!(count(b"\r\nServer: testapps\r\n"), 1);
    assert_eq!(count(b"\r\nServer: "), 1);
    assert_eq!(count(b"\r\nX-Latin-1: caf\xe9\r\n"), 1);
    assert_eq!(body(&reply), b"ok\n");
}

#[test]
fn a_header_that_would_split_the_response_gets_500() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = testapp("bad_header").exchange(request);
    assert!(reply.starts_with(b"HTTP/1.1 500 "), "{}", text(&reply));
    assert!(!text(&reply).contains("\r\nSet-Cookie"), "{}", text(&reply));
    assert!(text(body(&reply)).contains("would break the response head"));
}

/// The app's Content-Length frames the body: one that is no number would
/// go out beside ours and leave the client two lengths to choose from.
#[test]
fn a_content_length_that_is_no_number_gets_500() {
    let reply = testapp("bad_length")
        .exchange(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(reply.starts_with(b"HTTP/1.1 500 "), "{}", text(&reply));
    assert!(text(body(&reply)).contains("\"abc\" is not a number of bytes"));
}

#[test]
fn start_response_twice_without_exc_info_gets_500() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = testapp("twice").exchange(request);
    assert!(reply.starts_with(b"HTTP/1.1 500 "), "{}", text(&reply));
    assert!(text(body(&reply)).contains("a second time without exc_info"));
}

#[test]
fn start_response_with_exc_info_replaces_the_head() {
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let reply = testapp("error_page").exchange(request);
    assert_wire("part2-exc-info", request, &reply);
}

/// PEP 3333: the server calls the iterable's close() when the body is
/// sent, and also when sending it fails.
/// A client that hangs up while the body is being sent is reported in one
/// line: it is nobody's bug, and a traceback would say it was the app's.
#[test]
fn a_client_that_hangs_up_is_one_line_not_a_traceback() {
    let server = testapp("big_body");
    let mut stream = server.connect();
    let request = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    std::io::Write::write_all(&mut stream, request).expect("send");
    let mut some = [0; 1000];
    std::io::Read::read_exact(&mut stream, &mut some).expect("read a bit");
    drop(stream);
    let gone = "part2: the client went away: ";
    assert!(
        server.wait_for_output(gone, Duration::from_secs(10)),
        "{}",
        server.output()
    );
    assert!(
        !server.output().contains("Traceback"),
        "{}",
        server.output()
    );
    // And the next client is served.
    let reply = server.exchange(request);
    assert_eq!(body(&reply).len(), 20_000_000 + 20 * 9 + 5);
}

#[test]
fn the_iterables_close_is_always_called() {
    let server = testapp("closing");
    let count = |server: &Server| {
        let reply =
            server.exchange(b"GET /count HTTP/1.1\r\nHost: localhost\r\n\r\n");
        text(body(&reply))
    };
    assert_eq!(count(&server), "close() was called 0 times\n");
    let ok = server.exchange(b"GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert!(ok.ends_with(b"part two\n\r\n0\r\n\r\n"), "{}", text(&ok));
    assert_eq!(count(&server), "close() was called 1 times\n");
    let _ = server.exchange(b"GET /fail HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(count(&server), "close() was called 2 times\n");
    // Even when the client is gone before the body is sent.
    let mut gone = server.connect();
    std::io::Write::write_all(
        &mut gone,
        b"GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .expect("send");
    drop(gone);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&server), "close() was called 3 times\n");
}

// ---- bad requests (the rest, class by class, are in http_core.rs) -------

#[test]
fn garbage_gets_400_and_the_server_goes_on() {
    let server = example("wsgiapp:app");
    let request = b"HELLO\r\n\r\n";
    let reply = server.exchange(request);
    assert_wire("part2-bad-request", request, &reply);
    assert_eq!(text(body(&server.exchange(GET_HELLO))).len(), 44);
}

// ---- start-up: Python, the venv, the app, the port ----------------------

/// Runs part2 with `args` until it exits (it must fail to start).
fn run_part2(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary("part2", "part2"));
    command.args(["--port", "0"]).args(args).current_dir(dir);
    command.env_remove("VIRTUAL_ENV").envs(envs.iter().copied());
    output_within(&mut command, PATIENCE)
}

/// Exit code 2 and one line on stderr that contains every word of `want`.
fn assert_one_line_exit_2(out: &Output, want: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for word in want {
        assert!(stderr.contains(word), "{word:?} not in {stderr}");
    }
}

#[test]
fn bad_app_paths_are_one_line_and_exit_code_2() {
    let root = workspace_root();
    let out = run_part2(&root, &["wsgiapp"], &[]);
    assert_one_line_exit_2(&out, &["\"wsgiapp\" is not module:callable"]);
    let out = run_part2(&root, &["nosuchmodule:app"], &[]);
    // It says where it looked: the current directory and part2/apps.
    let apps = root.join("part2/apps");
    let apps = apps.to_str().expect("a UTF-8 path");
    let here = root.to_str().expect("a UTF-8 path");
    assert_one_line_exit_2(
        &out,
        &["no module named \"nosuchmodule\"", apps, here],
    );
    let out = run_part2(&root, &["wsgiapp:nosuch"], &[]);
    assert_one_line_exit_2(&out, &["wsgiapp", "has no \"nosuch\""]);
}

#[test]
fn a_busy_port_is_one_line_and_exit_code_2() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("address").port().to_string();
    let out = output_within(
        Command::new(binary("part2", "part2"))
            .args(["--port", &port, "wsgiapp:app"])
            .current_dir(workspace_root()),
        PATIENCE,
    );
    assert_one_line_exit_2(&out, &[&format!("127.0.0.1:{port}"), "in use"]);
}

/// A scratch folder under cargo's target dir, made empty.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create a scratch folder");
    dir
}

/// A venv made by the Python part2 was built for, without pip (faster).
fn make_venv(dir: &Path, args: &[&str]) {
    let python = venv().join("bin/python");
    let python = python.to_str().expect("a UTF-8 path");
    let dir = dir.to_str().expect("a UTF-8 path");
    let mut all = vec!["-m", "venv", "--without-pip"];
    all.extend_from_slice(args);
    all.push(dir);
    run_tool(python, &all);
}

/// A venv without Flask: part2 names the missing package, and the fix in
/// that venv (not in ./.venv): its pip, or first the command that makes one.
#[test]
fn a_missing_framework_is_named_with_its_fix() {
    let empty = scratch("venv-without-flask");
    make_venv(&empty, &[]);
    let venv = empty.to_str().expect("a UTF-8 path");
    let run = || {
        run_part2(
            &workspace_root(),
            &["flaskapp:app"],
            &[("VIRTUAL_ENV", venv)],
        )
    };
    let missing = "flaskapp needs the Python package \"flask\"";
    // Made --without-pip: first pip itself, then the frameworks.
    let ensurepip = format!("`{venv}/bin/python -m ensurepip`");
    let install = format!("`{venv}/bin/pip install -r requirements.txt`");
    let out = run();
    assert_one_line_exit_2(&out, &[missing, &ensurepip, &install]);
    // With a pip (its file is all the message looks for), just the install.
    fs::write(empty.join("bin/pip"), "").expect("write a pip");
    let out = run();
    assert_one_line_exit_2(&out, &[missing, &install]);
    assert!(!text(&out.stderr).contains("ensurepip"), "{out:?}");
}

#[cfg(unix)]
#[test]
fn a_venv_of_another_python_version_is_refused() {
    let venv = scratch("venv-of-python-3-0");
    fs::create_dir_all(venv.join("bin")).expect("create bin/");
    let python = wire_tests::venv().join("bin/python");
    std::os::unix::fs::symlink(python, venv.join("bin/python"))
        .expect("link python");
    fs::write(venv.join("pyvenv.cfg"), "version = 3.0.1\n").expect("write");
    let dir = venv.to_str().expect("a UTF-8 path");
    let out =
        run_part2(&workspace_root(), &["wsgiapp:app"], &[("VIRTUAL_ENV", dir)]);
    assert_one_line_exit_2(&out, &["is Python 3.0.1", "built for"]);
}

/// The venv's packages win over the base Python's, even in a venv that
/// sees the base's packages too; and `./.venv` is found without
/// VIRTUAL_ENV, next to a module in the current directory.
#[test]
fn the_venvs_packages_win_and_dot_venv_is_found() {
    let dir = scratch("dot-venv");
    let dot_venv = dir.join(".venv");
    make_venv(&dot_venv, &["--system-site-packages"]);
    // pip is in the base Python's site-packages; a `pip` of our own, in
    // the venv's, must shadow it.
    let site = fs::read_dir(dot_venv.join("lib"))
        .expect("list lib/")
        .next()
        .expect("lib/pythonX.Y")
        .expect("an entry")
        .path()
        .join("site-packages/pip");
    fs::create_dir_all(&site).expect("create the fake pip");
    fs::write(site.join("__init__.py"), "__version__ = 'from-the-venv'\n")
        .expect("write the fake pip");
    fs::write(
        dir.join("whichpip.py"),
        "import sys, pip\n\
         def app(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [f'{pip.__version__} {sys.prefix}'.encode()]\n",
    )
    .expect("write the app");
    let server = Server::start_in(
        &dir,
        "part2",
        "part2",
        &["whichpip:app"],
        &[("VIRTUAL_ENV", "")],
    );
    let reply = server.exchange(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let got = text(body(&reply));
    let prefix = dot_venv.to_str().expect("a UTF-8 path");
    assert_eq!(got, format!("from-the-venv {prefix}"));
}

/// A VIRTUAL_ENV whose venv was deleted falls through to ./.venv.
#[test]
fn a_stale_virtual_env_falls_back_to_dot_venv() {
    if !python_has("flask") {
        return;
    }
    let server = Server::start_with(
        "part2",
        "part2",
        &["flaskapp:app"],
        &[("VIRTUAL_ENV", "/no/such/venv")],
    );
    let reply = server.exchange(GET_HELLO);
    assert_eq!(text(body(&reply)), "Hello world from Flask!\n");
}

/// The binary finds its libpython with no help from the environment (the
/// build records its folder in the binary): start it with none at all.
#[test]
fn part2_starts_with_an_empty_environment() {
    let mut child = Command::new(binary("part2", "part2"))
        .args(["--port", "0", "wsgiapp:app"])
        .current_dir(workspace_root())
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start part2");
    let stdout = child.stdout.take().expect("piped");
    let mut first = String::new();
    let read = std::io::BufRead::read_line(
        &mut std::io::BufReader::new(stdout),
        &mut first,
    );
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    assert!(read.is_ok() && first.contains("port "), "{first}{out:?}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_server() {
    let mut server = example("wsgiapp:app");
    let _ = server.exchange(GET_HELLO);
    server.signal(libc::SIGINT);
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(status.is_some(), "part2 still runs after SIGINT");
}
