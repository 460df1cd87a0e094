"""Rates that hold across processes: at most N events in any window, in the cache.

With Redis as the Django cache (REDIS_URL) every process shares the count; with the
local-memory cache it holds in one process. No Lua and no read-modify-write: each of
the N allowed events is a key, taken with `cache.add` (Redis SET NX, atomic) and
expiring one window later. An event is allowed when a free key can be taken, so
there are never more than N in any window, however many processes race for them.
This is a sliding-window log: a token bucket whose tokens each refill one window
after they were spent. Each key holds its expiry time, which says when to retry.

Cost: one MGET, then one SET NX (another per key lost to a racing process).
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django.core.cache import cache


@dataclass(frozen=True)
class Refusal:
    limit: int
    retry_after_s: int


def bucket_key(*parts) -> str:
    """A cache-safe key for any text (usernames may hold anything)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]
    return f"rate:{digest}"


def take(key: str, *, limit: int, window_s: float) -> tuple[str, Refusal | None]:
    """Spend one of `limit` events allowed per `window_s` under `key`.

    Returns the slot key taken (to give back with `give_back`) or a Refusal with
    when the oldest event leaves the window. A limit of 0 allows everything.
    """
    if limit <= 0:
        return "", None
    slots = [f"{key}:{i}" for i in range(limit)]
    now = time.time()
    held = cache.get_many(slots)
    for slot in slots:
        if slot in held:
            continue
        if cache.add(slot, now + window_s, timeout=math.ceil(window_s)):
            return slot, None
        # Another process took it between the read and now: try the next one.
    held = cache.get_many(slots) or {"": now + window_s}
    retry = max(1, math.ceil(min(held.values()) - now))
    return "", Refusal(limit=limit, retry_after_s=retry)


def peek(key: str, *, limit: int) -> Refusal | None:
    """Say whether `take` would refuse now, spending nothing."""
    if limit <= 0:
        return None
    held = cache.get_many([f"{key}:{i}" for i in range(limit)])
    if len(held) < limit:
        return None
    return Refusal(
        limit=limit, retry_after_s=max(1, math.ceil(min(held.values()) - time.time()))
    )


def give_back(slot: str) -> None:
    """Return an event that should not count (a successful login)."""
    if slot:
        cache.delete(slot)
