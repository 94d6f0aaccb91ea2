"""API views of segments: CRUD by slug, preview a rule, queue an evaluation, page members."""

from django.db import transaction
from django.db.models import F
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.response import Response

from core.api import (
    ApiViewSet,
    DetailSerializer,
    OldestFirstCursor,
    Refused,
    SlugLookup,
    api_action,
)
from profiles.audit import AuditedReads
from segments.api import filters, serializers
from segments.models import Segment, SegmentMembership
from segments.rules import RuleError
from segments.services import segment_preview
from segments.tasks import segment_evaluate_task


def segment_queue(segment: Segment) -> None:
    """Mark the segment queued (unless a worker holds it) and evaluate it once this commits."""
    Segment.objects.filter(pk=segment.pk).exclude(status=Segment.Status.EVALUATING).update(
        status=Segment.Status.QUEUED
    )
    segment.refresh_from_db(fields=["status"])
    transaction.on_commit(lambda pk=segment.pk: segment_evaluate_task.delay(pk))


_WRITE_RESPONSES = {
    400: OpenApiResponse(
        description="A field is invalid: {field: [message]}; a bad rule names its node, "
        'e.g. {"rule": ["all[0].op: …"]}'
    ),
}


@extend_schema_view(
    list=extend_schema(summary="List segments by name"),
    retrieve=extend_schema(summary="Show a segment and the state of its last evaluation"),
    create=extend_schema(
        summary="Create a segment (a dynamic one is queued for evaluation)",
        responses={201: serializers.SegmentSerializer, **_WRITE_RESPONSES},
    ),
    update=extend_schema(
        summary="Replace a segment's definition (a dynamic one is queued for evaluation)",
        responses={200: serializers.SegmentSerializer, **_WRITE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Change some fields of a segment (a dynamic one is queued for evaluation)",
        responses={200: serializers.SegmentSerializer, **_WRITE_RESPONSES},
    ),
    destroy=extend_schema(
        summary="Delete a segment no other segment refers to",
        responses={
            204: OpenApiResponse(description="Deleted"),
            400: OpenApiResponse(DetailSerializer, "Other segments refer to it (named)"),
        },
    ),
)
class SegmentViewSet(
    AuditedReads,
    SlugLookup,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ApiViewSet,
):
    """Segments: CRUD by slug, preview a rule, queue an evaluation, page through members."""

    queryset = Segment.objects.order_by("name", "pk")
    serializer_class = serializers.SegmentSerializer
    filterset_class = filters.SegmentFilter

    def perform_create(self, serializer):
        self._saved(serializer.save())

    def perform_update(self, serializer):
        self._saved(serializer.save())

    def _saved(self, segment: Segment) -> None:
        if segment.kind == Segment.Kind.DYNAMIC:
            segment_queue(segment)

    def perform_destroy(self, instance):
        referrers = serializers.segment_referrers(instance.slug, exclude_pk=instance.pk)
        if referrers:
            raise Refused(serializers.ERROR_DELETE_REFERENCED.format(slugs=", ".join(referrers)))
        instance.delete()

    @extend_schema(
        summary="Count the profiles a rule selects now, with a sample; nothing is saved",
        request=serializers.PreviewInSerializer,
        responses={
            200: serializers.PreviewSerializer,
            400: OpenApiResponse(description='The rule is invalid: {"rule": ["<path>: …"]}'),
        },
    )
    @api_action(detail=False)
    def preview(self, request):
        given = serializers.PreviewInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            result = segment_preview(
                rule=given.validated_data["rule"], slug=given.validated_data.get("slug")
            )
        except RuleError as error:
            raise serializers.rule_error(error) from None
        return Response(serializers.PreviewSerializer(result).data)

    @extend_schema(
        summary="Queue an evaluation of a dynamic segment now",
        request=None,
        responses={
            202: OpenApiResponse(serializers.SegmentSerializer, "Queued"),
            400: OpenApiResponse(DetailSerializer, "A static segment is not evaluated"),
            404: DetailSerializer,
        },
    )
    @api_action()
    def evaluate(self, request, slug):
        segment = self.get_object()
        if segment.kind != Segment.Kind.DYNAMIC:
            raise Refused(serializers.ERROR_STATIC_EVALUATE)
        segment_queue(segment)
        return Response(
            serializers.SegmentSerializer(segment).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(
        summary="Page through a segment's members in the order they entered (cursor pages)",
        responses={200: serializers.MemberSerializer(many=True), 404: DetailSerializer},
    )
    @api_action(
        methods=["get"],
        pagination_class=OldestFirstCursor,
        serializer_class=serializers.MemberSerializer,
    )
    def members(self, request, slug):
        segment = self.get_object()
        members = SegmentMembership.objects.filter(segment=segment).annotate(
            external_id=F("profile__external_id")
        )
        page = self.paginate_queryset(members)
        return self.get_paginated_response(serializers.MemberSerializer(page, many=True).data)
