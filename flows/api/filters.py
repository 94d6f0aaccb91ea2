"""Filters of the flows list and of a flow's enrollments (django-filter)."""

import django_filters

from flows.models import Enrollment, Flow


class FlowFilter(django_filters.FilterSet):
    """Filter flows by status."""

    status = django_filters.ChoiceFilter(choices=Flow.Status.choices)

    class Meta:
        model = Flow
        fields = ["status"]


class EnrollmentFilter(django_filters.FilterSet):
    """Filter enrollments by status and by the key of the step they stand on."""

    status = django_filters.ChoiceFilter(choices=Enrollment.Status.choices)
    step = django_filters.CharFilter(field_name="step_key", max_length=40)

    class Meta:
        model = Enrollment
        fields = ["status", "step"]
