"""What journey stages and the funnel look like in the API."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from journeys.forms import ERROR_DATE_YEARS, ERROR_DATES_ORDER
from journeys.models import JourneyStage
from journeys.selectors import FunnelFilters
from segments.rules import MAX_NAME, MAX_YEAR, MIN_YEAR


class StageSerializer(serializers.ModelSerializer):
    """A stage with how many profiles are at it now and how many reached it (at or beyond)."""

    current = serializers.SerializerMethodField(help_text=_("Profiles at this stage now."))
    reached = serializers.SerializerMethodField(
        help_text=_("Profiles at this stage or a later one.")
    )
    rule = serializers.JSONField(help_text=_("The entry rule, in the segment rule format."))

    class Meta:
        model = JourneyStage
        fields = ["slug", "name", "position", "active", "rule", "current", "reached"]

    def get_current(self, stage) -> int:
        return self.context["counts"].get(stage.slug, {}).get("current", 0)

    def get_reached(self, stage) -> int:
        return self.context["counts"].get(stage.slug, {}).get("reached", 0)


class FunnelQuerySerializer(serializers.Serializer):
    """The funnel's filters, as query parameters."""

    segment = serializers.SlugField(
        required=False, allow_blank=True, max_length=MAX_NAME, allow_unicode=True,
        help_text=_("Only members of this segment (slug)."),
    )  # fmt: skip
    channel = serializers.CharField(
        required=False, allow_blank=True, max_length=50,
        help_text=_("Only profiles acquired through this channel (Profile.channel)."),
    )  # fmt: skip
    signup_from = serializers.DateField(
        required=False, help_text=_("Only profiles that signed up on or after this day.")
    )
    signup_to = serializers.DateField(
        required=False, help_text=_("Only profiles that signed up on or before this day.")
    )

    def validate_channel(self, value: str) -> str:
        if "\x00" in value:
            raise serializers.ValidationError(_("Text must not contain the NUL character."))
        return value

    def _day(self, day):
        if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
            raise serializers.ValidationError(ERROR_DATE_YEARS.format(low=MIN_YEAR, high=MAX_YEAR))
        return day

    def validate_signup_from(self, day):
        return self._day(day)

    def validate_signup_to(self, day):
        return self._day(day)

    def validate(self, attrs):
        start, end = attrs.get("signup_from"), attrs.get("signup_to")
        if start and end and start > end:
            raise serializers.ValidationError({"signup_to": [ERROR_DATES_ORDER]})
        return attrs

    def filters(self) -> FunnelFilters:
        data = self.validated_data
        return FunnelFilters(
            segment=data.get("segment", ""),
            channel=data.get("channel", ""),
            signup_from=data.get("signup_from"),
            signup_to=data.get("signup_to"),
        )


class FunnelStageSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    current = serializers.IntegerField(help_text=_("Profiles at this stage now."))
    reached = serializers.IntegerField(help_text=_("Profiles at this stage or a later one."))
    share = serializers.FloatField(
        allow_null=True, help_text=_("reached / the profiles selected (null when none).")
    )
    conversion = serializers.FloatField(
        allow_null=True,
        help_text=_("reached / the previous stage's reached (null for the first stage)."),
    )
    median_seconds = serializers.FloatField(
        allow_null=True,
        help_text=_("Median seconds from reaching the previous stage to reaching this one."),
    )


class CohortSerializer(serializers.Serializer):
    month = serializers.CharField(help_text=_("The sign-up month, YYYY-MM (configured zone)."))
    signups = serializers.IntegerField()
    reached = serializers.ListField(child=serializers.IntegerField())
    share = serializers.ListField(child=serializers.FloatField())


class TrendSerializer(serializers.Serializer):
    week = serializers.DateField(help_text=_("The Monday the week starts on."))
    stage = serializers.CharField()
    n = serializers.IntegerField(help_text=_("Profiles that entered the stage that week."))


class FunnelFiltersSerializer(serializers.Serializer):
    segment = serializers.CharField()
    channel = serializers.CharField()
    signup_from = serializers.DateField(allow_null=True)
    signup_to = serializers.DateField(allow_null=True)


class FunnelSerializer(serializers.Serializer):
    filters = FunnelFiltersSerializer()
    profiles = serializers.IntegerField(help_text=_("Profiles the filters select."))
    stages = FunnelStageSerializer(many=True)
    cohorts = CohortSerializer(many=True, help_text=_("By sign-up month, oldest first."))
    trend = TrendSerializer(many=True, help_text=_("Stage entries per week, last 26 weeks."))
