"""Fixtures for tests that need real PostgreSQL and Redis (`@pytest.mark.services`).

Without DATABASE_URL / REDIS_URL such a test is skipped, except under CI=true, where
it fails: CI must not pass by running nothing.
"""

import os

import pytest


def _require(name: str, schemes: tuple[str, ...]) -> str:
    url = os.environ.get(name, "")
    if url.split("://", 1)[0] in schemes:
        return url
    why = f"{name} must name a {' or '.join(schemes)} URL (got {url or 'nothing'})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server the settings use (tests get its `test_` database)."""
    return _require("DATABASE_URL", ("postgres", "postgresql", "pgsql"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server of the channel layer and the cache."""
    return _require("REDIS_URL", ("redis", "rediss"))
