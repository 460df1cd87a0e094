"""Token usage per user per day, and its stacked bar chart drawn as inline SVG."""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from chat.models import Message

USAGE_DAYS = 30


@dataclass
class Bar:
    day: datetime.date
    total: int
    x: float
    segments: list[dict] = field(default_factory=list)


@dataclass
class Usage:
    days: list[datetime.date]
    rows: list[dict]
    user_totals: dict[str, int]
    day_totals: dict[datetime.date, int]
    total: int
    users: list[str]
    chart: dict


CHART_WIDTH = 720
CHART_HEIGHT = 200
CHART_COLOURS = ["#417690", "#e08e0b", "#5b9e4d", "#b2456e", "#7059a8", "#9c6b30"]


def usage_by_user_and_day(*, days: int = USAGE_DAYS, today=None) -> Usage:
    """Tokens per user per day over the last `days` days, today included."""
    today = today or timezone.localdate()
    first = today - datetime.timedelta(days=days - 1)
    start = timezone.make_aware(datetime.datetime.combine(first, datetime.time.min))
    per_user_day = (
        Message.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("conversation__user__username", "day")
        .annotate(
            prompt=Coalesce(Sum("prompt_tokens"), 0),
            completion=Coalesce(Sum("completion_tokens"), 0),
        )
        .order_by("-day", "conversation__user__username")
    )
    rows = []
    user_totals: dict[str, int] = defaultdict(int)
    day_totals: dict[datetime.date, int] = defaultdict(int)
    by_day: dict[datetime.date, list[tuple[str, int]]] = defaultdict(list)
    for row in per_user_day:
        total = row["prompt"] + row["completion"]
        if not total:
            continue
        username = row["conversation__user__username"]
        rows.append(
            {
                "day": row["day"],
                "user": username,
                "prompt": row["prompt"],
                "completion": row["completion"],
                "total": total,
            }
        )
        user_totals[username] += total
        day_totals[row["day"]] += total
        by_day[row["day"]].append((username, total))
    users = sorted(user_totals)
    all_days = [first + datetime.timedelta(days=n) for n in range(days)]
    return Usage(
        days=all_days,
        rows=rows,
        user_totals={user: user_totals[user] for user in users},
        day_totals=dict(day_totals),
        total=sum(user_totals.values()),
        users=users,
        chart=_chart(all_days, by_day, users),
    )


def _chart(days, by_day, users) -> dict:
    """Lay out one stacked bar per day; the template draws it as inline SVG."""
    colours = {
        user: CHART_COLOURS[n % len(CHART_COLOURS)] for n, user in enumerate(users)
    }
    peak = max((sum(t for _, t in by_day[day]) for day in days), default=0) or 1
    slot = CHART_WIDTH / len(days)
    bars = []
    for n, day in enumerate(days):
        bar = Bar(day=day, total=0, x=round(n * slot + 2, 1))
        y = CHART_HEIGHT
        for user, tokens in sorted(by_day.get(day, [])):
            height = round(tokens / peak * CHART_HEIGHT, 1)
            y = round(y - height, 1)
            bar.segments.append(
                {
                    "user": user,
                    "tokens": tokens,
                    "y": y,
                    "height": height,
                    "colour": colours[user],
                }
            )
            bar.total += tokens
        bars.append(bar)
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "bar_width": round(slot - 4, 1),
        "peak": peak if any(bar.total for bar in bars) else 0,
        "bars": bars,
        "legend": [{"user": user, "colour": colours[user]} for user in users],
    }
