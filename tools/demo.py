"""Deterministic, realistic demo data for every app, written in bulk.

It lives in the top app of the dependency chain because it fills all of them.
"""

import bisect
import datetime
import random
from array import array
from collections.abc import Callable
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.bulk import BulkWriter, reset_sequences
from journeys.services import stages_backfill, stages_ensure_defaults
from profiles.models import (
    ConsentRecord,
    ConsentSource,
    ConsentState,
    ConsentStatus,
    Event,
    Gender,
    Profile,
    ProfileTag,
    Provenance,
    Tag,
    TagCategory,
)
from profiles.services.features import features_refresh
from tools.demo_products import CATEGORIES, purchase_pick

ERROR_NOT_EMPTY = (
    "The database already holds {count} profiles; seed_demo only fills an empty database "
    "(run `python manage.py flush` first)."
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉晨宇轩"
    "浩然子涵欣怡梓萱诗琪嘉怡思彤雨桐一诺"
)
EN_FIRST = [
    "James",
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Lucas",
    "Mia",
    "Ethan",
    "Sophia",
    "Mason",
    "Isabella",
    "Leo",
    "Chloe",
    "Daniel",
    "Grace",
    "Ryan",
    "Zoe",
    "Henry",
    "Lily",
]
EN_LAST = [
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Miller",
    "Wilson",
    "Moore",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Hill",
]
CITIES = [  # (city, region, weight)
    ("上海", "上海", 14),
    ("北京", "北京", 13),
    ("广州", "广东", 9),
    ("深圳", "广东", 10),
    ("杭州", "浙江", 7),
    ("成都", "四川", 7),
    ("南京", "江苏", 5),
    ("武汉", "湖北", 5),
    ("西安", "陕西", 4),
    ("重庆", "重庆", 5),
    ("苏州", "江苏", 4),
    ("天津", "天津", 3),
    ("长沙", "湖南", 3),
    ("青岛", "山东", 3),
    ("厦门", "福建", 2),
    ("昆明", "云南", 2),
    ("香港", "香港", 2),
    ("Singapore", "Singapore", 1),
]
ACQUISITION = [
    ("organic", 30),
    ("wechat", 25),
    ("douyin", 15),
    ("search", 12),
    ("referral", 10),
    ("offline_store", 8),
]
EVENTS = [
    ("page_view", 44),
    ("app_open", 16),
    ("add_to_cart", 14),
    ("purchase", 12),
    ("consultation", 5),
    ("feedback", 4),
    ("community_post", 3),
    ("referral", 2),
]
TOUCHPOINTS = [
    ("web", 30),
    ("app", 30),
    ("mini_program", 20),
    ("store", 10),
    ("community", 6),
    ("consultation", 4),
]
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "180",
    "181",
    "182",
    "186",
    "187",
    "188",
    "189",
]
MEMBERSHIP = [("none", 60), ("silver", 25), ("gold", 12), ("platinum", 3)]
INTERESTS = CATEGORIES  # a profile's interest is its taste in the shop

TAXONOMY = [  # (category slug, label, [(tag slug, label, colour)])
    (
        "basic",
        "基础属性 Basic",
        [("new-customer", "新客 New customer", "#0ea5e9"), ("student", "学生 Student", "#6366f1")],
    ),
    (
        "social",
        "社会属性 Social",
        [
            ("parent", "宝爸宝妈 Parent", "#f59e0b"),
            ("white-collar", "白领 White-collar", "#64748b"),
        ],
    ),
    (
        "interest",
        "兴趣 Interests",
        [
            ("beauty-fan", "美妆 Beauty", "#ec4899"),
            ("sports-fan", "运动 Sports", "#22c55e"),
            ("tech-fan", "数码 Tech", "#3b82f6"),
        ],
    ),
    (
        "mindset",
        "意识类 Mindset",
        [
            ("price-sensitive", "价格敏感 Price-sensitive", "#ef4444"),
            ("quality-seeker", "品质追求 Quality seeker", "#8b5cf6"),
        ],
    ),
    (
        "behaviour",
        "行为 Behaviour",
        [
            ("coupon-lover", "爱用券 Coupon lover", "#f97316"),
            ("night-owl", "夜猫子 Night owl", "#1e293b"),
        ],
    ),
    ("value", "价值 Value", [("vip", "VIP", "#ca8a04")]),
]


def _weighted(rng: random.Random, table: list[tuple]) -> Callable[[], tuple]:
    """Return a function drawing one row of ``table`` by its last column as weight."""
    population = list(table)
    weights = [row[-1] for row in table]
    cum = []
    total = 0
    for w in weights:
        total += w
        cum.append(total)

    def draw():
        return population[bisect.bisect_right(cum, rng.random() * total)]

    return draw


