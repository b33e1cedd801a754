"""URL routes of the helloworld project."""
from django.urls import path

from helloworld.views import hello

urlpatterns = [path("hello", hello)]
