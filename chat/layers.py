"""Channel-layer chores that differ between layers, and the core layer over shards."""

import asyncio
import contextlib

from channels_redis.core import RedisChannelLayer


class ShardedRedisChannelLayer(RedisChannelLayer):
    """channels_redis's core layer, sending to a process's channel on its shard.

    channels_redis 4.3 picks the shard of a send to `specific.<process>!<socket>`
    from the whole name, while the process reads `specific.<process>!` on the shard
    of that prefix: over two shards about half of such sends (stop, snapshots,
    /healthz) were never read (django/channels_redis#221). Group sends already
    hash the prefix; this makes direct sends do the same.
    """

    def consistent_hash(self, value):
        if isinstance(value, str) and "!" in value:
            value = self.non_local_name(value)
        return super().consistent_hash(value)


async def forget_channel(layer, channel: str) -> None:
    """Let the layer drop a channel nobody will read again.

    The pub/sub layer keeps a channel subscribed until a receive on it is
    cancelled; without this every reply (and every health check) would leave a
    Redis subscription behind. The other layers forget channels by themselves.
    """
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if isinstance(layer, RedisPubSubChannelLayer):
        waiter = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0)
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
