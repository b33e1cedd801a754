"""Settings of the smallest Django project that serves a page.

No database, no sessions, no templates: Django needs none of them to answer
/hello, and the example starts on a fresh machine with nothing to migrate.
"""
# A fixed key is fine for an example that never runs in production.
SECRET_KEY = "lsbaws-rs example, not a secret"
DEBUG = False
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ROOT_URLCONF = "helloworld.urls"
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
