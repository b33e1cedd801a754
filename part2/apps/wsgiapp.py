"""A WSGI application with no framework: just the callable PEP 3333 asks for.

Run it with `cargo run -p part2 -- wsgiapp:app`, then
`curl -v http://127.0.0.1:8888/hello`. (Ports part2/wsgiapp.py.)
"""


def app(environ, start_response):
    """Say hello on / and /hello; anything else is not here."""
    if environ["PATH_INFO"] not in ("/", "/hello"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found\n"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    # The body is bytes, never str: the server sends them as they are.
    return [b"Hello world from a simple WSGI application!\n"]
