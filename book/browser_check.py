"""Reads the built book, and part 1's and part 2's servers, in a real
headless Chromium.

Run it through `bash book/browser-check.sh`, which builds what it needs and
installs what is missing. It drives Chromium over the DevTools protocol:

1. opens every page of the book and fails on any console error, uncaught
   exception or failed load;
2. types a word into the book's search box, key by key, and expects a hit;
3. opens each server's /hello and expects its text on the page;
4. saves screenshots of the part 1 chapter and of the performance chapter
   (its chart) for a person to look at.

Usage: browser_check.py BOOK_DIR SCREENSHOT_DIR WORD PAGE SERVER_BINARY...
(PAGE: a part of a page's path that must be among the hits, or "" for any.)
"""

import base64
import http.server
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from functools import partial

import websocket  # websocket-client, pinned in browser-check.sh

# What each server must show at /hello, and its arguments. The binary's file
# name picks the row. part2 serves the article's Flask app, found from the
# repository root, where browser-check.sh runs us, with ./.venv's Flask.
HELLO = {
    "part1": ([], "Hello, World!"),
    "part2": (["--quiet", "flaskapp:app"], "Hello world from Flask!"),
}
# The pages to photograph: (page, file name in SCREENSHOT_DIR).
SCREENSHOTS = [
    ("part1/index.html", "part1.png"),
    ("performance.html", "performance.png"),
]
PATIENCE = 30  # seconds for any one thing to happen

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # we run as root, where the sandbox can't start
    "--disable-gpu",
    "--disable-background-networking",  # no calls home: the check is offline
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
    "--remote-debugging-port=0",
]


