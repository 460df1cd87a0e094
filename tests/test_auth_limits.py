"""Login, signup and admin login are throttled per IP and per username."""

import subprocess
import sys

import pytest
from django.core.checks import run_checks

from tests.servers import BASE_DIR

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.CHAT_LOGIN_FAILURES_PER_USERNAME = 3
    settings.CHAT_LOGIN_ATTEMPTS_PER_IP = 5
    settings.CHAT_LOGIN_WINDOW_S = 600


def log_in(client, username, password="wrong", ip="10.0.0.1", path="/accounts/login/"):
    return client.post(
        path, {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_failed_logins_for_one_username_from_many_ips_are_refused_with_when_to_retry(
    client, alice
):
    for i in range(3):
        assert log_in(client, "alice", ip=f"10.0.1.{i}").status_code == 200

    refused = log_in(client, "alice", password="pw-alice", ip="10.0.1.9")

    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 600
    assert b"Try again in 10 minutes" in refused.content
    assert "_auth_user_id" not in client.session  # not even the right password
    # Another name is not affected.
    assert log_in(client, "bob", ip="10.0.1.9").status_code == 200


def test_many_usernames_from_one_ip_are_refused(client, alice):
    for i in range(5):
        assert log_in(client, f"guess{i}").status_code == 200

    refused = log_in(client, "alice", password="pw-alice")

    assert refused.status_code == 429 and refused["Retry-After"]
    assert (
        log_in(client, "alice", password="pw-alice", ip="10.0.0.2").status_code == 302
    )


def test_a_successful_login_does_not_count_against_its_username(client, alice):
    for _ in range(4):
        response = log_in(client, "alice", password="pw-alice", ip="10.0.2.1")
        assert response.status_code == 302
        client.logout()


def test_the_admin_login_is_throttled_too(client, alice):
    for _ in range(3):
        assert log_in(client, "alice", path="/admin/login/").status_code == 200

    refused = log_in(client, "alice", path="/admin/login/", ip="10.0.3.1")

    assert refused.status_code == 429 and refused["Retry-After"]


def test_signups_from_one_ip_are_throttled(client):
    for i in range(5):
        client.post(
            "/accounts/signup/",
            {"username": f"new{i}", "password1": "x", "password2": "y"},
            REMOTE_ADDR="10.0.4.1",
        )

    refused = client.post(
        "/accounts/signup/",
        {"username": "one-more", "password1": "x", "password2": "y"},
        REMOTE_ADDR="10.0.4.1",
    )

    assert refused.status_code == 429 and refused["Retry-After"]


def test_check_deploy_warns_when_signup_is_open_without_a_quota(settings):
    settings.CHAT_ALLOW_SIGNUP = True
    settings.CHAT_DAILY_TOKEN_QUOTA = 0

    ids = [m.id for m in run_checks(include_deployment_checks=True)]

    assert "chat.W001" in ids
    settings.CHAT_DAILY_TOKEN_QUOTA = 1000
    assert "chat.W001" not in [m.id for m in run_checks(include_deployment_checks=True)]


def limits_with(debug: str) -> list[str]:
    code = (
        "from django.conf import settings as s; import django; django.setup(); "
        "print(s.CHAT_MESSAGES_PER_MINUTE, s.CHAT_CONCURRENT_STREAMS, "
        "s.CHAT_DAILY_TOKEN_QUOTA)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "SECRET_KEY": "x",
        "DEBUG": debug,
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_limits_protect_a_public_site_by_default_and_are_off_in_development():
    assert limits_with("false") == ["20", "3", "200000"]
    assert limits_with("true") == ["0", "0", "0"]
