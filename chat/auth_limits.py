"""Login, signup and admin login, throttled per IP and per username.

With the cache's rate (`chat.ratelimit`, shared through Redis across processes)
rather than django-axes: the same dozen lines already decide messages per minute,
and axes would bring its own models, middleware and authentication backend.

Every POST spends one attempt of its IP (CHAT_LOGIN_ATTEMPTS_PER_IP per
CHAT_LOGIN_WINDOW_S) and one of its username (CHAT_LOGIN_FAILURES_PER_USERNAME); a
login that succeeds gives its username's attempt back, so only failures count
against a name. A refusal is a 429 page saying when to try again. The IP is the
server's REMOTE_ADDR: behind a proxy, uvicorn sets it from X-Forwarded-For for
the proxies in FORWARDED_ALLOW_IPS.
"""

import functools
import math

from django.conf import settings
from django.shortcuts import render

from chat import ratelimit


def throttled(view):
    """Wrap a login or signup view with the per-IP and per-username limits."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method != "POST":
            return view(request, *args, **kwargs)
        window = settings.CHAT_LOGIN_WINDOW_S
        username = request.POST.get("username", "").strip().casefold()
        _, by_ip = ratelimit.take(
            ratelimit.bucket_key("login-ip", request.META.get("REMOTE_ADDR", "")),
            limit=settings.CHAT_LOGIN_ATTEMPTS_PER_IP,
            window_s=window,
        )
        slot, by_name = ratelimit.take(
            ratelimit.bucket_key("login-username", username),
            limit=settings.CHAT_LOGIN_FAILURES_PER_USERNAME,
            window_s=window,
        )
        refusal = by_ip or by_name
        if refusal:
            ratelimit.give_back(slot)
            return too_many_attempts(request, refusal)
        response = view(request, *args, **kwargs)
        if request.user.is_authenticated:
            ratelimit.give_back(slot)  # a success: only failures count per name
        return response

    return wrapper


def too_many_attempts(request, refusal: ratelimit.Refusal):
    minutes = max(1, math.ceil(refusal.retry_after_s / 60))
    response = render(
        request,
        "registration/throttled.html",
        {"minutes": minutes, "retry_after_s": refusal.retry_after_s},
        status=429,
    )
    response["Retry-After"] = str(refusal.retry_after_s)
    return response
