"""System checks of the campaigns' deployment (``manage.py check --deploy``)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

W_MAILGUN_KEY = (
    "Email goes through Mailgun but ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY is not set: "
    "/anymail/mailgun/tracking/ refuses every call from Mailgun (403), so the deliveries, "
    "bounces, opens and clicks it reports are lost."
)


@register(Tags.security, deploy=True)
def mailgun_signing_key_check(app_configs, **kwargs):
    """Warn when email goes through Mailgun but its tracking webhook cannot verify a call."""
    from campaigns.tracking import mailgun_signing_key

    if "mailgun" not in settings.EMAIL_BACKEND.lower() or mailgun_signing_key():
        return []
    return [
        Warning(
            W_MAILGUN_KEY,
            hint="Copy the webhook signing key from Mailgun's dashboard into the environment.",
            id="campaigns.W001",
        )
    ]
