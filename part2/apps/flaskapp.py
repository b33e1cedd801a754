"""The article's Flask application.

Run it with `cargo run -p part2 -- flaskapp:app`, then
`curl -v http://127.0.0.1:8888/hello`. (Ports part2/flaskapp.py.)
"""
from flask import Flask, Response

flask_app = Flask("flaskapp")


@flask_app.route("/hello")
def hello_world():
    return Response("Hello world from Flask!\n", mimetype="text/plain")


# The WSGI callable; `flask_app` itself would do too (its __call__ calls
# wsgi_app, which middleware can wrap).
app = flask_app.wsgi_app
