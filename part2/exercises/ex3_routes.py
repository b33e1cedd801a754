"""Part 2, exercise 3: 404 Not Found and 405 Method Not Allowed.

Only `/hello` exists, and only for GET and HEAD: any other path gets a 404,
any other method a 405 with an `Allow` header. Change the code marked TODO.
Run it with
`cargo run -p part2-exercises --bin exercise -- ex3_routes:app`,
check it with
`cargo exercises check part2-ex3-routes`.
The book's page "Part 2: Exercises" gives the task, a hint and the
expected replies.
"""


def app(environ, start_response):
    # TODO: answer 404 for a path other than /hello, and 405 (with an
    # Allow header) for a method other than GET and HEAD.
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello world from a simple WSGI application!\n"]
