"""Push backends against local fake FCM and JPush servers: auth, sending, dead tokens, retries."""

import datetime
import json

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from campaigns.channels.fcm import FcmBackend
from campaigns.channels.jpush import JPushBackend
from campaigns.channels.push_backend import (
    ERROR_PROVIDER,
    ERROR_TOKEN_DEAD,
    PushMessage,
    PushTransport,
    TokenDead,
    push_address,
)
from profiles.models import Device
from profiles.services.devices import DeviceEntry, device_register
from tests.factories import ProfileFactory
from tests.fakes.fcm import PROJECT, FakeFcm
from tests.fakes.jpush import APP_KEY, MASTER_SECRET, FakeJPush

pytestmark = pytest.mark.django_db


def no_pace():
    pass


def fcm_message(token: str, **fields) -> PushMessage:
    base = {"title": "春季上新", "body": "新品八折", "link": "myshop://sale/spring"}
    return PushMessage(provider="fcm", token=token, reference="send-1", **(base | fields))


def jpush_message(token: str) -> PushMessage:
    return PushMessage(
        provider="jpush", token=token, title="会员日", body="积分翻倍", reference="send-2"
    )


def stored_error(outcome) -> dict:
    return json.loads(outcome.error)


@pytest.fixture
def fcm(settings, tmp_path):
    server = FakeFcm()
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(server.service_account()), encoding="utf-8")
    settings.FCM_SERVICE_ACCOUNT_FILE = str(key_file)
    settings.FCM_API_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def jpush(settings):
    server = FakeJPush()
    settings.JPUSH_APP_KEY, settings.JPUSH_MASTER_SECRET = APP_KEY, MASTER_SECRET
    settings.JPUSH_API_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def fcm_backend(fcm):
    backend = FcmBackend()
    backend.open()
    yield backend
    backend.close()


# --------------------------------------------------------------------------- FCM


def test_fcm_exchanges_a_signed_assertion_once_and_reuses_the_cached_token(fcm, fcm_backend):
    outcomes = [fcm_backend.send(fcm_message(f"tok-{n}")) for n in range(3)]

    assert [o.error for o in outcomes] == ["", "", ""]
    assert fcm.exchanges == 1
    assert outcomes[0].provider_id == f"projects/{PROJECT}/messages/0:1%fake"
    sent = fcm.sent[0]
    assert sent["token"] == "tok-0"
    assert sent["notification"] == {"title": "春季上新", "body": "新品八折"}
    assert sent["data"] == {"reference": "send-1", "link": "myshop://sale/spring"}


def test_the_cached_access_token_is_shared_by_other_workers_backends(fcm, fcm_backend):
    fcm_backend.send(fcm_message("tok-1"))
    other = FcmBackend()
    other.open()

    outcome = other.send(fcm_message("tok-2"))

    assert outcome.error == ""
    assert fcm.exchanges == 1


def test_the_access_token_is_exchanged_again_when_it_is_about_to_expire(fcm, fcm_backend):
    start = datetime.datetime.now(datetime.UTC)
    with time_machine.travel(start, tick=False):
        fcm_backend.send(fcm_message("tok-1"))
    with time_machine.travel(start + datetime.timedelta(seconds=3600 - 61), tick=False):
        fcm_backend.send(fcm_message("tok-2"))
    assert fcm.exchanges == 1

    with time_machine.travel(start + datetime.timedelta(seconds=3600 - 59), tick=False):
        outcome = fcm_backend.send(fcm_message("tok-3"))

    assert outcome.error == ""
    assert fcm.exchanges == 2


def test_a_refused_access_token_is_dropped_and_a_new_one_used(fcm, fcm_backend):
    fcm_backend.send(fcm_message("tok-1"))
    fcm.expire_tokens()  # revoked, or expired earlier than it said

    outcome = fcm_backend.send(fcm_message("tok-2"))

    assert outcome.error == ""
    assert fcm.exchanges == 2
    assert cache.get(fcm_backend.cache_key) == "ya29.fake-2"


@pytest.mark.parametrize(
    ("token", "code"), [("unregistered-1", "UNREGISTERED"), ("invalid-1", "INVALID_ARGUMENT")]
)
def test_fcm_dead_tokens_fail_for_good_as_dead(fcm_backend, token, code):
    outcome = fcm_backend.send(fcm_message(token))

    assert isinstance(outcome, TokenDead)
    assert outcome.permanent and not outcome.bounce
    assert stored_error(outcome)["params"] == {"provider": "FCM", "code": code}


def test_an_invalid_argument_about_the_message_keeps_the_token(fcm_backend):
    outcome = fcm_backend.send(fcm_message("badfield-1"))

    assert not isinstance(outcome, TokenDead)
    assert outcome.permanent
    assert stored_error(outcome)["code"] == ERROR_PROVIDER.code


@pytest.mark.parametrize(("token", "status"), [("busy-1", 503), ("quota-1", 429)])
def test_fcm_unavailable_and_quota_answers_are_retried(fcm, fcm_backend, token, status):
    outcome = fcm_backend.send(fcm_message(token))

    assert outcome.error and not outcome.permanent
    assert stored_error(outcome)["params"]["status"] == status
    assert fcm.sent == []


def test_a_busy_fcm_accepts_the_retry(fcm, fcm_backend):
    first = fcm_backend.send(fcm_message("busy-2"))

    again = fcm_backend.send(fcm_message("busy-2"))

    assert (bool(first.error), again.error) == (True, "")
    assert len(fcm.sent) == 1


