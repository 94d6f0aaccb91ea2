"""API of a profile's push devices: list, register (POST) and remove (DELETE) device tokens.

GET    /api/v1/profiles/{external_id}/devices/                    newest first
POST   /api/v1/profiles/{external_id}/devices/                    {provider, platform, token}
DELETE /api/v1/profiles/{external_id}/devices/{provider}:{token}/
"""

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response

from core.api import FIELD_ERRORS, ApiViewSet, DetailSerializer
from profiles.api.views import EXTERNAL_ID_IN_URL, _profile_in_url
from profiles.audit import audit_access
from profiles.models import DEVICE_TOKEN_MAX_LENGTH, Device, DevicePlatform, PushProvider
from profiles.services.devices import (
    DeviceInvalid,
    device_entry_check,
    device_forget,
    device_register,
    profile_devices,
)

ERROR_NO_SUCH_DEVICE = _("This profile has no device with that provider and token.")


class DeviceSerializer(serializers.ModelSerializer):
    registered_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Device
        fields = ["provider", "platform", "token", "registered_at", "last_seen_at"]
        read_only_fields = fields


class DeviceInSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=PushProvider.choices)
    platform = serializers.ChoiceField(choices=DevicePlatform.choices)
    token = serializers.CharField(max_length=DEVICE_TOKEN_MAX_LENGTH, trim_whitespace=True)

    def validate(self, attrs):
        try:
            return {"entry": device_entry_check(**attrs)}
        except DeviceInvalid as exc:
            field = exc.message.code.rpartition(".")[2]  # device.token → token
            raise serializers.ValidationError({field: [str(exc)]}) from None


@extend_schema_view(
    list=extend_schema(
        summary="List a profile's push devices, the most recently seen first",
        description=EXTERNAL_ID_IN_URL,
        responses={200: DeviceSerializer(many=True), 404: DetailSerializer},
    ),
    create=extend_schema(
        summary="Register a push device token for a profile (a known token moves here)",
        description=EXTERNAL_ID_IN_URL,
        request=DeviceInSerializer,
        responses={
            201: OpenApiResponse(DeviceSerializer, "Registered"),
            200: OpenApiResponse(DeviceSerializer, "Known token, now this profile's"),
            400: FIELD_ERRORS,
            404: DetailSerializer,
        },
    ),
    destroy=extend_schema(
        summary="Remove a push device token from a profile",
        description="The device is named `<provider>:<token>`, e.g. `jpush:1a0018970a8a3c5f`.",
        responses={204: None, 404: DetailSerializer},
    ),
)
class ProfileDeviceViewSet(ApiViewSet):
    """A profile's push device tokens (ops write them, as they write the profile)."""

    serializer_class = DeviceSerializer
    pagination_class = None
    filter_backends = []
    lookup_field = "device"
    # ``fcm:<token>``; any other value is matched too, so that the permission check answers
    # first and an unknown device is then a 404 naming the problem.
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):  # the schema generator asks; the actions read the profile's own
        return Device.objects.none()

    def list(self, request, profile_external_id):
        profile = _profile_in_url(profile_external_id)
        audit_access(request, profile)
        devices = profile_devices(profile=profile)
        return Response(DeviceSerializer(devices, many=True).data)

    def create(self, request, profile_external_id):
        profile = _profile_in_url(profile_external_id)
        given = DeviceInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        entry = given.validated_data["entry"]
        known = Device.objects.filter(provider=entry.provider, token=entry.token).exists()
        device = device_register(profile=profile, entry=entry)
        return Response(
            DeviceSerializer(device).data,
            status=status.HTTP_200_OK if known else status.HTTP_201_CREATED,
        )

    def destroy(self, request, profile_external_id, device):
        profile = _profile_in_url(profile_external_id)
        provider, _colon, token = device.partition(":")
        if not device_forget(provider=provider, token=token, profile=profile):
            raise Http404(ERROR_NO_SUCH_DEVICE)
        return Response(status=status.HTTP_204_NO_CONTENT)
