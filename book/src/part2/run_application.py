"""Both sides of WSGI in one file, with no socket: a sketch, not a server.

run_application is the server's side: it builds an environ, hands the
application a start_response to call, and puts the reply together from what
it got back. app is the application's side. Run it to see the reply:

    python3 book/src/part2/run_application.py
"""


def run_application(application):
    """The server's side: one call of the application, one reply."""
    # start_response leaves the status and the headers here, for later.
    headers_set = []
    # A real server fills this from the request it read (get_environ).
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/hello"}

    def start_response(status, response_headers, exc_info=None):
        headers_set[:] = [status, response_headers]

    # The application returns the body, as an iterable of bytestrings...
    body = b"".join(application(environ, start_response))
    # ...and by then it has called start_response, so the head is known.
    status, response_headers = headers_set
    lines = [f"HTTP/1.1 {status}"]
    lines += [f"{name}: {value}" for name, value in response_headers]
    head = "".join(line + "\r\n" for line in lines) + "\r\n"
    # A real server would now send this to the client (finish_response).
    return head.encode("latin-1") + body


def app(environ, start_response):
    """The application's side: a status, headers, and a body in pieces."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello from ", environ["PATH_INFO"].encode("latin-1"), b"\n"]


if __name__ == "__main__":
    print(run_application(app))
