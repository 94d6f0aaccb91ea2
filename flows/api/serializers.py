"""What flows and their enrollments look like in the API, and what a client sends to write one."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.jsonlimits import ERROR_NUL, json_has_nul
from flows.models import Enrollment, Flow
from flows.profile import profile_enrollments

ERROR_SLUG_FIXED = _("A flow's slug cannot change.")


class FlowSerializer(serializers.ModelSerializer):
    """A flow: its name and definition (writable), its status and live version (read-only)."""

    definition = serializers.JSONField(
        required=False,
        help_text=_(
            "The flow as JSON: trigger, entry_rule, reentry, exit, goal and steps "
            "(see docs/flows.md). A draft may be incomplete; going live checks it whole."
        ),
    )
    version = serializers.IntegerField(
        source="version.number",
        read_only=True,
        allow_null=True,
        help_text=_("The number of the version new entries run (null: never live)"),
    )

    class Meta:
        model = Flow
        fields = [
            "name", "slug", "description", "status", "definition", "version", "paused_reason",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["status", "version", "paused_reason", "created_at"]
        # The service refuses a slug that is taken, with its own message.
        extra_kwargs = {"slug": {"validators": []}}

    def validate_definition(self, value):
        if json_has_nul(value):
            raise serializers.ValidationError(ERROR_NUL)
        return value

    def validate_slug(self, value):
        if self.instance is not None and value != self.instance.slug:
            raise serializers.ValidationError(ERROR_SLUG_FIXED)
        return value


class EnrollmentSerializer(serializers.ModelSerializer):
    """One pass of a profile through a flow: where it is, since when, how it ended."""

    external_id = serializers.CharField(read_only=True, help_text=_("The profile's external ID"))
    version = serializers.IntegerField(
        source="version_number", read_only=True, help_text=_("The flow version it runs")
    )
    step = serializers.CharField(
        source="step_key", read_only=True, help_text=_("The key of the step it stands on")
    )

    class Meta:
        model = Enrollment
        fields = [
            "external_id", "entry", "version", "step", "status", "entered_at", "finished_at",
            "exit_reason", "converted_at",
        ]  # fmt: skip
        read_only_fields = fields


class ProfileFlowSerializer(serializers.ModelSerializer):
    """A flow the profile is or was in, inside the profile's detail."""

    flow = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    step = serializers.CharField(source="step_key", read_only=True)

    class Meta:
        model = Enrollment
        fields = ["flow", "entry", "step", "status", "entered_at"]
        read_only_fields = fields


@extend_schema_field(ProfileFlowSerializer(many=True))
class ProfileFlowsField(serializers.Field):
    """The profile's enrollments, active ones first, then the latest entered first."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, profile):
        return ProfileFlowSerializer(profile_enrollments(profile=profile), many=True).data


def profile_flows_field() -> serializers.Field:
    """Return the ``flows`` field of the profile detail."""
    return ProfileFlowsField(help_text=_("The flows the profile is in or was in (active first)"))
