//! A request's head, the request line and the header fields, parsed and
//! checked by the rules of RFC 9112. No I/O and no Python here: the bytes
//! come from `connection.rs`, and a unit test can hand them in directly.
//!
//! Ports `parse_request` of `part2/webserver2.py`, which splits the first
//! line in three and reads no header at all. httparse does the grammar;
//! this file adds what the grammar leaves to the server: the limits, the
//! request target's four forms, one Host, and how the body is framed.

// ANCHOR: limits
/// The longest request line (method, target, version) we read: 414 URI Too
/// Long beyond. Links and form GETs stay far below; RFC 9112 §3 asks for at
/// least 8000 octets.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
/// The longest header line, name and value: 431 beyond. A browser's
/// `Cookie` can reach 8 KiB by itself; twice that leaves it room.
pub const MAX_HEADER_LINE: usize = 16 * 1024;
/// The most header fields a request may have: 431 beyond. Browsers send
/// 10 to 20; a hundred is what gunicorn allows.
pub const MAX_HEADERS: usize = 100;
/// The most the whole head may take, request line to blank line: 431
/// beyond. It bounds what one client can make us keep in memory.
pub const MAX_HEAD: usize = 64 * 1024;
/// The largest request body we accept, decoded: 413 Content Too Large
/// beyond. The whole body is read before the app runs, so this is memory.
pub const MAX_BODY: usize = 10 * 1024 * 1024;
// ANCHOR_END: limits

// ANCHOR: refusal
/// Why a request gets an error reply instead of reaching the app.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    /// The status line's code and reason: `400 Bad Request`.
    pub status: &'static str,
    /// One line for the log and the reply's body.
    pub why: String,
}

/// A refusal with `status`, because `why`.
pub fn refuse(status: &'static str, why: impl Into<String>) -> Refusal {
    Refusal {
        status,
        why: why.into(),
    }
}

/// The commonest refusal: the request breaks HTTP's grammar or rules.
pub fn bad_request(why: impl Into<String>) -> Refusal {
    refuse("400 Bad Request", why)
}
// ANCHOR_END: refusal

// ANCHOR: request
/// A request as the client sent it, its head checked.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, still percent-encoded: `/hello` (`*` for `OPTIONS *`).
    pub path: String,
    /// What follows the first `?` of the target, without any `#fragment`.
    pub query: String,
    /// The host of an absolute-form target (`GET http://host/p`), which
    /// RFC 9112 §3.2.2 says replaces the Host header.
    pub target_host: Option<String>,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: &'static str,
    /// Each header's name and raw value, in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The request line and headers as received (for printing).
    pub head: Vec<u8>,
    /// How the body is framed, and so how to read it.
    pub framing: Framing,
    /// The body, decoded: filled in by the connection once it has come.
    pub body: Vec<u8>,
}

/// How the client says where a request's body ends (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Framing {
    /// `Content-Length: n`: exactly n bytes follow (0: no body).
    Length(usize),
    /// `Transfer-Encoding: chunked`: pieces, each led by its size.
    Chunked,
}
// ANCHOR_END: request

impl Request {
    // ANCHOR: wants_keep_alive
    /// Whether the client asks to keep the connection open for another
    /// request: HTTP/1.1 does unless it says `Connection: close`; HTTP/1.0
    /// does only when it says `Connection: keep-alive`.
    pub fn wants_keep_alive(&self) -> bool {
        let says = |option: &[u8]| {
            self.values("Connection")
                .any(|value| value.eq_ignore_ascii_case(option))
        };
        if self.version == "HTTP/1.1" {
            !says(b"close")
        } else {
            says(b"keep-alive")
        }
    }
    // ANCHOR_END: wants_keep_alive

    // ANCHOR: values
    /// Whether the client asks for `100 Continue` before it sends the body
    /// (an HTTP/1.0 client can't: RFC 9110 §10.1.1 says to ignore it).
    pub fn expects_continue(&self) -> bool {
        self.version == "HTTP/1.1"
            && self
                .values("Expect")
                .any(|value| value.eq_ignore_ascii_case(b"100-continue"))
    }

    /// Every comma-separated value of every header called `name`, trimmed:
    /// `Connection: keep-alive, Upgrade` gives two.
    pub fn values(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, value)| value.split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|value| !value.is_empty())
    }

    /// How many header lines are called `name`.
    fn count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
    // ANCHOR_END: values
}