def fail(message):
    print(f"book/browser-check: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


class Browser:
    """One Chromium tab, driven over the DevTools protocol."""

    def __init__(self, profile):
        self.process = subprocess.Popen(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Chromium says where its DevTools endpoint is on stderr.
        port = None
        deadline = time.monotonic() + PATIENCE
        while port is None and time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                fail("chromium exited at start")
            found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            port = found and int(found.group(1))
        if port is None:
            fail("chromium did not open its DevTools port")
        # Keep draining stderr, or Chromium blocks once the pipe is full.
        threading.Thread(target=self.process.stderr.read, daemon=True).start()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
            tab = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = websocket.create_connection(
            tab["webSocketDebuggerUrl"], suppress_origin=True
        )
        self.ws.settimeout(PATIENCE)
        self.next_id = 0
        self.errors = []  # console errors and failed loads, as text
        self.events = []  # every other event, for wait_for
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def close(self):
        # Browser.close lets Chromium stop its helper processes, which would
        # otherwise still write to the profile while we delete it.
        try:
            self.call("Browser.close")
        except (websocket.WebSocketException, OSError):
            pass
        self.ws.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _receive(self):
        message = json.loads(self.ws.recv())
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in (
            "error",
            "assert",
        ):
            args = params["args"]
            text = " ".join(str(a.get("value", a.get("description"))) for a in args)
            self.errors.append(f"console.{params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            exception = details.get("exception", {}).get("description")
            self.errors.append(f"uncaught: {exception or details['text']}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(f"{entry['text']} {entry.get('url', '')}")
        elif method:
            self.events.append(method)
        return message

    def call(self, method, **params):
        """Sends one command and returns its result."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == self.next_id:
                if "error" in message:
                    fail(f"{method}: {message['error']}")
                return message["result"]

    def open(self, url):
        """Loads url and waits for its load event."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + PATIENCE
        while "Page.loadEventFired" not in self.events:
            if time.monotonic() > deadline:
                fail(f"{url} did not finish loading")
            self._receive()

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_until(self, expression, what):
        """Polls a JavaScript expression until it is truthy; returns it."""
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        fail(what)

    def type(self, text):
        """Types text key by key, as a person would."""
        for char in text:
            for kind in ("keyDown", "keyUp"):
                self.call("Input.dispatchKeyEvent", type=kind, text=char, key=char)


def serve_folder(folder):
    """Serves folder on 127.0.0.1 on a free port, in a thread; returns the port."""
    handler = partial(QuietHandler, directory=folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def start_server(binary, args):
    """Starts a server with --port 0 and returns it and the port it printed."""
    process = subprocess.Popen(
        [binary, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    first_line = process.stdout.readline()
    found = re.search(r"port (\d+)", first_line)
    if not found:
        process.kill()
        fail(f"{binary} printed no port: {first_line!r}")
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, int(found.group(1))


def main():
    book_dir, screenshot_dir, word, page, *binaries = sys.argv[1:]
    book = f"http://127.0.0.1:{serve_folder(book_dir)}"
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        browser = Browser(profile)
        try:
            check_pages(browser, book, book_dir)
            check_search(browser, book, word, page)
            for binary in binaries:
                check_hello(browser, binary)
            for page_path, name in SCREENSHOTS:
                browser.open(f"{book}/{page_path}")
                time.sleep(0.5)  # let the chart's image load
                shot = browser.call("Page.captureScreenshot", format="png")
                with open(f"{screenshot_dir}/{name}", "wb") as out:
                    out.write(base64.b64decode(shot["data"]))
        finally:
            browser.close()
    names = ", ".join(name for _, name in SCREENSHOTS)
    print(f"book/browser-check: screenshots ({names}) in {screenshot_dir}")


def check_pages(browser, book, book_dir):
    """Every page in the table of contents loads without an error."""
    with open(f"{book_dir}/toc.html") as toc:
        pages = sorted(set(re.findall(r'href="([^"#]+\.html)"', toc.read())))
    if not pages:
        fail("the table of contents lists no page")
    for page in pages:
        browser.errors.clear()
        browser.open(f"{book}/{page}")
        # Give late scripts and fonts a moment to complain.
        time.sleep(0.3)
        browser.evaluate("1")
        if browser.errors:
            fail(f"{page}: " + "; ".join(browser.errors))
    print(f"book/browser-check: {len(pages)} pages load with no console error")


def check_search(browser, book, word, page):
    """Typing the word into the search box lists a page that contains it."""
    browser.open(f"{book}/index.html")
    browser.evaluate("document.getElementById('mdbook-search-toggle').click()")
    browser.wait_until(
        "document.activeElement.id === 'mdbook-searchbar'",
        "the search box did not open",
    )
    browser.type(word)
    hits = browser.wait_until(
        "Array.from(document.querySelectorAll('#mdbook-searchresults li'),"
        " li => [li.innerText, li.querySelector('a').href])",
        f"searching for {word!r} found nothing",
    )
    if not any(word.lower() in text.lower() for text, _ in hits):
        fail(f"no search hit for {word!r} shows it: {hits}")
    if not any(page in href for _, href in hits):
        fail(f"no search hit for {word!r} is on a page {page!r}: {hits}")
    if browser.errors:
        fail("searching: " + "; ".join(browser.errors))
    print(f"book/browser-check: searching for {word!r} finds {len(hits)} hits")


def check_hello(browser, binary):
    name = binary.rsplit("/", 1)[-1]
    args, expected = HELLO[name]
    process, port = start_server(binary, args)
    try:
        browser.errors.clear()
        browser.open(f"http://127.0.0.1:{port}/hello")
        # The browser asks for /favicon.ico after the page: let that finish
        # while this server runs, so that its outcome is counted here.
        time.sleep(0.5)
        text = browser.evaluate("document.body.innerText")
        if text.strip() != expected:
            fail(f"{name}'s /hello shows {text!r}, not {expected!r}")
        # An app without a favicon rightly answers 404 (Flask does); the
        # browser logs that as an error of its own request, not the page's.
        browser.errors[:] = [
            e for e in browser.errors
            if not ("404" in e and e.endswith("/favicon.ico"))
        ]
        if browser.errors:
            fail(f"{name}'s /hello (port {port}): " + "; ".join(browser.errors))
    finally:
        process.kill()
        process.wait()
    print(f"book/browser-check: {name}'s /hello shows {expected!r}")


if __name__ == "__main__":
    main()
