"""Who is calling the API. (Stand-in: the session only; the tokens' branch owns
the real module with personal API tokens, under the same two signatures.)"""

from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def authenticate(request):
    """The person behind a request: the session's user; a session POST must pass
    CSRF, or it is not taken as theirs."""
    user = request.user
    if not user.is_authenticated:
        return None
    if request.method not in SAFE_METHODS:
        refused = CsrfViewMiddleware(lambda r: None).process_view(request, None, (), {})
        if refused is not None:
            return None
    return user


def api_error(
    status, message, *, code, type="invalid_request_error", headers=None
) -> JsonResponse:
    return JsonResponse(
        {"error": {"message": message, "type": type, "code": code}},
        status=status,
        headers=headers,
    )
