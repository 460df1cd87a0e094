"""Limits on starting an answer, decided where they hold across processes.

Per person: messages per minute (a rate in the shared cache, `chat.ratelimit`),
answers streaming at once and the daily token quota (the database, under a row
lock on the person's Profile). `check_new_answer` runs inside the transaction that
stored the turn, so a refusal rolls it back: nothing is stored, nothing is sent
upstream. A Profile's non-empty fields override the settings.

The quota counts answers still streaming at an estimate (their prompt tokens, stored
when they start, plus the longest answer allowed), so conversations started at
once cannot all slip past it: they are serialised by the row lock and each sees the
others' estimates. A new answer is allowed while the count is below the quota.
"""

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, F, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext

from chat import metrics, prepared, ratelimit
from chat.models import Message, Profile
from chat.providers import get_provider
from chat.replies.errors import ReplyError


@dataclass(frozen=True)
class Limits:
    messages_per_minute: int
    concurrent_streams: int
    daily_token_quota: int


def limits_of(profile: Profile | None) -> Limits:
    """A person's limits: their profile's overrides, else the settings (0: none)."""

    def pick(field: str, setting: str) -> int:
        value = getattr(profile, field, None) if profile else None
        return getattr(settings, setting) if value is None else value

    return Limits(
        messages_per_minute=pick("messages_per_minute", "CHAT_MESSAGES_PER_MINUTE"),
        concurrent_streams=pick("concurrent_streams", "CHAT_CONCURRENT_STREAMS"),
        daily_token_quota=pick("daily_token_quota", "CHAT_DAILY_TOKEN_QUOTA"),
    )


def locked_profile(user_id: int) -> Profile:
    """The person's Profile, row-locked until the transaction ends (made if missing)."""
    try:
        return prepared.get_locked(Profile, "user_id", user_id)
    except Profile.DoesNotExist:
        profile, _ = Profile.objects.select_for_update().get_or_create(user_id=user_id)
        return profile


def start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_to_midnight() -> int:
    midnight = start_of_today() + timedelta(days=1)
    return max(1, int((midnight - timezone.now()).total_seconds()))


def _counted_tokens(*, reserve_streaming: bool):
    """Tokens a message counts for: its usage, or for a running answer (with
    `reserve_streaming`) its prompt estimate plus the longest answer allowed."""
    number = IntegerField()
    prompt = Coalesce(F("prompt_tokens"), 0, output_field=number)
    counted = prompt + Coalesce(F("completion_tokens"), 0, output_field=number)
    if not reserve_streaming:
        return counted
    return Case(
        When(
            status=Message.Status.STREAMING,
            then=prompt + Value(get_provider().max_answer_tokens()),
        ),
        default=counted,
        output_field=number,
    )


def usage_today_in(conversation_id: int) -> dict:
    """The tokens the owner of a conversation used today, for the page (one query).

    After every answer, on the database thread: plain SQL (what `usage_today`'s
    aggregate sends, by the conversation's owner), not a query the ORM builds anew
    each time."""
    since = Message._meta.get_field("created_at").get_db_prep_value(
        start_of_today(), connection
    )
    with connection.cursor() as cursor:
        cursor.execute(_USAGE_TODAY_IN_SQL, [conversation_id, since])
        return {"used": cursor.fetchone()[0]}


_USAGE_TODAY_IN_SQL = """
SELECT COALESCE(SUM(COALESCE(m.prompt_tokens, 0) + COALESCE(m.completion_tokens, 0)), 0)
FROM chat_message m JOIN chat_conversation c ON c.id = m.conversation_id
WHERE c.user_id = (SELECT user_id FROM chat_conversation WHERE id = %s)
AND m.created_at >= %s
"""


def usage_today(user) -> dict:
    """Tokens used today against the quota (0: none), as the page first shows it."""
    used = Message.objects.filter(
        conversation__user=user, created_at__gte=start_of_today()
    ).aggregate(total=Sum(_counted_tokens(reserve_streaming=False), default=0))
    quota = limits_of(Profile.objects.filter(user=user).first()).daily_token_quota
    return {"used": used["total"], "quota": quota}


def refuse(code: str, message: str, *, limit: int, retry_after_s: int | None):
    """The error of a refusal by a limit (every limit refuses through here)."""
    metrics.refused(code)
    return ReplyError(code, message, limit=limit, retry_after_s=retry_after_s)


