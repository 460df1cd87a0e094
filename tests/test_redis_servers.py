"""REDIS_URL with several shards, and Redis found through Sentinel: what the settings
make of them (chatsite/redis_servers.py). The servers run on both in
tests/test_multiprocess.py."""

import runpy

import pytest
from channels_redis.core import RedisChannelLayer

from chat.layers import ShardedRedisChannelLayer
from chatsite.redis_servers import SentinelCachePool, sentinel_addresses
from tests.servers import BASE_DIR

SHARDS = "redis://10.0.0.1:6379/1, redis://10.0.0.2:6380/2"


@pytest.fixture
def settings_with(monkeypatch):
    """The settings module's names, evaluated with these environment variables."""

    def evaluate(**variables) -> dict:
        for name in ("REDIS_URL", "REDIS_SENTINELS", "CHANNEL_LAYER_BACKEND"):
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(BASE_DIR / "chatsite" / "settings.py"))

    return evaluate


def layer_of(names: dict) -> tuple[str, list[dict]]:
    layer = names["CHANNEL_LAYERS"]["default"]
    return layer["BACKEND"], layer["CONFIG"].get("hosts")


def test_without_redis_url_the_layer_stays_in_memory_and_the_cache_local(
    settings_with,
):
    names = settings_with()

    assert layer_of(names) == ("chat.layers.InMemoryLayer", None)
    assert "CACHES" not in names


def test_one_url_is_one_server_for_the_core_layer_and_the_cache(settings_with):
    names = settings_with(REDIS_URL="redis://10.0.0.1:6379/1")

    backend, hosts = layer_of(names)
    assert backend == "channels_redis.core.RedisChannelLayer"
    assert [host["address"] for host in hosts] == ["redis://10.0.0.1:6379/1"]
    assert hosts[0]["socket_timeout"] == 30
    assert names["CACHES"]["default"]["LOCATION"] == "redis://10.0.0.1:6379/1"


def test_several_urls_shard_the_layer_and_the_cache_uses_the_first(settings_with):
    names = settings_with(REDIS_URL=SHARDS)

    backend, hosts = layer_of(names)
    assert backend == "chat.layers.ShardedRedisChannelLayer"
    assert [host["address"] for host in hosts] == [
        "redis://10.0.0.1:6379/1",
        "redis://10.0.0.2:6380/2",
    ]
    assert all(host["max_connections"] == 1000 for host in hosts)
    assert names["CACHES"]["default"]["LOCATION"] == "redis://10.0.0.1:6379/1"
    assert "OPTIONS" not in names["CACHES"]["default"]


def test_the_pubsub_layer_shards_as_it_is(settings_with):
    pubsub = "channels_redis.pubsub.RedisPubSubChannelLayer"
    names = settings_with(REDIS_URL=SHARDS, CHANNEL_LAYER_BACKEND=pubsub)

    backend, hosts = layer_of(names)
    assert backend == pubsub and len(hosts) == 2


def test_with_sentinels_each_url_names_a_master(settings_with):
    names = settings_with(
        REDIS_URL="rediss://:secret@chat/3,redis://chat2/3",
        REDIS_SENTINELS="10.0.0.5:26380, [::1], sentinel.internal",
    )

    backend, hosts = layer_of(names)
    assert backend == "chat.layers.ShardedRedisChannelLayer"
    first, second = hosts
    assert first["sentinels"] == [
        ("10.0.0.5", 26380),
        ("::1", 26379),
        ("sentinel.internal", 26379),
    ]
    assert (first["master_name"], first["db"], first["password"]) == (
        "chat",
        3,
        "secret",
    )
    assert first["ssl"] is True and second["ssl"] is False
    assert second["master_name"] == "chat2"
    assert "address" not in first and "host" not in first
    # The Sentinels' own connections time out and are pooled like the servers'.
    assert first["sentinel_kwargs"] == {
        "socket_timeout": 30,
        "socket_connect_timeout": 5,
        "max_connections": 1000,
    }
    cache = names["CACHES"]["default"]
    assert cache["LOCATION"] == "rediss://:secret@chat/3"
    assert cache["OPTIONS"]["pool_class"] == "chatsite.redis_servers.SentinelCachePool"
    assert cache["OPTIONS"]["socket_connect_timeout"] == 5


def test_the_cache_pool_finds_the_master_by_the_urls_host():
    pool = SentinelCachePool.from_url(
        "redis://:secret@chat/3", sentinels=["127.0.0.1:1"], socket_connect_timeout=5
    )

    assert pool.service_name == "chat"
    assert pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["password"] == "secret"
    sentinel = pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs
    assert (sentinel["port"], sentinel["socket_connect_timeout"]) == (1, 5)
    assert pool.connection_kwargs["socket_connect_timeout"] == 5


@pytest.mark.parametrize("item", ["10.0.0.5:port", ":26379", "a:99999"])
def test_a_sentinel_that_is_not_host_port_is_refused(item):
    with pytest.raises(ValueError, match="REDIS_SENTINELS"):
        sentinel_addresses([item])


def test_a_url_without_a_master_name_is_refused_with_sentinels(settings_with):
    with pytest.raises(ValueError, match="must name a master"):
        settings_with(REDIS_URL="unix:///run/redis.sock", REDIS_SENTINELS="s:26379")


def test_the_sharded_core_layer_sends_to_a_process_on_the_shard_it_reads():
    hosts = ["redis://10.0.0.1:6379/0", "redis://10.0.0.2:6379/0"]
    ours = ShardedRedisChannelLayer(hosts=hosts)
    theirs = RedisChannelLayer(hosts=hosts)
    # A process reads `specific.<process>!` on that prefix's shard.
    channels = [f"specific.{ours.client_prefix}!{n:04}" for n in range(50)]
    read_on = ours.consistent_hash(ours.non_local_name(channels[0]))

    assert {ours.consistent_hash(channel) for channel in channels} == {read_on}
    # channels_redis's own picks the other shard for some (the reason for ours).
    assert {theirs.consistent_hash(channel) for channel in channels} == {0, 1}
