"""API fields that keep hostile values away from the database."""

from rest_framework import serializers


class SlugRelated(serializers.SlugRelatedField):
    """A related object by its slug; a slug with a NUL byte is "does not exist" (PostgreSQL
    cannot compare a string holding one)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data.replace("\x00", ""))
        return super().to_internal_value(data)
