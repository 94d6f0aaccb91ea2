"""API views of journeys: the stages with their counts, the funnel with filters."""

import django_filters
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins
from rest_framework.response import Response

from core.api import READ_ONLY, ApiView, ApiViewSet
from core.roles import ALL_ROLES
from journeys import selectors
from journeys.api import serializers
from journeys.models import JourneyStage
from segments.rules import RuleError


class StageFilter(django_filters.FilterSet):
    """Filter stages by whether they are active."""

    class Meta:
        model = JourneyStage
        fields = ["active"]


@extend_schema(summary="List the journey stages in order, with how many profiles reached each")
class StageViewSet(mixins.ListModelMixin, ApiViewSet):
    """Journey stages: read-only here (ops staff edit them on the stages page)."""

    queryset = JourneyStage.objects.order_by("position")
    serializer_class = serializers.StageSerializer
    filterset_class = StageFilter
    pagination_class = None
    http_method_names = READ_ONLY

    def get_serializer_context(self):
        counts = {row["stage"].slug: row for row in selectors.stages_with_counts()}
        return {**super().get_serializer_context(), "counts": counts}


class FunnelView(ApiView):
    """The funnel, cohorts and weekly stage entries for the profiles the filters select."""

    write_roles = ALL_ROLES  # only GET is served: any role holder is told 405 for the rest

    @extend_schema(
        summary="Show the journey funnel: reached counts, conversions, median times, cohorts",
        parameters=[serializers.FunnelQuerySerializer],
        responses={
            200: serializers.FunnelSerializer,
            400: OpenApiResponse(description="A filter is invalid: {field: [message]}"),
        },
    )
    def get(self, request):
        query = serializers.FunnelQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.filters()
        try:
            result = selectors.funnel(filters)
        except RuleError as error:
            return Response({"segment": [error.message]}, status=400)
        result["cohorts"] = selectors.funnel_cohorts(filters)
        result["trend"] = selectors.stage_trend(filters)
        return Response(serializers.FunnelSerializer(result).data)
