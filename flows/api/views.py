"""API views of flows: CRUD by slug, go live, pause, and page through a flow's enrollments."""

from collections import defaultdict

from django.db.models import F
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, status
from rest_framework.response import Response

from core.api import (
    NO_SLASH,
    ApiViewSet,
    Conflict,
    DetailSerializer,
    NewestFirstCursor,
    OldestFirstCursor,
    SlugLookup,
    api_action,
    lookup_check,
)
from core.roles import CAMPAIGN_MANAGER
from flows.api import filters, serializers
from flows.definition import FlowError
from flows.models import Enrollment, Flow
from flows.services import (
    ERROR_ARCHIVED,
    flow_create,
    flow_delete,
    flow_go_live,
    flow_pause,
    flow_update,
)
from profiles.audit import AuditedReads

ERROR_PAUSE_NOT_LIVE = _("Only a live flow can be paused.")
# Places of a FlowError that are fields of their own; every other place is in the definition.
FIELD_PLACES = ("slug", "name", "description")


def flow_refusal(exc: FlowError) -> exceptions.APIException:
    """Return the API error of a refused flow: 409 when archived, else 400 keyed by field.

    A problem of the definition names its place: ``{"definition": ["steps[1].duration: …"]}``.
    """
    if any(not place and str(message) == str(ERROR_ARCHIVED) for place, message in exc.errors):
        return Conflict(str(ERROR_ARCHIVED))
    errors: dict[str, list[str]] = defaultdict(list)
    for place, message in exc.errors:
        if place in FIELD_PLACES:
            errors[place].append(str(message))
        else:
            errors["definition"].append(f"{place}: {message}" if place else str(message))
    return exceptions.ValidationError(dict(errors))


_WRITE_RESPONSES = {
    400: OpenApiResponse(
        description="A field is invalid: {field: [message]}; a problem of the definition names "
        'its place, e.g. {"definition": ["steps[0].duration: …"]}'
    ),
    409: OpenApiResponse(DetailSerializer, "The flow is archived and cannot change"),
}
_ACTION_RESPONSES = {
    200: serializers.FlowSerializer,
    404: DetailSerializer,
    409: OpenApiResponse(DetailSerializer, "Not allowed in the flow's current status"),
}


@extend_schema_view(
    list=extend_schema(summary="List flows, newest first (cursor pages)"),
    retrieve=extend_schema(summary="Show a flow with its working definition and live version"),
    create=extend_schema(
        summary="Create a draft flow (the definition's shape is checked now)",
        responses={201: serializers.FlowSerializer, **_WRITE_RESPONSES},
    ),
    update=extend_schema(
        summary="Replace a flow's name, description and definition (live: a new version)",
        responses={200: serializers.FlowSerializer, **_WRITE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Change some fields of a flow (live: a new version if the definition changed)",
        responses={200: serializers.FlowSerializer, **_WRITE_RESPONSES},
    ),
    destroy=extend_schema(
        summary="Delete a flow that never went live; archive any other (its history stays)",
        responses={
            204: OpenApiResponse(description="Deleted (it never went live)"),
            200: OpenApiResponse(
                serializers.FlowSerializer,
                "Archived: its enrollments exited and its queued messages were cancelled",
            ),
            404: DetailSerializer,
        },
    ),
)
class FlowViewSet(
    SlugLookup,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ApiViewSet,
):
    """Flows by slug: read (all roles), write, go live and pause (campaign managers)."""

    queryset = Flow.objects.select_related("version")
    serializer_class = serializers.FlowSerializer
    filterset_class = filters.FlowFilter
    pagination_class = NewestFirstCursor
    write_roles = (CAMPAIGN_MANAGER,)

    def _shown(self, flow: Flow, code=status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=flow.pk)
        return Response(serializers.FlowSerializer(fresh).data, status=code)

    def create(self, request):
        given = serializers.FlowSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            flow = flow_create(
                name=data["name"],
                slug=data["slug"],
                description=data.get("description", ""),
                definition=data.get("definition", {}),
                user=request.user,
            )
        except FlowError as exc:
            raise flow_refusal(exc) from None
        return self._shown(flow, status.HTTP_201_CREATED)

    def update(self, request, slug, partial=False):
        flow = self.get_object()
        given = serializers.FlowSerializer(flow, data=request.data, partial=partial)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        try:
            flow_update(
                flow=flow,
                definition=data.get("definition", flow.definition),
                name=data.get("name"),
                description=data.get("description"),
                user=request.user,
            )
        except FlowError as exc:
            raise flow_refusal(exc) from None
        return self._shown(flow)

    def partial_update(self, request, slug):
        return self.update(request, slug, partial=True)

    def destroy(self, request, slug):
        flow = self.get_object()
        if flow_delete(flow=flow, user=request.user):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return self._shown(flow)

    @extend_schema(
        summary="Check the whole flow and start it (a new version if its definition changed)",
        request=None,
        responses={
            **_ACTION_RESPONSES,
            400: OpenApiResponse(
                description='The flow cannot go live: {"definition": ["<place>: <message>", …]}'
            ),
        },
    )
    @api_action()
    def live(self, request, slug):
        flow = self.get_object()
        try:
            flow_go_live(flow=flow, user=request.user)
        except FlowError as exc:
            raise flow_refusal(exc) from None
        return self._shown(flow)

    @extend_schema(
        summary="Pause a live flow: enrollments stop moving, queued messages wait",
        request=None,
        responses=_ACTION_RESPONSES,
    )
    @api_action()
    def pause(self, request, slug):
        flow = self.get_object()
        if flow.status not in (Flow.Status.LIVE, Flow.Status.PAUSED):
            raise Conflict(str(ERROR_PAUSE_NOT_LIVE))
        try:
            flow_pause(flow=flow, user=request.user)
        except FlowError as exc:
            raise flow_refusal(exc) from None
        return self._shown(flow)


FLOW_SLUG = OpenApiParameter(
    "flow_slug", str, OpenApiParameter.PATH, description="The flow's slug", pattern=NO_SLASH
)


@extend_schema_view(
    list=extend_schema(
        summary="Page through a flow's enrollments in the order they entered (cursor pages)",
        parameters=[FLOW_SLUG],
        responses={200: serializers.EnrollmentSerializer(many=True), 404: DetailSerializer},
    )
)
class FlowEnrollmentViewSet(AuditedReads, mixins.ListModelMixin, ApiViewSet):
    """A flow's enrollments, each with its profile's external_id (all roles read)."""

    serializer_class = serializers.EnrollmentSerializer
    filterset_class = filters.EnrollmentFilter
    pagination_class = OldestFirstCursor

    def get_queryset(self):
        enrollments = Enrollment.objects.annotate(
            external_id=F("profile__external_id"), version_number=F("version__number")
        )
        if getattr(self, "swagger_fake_view", False):  # the schema asks without a flow
            return enrollments.none()
        flow = get_object_or_404(Flow, slug=lookup_check(self.kwargs["flow_slug"]))
        return enrollments.filter(flow=flow)
