"""Content-Security-Policy on every response: pages, the admin, errors, JSON, static.

A middleware of our own rather than django-csp: the policy is one constant header
(no nonces, no per-view changes), so this is a dozen lines where the library would
be a dependency with its own settings format. The setting has the shape of Django
6's built-in `SECURE_CSP`; on Django 6 this module gives way to
`django.middleware.csp.ContentSecurityPolicyMiddleware`.
"""

from http import HTTPStatus

from django.conf import settings
from django.utils.deprecation import MiddlewareMixin

# Django's technical 404 and 500 pages (DEBUG only) carry inline styles and scripts.
DEBUG_PAGES = {HTTPStatus.NOT_FOUND, HTTPStatus.INTERNAL_SERVER_ERROR}


def policy_header(policy: dict[str, list[str]]) -> str:
    return "; ".join(" ".join([name, *sources]) for name, sources in policy.items())


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Adds the policy of `SECURE_CSP` (sync and async, like Django's own)."""

    def __init__(self, get_response):
        super().__init__(get_response)
        self.header = policy_header(settings.SECURE_CSP)

    def process_response(self, request, response):
        if settings.DEBUG and response.status_code in DEBUG_PAGES:
            return response
        response.headers.setdefault("Content-Security-Policy", self.header)
        return response