// ANCHOR: parse_request
/// Parses the head at the start of `buffer`: `Ok(None)` until its blank
/// line has come, `Ok(Some(request))` once it has, a refusal if it breaks
/// a rule or a limit (checked as early as the bytes allow).
pub fn parse_request(buffer: &[u8]) -> Result<Option<Request>, Refusal> {
    let Some(head_length) = head_length(buffer) else {
        check_unfinished(buffer)?;
        return Ok(None);
    };
    let head = &buffer[..head_length];
    check_lines(head)?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        // A blank line that only ended leading empty lines: more to come.
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => return Err(grammar_refusal(err, head)),
    }
    // httparse fills all three once the head is complete.
    let method = parsed.method.unwrap_or_default().to_string();
    let target = parsed.path.unwrap_or_default();
    let version = match parsed.version {
        Some(0) => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let (path, query, target_host) = split_target(&method, target)?;
    let mut request = Request {
        method,
        path,
        query,
        target_host,
        version,
        headers: parsed
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect(),
        head: head.to_vec(),
        framing: Framing::Length(0),
        body: Vec::new(),
    };
    check_host(&request)?;
    request.framing = framing(&request)?;
    Ok(Some(request))
}
// ANCHOR_END: parse_request

// ANCHOR: head_length
/// Where the head ends: just past its blank line, if it has come. A line
/// may end with CRLF or with a bare LF; see `check_lines`.
fn head_length(buffer: &[u8]) -> Option<usize> {
    let mut start = 0;
    // Blank lines before the request line are skipped (RFC 9112 §2.2).
    let mut seen_request_line = false;
    while let Some(i) = buffer[start..].iter().position(|&b| b == b'\n') {
        let end = start + i + 1;
        let blank = matches!(&buffer[start..end], b"\n" | b"\r\n");
        if blank && seen_request_line {
            return Some(end);
        }
        seen_request_line |= !blank;
        start = end;
    }
    None
}
// ANCHOR_END: head_length

// ANCHOR: check_lines
/// The limits, line by line, on a complete head.
// One rule for line ends, the whole head through: CRLF or a bare LF,
// mixed as they come. RFC 9112 §2.2 lets a recipient accept a bare LF,
// and a learner typing a request into `nc` sends nothing else. A bare CR
// is refused (httparse does that): it is how one line poses as two.
fn check_lines(head: &[u8]) -> Result<(), Refusal> {
    if head.len() > MAX_HEAD {
        return Err(head_too_large());
    }
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .skip_while(|line| line.is_empty());
    let request_line = lines.next().unwrap_or_default();
    if request_line.len() > MAX_REQUEST_LINE {
        return Err(uri_too_long());
    }
    if lines.any(|line| line.len() > MAX_HEADER_LINE) {
        return Err(header_too_large());
    }
    Ok(())
}

/// The limits on a head that has not ended yet: refuse as soon as it is
/// sure to break one, without waiting for the rest.
fn check_unfinished(buffer: &[u8]) -> Result<(), Refusal> {
    if buffer.len() >= MAX_HEAD {
        return Err(head_too_large());
    }
    // The line still coming, and whether it is the request line.
    let start = buffer
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let is_request_line = buffer[..start].trim_ascii().is_empty();
    let line = &buffer[start..];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match is_request_line {
        true if line.len() > MAX_REQUEST_LINE => Err(uri_too_long()),
        false if line.len() > MAX_HEADER_LINE => Err(header_too_large()),
        _ => Ok(()),
    }
}

fn uri_too_long() -> Refusal {
    refuse(
        "414 URI Too Long",
        format!("the request line is over {MAX_REQUEST_LINE} bytes"),
    )
}

fn header_too_large() -> Refusal {
    refuse(
        "431 Request Header Fields Too Large",
        format!("a header line is over {MAX_HEADER_LINE} bytes"),
    )
}

fn head_too_large() -> Refusal {
    refuse(
        "431 Request Header Fields Too Large",
        format!("the head is over {MAX_HEAD} bytes"),
    )
}
// ANCHOR_END: check_lines

// ANCHOR: grammar_refusal
/// What httparse found wrong, said so that the client can fix it.
fn grammar_refusal(err: httparse::Error, head: &[u8]) -> Refusal {
    use httparse::Error;
    match err {
        Error::TooManyHeaders => refuse(
            "431 Request Header Fields Too Large",
            format!("more than {MAX_HEADERS} header fields"),
        ),
        Error::Version if speaks_another_version(head) => refuse(
            "505 HTTP Version Not Supported",
            "this server speaks HTTP/1.0 and HTTP/1.1",
        ),
        Error::Version => {
            bad_request("the request line ends in no HTTP version")
        }
        Error::HeaderName => bad_request(
            "a header name is malformed (no space before its colon, \
             no line that starts with a space: obs-fold)",
        ),
        Error::HeaderValue => {
            bad_request("a header value holds a control character")
        }
        Error::NewLine => bad_request("a line ends with a bare CR"),
        Error::Token | Error::Status => bad_request(
            "the request line is not METHOD SP target SP HTTP/1.1, \
             with a target of visible ASCII",
        ),
    }
}

