"""Part 2, exercise 2, a solution: echo the request body.

Run it with
`cargo run -p part2-exercises --bin solution -- ex2_echo_body:app`.
"""


def app(environ, start_response):
    # ANCHOR: solution
    # CONTENT_LENGTH is a str, and may be missing or empty: no body then.
    length = int(environ.get("CONTENT_LENGTH") or 0)
    # Read exactly that much: PEP 3333 lets a server's wsgi.input wait for
    # more, or read into the next request, if you ask for more.
    body = environ["wsgi.input"].read(length)
    # ANCHOR_END: solution
    reply = b"You sent %d bytes: %s\n" % (len(body), body)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [reply]