def test_a_service_account_with_the_wrong_key_gets_no_token_and_the_message_waits(
    fcm, settings, tmp_path
):
    account = fcm.service_account()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    account["private_key"] = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    (tmp_path / "wrong.json").write_text(json.dumps(account), encoding="utf-8")
    settings.FCM_SERVICE_ACCOUNT_FILE = str(tmp_path / "wrong.json")
    backend = FcmBackend()
    backend.open()

    outcome = backend.send(fcm_message("tok-1"))

    assert not outcome.permanent
    assert "invalid_grant" in outcome.error
    assert fcm.exchanges == 0 and fcm.sent == []


def test_fcm_without_a_service_account_file_refuses_to_open_naming_the_setting(settings):
    settings.FCM_SERVICE_ACCOUNT_FILE = ""

    with pytest.raises(ImproperlyConfigured, match="FCM_SERVICE_ACCOUNT_FILE"):
        FcmBackend().open()


def test_a_service_account_file_lacking_fields_is_refused_naming_them(settings, tmp_path):
    (tmp_path / "half.json").write_text(json.dumps({"project_id": "p"}), encoding="utf-8")
    settings.FCM_SERVICE_ACCOUNT_FILE = str(tmp_path / "half.json")

    with pytest.raises(ImproperlyConfigured, match="lacks private_key, client_email, token_uri"):
        FcmBackend().open()


def test_an_unreachable_fcm_is_a_transient_failure(fcm, fcm_backend):
    fcm_backend.send(fcm_message("tok-1"))  # a cached access token
    fcm.stop()
    backend = FcmBackend()  # a new connection: the kept-alive one is served to its end
    backend.open()

    outcome = backend.send(fcm_message("tok-2"))

    assert outcome.error and not outcome.permanent
    assert stored_error(outcome)["code"] == "push.unreachable"


# --------------------------------------------------------------------------- JPush


@pytest.fixture
def jpush_backend(jpush):
    backend = JPushBackend()
    backend.open()
    yield backend
    backend.close()


def test_jpush_sends_to_the_registration_id_with_basic_auth(jpush, jpush_backend):
    outcome = jpush_backend.send(jpush_message("1a0018970a8a3c5f"))

    assert outcome.error == ""
    assert outcome.provider_id == "54043195528450001"
    push = jpush.sent[0]
    assert push["audience"] == {"registration_id": ["1a0018970a8a3c5f"]}
    assert push["notification"]["android"]["title"] == "会员日"
    assert push["notification"]["ios"]["alert"] == {"title": "会员日", "body": "积分翻倍"}
    assert push["options"]["apns_production"] is True


def test_jpush_no_target_is_a_dead_token(jpush_backend):
    outcome = jpush_backend.send(jpush_message("gone-1"))

    assert isinstance(outcome, TokenDead)
    assert stored_error(outcome) == {
        "code": ERROR_TOKEN_DEAD.code,
        "message": str(ERROR_TOKEN_DEAD),
        "params": {"provider": "JPush", "code": "1011"},
    }


def test_jpush_rate_limit_is_retried_and_the_retry_is_accepted(jpush, jpush_backend):
    first = jpush_backend.send(jpush_message("busy-1"))
    again = jpush_backend.send(jpush_message("busy-1"))

    assert first.error and not first.permanent
    assert stored_error(first)["params"]["code"] == 2002
    assert again.error == ""


def test_jpush_server_errors_are_retried(jpush_backend):
    outcome = jpush_backend.send(jpush_message("down-1"))

    assert outcome.error and not outcome.permanent


def test_a_wrong_master_secret_fails_for_good_with_jpush_code(jpush, settings):
    settings.JPUSH_MASTER_SECRET = "wrong"
    backend = JPushBackend()
    backend.open()

    outcome = backend.send(jpush_message("1a0018970a8a3c5f"))

    assert outcome.permanent
    assert stored_error(outcome)["params"]["code"] == 1004
    assert jpush.sent == []


def test_jpush_without_an_app_key_refuses_to_open_naming_the_setting(settings):
    settings.JPUSH_APP_KEY = ""

    with pytest.raises(ImproperlyConfigured, match="JPUSH_APP_KEY"):
        JPushBackend().open()


# --------------------------------------------------------------------------- transport


def test_the_transport_removes_the_device_of_a_dead_token_and_keeps_the_others(fcm, jpush):
    profile = ProfileFactory()
    for provider, token in (("fcm", "unregistered-9"), ("jpush", "gone-9"), ("fcm", "tok-9")):
        device_register(
            profile=profile, entry=DeviceEntry(provider=provider, platform="android", token=token)
        )
    transport = PushTransport()
    transport.open()

    outcomes = transport.send(
        [fcm_message("unregistered-9"), jpush_message("gone-9"), fcm_message("tok-9")], no_pace
    )
    transport.close()

    assert [type(o) for o in outcomes][:2] == [TokenDead, TokenDead]
    assert outcomes[2].error == ""
    assert transport.forgotten == 2
    assert set(Device.objects.values_list("token", flat=True)) == {"tok-9"}


def test_the_transport_paces_each_message_and_waits_when_a_provider_is_not_set_up(settings):
    settings.JPUSH_APP_KEY = ""
    paced = []
    transport = PushTransport()

    outcomes = transport.send([jpush_message("1a00")], lambda: paced.append(1))

    assert outcomes[0].error and not outcomes[0].permanent
    assert "JPUSH_APP_KEY" in outcomes[0].error


@pytest.mark.parametrize(
    ("contact", "address"),
    [
        ("fcm:abc", "fcm:abc"),
        ("jpush:1a00", "jpush:1a00"),
        ("apns:abc", ""),
        ("fcm:", ""),
        ("abc", ""),
        (None, ""),
        ("fcm:" + "x" * 241, ""),
    ],
)
def test_a_push_address_is_a_known_provider_and_a_token(contact, address):
    assert push_address(contact) == address
