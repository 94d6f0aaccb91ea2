"""Campaign pages."""

from django.shortcuts import render


def index(request):
    """List campaigns (sending comes with the campaigns issue)."""
    return render(request, "campaigns/list.html")
