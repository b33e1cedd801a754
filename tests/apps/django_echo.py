"""A one-file Django project that echoes `request.body`, for the chunked
upload tests. No middleware: CSRF would refuse a POST without a token."""
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    SECRET_KEY="only-for-tests",
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
)

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def echo(request):
    body = request.body
    text = f"Django got {len(body)} bytes: ".encode() + body
    return HttpResponse(text, content_type="text/plain")


urlpatterns = [path("echo", echo)]
app = get_wsgi_application()
