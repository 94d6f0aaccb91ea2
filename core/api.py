"""What every API view shares: access by role, cursor pages, lookups, filters and error shapes."""

import datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.views import APIView

from core.jsonlimits import JSONParser
from core.roles import ALL_ROLES, OPS, user_has_role

NO_SLASH = r"[^/]+"
NO_DELETE = ["get", "post", "put", "patch", "head", "options"]
READ_ONLY = ["get", "head", "options"]
_BIGINT = 2**63

ERROR_MOMENT_OUT_OF_RANGE = _("Enter a date-time between the years 1 and 9999 in UTC.")

FIELD_ERRORS = OpenApiResponse(description="A field is invalid: {field: [message]}")


# --------------------------------------------------------------------------- access


class RoleAccess(permissions.BasePermission):
    """Let any user holding a role read, and only the view's ``write_roles`` (or superusers) write.

    A view names who may write with ``write_roles``; reads are open to every role.
    """

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return user_has_role(request.user, *ALL_ROLES)
        return user_has_role(request.user, *getattr(view, "write_roles", ()))


class ApiAccess:
    """Authenticated JSON requests; reads for every role, writes for ``write_roles``."""

    permission_classes = [permissions.IsAuthenticated, RoleAccess]
    parser_classes = [JSONParser]
    write_roles: tuple[str, ...] = (OPS,)


class ApiViewSet(ApiAccess, viewsets.GenericViewSet):
    """The base of every API view set (its filters and pages come from REST_FRAMEWORK)."""


class ApiView(ApiAccess, APIView):
    """The base of an API view that is not a view set."""


# --------------------------------------------------------------------------- pages and lookups


class NewestFirstCursor(CursorPagination):
    """Keyset pages, newest first: no COUNT, as fast on page 1000 as on page 1."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                valid = abs(int(cursor.position)) < _BIGINT
            except ValueError:
                valid = False
            if not valid:
                raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor


class OldestFirstCursor(NewestFirstCursor):
    """Keyset pages in the order rows were stored (id)."""

    ordering = "id"


def lookup_check(value: str) -> str:
    """Return a URL lookup value, or raise Http404 for one no database column can hold (NUL)."""
    if "\x00" in value:
        raise Http404
    return value


class SlugLookup:
    """Find the object by its slug in the URL (any character but '/'; NUL is a 404)."""

    lookup_field = "slug"
    lookup_value_regex = NO_SLASH

    def get_object(self):
        lookup_check(self.kwargs[self.lookup_field])
        return super().get_object()


def api_action(*, detail: bool = True, methods=("post",), **kwargs):
    """Return ``@action`` without the list's filters and pages: a POST on one object by default."""
    options = {"filter_backends": [], "pagination_class": None} | kwargs
    return action(detail=detail, methods=list(methods), **options)


# --------------------------------------------------------------------------- filters


class MomentField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time, given in UTC to the database (whose offsets stop at ±15:59)."""

    def clean(self, value):
        moment = super().clean(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(datetime.UTC)
        except OverflowError:
            raise forms.ValidationError(ERROR_MOMENT_OUT_OF_RANGE) from None


class MomentFilter(django_filters.IsoDateTimeFilter):
    field_class = MomentField


def moment_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    """Return a date-time in UTC, or raise a serializer ValidationError if UTC cannot hold it."""
    if value is None:
        return None
    try:
        return value.astimezone(datetime.UTC)
    except OverflowError:
        raise serializers.ValidationError(ERROR_MOMENT_OUT_OF_RANGE) from None


# --------------------------------------------------------------------------- errors


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class Refused(exceptions.APIException):
    """A request the object's state does not allow: 400 with ``{"detail": message}``."""

    status_code = 400
    default_code = "invalid"


class Conflict(exceptions.APIException):
    """The object's status does not allow this now: 409 with ``{"detail": message}``."""

    status_code = 409
    default_code = "conflict"


def service_refusal(exc: DjangoValidationError) -> exceptions.ValidationError:
    """Return the 400 of a ValidationError raised by a service: by field, or non_field_errors."""
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(exc.message_dict)
    return exceptions.ValidationError({"non_field_errors": exc.messages})
