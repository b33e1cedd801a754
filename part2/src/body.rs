//! A request's body: exactly Content-Length bytes, or a chunked body
//! decoded (RFC 9112 §7.1). A state machine that is handed bytes as they
//! arrive and takes what it can use; no I/O and no Python, so the same code
//! serves a blocking server (`connection.rs`) and an event loop alike.
//!
//! The article reads no body at all; part 2 reads it whole before the app
//! runs, so `wsgi.input` is a plain in-memory stream of it.

use crate::request::{Framing, MAX_BODY, Refusal, bad_request, body_too_large};

// ANCHOR: chunked_limits
/// The longest chunk-size line (size and extensions) or trailer line we
/// read: 400 beyond. Extensions are rare and short; nothing needs more.
const MAX_CHUNK_LINE: usize = 4096;
/// The most hex digits a chunk size may have: 16 fill a u64, and anything
/// longer is an attempt to overflow someone's counter.
const MAX_SIZE_DIGITS: usize = 16;
/// The most trailer bytes we read (and drop) after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;
// ANCHOR_END: chunked_limits

// ANCHOR: body_reader
/// Reads one request's body from the bytes handed to [`BodyReader::feed`].
pub struct BodyReader {
    state: State,
    /// The decoded body so far.
    body: Vec<u8>,
    /// Trailer bytes seen so far: they are read and dropped, but bounded.
    trailers: usize,
}

/// Where in the body the next byte belongs.
#[derive(Debug, PartialEq)]
enum State {
    /// `n` more bytes of a Content-Length body.
    Length(usize),
    /// A chunk-size line: `1A;name=value\r\n`.
    ChunkSize,
    /// `n` more bytes of a chunk's data.
    ChunkData(usize),
    /// The CRLF that ends a chunk's data.
    ChunkEnd,
    /// After the last chunk (size 0): trailer lines, up to a blank line.
    Trailers,
    /// The whole body has come.
    Done,
}
// ANCHOR_END: body_reader

impl BodyReader {
    // ANCHOR: new
    /// A reader for a body framed as the request's head said.
    pub fn new(framing: Framing) -> BodyReader {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(length) => State::Length(length),
            Framing::Chunked => State::ChunkSize,
        };
        BodyReader {
            state,
            body: Vec::new(),
            trailers: 0,
        }
    }

    /// Whether the whole body has come.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// How many bytes of body (decoded) have come so far.
    pub fn received(&self) -> usize {
        self.body.len()
    }

    /// The decoded body, once it is done.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
    // ANCHOR_END: new

    // ANCHOR: feed
    /// Takes what it can from `input`, the bytes received and not used yet,
    /// and says how many it used: the rest is the start of a line that has
    /// not ended yet, or what the client sent after the body (its next
    /// request). Call again when more bytes come.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, Refusal> {
        let mut used = 0;
        while self.state != State::Done {
            let rest = &input[used..];
            let step = match self.state {
                State::Length(n) | State::ChunkData(n) => self.data(rest, n),
                State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    match line(rest)? {
                        Some(line) => {
                            self.line(line)?;
                            line.len() + 2
                        }
                        None => 0,
                    }
                }
                State::Done => 0,
            };
            if step == 0 {
                break; // wait for more bytes
            }
            used += step;
        }
        Ok(used)
    }
    // ANCHOR_END: feed

    // ANCHOR: data
    /// Body bytes: up to `wanted` of them from `input`.
    fn data(&mut self, input: &[u8], wanted: usize) -> usize {
        let taken = wanted.min(input.len());
        self.body.extend_from_slice(&input[..taken]);
        let left = wanted - taken;
        self.state = match (&self.state, left) {
            (State::Length(_), 0) => State::Done,
            (State::Length(_), left) => State::Length(left),
            (_, 0) => State::ChunkEnd,
            (_, left) => State::ChunkData(left),
        };
        taken
    }
    // ANCHOR_END: data

    // ANCHOR: line
    /// One line of chunked framing, without its CRLF.
    fn line(&mut self, line: &[u8]) -> Result<(), Refusal> {
        match self.state {
            State::ChunkSize => {
                let size = chunk_size(line)?;
                if size > MAX_BODY - self.body.len() {
                    return Err(body_too_large());
                }
                self.state = match size {
                    0 => State::Trailers,
                    size => State::ChunkData(size),
                };
            }
            State::ChunkEnd if line.is_empty() => self.state = State::ChunkSize,
            State::ChunkEnd => {
                return Err(bad_request(
                    "a chunk is longer than its size says",
                ));
            }
            // Trailer fields are read and dropped: WSGI has no place for
            // them, and none may change what the head said.
            State::Trailers if line.is_empty() => self.state = State::Done,
            State::Trailers => {
                self.trailers += line.len() + 2;
                if self.trailers > MAX_TRAILERS {
                    return Err(bad_request("the trailer fields are too long"));
                }
            }
            _ => unreachable!("line() is called in line states only"),
        }
        Ok(())
    }
    // ANCHOR_END: line
}

// ANCHOR: chunk_size
/// The next line of `input`, without its CRLF; `None` if it has not ended.
// The head accepts a bare LF (see request.rs); chunked framing does not.
// A body's framing is where a proxy and a server that disagree by one
// byte turn into request smuggling, so it is read by the letter: CRLF.
fn line(input: &[u8]) -> Result<Option<&[u8]>, Refusal> {
    match input.iter().position(|&b| b == b'\n') {
        Some(i) if i > MAX_CHUNK_LINE + 1 => {
            Err(bad_request("a line of chunked framing is too long"))
        }
        Some(i) if i > 0 && input[i - 1] == b'\r' => Ok(Some(&input[..i - 1])),
        Some(_) => Err(bad_request("chunked framing needs CRLF line ends")),
        None if input.len() > MAX_CHUNK_LINE => {
            Err(bad_request("a line of chunked framing is too long"))
        }
        None => Ok(None),
    }
}

