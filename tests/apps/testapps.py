"""WSGI apps that the tests of part2 and webserver3h run, one per rule of
PEP 3333 that a server must get right. None needs a framework.

The tests start the server in this folder, so `testapps:echo_environ` is
found from the current directory, as a learner's own module would be.
"""
import sys
import warnings
from urllib.parse import parse_qs
from wsgiref.validate import WSGIWarning, validator


def echo_environ(environ, start_response):
    """Each environ key, the type of its value, and the value's repr (with
    every non-ASCII char escaped, so latin-1 values read unambiguously)."""
    body = environ["wsgi.input"].read()
    lines = [f"{key} {type(value).__name__} {ascii(value)}"
             for key, value in sorted(environ.items())]
    lines.append(f"body {body!r}")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["\n".join(lines).encode() + b"\n"]


def read_input(environ, start_response):
    """Reads wsgi.input every way PEP 3333 lists, one per request path."""
    stream = environ["wsgi.input"]
    how = environ["PATH_INFO"]
    if how == "/read":
        got = [stream.read()]
    elif how == "/read-n":
        got = [stream.read(4), stream.read(4), stream.read()]
    elif how == "/readline":
        got = [stream.readline(), stream.readline(3), stream.readline()]
    elif how == "/readlines":
        got = stream.readlines()
    else:
        got = list(stream)
    # The end of input is the end of the body: reads return b"".
    got.append(stream.read())
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(got).encode() + b"\n"]


def echo_body(environ, start_response):
    """What the app is told about the body, then the body (or, when it is
    long, its length): for the tests of chunked bodies and of limits."""
    body = environ["wsgi.input"].read()
    shown = repr(body) if len(body) <= 200 else f"of {len(body)} bytes"
    lines = [f"{key} {environ.get(key)!r}" for key in
             ("CONTENT_LENGTH", "wsgi.input_terminated",
              "HTTP_TRANSFER_ENCODING")]
    lines.append(f"body {shown}")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["\n".join(lines).encode() + b"\n"]


def echo_form(environ, start_response):
    """Parses an urlencoded form (POST body, or the query string on GET)."""
    if environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length).decode("latin-1")
    else:
        data = environ["QUERY_STRING"]
    form = parse_qs(data)
    lines = [f"{key}={', '.join(values)}" for key, values in sorted(form.items())]
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return ["\n".join(lines).encode() + b"\n"]


def raises(environ, start_response):
    """Fails before start_response: the server must answer 500."""
    raise RuntimeError("the app failed on purpose")


def raises_late(environ, start_response):
    """Fails after the head has gone: the client sees a cut-off reply."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first part\n"
    raise RuntimeError("the app failed half-way on purpose")


def str_body(environ, start_response):
    """The classic mistake: str where WSGI wants bytes."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["Hello, str!\n"]


def writer(environ, start_response):
    """The old imperative API: write() the body, return nothing more."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    write(b"with write()\n")
    return []


def generator(environ, start_response):
    """A body in pieces, length unknown: chunked for HTTP/1.1."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one\n"
    yield b""  # an empty piece must not end the chunked body
    yield b"two\n"


def app_headers(environ, start_response):
    """Sets Date and Server itself, and a non-ASCII latin-1 value."""
    start_response("200 OK", [
        ("Content-Type", "text/plain"),
        ("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("Server", "testapps"),
        ("X-Latin-1", "caf\u00e9"),
    ])
    return [b"ok\n"]


def bad_header(environ, start_response):
    """A header value that would split the response: must be refused."""
    start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: x=1")])
    return [b"never sent\n"]


def bad_length(environ, start_response):
    """A Content-Length that is no number: the server can't frame by it."""
    start_response("200 OK", [("Content-Length", "abc")])
    return [b"hello"]


def twice(environ, start_response):
    """start_response a second time without exc_info is an error."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"never sent\n"]


def error_page(environ, start_response):
    """Catches its own error and replaces the head, with exc_info."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("something went wrong")
    except ValueError:
        start_response("503 Service Unavailable",
                       [("Content-Type", "text/plain")], sys.exc_info())
    return [b"Sorry, try again later.\n"]


class ClosingBody:
    """An iterable whose close() counts its calls, as PEP 3333 requires a
    server to call it: after the body is sent, and also when sending fails.
    """
    closed = 0

    def __init__(self, fail):
        self.fail = fail

    def __iter__(self):
        yield b"part one\n"
        if self.fail:
            raise RuntimeError("the iterable failed on purpose")
        yield b"part two\n"

    def close(self):
        ClosingBody.closed += 1


def closing(environ, start_response):
    """/ok and /fail return a ClosingBody; /count says how many closed."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] == "/count":
        return [f"close() was called {ClosingBody.closed} times\n".encode()]
    return ClosingBody(fail=environ["PATH_INFO"] == "/fail")


def _validated(environ, start_response):
    """A plain app for wsgiref's validator: reads the body, echoes it."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body) + 4))])
    return [b"got ", body]


# Every warning of the validator becomes an error (and so a 500), and its
# checks raise AssertionError: a 200 means the server broke no rule.
warnings.simplefilter("error", WSGIWarning)
validated = validator(_validated)


# ---- for the forking servers of part 3 ----------------------------------

def sleepy(environ, start_response):
    """Takes QUERY_STRING seconds (default 2) to answer."""
    import time
    time.sleep(float(environ["QUERY_STRING"] or 2))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"slept\n"]