def check_new_answer(
    user_id: int, reply: Message, *, profile: Profile | None = None
) -> None:
    """Refuse `reply` (stored, not committed) past a limit, in its transaction.

    `profile`: the person's Profile, when the transaction already row-locked it."""
    limits = limits_of(profile or locked_profile(user_id))
    check_rate(user_id, limits.messages_per_minute)
    _check_running_and_quota(user_id, limits, exclude_pk=reply.pk)


def precheck(user_id: int) -> None:
    """Refuse early, without the lock or spending a message, what
    check_new_answer would refuse: it spares the moderation service a flood."""
    limits = limits_of(Profile.objects.filter(user_id=user_id).first())
    refusal = ratelimit.peek(
        ratelimit.bucket_key("messages", user_id), limit=limits.messages_per_minute
    )
    if refusal:
        raise _rate_refusal(limits.messages_per_minute, refusal.retry_after_s)
    _check_running_and_quota(user_id, limits, exclude_pk=None)


def _check_running_and_quota(user_id: int, limits: Limits, *, exclude_pk) -> None:
    if not (limits.concurrent_streams or limits.daily_token_quota):
        return
    # Both in one query: the person's running answers (whenever they started)
    # and today's tokens, running answers at their estimate.
    streaming = Q(status=Message.Status.STREAMING)
    today = Q(created_at__gte=start_of_today())
    counts = (
        Message.objects.filter(conversation__user_id=user_id)
        .filter(streaming | today)
        .exclude(pk=exclude_pk)
        .aggregate(
            running=Count("pk", filter=streaming),
            used=Sum(_counted_tokens(reserve_streaming=True), filter=today, default=0),
        )
    )
    if limits.concurrent_streams and counts["running"] >= limits.concurrent_streams:
        raise refuse(
            "too_many_streams",
            gettext(
                "You already have %(running)s answers being written (the limit is "
                "%(limit)s). Wait for one to finish or stop it."
            )
            % {"running": counts["running"], "limit": limits.concurrent_streams},
            limit=limits.concurrent_streams,
            retry_after_s=None,
        )
    quota = limits.daily_token_quota
    if quota and counts["used"] >= quota:
        wait = seconds_to_midnight()
        raise refuse(
            "quota",
            gettext(
                "You have used today's %(quota)s tokens (answers still being written "
                "count in full). The quota resets at midnight, in %(wait)s."
            )
            % {
                "quota": number_format(quota, force_grouping=True),
                "wait": _duration(wait),
            },
            limit=quota,
            retry_after_s=wait,
        )


def check_rate(user_id: int, per_minute: int) -> None:
    _, refusal = ratelimit.take(
        ratelimit.bucket_key("messages", user_id), limit=per_minute, window_s=60
    )
    if refusal:
        raise _rate_refusal(per_minute, refusal.retry_after_s)


def _rate_refusal(per_minute: int, retry_after_s: int) -> ReplyError:
    return refuse(
        "rate_limited",
        gettext(
            "You are sending messages too fast (at most %(limit)s a minute). "
            "Try again in %(wait)s."
        )
        % {"limit": per_minute, "wait": _duration(retry_after_s)},
        limit=per_minute,
        retry_after_s=retry_after_s,
    )


def _duration(seconds: int) -> str:
    if seconds < 90:
        return gettext("%(n)s s") % {"n": seconds}
    if seconds < 5400:
        return gettext("%(n)s min") % {"n": round(seconds / 60)}
    return gettext("%(h)s h %(m)s min") % {
        "h": seconds // 3600,
        "m": seconds % 3600 // 60,
    }


class SocketBucket:
    """A token bucket for the control frames of one socket (stop, resync, regenerate).

    In process memory on purpose: a socket lives in one process, so its count
    does too, and a resync flood costs no Redis round trip to refuse.
    """

    def __init__(self, *, burst: int, per_minute: int):
        self.burst = burst
        self.rate = per_minute / 60
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> None:
        if not (self.burst and self.rate):
            return  # 0 turns it off
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return
        wait = math.ceil((1 - self.tokens) / self.rate)
        raise refuse(
            "rate_limited",
            gettext("Too many requests on this page at once. Try again in %(wait)s.")
            % {"wait": _duration(wait)},
            limit=self.burst,
            retry_after_s=wait,
        )
