"""The article's Pyramid application.

Run it with `cargo run -p part2 -- pyramidapp:app`, then
`curl -v http://127.0.0.1:8888/hello`. (Ports part2/pyramidapp.py.)
"""
from pyramid.config import Configurator
from pyramid.response import Response


def hello_world(request):
    return Response(
        "Hello world from Pyramid!\n",
        content_type="text/plain",
    )


config = Configurator()
config.add_route("hello", "/hello")
config.add_view(hello_world, route_name="hello")
# make_wsgi_app() returns the WSGI callable.
app = config.make_wsgi_app()