/// Whether the request line ends in a version like `HTTP/2.0` that is
/// well formed but not one of ours.
fn speaks_another_version(head: &[u8]) -> bool {
    let line = head
        .split(|&b| b == b'\n')
        .find(|l| !l.trim_ascii().is_empty());
    let line = line.unwrap_or_default().trim_ascii_end();
    let version = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}
// ANCHOR_END: grammar_refusal

// ANCHOR: split_target
/// Splits the request target into path, query and (for absolute-form) the
/// host, by the four forms of RFC 9112 §3.2.
fn split_target(
    method: &str,
    target: &str,
) -> Result<(String, String, Option<String>), Refusal> {
    // RFC 3986 allows visible ASCII only; httparse lets UTF-8 through.
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad_request(
            "the request target holds a raw byte outside visible ASCII: \
             percent-encode it",
        ));
    }
    // authority-form (`example.com:443`) is CONNECT's alone: a tunnel,
    // which a WSGI server does not make.
    if method == "CONNECT" {
        return Err(refuse(
            "501 Not Implemented",
            "CONNECT makes a tunnel; this server serves WSGI apps only",
        ));
    }
    // asterisk-form: the server as a whole, for OPTIONS only.
    if target == "*" {
        return match method {
            "OPTIONS" => Ok(("*".into(), String::new(), None)),
            _ => Err(bad_request("only OPTIONS may ask for *")),
        };
    }
    let (target, host) = match absolute_form(target) {
        // absolute-form (`http://host/p?q`), as a client sends to a proxy.
        Some((host, rest)) => (rest, Some(host.to_string())),
        // origin-form (`/p?q`): what nearly every request holds.
        None if target.starts_with('/') => (target, None),
        None => {
            return Err(bad_request("the request target must start with /"));
        }
    };
    // A fragment belongs to the client alone (RFC 9110 §4.2.4): drop it.
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    // The query starts at the first `?`, whatever follows it (`?next=/a?b`).
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = if path.is_empty() { "/" } else { path };
    Ok((path.to_string(), query.to_string(), host))
}

/// For `http://host/rest` (or https), the host and `/rest`.
fn absolute_form(target: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = target.split_once("://")?;
    let is_http = scheme.eq_ignore_ascii_case("http")
        || scheme.eq_ignore_ascii_case("https");
    // `/login?next=http://x` is origin-form: its scheme would hold a `/`.
    if !is_http {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((&rest[..end], &rest[end..]))
}
// ANCHOR_END: split_target

// ANCHOR: check_host
/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host; a second one
/// could make us and a proxy in front of us see two different hosts.
fn check_host(request: &Request) -> Result<(), Refusal> {
    match request.count("Host") {
        0 if request.version == "HTTP/1.1" => {
            Err(bad_request("HTTP/1.1 needs a Host header"))
        }
        0 | 1 => Ok(()),
        _ => Err(bad_request("more than one Host header")),
    }
}
// ANCHOR_END: check_host

// ANCHOR: framing
/// How the body is framed (RFC 9112 §6.3), or why it can't be trusted.
// These are the rules request smuggling lives on: a proxy in front of us
// that reads the framing one way while we read it another would take the
// end of one request for the start of the next. So anything unclear is
// refused, and the connection closed.
fn framing(request: &Request) -> Result<Framing, Refusal> {
    if request.count("Transfer-Encoding") == 0 {
        return content_length(request).map(Framing::Length);
    }
    if request.version == "HTTP/1.0" {
        return Err(bad_request("HTTP/1.0 has no Transfer-Encoding"));
    }
    if request.count("Content-Length") > 0 {
        return Err(bad_request(
            "both Content-Length and Transfer-Encoding: which one ends the body?",
        ));
    }
    let chunked = |coding: &[u8]| coding.eq_ignore_ascii_case(b"chunked");
    let codings: Vec<&[u8]> = request.values("Transfer-Encoding").collect();
    match codings.iter().filter(|coding| chunked(coding)).count() {
        _ if !codings.last().is_some_and(|last| chunked(last)) => {
            Err(bad_request(
                "the last transfer coding must be chunked, or the body has no end",
            ))
        }
        1 if codings.len() == 1 => Ok(Framing::Chunked),
        1 => Err(refuse(
            "501 Not Implemented",
            "only the chunked transfer coding is decoded here",
        )),
        _ => Err(bad_request("chunked may be applied only once")),
    }
}

/// The body's length by Content-Length: none means 0. Repeated or listed
/// lengths are fine if they agree (RFC 9112 §6.3); an empty one is not a
/// length (so not `values`, which skips empty ones).
fn content_length(request: &Request) -> Result<usize, Refusal> {
    let mut length = None;
    let lengths = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Content-Length"))
        .flat_map(|(_, value)| value.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii);
    for value in lengths {
        let parsed = std::str::from_utf8(value)
            .ok()
            .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok());
        match (parsed, length) {
            (None, _) => return Err(bad_request("bad Content-Length")),
            (Some(new), Some(old)) if new != old => {
                return Err(bad_request("Content-Length values that differ"));
            }
            (Some(new), _) => length = Some(new),
        }
    }
    match length.unwrap_or(0) {
        n if n > MAX_BODY as u64 => Err(body_too_large()),
        n => Ok(n as usize),
    }
}

