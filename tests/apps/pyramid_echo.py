"""A Pyramid app that echoes `request.body`, for the chunked upload tests."""
from pyramid.config import Configurator
from pyramid.response import Response


def echo(request):
    body = request.body
    text = f"Pyramid got {len(body)} bytes: ".encode() + body
    return Response(body=text, content_type="text/plain")


with Configurator() as config:
    config.add_route("echo", "/echo")
    config.add_view(echo, route_name="echo", request_method="POST")
    app = config.make_wsgi_app()
