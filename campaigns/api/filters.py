"""Filters of the campaigns list (django-filter)."""

import django_filters

from campaigns.channels import channel_choices
from campaigns.models import CHOSEN_KINDS, Campaign


class CampaignFilter(django_filters.FilterSet):
    """Filter campaigns by status, channel and kind."""

    status = django_filters.ChoiceFilter(choices=Campaign.Status.choices)
    channel = django_filters.ChoiceFilter(choices=channel_choices)
    kind = django_filters.ChoiceFilter(choices=CHOSEN_KINDS)  # the list has no flow steps

    class Meta:
        model = Campaign
        fields = ["status", "channel", "kind"]
