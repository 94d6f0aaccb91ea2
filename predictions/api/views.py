"""API views of predictions: every scored profile, in keyset pages, with filters."""

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins

from core.api import READ_ONLY, ApiViewSet, OldestFirstCursor
from predictions.api.serializers import PredictionSerializer
from predictions.models import SCORE_NAMES, Prediction
from profiles.audit import AuditedReads


class PredictionFilter(django_filters.FilterSet):
    """Filter scores by cluster, least churn risk and least lifetime value."""

    churn_risk__gte = django_filters.NumberFilter(field_name="churn_risk", lookup_expr="gte")
    clv_365d__gte = django_filters.NumberFilter(field_name="clv_365d", lookup_expr="gte")

    class Meta:
        model = Prediction
        fields = ["cluster"]


class PredictionCursor(OldestFirstCursor):
    """Pages of up to 1,000 scores in profile order."""

    ordering = "profile_id"
    max_page_size = 1000


@extend_schema(summary="List the live scores of every scored profile")
class PredictionViewSet(AuditedReads, mixins.ListModelMixin, ApiViewSet):
    """Scores: read-only (a refresh writes them)."""

    queryset = Prediction.objects.select_related("profile").only(
        "profile__external_id", *SCORE_NAMES
    )
    serializer_class = PredictionSerializer
    filterset_class = PredictionFilter
    pagination_class = PredictionCursor
    http_method_names = READ_ONLY
