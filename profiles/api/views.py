"""API views of profiles, events and tags: parse, call the ingest service or a selector, respond."""

from django.db.models import F
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from core.api import (
    FIELD_ERRORS,
    NO_DELETE,
    NO_SLASH,
    ApiViewSet,
    DetailSerializer,
    NewestFirstCursor,
    SlugLookup,
    lookup_check,
)
from core.masking import contact_visible
from core.roles import CONSENT_ADMIN, user_has_role
from profiles import selectors
from profiles.api import filters, serializers
from profiles.audit import AuditedReads, audit_access
from profiles.converters import external_id_from_url
from profiles.ingest import events_ingest, profiles_ingest
from profiles.models import ConsentRecord, Event, Profile, Tag
from profiles.services.consent import consent_record


def _profile(external_id: str) -> Profile:
    """Return the profile with its tags, or raise Http404."""
    try:
        return selectors.profile_detail(external_id=lookup_check(external_id))
    except Profile.DoesNotExist:
        raise Http404 from None


def _profile_in_url(segment: str) -> Profile:
    """Return the profile a URL segment names (its external ID, or ``~`` + base64url of it)."""
    try:
        return _profile(external_id_from_url(segment))
    except ValueError:
        raise Http404 from None


def _upsert(row: dict) -> tuple[Profile, bool]:
    """Store one validated profile row with the import service; return it and if it is new."""
    report = profiles_ingest(rows=[(0, row)])
    if report.errors:  # the serializer checked every field with the same rules
        raise ValidationError([report.errors[0].message])
    return _profile(row["external_id"]), report.created == 1


EXTERNAL_ID_IN_URL = (
    "An external ID that holds '/', begins with '~', is '.' or '..', or is a word of the "
    "profiles pages' routes (consent, tags, import …) goes in the URL as '~' followed by its "
    "UTF-8 in unpadded base64url: shop/42 → ~c2hvcC80Mg."
)

_PROFILE_WRITE_RESPONSES = {
    200: serializers.ProfileDetailSerializer,
    400: FIELD_ERRORS,
    404: DetailSerializer,
}


