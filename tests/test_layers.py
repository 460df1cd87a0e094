"""The one-process channel layer (chat.layers.InMemoryLayer): Channels' semantics,
with no work for channels a send does not name."""

import asyncio

import pytest
from channels.exceptions import ChannelFull

from chat.layers import InMemoryLayer


async def test_messages_arrive_in_order_and_are_copies():
    layer = InMemoryLayer()
    channel = await layer.new_channel()
    message = {"type": "a", "n": 1}
    await layer.send(channel, message)
    await layer.send(channel, {"type": "b"})
    message["n"] = 2
    assert await layer.receive(channel) == {"type": "a", "n": 1}
    assert (await layer.receive(channel))["type"] == "b"


async def test_a_waiting_reader_wakes_and_read_channels_are_forgotten():
    layer = InMemoryLayer()
    channel = await layer.new_channel()
    reader = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0)
    await layer.send(channel, {"type": "x"})
    assert await reader == {"type": "x"}
    assert channel not in layer.channels  # nothing kept for a channel read empty


async def test_a_cancelled_reader_passes_its_message_on():
    layer = InMemoryLayer()
    channel = await layer.new_channel()
    first = asyncio.create_task(layer.receive(channel))
    second = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0)
    await layer.send(channel, {"type": "x"})
    first.cancel()  # woken, but cancelled before it ran
    assert await second == {"type": "x"}


async def test_a_full_channel_refuses_and_a_group_send_skips_it():
    layer = InMemoryLayer(capacity=2)
    full, other = await layer.new_channel(), await layer.new_channel()
    for channel in (full, other):
        await layer.group_add("g", channel)
    await layer.send(full, {"type": "1"})
    await layer.send(full, {"type": "2"})
    with pytest.raises(ChannelFull):
        await layer.send(full, {"type": "3"})
    await layer.group_send("g", {"type": "all"})
    assert (await layer.receive(other))["type"] == "all"
    assert [(await layer.receive(full))["type"] for _ in range(2)] == ["1", "2"]


async def test_expired_messages_are_dropped_and_their_channel_leaves_its_groups():
    layer = InMemoryLayer(expiry=-1)  # every message is already stale
    dead, alive = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", dead)
    await layer.group_add("g", alive)
    await layer.send(dead, {"type": "unread"})
    await layer.group_send("g", {"type": "next"})  # finds dead's stale message
    assert set(layer.groups["g"]) == {alive}
    assert layer.memberships.get(dead) is None


async def test_group_membership_expires():
    layer = InMemoryLayer(group_expiry=-1)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "x"})
    assert "g" not in layer.groups
    assert channel not in layer.channels


async def test_discard_forgets_the_group_and_the_membership():
    layer = InMemoryLayer()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.group_discard("g", channel)
    assert layer.groups == {} and layer.memberships == {}
