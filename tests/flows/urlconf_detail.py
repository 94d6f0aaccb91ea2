"""A URLconf holding only a ``flows:detail`` page, to test links to it."""

from django.http import HttpResponse
from django.urls import include, path


def _page(request, slug):
    return HttpResponse(slug)


urlpatterns = [
    path("flows/", include(([path("<slug:slug>/", _page, name="detail")], "flows"))),
]
