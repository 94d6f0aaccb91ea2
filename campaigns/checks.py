"""System checks of the campaigns' deployment (``manage.py check --deploy``)."""

from django.core.checks import Tags, Warning, register

W_MAILGUN_KEY = (
    "ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY is not set: /anymail/mailgun/tracking/ refuses every "
    "call from Mailgun (403), so deliveries, bounces, opens and clicks it reports are lost."
)


@register(Tags.security, deploy=True)
def mailgun_signing_key_check(app_configs, **kwargs):
    """Warn when the Mailgun tracking webhook is routed but cannot verify a call."""
    from campaigns.tracking import mailgun_signing_key

    if mailgun_signing_key():
        return []
    return [
        Warning(
            W_MAILGUN_KEY,
            hint="Copy the webhook signing key from Mailgun's dashboard into the environment.",
            id="campaigns.W001",
        )
    ]