/// Parses `1A` or `1a;name=value` (extensions are allowed and ignored).
fn chunk_size(line: &[u8]) -> Result<usize, Refusal> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad_request("a chunk size must be hex digits"));
    }
    if digits > MAX_SIZE_DIGITS {
        return Err(bad_request("a chunk size is absurdly large"));
    }
    // After the size: nothing, or `;` and extensions, maybe after spaces.
    let rest = line[digits..].trim_ascii_start();
    if !(rest.is_empty() || rest.starts_with(b";")) {
        return Err(bad_request("junk after a chunk size"));
    }
    if rest.iter().any(|&b| b != b'\t' && b.is_ascii_control()) {
        return Err(bad_request("a control character in a chunk extension"));
    }
    let hex =
        std::str::from_utf8(&line[..digits]).expect("hex digits are ASCII");
    // 16 hex digits fit a u64; a size past usize is past MAX_BODY anyway.
    let size = u64::from_str_radix(hex, 16).expect("at most 16 hex digits");
    Ok(usize::try_from(size).unwrap_or(usize::MAX))
}
// ANCHOR_END: chunk_size

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes, as reads would bring it.
    fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), Refusal> {
        let mut reader = BodyReader::new(Framing::Chunked);
        let mut buffer = Vec::new();
        let mut used_total = 0;
        for piece in input.chunks(step) {
            buffer.extend_from_slice(piece);
            let used = reader.feed(&buffer)?;
            buffer.drain(..used);
            used_total += used;
            if reader.is_done() {
                break;
            }
        }
        assert!(reader.is_done(), "not done: {:?}", reader.state);
        Ok((reader.into_body(), used_total))
    }

    #[test]
    fn decodes_chunks_fed_in_any_pieces() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\nA  ;x\r\n0123456789\r\n0\r\nT: v\r\n\r\nNEXT";
        for step in [1, 2, 3, 7, wire.len()] {
            let (body, used) = decode(wire, step).expect("valid");
            assert_eq!(body, b"hello 0123456789", "step {step}");
            assert_eq!(used, wire.len() - 4, "the next request is left");
        }
    }

    #[test]
    fn refuses_malformed_framing() {
        let why = |wire: &[u8]| {
            let mut reader = BodyReader::new(Framing::Chunked);
            reader.feed(wire).map(|_| reader.is_done()).unwrap_err().why
        };
        assert!(why(b"x\r\n").contains("hex"));
        assert!(why(b"-5\r\n").contains("hex"));
        assert!(why(b"5x\r\nhello\r\n").contains("junk"));
        assert!(why(b"11111111111111111\r\n").contains("absurd"));
        assert!(why(b"5\r\nhelloXX\r\n").contains("longer"));
        assert!(why(b"5\nhello\r\n").contains("CRLF"));
        // Too long a line is refused whether it came whole or in pieces.
        let long = format!("5;x={}\r\nhello\r\n", "a".repeat(MAX_CHUNK_LINE));
        assert!(why(long.as_bytes()).contains("too long"));
        assert!(
            why(&long.as_bytes()[..MAX_CHUNK_LINE + 10]).contains("too long")
        );
        let too_big = format!("{:x}\r\n", MAX_BODY + 1);
        assert!(why(too_big.as_bytes()).contains("over"));
    }

    /// Random damage to valid requests, fed to the parser and the body
    /// reader in random pieces: every outcome is an answer, never a panic.
    #[test]
    fn damaged_requests_never_panic() {
        // One request of each kind: chunked, with a length, each target form.
        let valid: [&[u8]; 4] = [
            b"POST /a?b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
            b"PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
            b"GET http://h:80?q#f HTTP/1.1\r\nHost: h\r\n\r\n",
            b"OPTIONS * HTTP/1.0\r\n\r\n",
        ];
        // xorshift: a fixed seed, so a failure is the same on every run.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut random = move |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        let bytes = b"\r\n :;0aF\x00\x7f\xff-#?/*";
        for _ in 0..20_000 {
            let mut input = valid[random(valid.len())].to_vec();
            for _ in 0..1 + random(4) {
                let at = random(input.len());
                match random(3) {
                    0 => input[at] = bytes[random(bytes.len())],
                    1 => drop(input.remove(at)),
                    _ => input.insert(at, bytes[random(bytes.len())]),
                }
            }
            let Ok(Some(request)) = crate::request::parse_request(&input)
            else {
                continue;
            };
            // As the connection does: what is not used waits for more.
            let mut reader = BodyReader::new(request.framing);
            let mut rest = &input[request.head.len()..];
            let mut buffer = Vec::new();
            while !rest.is_empty() && !reader.is_done() {
                let (piece, after) = rest.split_at(1 + random(rest.len()));
                buffer.extend_from_slice(piece);
                rest = after;
                match reader.feed(&buffer) {
                    Ok(used) => drop(buffer.drain(..used)),
                    Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn content_length_bodies_stop_at_their_length() {
        let mut reader = BodyReader::new(Framing::Length(5));
        assert_eq!(reader.feed(b"hel").unwrap(), 3);
        assert!(!reader.is_done());
        assert_eq!(reader.feed(b"loGET").unwrap(), 2);
        assert!(reader.is_done());
        assert_eq!(reader.into_body(), b"hello");
    }
}
