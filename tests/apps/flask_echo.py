"""A Flask app that echoes what `request.get_data()` gives: the chunked
upload tests check that the framework reads the decoded body."""
from flask import Flask, request

app = Flask(__name__)


@app.post("/echo")
def echo():
    data = request.get_data()
    return f"Flask got {len(data)} bytes: ".encode() + data