def demo_seed(
    *,
    profiles: int,
    events: int,
    seed: int = 42,
    anchor: datetime.date | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Fill an empty database with ``profiles`` profiles and ``events`` events, deterministically.

    The same ``seed``, sizes and ``anchor`` day (default: today) always give the same rows.
    """
    existing = Profile.objects.count()
    if existing:
        raise ValueError(ERROR_NOT_EMPTY.format(count=existing))
    report = progress or (lambda stage, done, total: None)
    rng = random.Random(seed)
    tz = ZoneInfo(settings.TIME_ZONE)
    anchor = anchor or timezone.localdate()
    end = datetime.datetime.combine(anchor, datetime.time(0, 0), tzinfo=tz)
    end_ts = end.timestamp()
    start_ts = (end - datetime.timedelta(days=3 * 365)).timestamp()
    created = end

    with transaction.atomic():
        tag_ids = _seed_taxonomy()
        signups, tastes = _seed_profiles(rng, profiles, start_ts, end_ts, tz, created, report)
        event_count = _seed_events(rng, events, signups, tastes, end_ts, tz, created, report)
        tagged = _seed_tags(rng, profiles, tag_ids, created, report)
        consents = _seed_consents(rng, profiles, start_ts, end_ts, tz, created, report)
        reset_sequences(Profile, Event, ProfileTag, ConsentRecord, ConsentState)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh statistics, or the planner guesses badly
            cursor.execute("ANALYZE")
    report("features", 0, profiles)
    features_refresh()
    report("stages", 0, profiles)
    stages_ensure_defaults()
    # Replay the stage refresh through the data's three years, so stage history has real dates
    # (monthly; yearly for big data sets, where each replay scans many events).
    every_days = 30 if profiles <= 50_000 else 365
    moves = stages_backfill(
        start=datetime.datetime.fromtimestamp(start_ts, tz), end=end, every_days=every_days
    )
    report("stages", moves, moves)
    return {
        "profiles": profiles,
        "events": event_count,
        "profile_tags": tagged,
        "consent_records": consents,
    }


def _seed_taxonomy() -> list[int]:
    ids = []
    for position, (slug, label, tags) in enumerate(TAXONOMY):
        category, _ = TagCategory.objects.get_or_create(
            slug=slug, defaults={"label": label, "position": position}
        )
        for tag_slug, tag_label, colour in tags:
            tag, _ = Tag.objects.get_or_create(
                slug=tag_slug, defaults={"label": tag_label, "colour": colour, "category": category}
            )
            ids.append(tag.pk)
    return ids


_PROFILE_COLUMNS = [
    "id",
    "external_id",
    "email",
    "phone",
    "name",
    "gender",
    "birth_date",
    "city",
    "region",
    "signup_at",
    "channel",
    "traits",
    "frequency",
    "monetary",
    "created_at",
    "updated_at",
]


def _profile_row(rng, i, draws, signup_ts, tz, created) -> tuple:
    """Return profile ``i``'s row in ``_PROFILE_COLUMNS`` order (the draws' order is the seed's)."""
    city, acquisition, membership = draws
    chinese = rng.random() < 0.8
    gender = Gender.FEMALE if rng.random() < 0.52 else Gender.MALE
    if chinese:
        given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        name = rng.choice(SURNAMES) + given
    else:
        name = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
    city_name, region, _w = city()
    signup_ts = signup_ts()
    email = f"user{i}@example.{'cn' if chinese else 'com'}" if rng.random() < 0.85 else ""
    phone = (
        f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}" if rng.random() < 0.9 else ""
    )
    birth = datetime.date(rng.randint(1960, 2006), rng.randint(1, 12), rng.randint(1, 28))
    traits = {"membership": membership()[0], "interest": rng.choice(INTERESTS)}
    if rng.random() < 0.3:
        traits["newsletter_format"] = rng.choice(["html", "text"])
    signed_up = datetime.datetime.fromtimestamp(signup_ts, tz)
    return (
        i,
        f"U{i:08d}",
        email,
        phone,
        name,
        gender,
        birth,
        city_name,
        region,
        signed_up,
        acquisition()[0],
        traits,
        0,
        Decimal("0"),
        created,
        created,
    )


