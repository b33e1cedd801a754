"""Part 2, exercise 3, a solution: 404 Not Found and 405 Method Not Allowed.

Run it with
`cargo run -p part2-exercises --bin solution -- ex3_routes:app`.
"""


def app(environ, start_response):
    # ANCHOR: solution
    if environ["PATH_INFO"] != "/hello":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found\n"]
    # HEAD is a GET whose body the server leaves out: answer it as a GET.
    if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
        start_response("405 Method Not Allowed", [
            ("Content-Type", "text/plain"),
            ("Allow", "GET, HEAD"),
        ])
        return [b"Method Not Allowed\n"]
    # ANCHOR_END: solution
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello world from a simple WSGI application!\n"]
