"""Part 2, exercise 4: a body in pieces, with a Content-Length.

The app yields its body line by line. The server can't know the length in
advance, so it sends the body chunked. Say the length yourself, and the
reply gets a Content-Length instead. Change the code marked TODO. Run it
with
`cargo run -p part2-exercises --bin exercise -- ex4_content_length:app`,
check it with
`cargo exercises check part2-ex4-content-length`.
The book's page "Part 2: Exercises" gives the task, a hint and the
expected reply.
"""

LINES = [b"one\n", b"two\n", b"three\n"]


def app(environ, start_response):
    # TODO: add a Content-Length header: how many bytes LINES hold.
    start_response("200 OK", [("Content-Type", "text/plain")])
    # A generator: the server gets the body one line at a time.
    for line in LINES:
        yield line
