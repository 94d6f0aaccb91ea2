"""Filters of the API's lists: profiles, events and tags (django-filter)."""

import django_filters
from django.utils.translation import gettext_lazy as _

from core.api import MomentFilter
from profiles import places, selectors
from profiles.models import (
    ConsentChannel,
    ConsentRecord,
    ConsentSource,
    ConsentStatus,
    Event,
    Gender,
    Profile,
    Tag,
    Touchpoint,
    ValueTier,
)


class ProfileFilter(django_filters.FilterSet):
    """Filter profiles by attributes, value tier, tag, signup time and a search text."""

    city = django_filters.CharFilter(
        method="filter_city", label=_("City, in any spelling: 上海, 上海市 and Shanghai are one")
    )
    region = django_filters.CharFilter(
        method="filter_region",
        label=_("Region, in any spelling: 广东, 广东省 and Guangdong are one"),
    )
    value_tier = django_filters.ChoiceFilter(choices=ValueTier.choices)
    gender = django_filters.ChoiceFilter(choices=Gender.choices)
    tag = django_filters.CharFilter(
        method="filter_tag", label=_("Tag slug: profiles carrying this tag now (not expired)")
    )
    signup_after = MomentFilter(
        field_name="signup_at", lookup_expr="gte", label=_("Signed up at or after")
    )
    signup_before = MomentFilter(
        field_name="signup_at", lookup_expr="lt", label=_("Signed up before")
    )
    q = django_filters.CharFilter(
        method="filter_q",
        label=_("Search: name contains, email (any case), phone or external ID equals"),
    )

    class Meta:
        model = Profile
        fields = ["city", "region", "value_tier", "gender"]

    def filter_city(self, queryset, name, value):
        return queryset.filter(city__in=places.city_spellings(value)) if value.strip() else queryset

    def filter_region(self, queryset, name, value):
        text = value.strip()
        return queryset.filter(region__in=places.region_spellings(text)) if text else queryset

    def filter_tag(self, queryset, name, value):
        return queryset.filter(selectors.carrying_tag(value))

    def filter_q(self, queryset, name, value):
        text = value.strip()
        return queryset.filter(selectors.profile_search(text)) if text else queryset


class EventFilter(django_filters.FilterSet):
    """Filter events by profile, name, touchpoint and time."""

    external_id = django_filters.CharFilter(
        field_name="profile__external_id", label=_("External ID of the profile")
    )
    name = django_filters.CharFilter()
    channel = django_filters.ChoiceFilter(choices=Touchpoint.choices)
    occurred_after = MomentFilter(
        field_name="occurred_at", lookup_expr="gte", label=_("Occurred at or after")
    )
    occurred_before = MomentFilter(
        field_name="occurred_at", lookup_expr="lt", label=_("Occurred before")
    )

    class Meta:
        model = Event
        fields = ["name", "channel"]


class TagFilter(django_filters.FilterSet):
    """Filter tags by the slug of their category."""

    category = django_filters.CharFilter(field_name="category__slug", label=_("Category slug"))

    class Meta:
        model = Tag
        fields = ["category"]


class ConsentFilter(django_filters.FilterSet):
    """Filter consent records by profile, channel, purpose, status, how and when given."""

    external_id = django_filters.CharFilter(
        field_name="profile__external_id", label=_("External ID of the profile")
    )
    channel = django_filters.ChoiceFilter(choices=ConsentChannel.choices)
    purpose = django_filters.CharFilter(label=_("Purpose, e.g. marketing or profiling"))
    status = django_filters.ChoiceFilter(choices=ConsentStatus.choices)
    source = django_filters.ChoiceFilter(choices=ConsentSource.choices)
    recorded_after = MomentFilter(
        field_name="recorded_at", lookup_expr="gte", label=_("Given at or after")
    )
    recorded_before = MomentFilter(
        field_name="recorded_at", lookup_expr="lt", label=_("Given before")
    )

    class Meta:
        model = ConsentRecord
        fields = ["channel", "purpose", "status", "source"]
