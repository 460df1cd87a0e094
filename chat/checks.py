"""System checks: `manage.py check --deploy` warns about an open site without limits."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def open_signup_has_a_quota(app_configs, **kwargs):
    if settings.CHAT_ALLOW_SIGNUP and not settings.CHAT_DAILY_TOKEN_QUOTA:
        return [
            Warning(
                "Sign-up is open (CHAT_ALLOW_SIGNUP) and there is no daily token "
                "quota: anyone can sign up and spend the model's budget.",
                hint="Set CHAT_DAILY_TOKEN_QUOTA, or CHAT_ALLOW_SIGNUP=false.",
                id="chat.W001",
            )
        ]
    return []
