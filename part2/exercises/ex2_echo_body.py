"""Part 2, exercise 2: echo the request body.

Answer a POST with the size of its body and the body itself:
`You sent 10 bytes: name=World`. Change the line marked TODO. Run it with
`cargo run -p part2-exercises --bin exercise -- ex2_echo_body:app`,
check it with
`cargo exercises check part2-ex2-echo-body`.
The book's page "Part 2: Exercises" gives the task, a hint and the
expected replies.
"""


def app(environ, start_response):
    # TODO: read the body from environ["wsgi.input"], CONTENT_LENGTH bytes.
    body = b""
    reply = b"You sent %d bytes: %s\n" % (len(body), body)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [reply]
