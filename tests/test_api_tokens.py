"""Personal API tokens: the account page, how they are kept, checked and revoked."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.api.tokens import create_token, token_for
from chat.models import ApiToken

TOKEN_RE = re.compile(r"chat_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")


def test_a_new_token_is_shown_once_and_kept_only_as_a_hash(client, alice):
    client.force_login(alice)

    made = client.post("/account/tokens/", {"name": "editor", "store_calls": "on"})
    prefix, secret = TOKEN_RE.search(made.content.decode()).groups()
    again = client.get("/account/tokens/").content.decode()

    token = ApiToken.objects.get(user=alice)
    assert (token.name, token.prefix, token.store_calls) == ("editor", prefix, True)
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in again
    assert f"chat_{prefix}_…" in again


def test_a_token_made_without_keeping_calls_says_so(client, alice):
    client.force_login(alice)

    client.post("/account/tokens/", {"name": "private"})

    assert ApiToken.objects.get(user=alice).store_calls is False


def test_a_token_finds_its_person_and_nothing_else_does(alice, bob):
    token, text = create_token(alice, name="t")
    prefix = token.prefix

    assert token_for(text).user == alice
    assert token_for(text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    assert token_for(f"chat_{prefix}_") is None
    assert token_for("sk-something") is None
    alice.is_active = False
    alice.save()
    assert token_for(text) is None


def test_last_used_is_written_at_most_once_a_minute(alice):
    token, text = create_token(alice, name="t")

    def updates() -> int:
        with CaptureQueriesContext(connection) as queries:
            token_for(text)
        return sum(query["sql"].startswith("UPDATE") for query in queries)

    assert updates() == 1
    assert updates() == 0
    ApiToken.objects.filter(pk=token.pk).update(
        last_used_at=timezone.now() - timedelta(seconds=61)
    )
    assert updates() == 1


def test_a_person_revokes_their_token_and_not_another_persons(client, alice, bob):
    token, text = create_token(alice, name="t")
    client.force_login(bob)
    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    assert token_for(text) is not None

    client.force_login(alice)
    client.post(f"/account/tokens/{token.pk}/revoke/")

    assert token_for(text) is None


def test_the_token_page_needs_a_login(client):
    assert client.get("/account/tokens/").status_code == 302


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", password="pw-root")


def test_staff_see_tokens_in_the_admin_without_their_hash_and_revoke_them(
    client, root, alice
):
    token, text = create_token(alice, name="laptop")
    client.force_login(root)

    listing = client.get("/admin/chat/apitoken/").content.decode()
    change = client.get(f"/admin/chat/apitoken/{token.pk}/change/").content.decode()
    client.post(f"/admin/chat/apitoken/{token.pk}/delete/", {"post": "yes"})

    assert "laptop" in listing and token.prefix in listing
    assert token.secret_hash not in change
    assert token_for(text) is None


def test_the_chat_page_links_to_the_token_page(client, alice):
    client.force_login(alice)

    assert 'href="/account/tokens/"' in client.get("/").content.decode()
