"""Filters of the segments list (django-filter)."""

import django_filters

from segments.models import Segment


class SegmentFilter(django_filters.FilterSet):
    """Filter segments by kind (dynamic or static) and by the status of their evaluation."""

    kind = django_filters.ChoiceFilter(choices=Segment.Kind.choices)
    status = django_filters.ChoiceFilter(choices=Segment.Status.choices)

    class Meta:
        model = Segment
        fields = ["kind", "status"]
