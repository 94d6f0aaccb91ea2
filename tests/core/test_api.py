"""The API kernel: access by role, cursor pages, lookups and error shapes shared by every app."""

import datetime

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.test import APIRequestFactory, force_authenticate

from core.api import (
    ERROR_MOMENT_OUT_OF_RANGE,
    ApiViewSet,
    NewestFirstCursor,
    RoleAccess,
    lookup_check,
    moment_utc,
    service_refusal,
)
from core.roles import CAMPAIGN_MANAGER, OPS

pytestmark = pytest.mark.django_db
factory = APIRequestFactory()


class ManagersWrite(ApiViewSet):
    write_roles = (CAMPAIGN_MANAGER,)


@pytest.mark.parametrize(
    ("persona", "method", "allowed"),
    [
        ("ops_user", "get", True),
        ("campaign_manager", "get", True),
        ("consent_admin", "get", True),
        ("outsider", "get", False),
        ("campaign_manager", "post", True),
        ("ops_user", "post", False),
        ("consent_admin", "patch", False),
        ("outsider", "post", False),
    ],
)
def test_every_role_reads_and_only_the_write_roles_write(request, persona, method, allowed):
    user = request.getfixturevalue(persona)
    api_request = getattr(factory, method)("/")
    api_request.user = user

    granted = RoleAccess().has_permission(api_request, ManagersWrite())

    assert granted is allowed


def test_a_view_set_lets_ops_write_unless_it_names_other_roles(ops_user, consent_admin):
    by_ops, by_admin = factory.post("/"), factory.post("/")
    by_ops.user, by_admin.user = ops_user, consent_admin

    assert ApiViewSet.write_roles == (OPS,)
    assert RoleAccess().has_permission(by_ops, ApiViewSet()) is True
    assert RoleAccess().has_permission(by_admin, ApiViewSet()) is False


def test_a_cursor_beyond_a_bigint_is_a_404_not_a_database_error(ops_user):
    from base64 import b64encode
    from urllib.parse import quote

    from rest_framework.request import Request

    cursor = quote(b64encode(b"p=99999999999999999999999").decode())
    wsgi = factory.get("/", {"cursor": cursor})
    force_authenticate(wsgi, user=ops_user)

    with pytest.raises(exceptions.NotFound):
        NewestFirstCursor().decode_cursor(Request(wsgi))


def test_a_lookup_holding_nul_is_a_404():
    assert lookup_check("spring-sale") == "spring-sale"
    with pytest.raises(Http404):
        lookup_check("spring\x00sale")


def test_a_service_error_becomes_a_400_by_field_or_as_non_field_errors():
    by_field = service_refusal(DjangoValidationError({"name": ["Enter a name."]}))
    general = service_refusal(DjangoValidationError("Not now."))

    assert by_field.detail == {"name": ["Enter a name."]}
    assert general.detail == {"non_field_errors": ["Not now."]}


def test_a_moment_is_given_in_utc_and_one_utc_cannot_hold_is_refused():
    shanghai = datetime.timezone(datetime.timedelta(hours=8))
    earliest = datetime.datetime(1, 1, 1, 2, tzinfo=shanghai)

    assert moment_utc(datetime.datetime(2025, 3, 1, 9, tzinfo=shanghai)) == datetime.datetime(
        2025, 3, 1, 1, tzinfo=datetime.UTC
    )
    assert moment_utc(None) is None
    with pytest.raises(exceptions.ValidationError) as refused:
        moment_utc(earliest)
    assert refused.value.detail == [ERROR_MOMENT_OUT_OF_RANGE]
