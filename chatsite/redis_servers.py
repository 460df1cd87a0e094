"""The Redis servers the settings name: one URL per shard, each maybe a Sentinel master.

`REDIS_URL` holds one URL per shard, comma-separated. With `REDIS_SENTINELS` set, the
host of each URL is the name of a master the Sentinels monitor, not an address:
`redis://:secret@chat/0` is database 0 of whichever server is master `chat` now.
"""

from urllib.parse import urlsplit

from redis.connection import SSLConnection, parse_url
from redis.sentinel import Sentinel, SentinelConnectionPool

CORE_LAYER = "channels_redis.core.RedisChannelLayer"
SENTINEL_PORT = 26379


def sentinel_addresses(sentinels: list[str]) -> list[tuple[str, int]]:
    """`host:port` items (port 26379 if left out) as (host, port) pairs."""
    addresses = []
    for item in sentinels:
        parts = urlsplit(f"//{item}")
        try:
            port = parts.port or SENTINEL_PORT
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise ValueError(f"REDIS_SENTINELS: {item!r} is not host:port")
        addresses.append((parts.hostname, port))
    return addresses


def master_of(url: str) -> dict:
    """The connection arguments of a URL whose host names a Sentinel master."""
    arguments = parse_url(url)
    if "host" not in arguments:
        raise ValueError(f"with REDIS_SENTINELS, {url!r} must name a master as host")
    arguments.pop("port", None)
    ssl = arguments.pop("connection_class", None) is SSLConnection
    return {"master_name": arguments.pop("host"), "ssl": ssl, **arguments}


def layer_hosts(urls: list[str], *, sentinels: list[str], **options) -> list[dict]:
    """channels_redis `hosts`: one shard per URL, found through the Sentinels if any."""
    if not sentinels:
        return [{"address": url, **options} for url in urls]
    addresses = sentinel_addresses(sentinels)
    # The Sentinels answer on a pool of their own, asked at every new connection to
    # a master: a dead one must time out, and a burst of connects needs as many
    # (redis-py's 100 failed 300 joins at once, tests/test_load.py).
    sentinel_kwargs = {
        k: v
        for k, v in options.items()
        if k.startswith("socket_") or k == "max_connections"
    }
    return [
        {
            "sentinels": addresses,
            "sentinel_kwargs": sentinel_kwargs,
            **master_of(url),
            **options,
        }
        for url in urls
    ]


def layer_backend(backend: str, shards: int) -> str:
    """The layer class for `backend` over this many shards.

    channels_redis's core layer sends to a process's channel on the wrong shard
    when there are several (chat/layers.py); ours does not.
    """
    if backend == CORE_LAYER and shards > 1:
        return "chat.layers.ShardedRedisChannelLayer"
    return backend


class SentinelCachePool(SentinelConnectionPool):
    """The pool of Django's Redis cache for a URL whose host names a Sentinel master."""

    @classmethod
    def from_url(cls, url: str, *, sentinels: list[str], **options):
        master = master_of(url)
        timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
        sentinel = Sentinel(sentinel_addresses(sentinels), sentinel_kwargs=timeouts)
        return cls(master.pop("master_name"), sentinel, **master, **options)
