"""Serializers of the predictions API: one profile's scores."""

from rest_framework import serializers

from predictions.models import SCORE_NAMES, Prediction


class PredictionSerializer(serializers.ModelSerializer):
    """A profile's live scores (the contract's fields), with the profile's external ID."""

    external_id = serializers.CharField(source="profile.external_id", read_only=True)
    recommendations = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Prediction
        fields = ["external_id", *SCORE_NAMES]
        read_only_fields = fields


class ProfilePredictionSerializer(PredictionSerializer):
    """The scores inside a profile's detail (no external ID: the profile has it)."""

    class Meta(PredictionSerializer.Meta):
        fields = [name for name in PredictionSerializer.Meta.fields if name != "external_id"]
        read_only_fields = fields


def profile_predictions_field() -> serializers.Field:
    """Return the ``predictions`` field of the profile detail (null without scores)."""
    return ProfilePredictionSerializer(source="prediction", read_only=True, allow_null=True)
