"""Content-Security-Policy: on every kind of response, and nothing inline to need more.

The browser test (tests/browser/test_csp.py) shows the pages break no rule of it.
"""

import re

import pytest
from django.contrib.auth import get_user_model

from chatsite.csp import policy_header
from tests.servers import BASE_DIR

pytestmark = pytest.mark.django_db

CSP = "Content-Security-Policy"


def directives(response) -> dict[str, list[str]]:
    header = response[CSP]
    return {
        name: sources for name, *sources in (part.split() for part in header.split(";"))
    }


@pytest.fixture
def as_root(client):
    root = get_user_model().objects.create_superuser("root", password="pw-root")
    client.force_login(root)
    return client


def test_the_policy_allows_only_this_origin_and_nothing_inline(client):
    policy = directives(client.get("/accounts/login/"))

    assert policy["default-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    # Scripts and styles fall back to default-src: no 'unsafe-inline' anywhere.
    assert "unsafe" not in client.get("/accounts/login/")[CSP]


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/login/",
        "/accounts/signup/",
        "/",  # a redirect to the login page
        "/no/such/page/",
        "/healthz",
        "/static/chat/js/main.js",
        "/static/chat/favicon.svg",
    ],
)
def test_every_kind_of_response_carries_the_policy(client, path, settings):
    response = client.get(path)

    assert response[CSP] == policy_header(settings.SECURE_CSP)


@pytest.mark.parametrize(
    "path",
    ["/admin/", "/admin/chat/conversation/", "/admin/chat/conversation/usage/"],
)
def test_the_admin_carries_the_policy(as_root, path, settings):
    response = as_root.get(path)

    assert response.status_code == 200
    assert response[CSP] == policy_header(settings.SECURE_CSP)


def test_django_debug_pages_keep_their_inline_styles_in_development(client, settings):
    settings.DEBUG = True

    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert CSP not in response


# What a strict policy blocks: inline scripts (a <script> with no src that is not
# JSON data), inline event handlers, javascript: URLs, <style> blocks and style="".
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*application/json)"
    r"|\son[a-z]+\s*=|javascript:|<style|\sstyle\s*="
)


def test_no_template_has_inline_script_or_style():
    found = [
        f"{path.relative_to(BASE_DIR)}: {match[0]!r}"
        for path in sorted((BASE_DIR / "templates").rglob("*.html"))
        for match in INLINE.finditer(path.read_text())
    ]

    assert found == []
