"""Personal API tokens: made, shown once, checked by prefix and hash."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.utils import timezone

from chat.models import ApiToken

TOKEN_PREFIX = "chat_"
# last_used_at is refreshed at most this often: not one write per call.
LAST_USED_EVERY = timedelta(minutes=1)


def _hash(secret: str) -> str:
    # The secret is 256 random bits: a fast hash is safe (see ApiToken).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(user, *, name: str, store_calls: bool = True) -> tuple[ApiToken, str]:
    """Make a token; return it and its full text, which is never stored."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        secret_hash=_hash(secret),
        store_calls=store_calls,
    )
    return token, f"{TOKEN_PREFIX}{prefix}_{secret}"


def token_for(raw: str) -> ApiToken | None:
    """The active person's token this text is, or None (one query)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    prefix, _, secret = raw[len(TOKEN_PREFIX) :].partition("_")
    if not prefix or not secret:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(prefix=prefix, user__is_active=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(secret)):
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        token.last_used_at = now
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
