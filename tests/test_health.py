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
    assert body == {
        "status": "ok",
        "checks": {"database": "ok", "channel_layer": "ok"},
    }
    assert "no-cache" in response["Cache-Control"]


def test_it_names_the_failed_check_and_logs_why_when_the_layer_is_down(
    client, settings, caplog
):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Nothing listens on port 1: the connection is refused at once.
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0"}]},
        }
    }

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "fail",
        "checks": {"database": "ok", "channel_layer": "fail"},
    }
    # Why is in the log, for the operator.
    assert "ConnectionError" in caplog.text
    assert "127.0.0.1:1" in caplog.text


def test_it_tells_the_public_nothing_of_the_database_error(client, monkeypatch, caplog):
    async def refused():
        raise OperationalError('connection to server at "db.internal" refused')

    monkeypatch.setattr(health, "_check_database", refused)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "fail", "channel_layer": "ok"}
    assert "db.internal" not in response.content.decode()
    assert "db.internal" in caplog.text


def test_it_answers_503_when_the_layer_hangs(client, monkeypatch):
    async def hangs():
        await asyncio.Event().wait()

    monkeypatch.setattr(health, "_check_channel_layer", hangs)
    monkeypatch.setattr(health, "TIMEOUT_S", 0.1)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["channel_layer"] == "fail"


def test_it_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301
