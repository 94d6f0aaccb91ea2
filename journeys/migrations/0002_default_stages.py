"""Seed the default journey (PRODUCT.md): reach → first purchase → active use → feedback →
repurchase → referral, each with an entry rule on the events the demo data and imports carry.

A frozen copy of ``journeys.services.DEFAULT_STAGES`` (migrations do not import app code).
"""

from django.db import migrations

EVER = 36500


def _count(event, at_least=1, days=EVER):
    return {"event": event, "within_days": days, "count": {"gte": at_least}}


STAGES = [
    ("reach", "触达 Reach", {"any": [_count("page_view"), _count("app_open"), _count("consultation")]}),
    ("first-purchase", "成交 First purchase", _count("purchase")),
    (
        "active-use",
        "使用 Active use",
        {"all": [_count("purchase"), {"any": [_count("app_open", 2, 180), _count("page_view", 3, 180)]}]},
    ),
    ("feedback", "反馈 Feedback", {"all": [_count("purchase"), _count("feedback")]}),
    ("repurchase", "复购 Repurchase", _count("purchase", 2)),
    ("referral", "裂变 Referral", {"all": [_count("purchase"), _count("referral")]}),
]


def seed(apps, schema_editor):
    stage_model = apps.get_model("journeys", "JourneyStage")
    if stage_model.objects.exists():
        return
    stage_model.objects.bulk_create(
        stage_model(slug=slug, name=name, position=position, rule=rule, active=True)
        for position, (slug, name, rule) in enumerate(STAGES)
    )


def unseed(apps, schema_editor):
    stage_model = apps.get_model("journeys", "JourneyStage")
    slugs = [slug for slug, _name, _rule in STAGES]
    stage_model.objects.filter(slug__in=slugs, entries__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("journeys", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