@extend_schema_view(
    list=extend_schema(summary="List profiles, newest first (cursor pages)"),
    retrieve=extend_schema(
        summary="Show a profile with traits, computed features and tags",
        description=EXTERNAL_ID_IN_URL,
    ),
    create=extend_schema(
        summary="Create or update a profile by external_id (as one row of the CSV import)",
        request=serializers.ProfileUpsertSerializer,
        responses={
            201: OpenApiResponse(serializers.ProfileDetailSerializer, "Created"),
            200: OpenApiResponse(serializers.ProfileDetailSerializer, "Updated or unchanged"),
            400: FIELD_ERRORS,
        },
    ),
    update=extend_schema(
        summary="Update a profile (missing or empty fields keep what is stored)",
        description=EXTERNAL_ID_IN_URL,
        request=serializers.ProfileChangeSerializer,
        responses=_PROFILE_WRITE_RESPONSES,
    ),
    partial_update=extend_schema(
        summary="Update some fields of a profile",
        request=serializers.ProfileChangeSerializer,
        responses=_PROFILE_WRITE_RESPONSES,
    ),
)
class ProfileViewSet(AuditedReads, mixins.ListModelMixin, ApiViewSet):
    """Profiles: list and filter, upsert by external_id, show and update one."""

    queryset = Profile.objects.all()
    serializer_class = serializers.ProfileSerializer
    filterset_class = filters.ProfileFilter
    pagination_class = NewestFirstCursor
    lookup_field = "external_id"
    lookup_value_regex = NO_SLASH
    http_method_names = NO_DELETE
    audit_profile_attr = "pk"

    def get_serializer_class(self):
        if self.action == "retrieve":
            return serializers.ProfileDetailSerializer
        if self.action == "create":
            return serializers.ProfileUpsertSerializer
        if self.action in ("update", "partial_update"):
            return serializers.ProfileChangeSerializer
        return serializers.ProfileSerializer

    def get_object(self):
        return _profile_in_url(self.kwargs["external_id"])

    def get_serializer_context(self):
        visible = contact_visible(self.request.user)
        return {**super().get_serializer_context(), "contact_visible": visible}

    def _detail(self, profile: Profile) -> dict:
        return serializers.ProfileDetailSerializer(
            profile, context=self.get_serializer_context()
        ).data

    def retrieve(self, request, external_id):
        profile = self.get_object()
        audit_access(request, profile)
        return Response(self._detail(profile))

    def create(self, request):
        given = serializers.ProfileUpsertSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        profile, created = _upsert(given.validated_data)
        return Response(
            self._detail(profile),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def update(self, request, external_id, partial=False):
        profile = self.get_object()
        given = serializers.ProfileChangeSerializer(
            data=request.data, partial=partial, context={"external_id": profile.external_id}
        )
        given.is_valid(raise_exception=True)
        profile, _created = _upsert({**given.validated_data, "external_id": profile.external_id})
        return Response(self._detail(profile))

    def partial_update(self, request, external_id):
        return self.update(request, external_id, partial=True)


# A batch of MAX_EVENTS_PER_BATCH events of about 4 KiB each, far over Django's general
# DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB): this endpoint reads its body with this limit instead.
EVENT_BATCH_MAX_BYTES = serializers.MAX_EVENTS_PER_BATCH * 4096
ERROR_BATCH_BYTES = _("A batch is at most {limit:,} bytes; send fewer or smaller events.")


class BatchTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "batch_too_large"


def _batch_body_read(request) -> None:
    """Read the request's body with the batch's own limit (413 beyond it), so that parsing it
    does not meet Django's smaller general one."""
    raw = request._request
    if hasattr(raw, "_body") or raw._read_started:
        return
    length = int(raw.META.get("CONTENT_LENGTH") or 0)
    body = raw.read(EVENT_BATCH_MAX_BYTES + 1) if length <= EVENT_BATCH_MAX_BYTES else b""
    if length > EVENT_BATCH_MAX_BYTES or len(body) > EVENT_BATCH_MAX_BYTES:
        raise BatchTooLarge(str(ERROR_BATCH_BYTES).format(limit=EVENT_BATCH_MAX_BYTES))
    raw._body = body


class EventBatchSchema(AutoSchema):
    """Add the batch's length limits to the request body (drf-spectacular leaves them out)."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        content = (operation or {}).get("requestBody", {}).get("content", {})
        body = content.get("application/json", {}).get("schema", {})
        if body.get("type") == "array":
            body.update(minItems=1, maxItems=serializers.MAX_EVENTS_PER_BATCH)
        return operation


@extend_schema_view(
    list=extend_schema(summary="List events, newest first (cursor pages)"),
    create=extend_schema(
        summary="Store a batch of events (idempotent; good items are kept, bad ones reported)",
        request=serializers.EventInSerializer(many=True),
        responses={
            201: OpenApiResponse(serializers.EventBatchReportSerializer, "Some events stored"),
            200: OpenApiResponse(serializers.EventBatchReportSerializer, "Nothing new stored"),
            400: OpenApiResponse(DetailSerializer, "Not a list of 1 to 10,000 events"),
            413: OpenApiResponse(DetailSerializer, "A body over 40,960,000 bytes"),
        },
    ),
)
class EventViewSet(AuditedReads, mixins.ListModelMixin, ApiViewSet):
    """Events: list and filter, and POST a JSON list of them as a batch."""

    queryset = Event.objects.annotate(external_id=F("profile__external_id"))
    serializer_class = serializers.EventSerializer
    filterset_class = filters.EventFilter
    pagination_class = NewestFirstCursor
    schema = EventBatchSchema()

    def create(self, request):
        _batch_body_read(request)
        rows, refused = serializers.event_batch_rows(request.data)
        report = events_ingest(rows=rows)
        errors = sorted([*refused, *report.errors], key=lambda error: error.line)
        body = {
            "read": report.read + len(refused),
            "created": report.created,
            "unchanged": report.unchanged,
            "refused": len(errors),
            "profiles_created": report.profiles_created,
            "errors": [{"index": error.line, "message": error.message} for error in errors],
        }
        return Response(
            body, status=status.HTTP_201_CREATED if report.created else status.HTTP_200_OK
        )


@extend_schema_view(
    list=extend_schema(summary="List the tag taxonomy"),
    retrieve=extend_schema(summary="Show a tag with its category"),
)
class TagViewSet(SlugLookup, mixins.ListModelMixin, mixins.RetrieveModelMixin, ApiViewSet):
    """Tags of the taxonomy with their category (read-only for now)."""

    queryset = Tag.objects.select_related("category")
    serializer_class = serializers.TagSerializer
    filterset_class = filters.TagFilter


@extend_schema_view(
    list=extend_schema(summary="List consent records, newest first (cursor pages)"),
    create=extend_schema(
        summary="Append a consent record (the ledger is append-only: no update or delete)",
        request=serializers.ConsentInSerializer,
        responses={
            201: OpenApiResponse(serializers.ConsentSerializer, "Recorded"),
            400: FIELD_ERRORS,
        },
    ),
)
class ConsentViewSet(AuditedReads, mixins.ListModelMixin, ApiViewSet):
    """Consent records: list and filter the ledger; consent admins append records."""

    queryset = ConsentRecord.objects.select_related("profile", "recorded_by")
    serializer_class = serializers.ConsentSerializer
    filterset_class = filters.ConsentFilter
    pagination_class = NewestFirstCursor
    write_roles = (CONSENT_ADMIN,)
    http_method_names = ["get", "post", "head", "options"]

    def get_serializer_context(self):
        visible = user_has_role(self.request.user, CONSENT_ADMIN)
        return {**super().get_serializer_context(), "evidence_visible": visible}

    def create(self, request):
        given = serializers.ConsentInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        record = consent_record(entry=given.validated_data["entry"], recorded_by=request.user)
        record = self.get_queryset().get(pk=record.pk)
        data = serializers.ConsentSerializer(record, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)
