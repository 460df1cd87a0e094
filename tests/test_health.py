"""`/healthz`: 200 only when the database and the channel layer both answer."""

import asyncio

import pytest
from django.db import OperationalError

from chat import health

# Transactional: the check runs on asgiref's database thread, as in the site.
pytestmark = pytest.mark.django_db(transaction=True)


def test_it_answers_200_when_the_database_and_the_layer_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["channel_layer"]["ok"] is True
    assert "no-cache" in response["Cache-Control"]


def test_it_answers_503_with_the_reason_when_the_layer_is_down(client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Nothing listens on port 1: the connection is refused at once.
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0"}]},
        }
    }

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["channel_layer"]["ok"] is False
    assert "ConnectionError" in body["checks"]["channel_layer"]["error"]


def test_it_answers_503_when_the_database_is_down(client, monkeypatch):
    async def refused():
        raise OperationalError("connection refused")

    monkeypatch.setattr(health, "_check_database", refused)

    response = client.get("/healthz")

    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {
        "ok": False,
        "error": "OperationalError: connection refused",
    }
    assert checks["channel_layer"]["ok"] is True


def test_it_answers_503_when_the_layer_hangs(client, monkeypatch):
    async def hangs():
        await asyncio.Event().wait()

    monkeypatch.setattr(health, "_check_channel_layer", hangs)
    monkeypatch.setattr(health, "TIMEOUT_S", 0.1)

    response = client.get("/healthz")

    assert response.status_code == 503
    layer = response.json()["checks"]["channel_layer"]
    assert layer == {"ok": False, "error": "TimeoutError: timed out"}


def test_it_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301
