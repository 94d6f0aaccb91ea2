"""Double opt-in: email a profile a signed link whose confirmation appends the grant."""

import logging
import smtplib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from profiles.models import ConsentChannel, Profile
from profiles.services.consent import consent_purposes
from profiles.services.consent_links import opt_in_confirm_url

logger = logging.getLogger(__name__)

ERROR_SEND_FAILED = _(
    "The confirmation email could not be sent (the mail server did not take it); try again later."
)
ERROR_NO_EMAIL = _("This profile has no email address: a confirmation email cannot be sent.")
ERROR_UNKNOWN_CHANNEL = _("Unknown channel “%(value)s”: use one of %(choices)s.")
ERROR_UNKNOWN_PURPOSE = _("Unknown purpose “%(value)s”: use one of %(choices)s.")


def consent_opt_in_send(
    *, profile: Profile, channel: str = "email", purpose: str = "marketing", requested_by=None
) -> None:
    """Email the profile a signed link that confirms consent for ``channel`` and ``purpose``.

    Raise ValidationError when the profile has no email address or the channel or purpose is
    unknown. The message is written in the site's default language: the end user's is unknown.
    """
    purposes = dict(consent_purposes())
    if channel not in ConsentChannel.values:
        raise ValidationError(
            ERROR_UNKNOWN_CHANNEL,
            params={"value": channel, "choices": ", ".join(ConsentChannel.values)},
        )
    if purpose not in purposes:
        raise ValidationError(
            ERROR_UNKNOWN_PURPOSE, params={"value": purpose, "choices": ", ".join(purposes)}
        )
    if not profile.email:
        raise ValidationError(ERROR_NO_EMAIL)
    url = opt_in_confirm_url(profile_id=profile.pk, channel=channel, purpose=purpose)
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "url": url,
            "channel_label": ConsentChannel(channel).label,
            "purpose_label": purposes[purpose],
            "max_age_days": settings.CONSENT_OPT_IN_MAX_AGE_DAYS,
        }
        subject = gettext("Please confirm your subscription")
        body = render_to_string("email/consent_opt_in.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [profile.email])
    except (OSError, smtplib.SMTPException) as exc:  # the server is down or refused it
        logger.warning("The double opt-in email to profile %s was not sent: %s", profile.pk, exc)
        raise ValidationError(ERROR_SEND_FAILED) from exc
    logger.info(
        "Sent a double opt-in request to profile %s for %s/%s (asked by %s)",
        profile.pk,
        channel,
        purpose,
        requested_by.get_username() if requested_by is not None else "-",
    )
