"""API views of campaigns: list and show by slug, create and change, and status actions."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Q
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.response import Response

from campaigns.api import filters, serializers
from campaigns.models import Campaign
from campaigns.selectors import PROGRESS_STATUSES, campaigns_listed
from campaigns.services import workflow
from core.api import (
    NO_DELETE,
    ApiViewSet,
    Conflict,
    DetailSerializer,
    NewestFirstCursor,
    SlugLookup,
    api_action,
    service_refusal,
)
from core.roles import CAMPAIGN_MANAGER


def _refused(exc: DjangoValidationError) -> exceptions.APIException:
    """Return the API error for a ValidationError raised by a workflow service."""
    if isinstance(exc, workflow.CampaignStateError):
        return Conflict(" ".join(exc.messages))
    return service_refusal(exc)


_WRITE_RESPONSES = {
    400: OpenApiResponse(
        description="A field is invalid: {field: [message]}; template errors are listed under "
        '"variants", e.g. "Variant A: Unknown variable: nick. …"'
    ),
    409: OpenApiResponse(DetailSerializer, "The campaign is no longer editable"),
}
_ACTION_RESPONSES = {
    200: serializers.CampaignSerializer,
    404: DetailSerializer,
    409: OpenApiResponse(DetailSerializer, "Not allowed in the campaign's current status"),
}


@extend_schema_view(
    list=extend_schema(summary="List campaigns, newest first (cursor pages)"),
    retrieve=extend_schema(summary="Show a campaign with its variants and ledger counts"),
    create=extend_schema(
        summary="Create a draft campaign (templates are checked now)",
        request=serializers.CampaignWriteSerializer,
        responses={201: serializers.CampaignSerializer, **_WRITE_RESPONSES},
    ),
    update=extend_schema(
        summary="Change a draft or scheduled campaign",
        request=serializers.CampaignWriteSerializer,
        responses={200: serializers.CampaignSerializer, **_WRITE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Change some fields of a draft or scheduled campaign",
        request=serializers.CampaignWriteSerializer,
        responses={200: serializers.CampaignSerializer, **_WRITE_RESPONSES},
    ),
)
class CampaignViewSet(SlugLookup, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Campaigns by slug: read (all roles), write and change status (campaign managers)."""

    serializer_class = serializers.CampaignSerializer
    filterset_class = filters.CampaignFilter
    pagination_class = NewestFirstCursor
    write_roles = (CAMPAIGN_MANAGER,)
    http_method_names = NO_DELETE

    def get_queryset(self):
        counts = {f"n_{s}": Count("sends", filter=Q(sends__status=s)) for s in PROGRESS_STATUSES}
        # The list leaves out the steps of flows; one is still shown and acted on by its slug.
        campaigns = campaigns_listed() if self.action == "list" else Campaign.objects.all()
        return (
            campaigns.annotate(**counts)
            .select_related("trigger_segment", "winner")
            .prefetch_related("include_segments", "exclude_segments", "variants")
        )

    def _shown(self, campaign: Campaign, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=campaign.pk)
        shown = serializers.CampaignSerializer(fresh, context={"with_warnings": True})
        return Response(shown.data, status=code)

    def retrieve(self, request, slug):
        return self._shown(self.get_object())

    def create(self, request):
        given = serializers.CampaignWriteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            campaign = workflow.campaign_create(data=given.validated_data, user=request.user)
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return self._shown(campaign, status.HTTP_201_CREATED)

    def update(self, request, slug, partial=False):
        campaign = self.get_object()
        given = serializers.CampaignWriteSerializer(campaign, data=request.data, partial=partial)
        given.is_valid(raise_exception=True)
        try:
            workflow.campaign_update(
                campaign=campaign, data=given.validated_data, user=request.user
            )
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return self._shown(campaign)

    def partial_update(self, request, slug):
        return self.update(request, slug, partial=True)

    @extend_schema(
        summary="Schedule a draft to be sent at a time in the future",
        request=serializers.ScheduleSerializer,
        responses={
            **_ACTION_RESPONSES,
            400: OpenApiResponse(description="Incomplete campaign or bad time: {field: [message]}"),
        },
    )
    @api_action()
    def schedule(self, request, slug):
        campaign = self.get_object()
        given = serializers.ScheduleSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            workflow.campaign_schedule(
                campaign=campaign, send_at=given.validated_data["send_at"], user=request.user
            )
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return self._shown(campaign)

    def _status_action(self, service) -> Response:
        campaign = self.get_object()
        try:
            service(campaign=campaign, user=self.request.user)
        except DjangoValidationError as exc:
            raise _refused(exc) from None
        return self._shown(campaign)

    @extend_schema(summary="Pause a sending campaign", request=None, responses=_ACTION_RESPONSES)
    @api_action()
    def pause(self, request, slug):
        return self._status_action(workflow.campaign_pause)

    @extend_schema(summary="Resume a paused campaign", request=None, responses=_ACTION_RESPONSES)
    @api_action()
    def resume(self, request, slug):
        return self._status_action(workflow.campaign_resume)

    @extend_schema(
        summary="Cancel a campaign; queued and waiting messages are skipped",
        request=None,
        responses=_ACTION_RESPONSES,
    )
    @api_action()
    def cancel(self, request, slug):
        return self._status_action(workflow.campaign_cancel)
