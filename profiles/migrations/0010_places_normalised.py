"""Store every profile's city and region in one spelling (上海市, Shanghai → 上海).

One UPDATE per distinct stored spelling that changes, so a large table is read once for its
distinct values and only the rows that change are written. Reversing keeps the new spellings
(the old ones are not recorded).
"""

from django.db import migrations

from profiles.places import city_normalised, region_normalised


def _normalise(Profile, field: str, normalised) -> None:
    stored = Profile.objects.order_by().values_list(field, flat=True).distinct()
    for value in list(stored.iterator()):
        if value and normalised(value) != value:
            Profile.objects.filter(**{field: value}).update(**{field: normalised(value)})


def places_normalise(apps, schema_editor):
    Profile = apps.get_model("profiles", "Profile")
    _normalise(Profile, "city", city_normalised)
    _normalise(Profile, "region", region_normalised)


class Migration(migrations.Migration):
    dependencies = [("profiles", "0009_consent_ledger_protected")]

    operations = [migrations.RunPython(places_normalise, migrations.RunPython.noop)]