def _seed_profiles(rng, count, start_ts, end_ts, tz, created, report) -> tuple[array, bytearray]:
    """Write the profiles; return their sign-up times and tastes (the interest, as a number)."""
    draws = (_weighted(rng, CITIES), _weighted(rng, ACQUISITION), _weighted(rng, MEMBERSHIP))
    signups = array("d")
    tastes = bytearray()
    traits_at = _PROFILE_COLUMNS.index("traits")
    span = end_ts - start_ts

    def signup_ts() -> float:
        # Sign-ups grow over time: the power skews them towards the recent end.
        moment = start_ts + span * (rng.random() ** 0.6)
        signups.append(moment)
        return moment

    with BulkWriter(Profile, _PROFILE_COLUMNS) as writer:
        for i in range(1, count + 1):
            row = _profile_row(rng, i, draws, signup_ts, tz, created)
            writer.add(row)
            tastes.append(CATEGORIES.index(row[traits_at]["interest"]))
            if i % 50000 == 0:
                report("profiles", i, count)
    report("profiles", count, count)
    return signups, tastes


def _seed_events(rng, count, signups, tastes, end_ts, tz, created, report) -> int:
    if not signups:
        return 0
    event = _weighted(rng, EVENTS)
    touchpoint = _weighted(rng, TOUCHPOINTS)
    n_profiles = len(signups)
    fields = [
        "id",
        "profile_id",
        "name",
        "channel",
        "occurred_at",
        "amount",
        "properties",
        "key",
        "received_at",
    ]
    with BulkWriter(Event, fields) as writer:
        for j in range(1, count + 1):
            # A few profiles are very active, most are not: skew the pick towards low indices.
            index = int(n_profiles * (rng.random() ** 2))
            signup_ts = signups[index]
            # Activity clusters in the recent past.
            occurred_ts = end_ts - (end_ts - signup_ts) * (rng.random() ** 1.8)
            name = event()[0]
            channel = touchpoint()[0]
            amount = None
            properties = {}
            if name == "purchase":
                amount = Decimal(str(round(rng.lognormvariate(5.0, 0.9), 2)))
                category, product = purchase_pick(rng, tastes[index])
                properties = {"items": rng.randint(1, 5), "category": category, "product": product}
            elif name == "page_view":
                properties = {"path": rng.choice(["/", "/sale", "/new", "/member", "/cart"])}
            elif name == "feedback":
                properties = {"score": rng.randint(1, 5)}
            writer.add(
                (
                    j,
                    index + 1,
                    name,
                    channel,
                    datetime.datetime.fromtimestamp(occurred_ts, tz),
                    amount,
                    properties,
                    f"demo-{j}",
                    created,
                )
            )
            if j % 200000 == 0:
                report("events", j, count)
    report("events", count, count)
    return count


# (channel, purpose, chance of a grant, chance of a withdrawal instead): most have given email
# marketing consent at signup, fewer SMS; a few withdrew personalised profiling.
DEMO_CONSENTS = [
    ("email", "marketing", 0.70, 0.08),
    ("sms", "marketing", 0.45, 0.05),
    ("email", "profiling", 0.0, 0.03),
]


def _seed_consents(rng, n_profiles, start_ts, end_ts, tz, created, report) -> int:
    """Write one consent record per (profile, channel, purpose) drawn, and its current state."""
    record_fields = ["id", "profile_id", "channel", "purpose", "status", "recorded_at", "source",
                     "notice_version", "created_at"]  # fmt: skip
    state_fields = ["profile_id", "channel", "purpose", "status", "record_id", "recorded_at"]
    next_id = 1
    with (
        BulkWriter(ConsentRecord, record_fields) as records,
        BulkWriter(ConsentState, state_fields) as states,
    ):
        for profile_id in range(1, n_profiles + 1):
            for channel, purpose, granted, withdrawn in DEMO_CONSENTS:
                draw = rng.random()
                if draw < granted:
                    status = ConsentStatus.GRANTED
                elif draw < granted + withdrawn:
                    status = ConsentStatus.WITHDRAWN
                else:
                    continue
                at = datetime.datetime.fromtimestamp(rng.uniform(start_ts, end_ts), tz)
                records.add((next_id, profile_id, channel, purpose, status, at,
                             ConsentSource.IMPORT, "demo", created))  # fmt: skip
                states.add((profile_id, channel, purpose, status, next_id, at))
                next_id += 1
    report("consents", next_id - 1, next_id - 1)
    return next_id - 1


def _seed_tags(rng, n_profiles, tag_ids, created, report) -> int:
    fields = ["id", "profile_id", "tag_id", "provenance", "set_at"]
    next_id = 1
    with BulkWriter(ProfileTag, fields) as writer:
        for profile_id in range(1, n_profiles + 1):
            how_many = int(rng.random() ** 2 * 4)  # 0–3, mostly 0 or 1
            for tag_id in rng.sample(tag_ids, how_many):
                writer.add((next_id, profile_id, tag_id, Provenance.IMPORT, created))
                next_id += 1
    report("tags", next_id - 1, next_id - 1)
    return next_id - 1