/// The refusal for a body over MAX_BODY, however it is framed.
pub fn body_too_large() -> Refusal {
    refuse(
        "413 Content Too Large",
        format!("the body is over {MAX_BODY} bytes"),
    )
}
// ANCHOR_END: framing

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str) -> Result<Option<Request>, Refusal> {
        parse_request(head.as_bytes())
    }

    fn target(target: &str) -> (String, String, Option<String>) {
        let head = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        let request = parse(&head).expect("valid").expect("complete");
        (request.path, request.query, request.target_host)
    }

    #[test]
    fn the_query_starts_at_the_first_question_mark() {
        let (path, query, _) = target("/login?next=http://example.com/home");
        assert_eq!(
            (path.as_str(), query.as_str()),
            ("/login", "next=http://example.com/home")
        );
        let (path, query, _) = target("/a?b?c#frag?x");
        assert_eq!((path.as_str(), query.as_str()), ("/a", "b?c"));
        let (path, query, _) = target("/a#frag");
        assert_eq!((path.as_str(), query.as_str()), ("/a", ""));
    }

    #[test]
    fn absolute_form_gives_path_query_and_host() {
        let got = target("http://example.com:8080/p?q=1");
        assert_eq!(
            got,
            ("/p".into(), "q=1".into(), Some("example.com:8080".into()))
        );
        assert_eq!(target("HTTP://h?x").0, "/");
    }

    #[test]
    fn partial_heads_wait_and_complete_heads_parse() {
        assert!(parse("GET / HTTP/1.1\r\nHost: h\r\n").unwrap().is_none());
        assert!(parse("\r\n").unwrap().is_none());
        assert!(
            parse("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
                .unwrap()
                .is_some()
        );
        // Bare LF, and LF mixed with CRLF, end lines alike.
        assert!(parse("GET / HTTP/1.1\nHost: h\n\n").unwrap().is_some());
        assert!(parse("GET / HTTP/1.1\r\nHost: h\n\r\n").unwrap().is_some());
    }

    #[test]
    fn framing_rules() {
        let framing_of = |headers: &str| {
            let head = format!("POST / HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
            parse(&head).map(|r| r.expect("complete").framing)
        };
        assert_eq!(framing_of(""), Ok(Framing::Length(0)));
        assert_eq!(framing_of("Content-Length: 5\r\n"), Ok(Framing::Length(5)));
        assert_eq!(
            framing_of("Content-Length: 5, 5\r\n"),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            framing_of("Transfer-Encoding: Chunked\r\n"),
            Ok(Framing::Chunked)
        );
        let status = |headers: &str| framing_of(headers).unwrap_err().status;
        assert_eq!(
            status("Content-Length: 5\r\nContent-Length: 6\r\n"),
            "400 Bad Request"
        );
        assert_eq!(status("Content-Length: +5\r\n"), "400 Bad Request");
        assert_eq!(status("Transfer-Encoding: gzip\r\n"), "400 Bad Request");
        assert_eq!(
            status("Transfer-Encoding: gzip, chunked\r\n"),
            "501 Not Implemented"
        );
        assert_eq!(
            status("Transfer-Encoding: chunked, chunked\r\n"),
            "400 Bad Request"
        );
        assert_eq!(
            status("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
            "400 Bad Request"
        );
        let over = format!("Content-Length: {}\r\n", MAX_BODY + 1);
        assert_eq!(status(&over), "413 Content Too Large");
    }

    #[test]
    fn limits_at_their_boundaries() {
        let status = |head: &str| parse(head).unwrap_err().status;
        let line = |target_length: usize| {
            // `GET ` + target + ` HTTP/1.1` is the request line.
            let target = format!("/{}", "a".repeat(target_length - 1));
            format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n")
        };
        let longest = MAX_REQUEST_LINE - "GET  HTTP/1.1".len();
        assert!(parse(&line(longest)).unwrap().is_some());
        assert_eq!(status(&line(longest + 1)), "414 URI Too Long");
        // A request line that is too long is refused before it ends.
        let unfinished = format!("GET /{}", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(status(&unfinished), "414 URI Too Long");
        let header = |value_length: usize| {
            format!(
                "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
                "v".repeat(value_length)
            )
        };
        let longest = MAX_HEADER_LINE - "X: ".len();
        assert!(parse(&header(longest)).unwrap().is_some());
        let status_of = status(&header(longest + 1));
        assert_eq!(status_of, "431 Request Header Fields Too Large");
    }
}
