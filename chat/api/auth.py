"""Who calls the API, and how the API says no.

A call carries `Authorization: Bearer <personal token>`, or else it is the page's
own call with the session cookie. Session calls that change state must pass
Django's CSRF check (the views are csrf_exempt so that token calls need none).
"""

from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.translation import gettext

from chat.api.tokens import token_for

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")


def _bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip()


def _csrf_ok(request) -> bool:
    checker = CsrfViewMiddleware(lambda request: None)
    return checker.process_view(request, None, (), {}) is None


def authenticate(request):
    """The User calling, or None. Sync: call it through sync_to_async in async views.

    Sets `request.api_token` (the ApiToken, or None for a session call) and
    `request.api_csrf_failed` (a session call that failed the CSRF check).
    """
    request.api_token = None
    request.api_csrf_failed = False
    raw = _bearer(request)
    if raw is not None:
        # A token that is wrong never falls back to the session.
        token = token_for(raw)
        if token is None:
            return None
        request.api_token = token
        return token.user
    user = request.user
    if not user.is_authenticated:
        return None
    if request.method not in SAFE_METHODS and not _csrf_ok(request):
        request.api_csrf_failed = True
        return None
    return user


def api_error(
    status: int,
    message: str,
    *,
    code: str | None,
    type: str = "invalid_request_error",  # OpenAI's field name
    headers: dict | None = None,
) -> JsonResponse:
    """An error in OpenAI's format: {"error": {"message", "type", "code"}}."""
    return JsonResponse(
        {"error": {"message": message, "type": type, "code": code, "param": None}},
        status=status,
        headers=headers,
    )


def refused(request) -> JsonResponse:
    """The answer to a call `authenticate` refused: 403 for a failed CSRF check."""
    if getattr(request, "api_csrf_failed", False):
        return api_error(
            403,
            gettext("CSRF check failed: send the CSRF token with session calls."),
            code="csrf_failed",
            type="permission_error",
        )
    return api_error(
        401,
        gettext(
            "Send a valid personal API token as 'Authorization: Bearer <token>'. "
            "Make one on your account's token page."
        ),
        code="invalid_api_key",
        type="authentication_error",
    )


# How a refusal of the reply path (chat.replies.ReplyError) travels over HTTP.
_LIMITS = ("rate_limited", "too_many_streams", "quota")
_STATUS = {
    "not_found": 404,
    "bad_model": 404,
    "busy": 409,
    "not_running": 409,
    "moderation_unavailable": 503,
    "server_error": 500,
}


def reply_error(error) -> JsonResponse:
    """A ReplyError as an API error; a limit is a 429 with Retry-After."""
    if error.code in _LIMITS:
        # Too many streams ends when an answer does: ask to retry soon.
        retry_after = error.details.get("retry_after_s") or 1
        return api_error(
            429,
            error.message,
            code=error.code,
            type="insufficient_quota" if error.code == "quota" else "rate_limit_error",
            headers={"Retry-After": str(retry_after)},
        )
    return api_error(_STATUS.get(error.code, 400), error.message, code=error.code)
