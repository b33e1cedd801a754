"""The article's Django application: the `helloworld` project's WSGI callable.

Run it with `cargo run -p part2 -- djangoapp:app`, then
`curl -v http://127.0.0.1:8888/hello`. (Ports part2/djangoapp.py.)
"""
from helloworld.wsgi import application as app  # noqa: F401
