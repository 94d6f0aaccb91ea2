"""Segment pages."""

from django.shortcuts import render


def index(request):
    """List segments (the rule engine comes with the segments issue)."""
    return render(request, "segments/list.html")
