"""Part 2, exercise 4, a solution: a body in pieces, with a Content-Length.

Run it with
`cargo run -p part2-exercises --bin solution -- ex4_content_length:app`.
"""

LINES = [b"one\n", b"two\n", b"three\n"]


def app(environ, start_response):
    # ANCHOR: solution
    # The length in bytes of the whole body, as a str, as headers are.
    length = sum(len(line) for line in LINES)
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(length)),
    ])
    # ANCHOR_END: solution
    # A generator: the server gets the body one line at a time.
    for line in LINES:
        yield line
