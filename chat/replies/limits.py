"""Limits on starting an answer: today the daily token quota."""

from django.conf import settings
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext

from chat.models import Message
from chat.replies.errors import ReplyError


def check_quota(user_id: int) -> None:
    """Refuse a new answer once a person's tokens today reach CHAT_DAILY_TOKEN_QUOTA."""
    quota = settings.CHAT_DAILY_TOKEN_QUOTA
    if not quota:
        return
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    used = Message.objects.filter(
        conversation__user_id=user_id, created_at__gte=today
    ).aggregate(
        total=Coalesce(Sum("prompt_tokens"), 0) + Coalesce(Sum("completion_tokens"), 0)
    )["total"]
    if used >= quota:
        raise ReplyError(
            "quota",
            gettext(
                "You have used today's %(quota)s tokens. The quota resets at midnight."
            )
            % {"quota": number_format(quota, force_grouping=True)},
        )
