"""Push device tokens of profiles: register, forget, read the newest, export and erase them.

A token is unique per provider (``Device``): registering it again, for the same profile or
another, updates that one row (it moves to the profile that registered it last, with the new
platform and ``last_seen_at``). The CSV import and the API register tokens here; the push channel
(``campaigns.channels.push``) reads each profile's newest device and forgets a token its
provider reports as unregistered or invalid.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_noop

from core.errors import CodedError, coded
from profiles.models import (
    DEVICE_TOKEN_MAX_LENGTH,
    Device,
    DevicePlatform,
    Profile,
    PushProvider,
)
from profiles.services.merge import merge_mover
from profiles.services.privacy import privacy_eraser, privacy_export_section

ERROR_DEVICE_PROVIDER = coded(
    "device.provider", gettext_noop("device_provider {value!r} is not one of {choices}")
)
ERROR_DEVICE_PLATFORM = coded(
    "device.platform", gettext_noop("device_platform {value!r} is not one of {choices}")
)
ERROR_DEVICE_TOKEN = coded(
    "device.token",
    gettext_noop(
        "device_token must be 1 to {limit} letters, digits or the characters _ - . : (no spaces)"
    ),
)
ERROR_DEVICE_PARTIAL = coded(
    "device.partial",
    gettext_noop("device_platform and device_provider need a device_token in the same row"),
)

# What FCM, JPush, APNs and HarmonyOS tokens are made of; it also fits in a URL segment.
_TOKEN = re.compile(f"[A-Za-z0-9_.:-]{{1,{DEVICE_TOKEN_MAX_LENGTH}}}")


class DeviceInvalid(CodedError, ValueError):
    """A device that cannot be registered; the message names the field and the problem."""


@dataclass(frozen=True)
class DeviceEntry:
    """A checked device registration, not yet stored."""

    provider: str
    platform: str
    token: str


def device_entry_check(*, provider: str, platform: str, token: str) -> DeviceEntry:
    """Return the registration of a token, or raise ``DeviceInvalid`` naming the bad field."""
    provider, platform, token = provider.strip().lower(), platform.strip().lower(), token.strip()
    if provider not in PushProvider.values:
        choices = ", ".join(PushProvider.values)
        raise DeviceInvalid(ERROR_DEVICE_PROVIDER, value=provider, choices=choices)
    if platform not in DevicePlatform.values:
        choices = ", ".join(DevicePlatform.values)
        raise DeviceInvalid(ERROR_DEVICE_PLATFORM, value=platform, choices=choices)
    if not _TOKEN.fullmatch(token):
        raise DeviceInvalid(ERROR_DEVICE_TOKEN, limit=DEVICE_TOKEN_MAX_LENGTH)
    return DeviceEntry(provider=provider, platform=platform, token=token)


def devices_register(*, entries: Iterable[tuple[int, DeviceEntry]]) -> int:
    """Store (profile id, entry) pairs: a new token is added, a known one moves to the profile
    given and takes its platform; return how many rows were written. A token given twice keeps
    the last pair."""
    now = timezone.now()
    latest = {(entry.provider, entry.token): (pk, entry) for pk, entry in entries}
    rows = [
        Device(
            profile_id=pk,
            provider=entry.provider,
            platform=entry.platform,
            token=entry.token,
            created_at=now,
            last_seen_at=now,
        )
        for pk, entry in latest.values()
    ]
    Device.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["provider", "token"],
        update_fields=["profile", "platform", "last_seen_at"],
    )
    return len(rows)


def device_register(*, profile: Profile, entry: DeviceEntry) -> Device:
    """Register one token for ``profile`` (moving it there if another profile had it)."""
    with transaction.atomic():
        devices_register(entries=[(profile.pk, entry)])
        return Device.objects.get(provider=entry.provider, token=entry.token)


def devices_register_by_external_id(*, entries: Iterable[tuple[str, DeviceEntry]]) -> int:
    """Store (external_id, entry) pairs of profiles that exist; return how many were written."""
    entries = list(entries)
    ids = dict(
        Profile.objects.filter(external_id__in={external_id for external_id, _e in entries})
        .values_list("external_id", "pk")
        .iterator()
    )
    found = [(ids[external_id], e) for external_id, e in entries if external_id in ids]
    return devices_register(entries=found) if found else 0


def device_forget(*, provider: str, token: str, profile: Profile | None = None) -> int:
    """Delete a token (of ``profile`` only, when given); return how many rows were deleted."""
    devices = Device.objects.filter(provider=provider, token=token)
    if profile is not None:
        devices = devices.filter(profile=profile)
    return devices.delete()[0]


def devices_newest(*, profile_ids: Iterable[int]) -> dict[int, Device]:
    """Return each profile's most recently seen device (the newest registered on a tie)."""
    newest: dict[int, Device] = {}
    devices = Device.objects.filter(profile_id__in=list(profile_ids)).order_by(
        "profile_id", "-last_seen_at", "-created_at", "-pk"
    )
    for device in devices.iterator(chunk_size=2000):
        newest.setdefault(device.profile_id, device)
    return newest


def profile_devices(*, profile: Profile) -> list[Device]:
    """Return the profile's devices, the most recently seen first."""
    return list(profile.devices.order_by("-last_seen_at", "-pk"))


@privacy_export_section("devices")
def _devices_export(*, profile: Profile) -> list[dict]:
    return [
        {
            "provider": device.provider,
            "platform": device.platform,
            "token": device.token,
            "registered_at": device.created_at,
            "last_seen_at": device.last_seen_at,
        }
        for device in profile_devices(profile=profile)
    ]


@privacy_eraser("devices")
def _devices_erase(*, profile: Profile, traces) -> int:
    """Delete the profile's device tokens: nothing may be pushed to the person any more."""
    return Device.objects.filter(profile=profile).delete()[0]


@merge_mover("devices")
def _devices_move(*, source: Profile, target: Profile) -> int:
    """Give the duplicate's devices to the kept profile (tokens are unique: nothing collides)."""
    return Device.objects.filter(profile=source).update(profile=target)


def device_tokens_q(addresses: Iterable[str]) -> Q:
    """Return the condition matching the devices of push addresses ``<provider>:<token>``."""
    condition = Q(pk__in=[])
    for address in addresses:
        provider, _colon, token = address.partition(":")
        condition |= Q(provider=provider, token=token)
    return condition


def profile_devices_context(profile: Profile) -> dict:
    """Return the 360° page's devices section context."""
    return {"devices": profile_devices(profile=profile)}