def random_number(environ, start_response):
    """A random number. Python reseeds `random` in a child only when the
    fork went through os.fork(): children of a bare fork(2) would all
    answer the same number."""
    import random
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(random.random()).encode()]


def subprocess_status(environ, start_response):
    """Runs a command that exits with 3 and reports the status it got."""
    import subprocess
    status = subprocess.run(["sh", "-c", "exit 3"]).returncode
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"exit status {status}\n".encode()]


def prints(environ, start_response):
    """Prints to stdout: the words must reach the server's output."""
    print("printed by the app")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"printed\n"]


def short_body(environ, start_response):
    """Promises 10 bytes and sends 5: the client can only learn the body
    is over when the connection closes."""
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", "10")])
    return [b"short"]


def big_body(environ, start_response):
    """20 MB in 1 MB pieces: more than the socket's buffers hold, so the
    server is still writing when a client that hangs up is gone."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return (b"x" * 1_000_000 for _ in range(20))


# ---- for the pre-fork arbiter (webserver3i) ----------------------------

def pid(environ, start_response):
    """The process id of the worker that serves the request."""
    import os
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{os.getpid()}\n".encode()]


def dies_at_fork(environ, start_response):
    """Answers; but from its first request on (the warm-up, in the parent
    of a pre-fork server), every child of os.fork() exits at once, with
    status 3: a worker that dies while booting, again and again."""
    import os
    if not getattr(dies_at_fork, "armed", False):
        os.register_at_fork(after_in_child=lambda: os._exit(3))
        dies_at_fork.armed = True
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\n"]


def leaks_descriptors(environ, start_response):
    """Lowers this process's descriptor limit to 3: only 0, 1 and 2 may be
    open, so the worker's next accept() fails with EMFILE ("too many open
    files"), as if the app had leaked every descriptor. Only on /leak: not
    on the warm-up request, which the parent serves."""
    import resource
    if environ["PATH_INFO"] != "/leak":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, hard))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"no descriptor left\n"]


# ---- for the threaded servers of part 3 ---------------------------------

def spin(environ, start_response):
    """Burns the CPU in Python for QUERY_STRING million loop turns (default
    1): it holds the GIL all along, as pure-Python work does. Answers with
    the CPU time the loop took, in seconds."""
    import time
    turns = int(float(environ["QUERY_STRING"] or 1) * 1_000_000)
    started = time.thread_time()
    total = 0
    for i in range(turns):
        total += i
    spent = time.thread_time() - started
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{spent:.6f}\n".encode()]


# ANCHOR: counter
visits = 0
visits_lock = __import__("threading").Lock()


def _visit():
    """Reads the counter, waits as an app waits for its database (the GIL
    is released meanwhile), and writes the counter back plus one."""
    import time
    global visits
    seen = visits
    time.sleep(0.05)
    visits = seen + 1


def counter(environ, start_response):
    """/visit counts a visit in a module-level counter, without a lock;
    /count says how many were counted. /locked-visit takes a lock around
    the same read and write."""
    if environ["PATH_INFO"] == "/visit":
        _visit()
    elif environ["PATH_INFO"] == "/locked-visit":
        with visits_lock:
            _visit()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{visits}\n".encode()]
# ANCHOR_END: counter


def boot_fails_when_flagged(environ, start_response):
    """The worker's process id. From its first request on (the warm-up, in
    the parent of a pre-fork server), a child of os.fork() exits at once,
    with status 3, while the file boot-fails-PPID exists in the temporary
    folder (PPID: the parent's process id): a test makes the workers that
    a reload starts fail to boot."""
    import os
    import tempfile
    if not getattr(boot_fails_when_flagged, "armed", False):
        def check_flag():
            flag = os.path.join(tempfile.gettempdir(),
                                f"boot-fails-{os.getppid()}")
            if os.path.exists(flag):
                os._exit(3)
        os.register_at_fork(after_in_child=check_flag)
        boot_fails_when_flagged.armed = True
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{os.getpid()}\n".encode()]


# ---- for the event loop (webserver3l) -------------------------------------

_ticks = [0]


def _tick():
    import time
    while True:
        time.sleep(0.01)
        _ticks[0] += 1


def ticker(environ, start_response):
    """How often a Python thread of the app's own has ticked (every 10 ms)
    since the first request started it. It can tick only while nobody holds
    the GIL: a server that kept it while waiting for clients would stop it.
    """
    import threading
    if not hasattr(ticker, "thread"):
        ticker.thread = threading.Thread(target=_tick, daemon=True)
        ticker.thread.start()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(_ticks[0]).encode()]
