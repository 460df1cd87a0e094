"""Fixtures for tests that need real PostgreSQL and Redis (`@pytest.mark.services`).

Without DATABASE_URL / REDIS_URL such a test is skipped, except under CI=true, where
it fails: CI must not pass by running nothing.
"""

import os
from urllib.parse import urlsplit, urlunsplit

import pytest


def unavailable(why: str):
    """Skip, except under CI=true, where a suite that runs nothing must fail."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


def _require(name: str, schemes: tuple[str, ...]) -> str:
    url = os.environ.get(name, "")
    if url.split("://", 1)[0] in schemes:
        return url
    kinds = " or ".join(schemes)
    unavailable(f"{name} must name a {kinds} URL (got {url or 'nothing'})")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server the settings use (tests get its `test_` database)."""
    return _require("DATABASE_URL", ("postgres", "postgresql", "pgsql"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server of the channel layer and the cache."""
    return _require("REDIS_URL", ("redis", "rediss"))


def url_of_the_test_database(postgres_url: str) -> str:
    """The URL of pytest-django's test database, which server processes must share."""
    from django.db import connection

    parts = urlsplit(postgres_url)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
