"""The exports of the profiles app: the profile list (with its filters), the consent ledger and
the consent rates."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.roles import CONSENT_ADMIN, OPS
from profiles import selectors
from profiles.exports import (
    ExportError,
    ExportKind,
    ExportTable,
    contact_shown,
    label_of,
    list_table,
    queryset_counter,
    rows_shown,
)
from profiles.models import (
    ConsentChannel,
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    ConsentStatus,
    Profile,
    ValueTier,
)
from profiles.selectors import SCORE_SORTS
from profiles.services.consent import consent_purposes

ERROR_NUMBER = _("“%(value)s” is not a number: give %(name)s as a number such as 0.7.")
ERROR_NO_PROFILE = _("No profile has the external ID “%(external_id)s”.")

PROFILE_PARAMS = ("q", "city", "tier", "tag", "sort", "churn_min", "clv_min")
PROFILE_COLUMNS = (
    ("external_id", _("External ID")),
    ("name", pgettext_lazy("person", "Name")),
    ("email", _("Email")),
    ("phone", _("Phone")),
    ("wechat_openid", _("WeChat openid")),
    ("wechat_unionid", _("WeChat unionid")),
    ("wecom_external_userid", _("WeCom external user ID")),
    ("city", _("City")),
    ("region", _("Region")),
    ("value_tier", _("Value tier")),
    ("churn_risk", _("Churn risk")),
    ("clv_365d", _("Expected value (12 months)")),
    ("signup_at", _("Signed up")),
    ("last_seen_at", _("Last seen")),
)
# The columns that are not Profile fields of the same name.
PROFILE_FIELDS = {"churn_risk": "prediction__churn_risk", "clv_365d": "prediction__clv_365d"}


def _number(params: dict, name: str) -> float | None:
    value = params.get(name, "")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ExportError(ERROR_NUMBER % {"value": value, "name": name}) from None


def profiles_queryset(params: dict):
    """Return the profiles the list shows with ``params`` (its filters and sort), all pages."""
    profiles = selectors.profile_filter(
        query=params.get("q", ""),
        city=params.get("city", ""),
        tier=params.get("tier", ""),
        tag=params.get("tag", ""),
    )
    churn_min, clv_min = _number(params, "churn_min"), _number(params, "clv_min")
    if churn_min is not None:
        profiles = profiles.filter(prediction__churn_risk__gte=churn_min)
    if clv_min is not None:
        profiles = profiles.filter(prediction__clv_365d__gte=clv_min)
    field = SCORE_SORTS.get(params.get("sort", ""))
    if field is None:
        return profiles.order_by("-pk")
    return profiles.filter(**{f"{field}__isnull": False}).order_by(f"-{field}", "-pk")


def profiles_table(*, user, params: dict) -> ExportTable:
    """Return the filtered profile list, contact data masked unless ``user`` sees it in full."""
    profiles = profiles_queryset(params)
    keys = [key for key, _label in PROFILE_COLUMNS]
    fields = [PROFILE_FIELDS.get(key, key) for key in keys]
    shown = {**contact_shown(user), "value_tier": label_of(ValueTier.choices)}
    rows = rows_shown(profiles.values_list(*fields).iterator(chunk_size=2000), keys, shown)
    filters = ", ".join(f"{key}={value}" for key, value in sorted(params.items()))
    return ExportTable(
        name="profiles",
        title=str(_("Profiles")),
        what=f"profiles ({filters})" if filters else "profiles",
        columns=PROFILE_COLUMNS,
        rows=rows,
        counter=queryset_counter(profiles),
    )


CONSENT_COLUMNS = (
    ("external_id", _("External ID")),
    ("channel", _("Channel")),
    ("purpose", _("Purpose")),
    ("status", _("Status")),
    ("recorded_at", _("Given at")),
    ("source", _("How")),
    ("notice_version", _("Notice version")),
    ("evidence_ip", _("IP address")),
    ("evidence_user_agent", _("User agent")),
    ("evidence", _("Evidence")),
    ("recorded_by", _("Recorded by")),
    ("reason", _("Reason")),
    ("created_at", _("Stored at")),
)

CONSENT_FIELDS = {"external_id": "profile__external_id", "recorded_by": "recorded_by__username"}


def consent_records_table(*, user, params: dict) -> ExportTable:
    """Return the consent ledger, of one profile (``external_id``) or of everyone, newest first."""
    records = ConsentRecord.objects.all()
    external_id = params.get("external_id", "")
    profile = None
    if external_id:
        profile = Profile.objects.filter(external_id=external_id).first()
        if profile is None:
            raise ExportError(ERROR_NO_PROFILE % {"external_id": external_id})
        records = records.filter(profile=profile)
    records = records.order_by("-recorded_at", "-id")
    keys = [key for key, _label in CONSENT_COLUMNS]
    fields = [CONSENT_FIELDS.get(key, key) for key in keys]
    shown = {
        "channel": label_of(ConsentChannel.choices),
        "purpose": label_of(consent_purposes()),
        "status": label_of(ConsentStatus.choices),
        "source": label_of(ConsentSource.choices),
    }
    rows = rows_shown(records.values_list(*fields).iterator(chunk_size=2000), keys, shown)
    return ExportTable(
        name=f"consent-{external_id}" if external_id else "consent-ledger",
        title=str(_("Consent history")),
        what=f"consent records of {external_id}" if external_id else "consent records (all)",
        columns=CONSENT_COLUMNS,
        rows=rows,
        counter=queryset_counter(records),
        source=profile,
    )


def consent_rates_table(*, user, params: dict) -> ExportTable:
    """Return the monthly shares of profiles with a granted marketing consent, per channel."""
    channels = dict(ConsentChannel.choices)
    rows = [
        (
            row["at"],
            channels.get(row["channel"], row["channel"]),
            row["granted"],
            row["profiles"],
            row["granted"] / row["profiles"] if row["profiles"] else None,
        )
        for row in selectors.consent_rates(purpose=ConsentPurpose.MARKETING, months=12)
    ]
    return list_table(
        name="consent-rates",
        title=str(_("Consent rates")),
        what="consent rates per channel",
        columns=(
            ("at", _("At")),
            ("channel", _("Channel")),
            ("granted", _("Granted")),
            ("profiles", _("Profiles")),
            ("share", _("Share")),
        ),
        rows=rows,
    )


EXPORT_KINDS = (
    ExportKind(
        name="profiles", roles=(OPS, CONSENT_ADMIN), build=profiles_table, params=PROFILE_PARAMS
    ),
    ExportKind(
        name="consent-records",
        roles=(CONSENT_ADMIN,),
        build=consent_records_table,
        params=("external_id",),
    ),
    ExportKind(name="consent-rates", roles=(CONSENT_ADMIN,), build=consent_rates_table),
)
