"""Fixtures for tests that need real PostgreSQL and Redis (`@pytest.mark.services`).

Without DATABASE_URL / REDIS_URL such a test is skipped, except under CI=true, where
it fails: CI must not pass by running nothing. The same holds for the Redis setups
of the sharded and Sentinel variants: TEST_REDIS_SHARD_URL (a second Redis server),
TEST_REDIS_SENTINELS and TEST_REDIS_SENTINEL_URL (as REDIS_SENTINELS and REDIS_URL
would name them to a site).
"""

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from chatsite.redis_servers import SentinelCachePool


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


@pytest.fixture(scope="session")
def redis_shard_url(redis_url) -> str:
    """A second Redis server, which the sharded variants add to REDIS_URL's."""
    return _require("TEST_REDIS_SHARD_URL", ("redis", "rediss"))


@pytest.fixture(scope="session")
def redis_through_sentinel() -> dict:
    """REDIS_URL and REDIS_SENTINELS of a site that finds its Redis through Sentinel."""
    sentinels = os.environ.get("TEST_REDIS_SENTINELS", "")
    if not sentinels:
        unavailable("TEST_REDIS_SENTINELS must list Sentinels (host:port, ...)")
    url = _require("TEST_REDIS_SENTINEL_URL", ("redis", "rediss"))
    return {"REDIS_URL": url, "REDIS_SENTINELS": sentinels}


def redis_clients(env: dict) -> list[redis.Redis]:
    """A client for each Redis shard of a site with this environment."""
    sentinels = [item for item in env.get("REDIS_SENTINELS", "").split(",") if item]
    clients = []
    for url in env["REDIS_URL"].split(","):
        if sentinels:
            pool = SentinelCachePool.from_url(url, sentinels=sentinels)
        else:
            pool = redis.ConnectionPool.from_url(url)
        clients.append(redis.Redis.from_pool(pool))
    return clients


def url_of_the_test_database(postgres_url: str) -> str:
    """The URL of pytest-django's test database, which server processes must share."""
    from django.db import connection

    parts = urlsplit(postgres_url)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def services_env(
    *,
    name: str,
    upstream_url: str,
    postgres_url: str,
    redis_url: str,
    layer: str,
    **settings,
) -> dict:
    """The environment of server processes sharing this process's test database,
    Redis (on `layer`, under a prefix of their own) and session key."""
    from django.conf import settings as ours

    from tests.servers import site_env

    prefix = f"{name}{uuid.uuid4().hex[:8]}"
    return site_env(
        upstream_url=upstream_url,
        # The same key as this process: the session's auth hash is signed with it.
        SECRET_KEY=ours.SECRET_KEY,
        DATABASE_URL=url_of_the_test_database(postgres_url),
        REDIS_URL=redis_url,
        CHANNEL_LAYER_BACKEND=layer,
        CHANNEL_LAYER_PREFIX=prefix,
        CACHE_KEY_PREFIX=prefix,
        **settings,
    )
