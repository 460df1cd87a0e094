"""Channel layers: chores that differ between layers, the core layer over shards, and
the one-process layer."""

import asyncio
import collections
import contextlib
import secrets
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer
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


async def other_members(layer: Any, group: str, channel: str) -> int | None:
    """How many members besides `channel` the layer's `group` has now, or None when
    the layer cannot tell (then assume some: chat/fanout.py publishes).

    Pub/sub: the subscribers Redis counts on the group's channel (PUBSUB NUMSUB on
    its shard), less `channel`'s own process, which must be subscribed. Core: the
    group's sorted set, its members not yet expired. One command either way.
    """
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if isinstance(layer, RedisPubSubChannelLayer):
        here = layer._get_layer()  # this event loop's, as group_add's
        name = here._get_group_channel_name(group)
        shard = here._get_shard(name)
        shard._ensure_redis()
        ((_, count),) = await shard._redis.pubsub_numsub(name)
        return max(0, count - 1)
    if isinstance(layer, RedisChannelLayer):
        connection = layer.connection(layer.consistent_hash(group))
        members = await connection.zrangebyscore(
            layer._group_key(group), min=time.time() - layer.group_expiry, max="+inf"
        )
        return sum(member.decode() != channel for member in members)
    if isinstance(layer, InMemoryLayer):
        return sum(member != channel for member in layer.groups.get(group, ()))
    return None


class _Channel:
    """One channel: its unread (expires at, message) pairs and its readers."""

    __slots__ = ("capacity", "messages", "readers")

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.messages: collections.deque = collections.deque()
        self.readers: collections.deque[asyncio.Future] = collections.deque()

    def put(self, item: tuple) -> bool:
        if len(self.messages) >= self.capacity:
            return False
        self.messages.append(item)
        self._wake_one()
        return True

    async def get(self) -> tuple:
        while not self.messages:
            reader = asyncio.get_running_loop().create_future()
            self.readers.append(reader)
            try:
                await reader
            except asyncio.CancelledError:
                # Woken, then cancelled before it read: wake the next in its place.
                if reader.done() and not reader.cancelled() and self.messages:
                    self._wake_one()
                raise
        return self.messages.popleft()

    def _wake_one(self) -> None:
        while self.readers:
            reader = self.readers.popleft()
            if not reader.done():
                reader.set_result(None)
                return

    def idle(self) -> bool:
        return not self.messages and not any(not r.done() for r in self.readers)


class InMemoryLayer(BaseChannelLayer):
    """The one-process channel layer, with costs that do not grow with the sockets.

    Channels' own `InMemoryChannelLayer` scans every channel and every group for
    expired messages on each send, group send and receive, deep-copies a message
    per member and starts a task per member: at 200 streams that is most of the
    process's time (bench/README.md). Here a channel's expired messages are
    dropped when that channel is used, a group send walks only that group's
    members, and a message is copied (flat, as every message here is) per member.
    The semantics are Channels': capacity per channel (ChannelFull; a group send
    skips a full member), message expiry (a channel whose message expired leaves
    its groups, as a dead consumer's would), group membership expiry.
    """

    extensions = ["groups", "flush"]

    def __init__(
        self, expiry=60, group_expiry=86400, capacity=100, channel_capacity=None, **kw
    ):
        super().__init__(
            expiry=expiry, capacity=capacity, channel_capacity=channel_capacity, **kw
        )
        self.group_expiry = group_expiry
        self.channels: dict[str, _Channel] = {}
        self.groups: dict[str, dict[str, float]] = {}  # group → channel → joined at
        self.memberships: dict[str, set[str]] = {}  # channel → its groups

    def _channel(self, name: str) -> _Channel:
        channel = self.channels.get(name)
        if channel is None:
            channel = self.channels[name] = _Channel(self.get_capacity(name))
        return channel

    def _drop_expired(self, name: str, channel: _Channel) -> None:
        messages, now = channel.messages, time.monotonic()
        expired = False
        while messages and messages[0][0] < now:
            messages.popleft()
            expired = True
        if expired:  # nobody read it in time: a dead reader leaves its groups
            for group in self.memberships.pop(name, ()):
                self._leave(group, name)

    def _put(self, name: str, message: dict) -> None:
        channel = self._channel(name)
        self._drop_expired(name, channel)
        if not channel.put((time.monotonic() + self.expiry, dict(message))):
            raise ChannelFull(name)

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        self._put(channel, message)

    async def receive(self, channel):
        self.require_valid_channel_name(channel)
        state = self._channel(channel)
        try:
            while True:
                expires_at, message = await state.get()
                if expires_at >= time.monotonic():
                    return message
        finally:
            if state.idle() and self.channels.get(channel) is state:
                del self.channels[channel]

    async def new_channel(self, prefix="specific"):
        return f"{prefix}.inmemory!{secrets.token_hex(8)}"

    async def group_add(self, group, channel):
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        self.groups.setdefault(group, {})[channel] = time.monotonic()
        self.memberships.setdefault(channel, set()).add(group)

    async def group_discard(self, group, channel):
        self.require_valid_channel_name(channel)
        self.require_valid_group_name(group)
        self._leave(group, channel)
        groups = self.memberships.get(channel)
        if groups is not None:
            groups.discard(group)
            if not groups:
                del self.memberships[channel]

    def _leave(self, group: str, channel: str) -> None:
        members = self.groups.get(group)
        if members is not None:
            members.pop(channel, None)
            if not members:
                del self.groups[group]

    async def group_send(self, group, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        members = self.groups.get(group)
        if not members:
            return
        joined_after = time.monotonic() - self.group_expiry
        for channel, joined_at in list(members.items()):
            if joined_at < joined_after:
                await self.group_discard(group, channel)
                continue
            try:
                self._put(channel, message)
            except ChannelFull:
                pass  # as Channels does: a full member misses it (offsets tell)

    async def flush(self):
        self.channels, self.groups, self.memberships = {}, {}, {}

    async def close(self):
        pass
