"""What segments and their members look like in the API, and how a rule is checked."""

from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core.errors import error_text
from segments.models import Segment, SegmentMembership
from segments.rules import RuleError, parse_rule
from segments.selectors import segment_rule

ERROR_STATIC_RULE = _("A static segment has no rule; send {} (an empty object).")
ERROR_RENAME_REFERENCED = _(
    "The slug cannot change while other segments refer to it: {slugs}. Change their rules first."
)
ERROR_DELETE_REFERENCED = _(
    "This segment cannot be deleted while other segments refer to it: {slugs}. "
    "Change their rules first."
)
ERROR_SLUG_RESERVED = _("“{slug}” is reserved by the API; choose another slug.")
RESERVED_SLUGS = frozenset({"preview"})  # segments/preview/ is an action, not a segment
ERROR_STATIC_EVALUATE = _("A static segment is a list; only dynamic segments are evaluated.")


def _segment_references(node: Any) -> Iterator[str]:
    """Yield every segment slug a rule (as stored JSON) refers to, however deep."""
    if isinstance(node, dict):
        slug = node.get("segment")
        if isinstance(slug, str):
            yield slug
        for value in node.values():
            yield from _segment_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _segment_references(value)


def segment_referrers(slug: str, *, exclude_pk: int | None = None) -> list[str]:
    """Return the slugs of the other dynamic segments whose rule refers to segment ``slug``."""
    others = Segment.objects.filter(kind=Segment.Kind.DYNAMIC).exclude(pk=exclude_pk)
    return sorted(
        other_slug
        for other_slug, rule in others.values_list("slug", "rule").iterator()
        if slug in set(_segment_references(rule))
    )


def rule_error(error: RuleError) -> serializers.ValidationError:
    """Return the 400 of a refused rule: ``{"rule": ["<path>: <message>"]}``."""
    return serializers.ValidationError({"rule": [str(error)]})


class SegmentSerializer(serializers.ModelSerializer):
    """A segment: its definition (writable) and the state of its last evaluation (read-only)."""

    rule = serializers.JSONField(
        required=False,
        help_text=_(
            "The rule tree (all / any / not of conditions, see the product's rule format); "
            "{} for a static segment."
        ),
    )

    error = serializers.SerializerMethodField(
        help_text=_("Why the last evaluation failed, in the request's language; else empty")
    )

    class Meta:
        model = Segment
        fields = [
            "name", "slug", "description", "kind", "rule", "refresh_minutes", "status",
            "version", "size", "last_run_at", "last_duration_ms", "error",
        ]  # fmt: skip
        read_only_fields = [
            "status", "version", "size", "last_run_at", "last_duration_ms", "error",
        ]  # fmt: skip
        extra_kwargs = {"slug": {"allow_unicode": True}}

    def get_error(self, segment: Segment) -> str:
        return error_text(segment.error)

    def validate(self, attrs):
        instance = self.instance
        kind = attrs.get("kind", instance.kind if instance else Segment.Kind.DYNAMIC)
        rule = attrs.get("rule", instance.rule if instance else {})
        slug = attrs.get("slug", instance.slug if instance else None)
        if slug in RESERVED_SLUGS and (instance is None or slug != instance.slug):
            raise serializers.ValidationError({"slug": [ERROR_SLUG_RESERVED.format(slug=slug)]})
        if instance is not None and slug != instance.slug:
            referrers = segment_referrers(instance.slug, exclude_pk=instance.pk)
            if referrers:
                raise serializers.ValidationError(
                    {"slug": [ERROR_RENAME_REFERENCED.format(slugs=", ".join(referrers))]}
                )
        if kind == Segment.Kind.STATIC:
            if rule != {}:
                raise serializers.ValidationError({"rule": [ERROR_STATIC_RULE]})
            return attrs
        try:
            parse_rule(rule, resolve=segment_rule, slug=slug)
        except RuleError as error:
            raise rule_error(error) from None
        return attrs

    def update(self, instance, validated_data):
        """Write only the fields given, so a concurrent evaluation's results are kept."""
        for field, value in validated_data.items():
            setattr(instance, field, value)
        instance.save(update_fields=[*validated_data, "updated_at"])
        return instance


class PreviewInSerializer(serializers.Serializer):
    """A rule to count now, without saving anything."""

    rule = serializers.JSONField(help_text=_("The rule tree to count"))
    slug = serializers.CharField(
        required=False,
        max_length=64,
        help_text=_("The segment being edited, if any, so a rule referring back to it is refused"),
    )


class PreviewSerializer(serializers.Serializer):
    """How many profiles match a rule now, and a few of them."""

    size = serializers.IntegerField()
    sample = serializers.ListField(
        child=serializers.CharField(), help_text=_("External IDs of a few matching profiles")
    )
    as_of = serializers.DateTimeField(help_text=_("The moment the rule was counted at"))
    opted_out = serializers.IntegerField(
        help_text=_(
            "Profiles the rule would also select but leaves out because they withdrew "
            "personalised profiling (0 when the rule reads no behaviour)"
        )
    )


class MemberSerializer(serializers.ModelSerializer):
    """A profile in a segment: its external_id, since when and from which version."""

    external_id = serializers.CharField(read_only=True)

    class Meta:
        model = SegmentMembership
        fields = ["external_id", "since", "version_added"]
        read_only_fields = fields
