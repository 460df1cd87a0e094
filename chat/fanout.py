"""A conversation's frames to this process's followers: one group member a process.

Every frame of a conversation travels one way, in one process or many: whoever
sends it (a run, the reaper, a title) publishes it once through its process's
`Hub` (`wire.group_send`). The hub hands the frame, as encoded, to each of its own
followers of that conversation (websockets, `chat/consumers.py`; event streams,
`chat/api/events.py`; `/v1` calls, `chat/api/completions.py`) in the sender's own
task, then, if another process may follow the conversation (below), sends it once
to the conversation's group on the channel layer, whose members are the other
processes' hubs; they hand it to their followers the same way. So the layer
carries a frame only between processes, once per process, and a frame from an
answer to a socket of the same process is direct calls in one task: no layer, no
task hand-over. A hub drops its own frames when the layer brings them back, and
with the one-process layer and one hub it skips the layer.

The layer only when another process follows. Most conversations are followed by
one process (a person's tab, and the answer it started, on the same server); there
a frame sent through Redis would only come back to be dropped (a PUBLISH and its
echo per token, about half the server's CPU per token on pub/sub). So a hub sends
a conversation's frame to the group only when it knows or cannot rule out that
another hub follows it:
- A hub that does not follow the conversation always sends: it is not subscribed,
  so it would not hear of a hub that joins.
- A hub that follows it asks the layer once how many other members the group has
  (`chat.layers.other_members`: PUBSUB NUMSUB on the group channel's shard, less
  its own subscription; the core layer's group set) and keeps the answer for
  `RECHECK_S`. A layer that cannot tell counts as "some".
- A hub that starts following a conversation sends `hub.follows` to its group
  after its own subscription is in place, before `follow` returns (so before its
  follower asks a run for a snapshot); every other hub that follows it notes "followed
  elsewhere" and sends from then on. `hub.leaves`, after the last follower of a
  process left, makes them ask the layer again at the next frame.
The race that remains: between the moment a joining hub's subscription takes effect
and the moment the sending hub has read its `hub.follows`, the sender may still
skip frames (about one Redis round trip; at 20-50 tokens/s, a frame at most). The
joining follower asks the run for a snapshot after `follow` returns, and the
announcement reached the run's process before that request did (on one shard, on
the same connection, and the hub reads it first), so usually the snapshot already
holds what was skipped; if not, the next delta or heartbeat shows an offset gap
and the page resyncs (a skipped `reply.done`: the page's silence watchdog). A
hub's NUMSUB sent in the instant after its own SUBSCRIBE could in principle be
answered first on another connection and miss itself (then it counts one other too
few); a follow precedes the first frame by far more than that. A missed
announcement (a Redis reconnect, a killed process) costs at most `RECHECK_S`.

Frames for one follower (a snapshot it asked for) are addressed to it
(`Following.address`, the `reply_to` of a snapshot request): handed over directly
when it is followed here, else sent to its process's hub channel, the channel the
group's frames reach it by, so they keep their order with the group's frames.

A hand-over never waits for a client: the server's websocket send writes to the
connection's buffer and returns, and the other followers are queues.
"""

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from channels.layers import get_channel_layer

from chat.layers import InMemoryLayer, forget_channel, other_members
from chat.replies import wire
from chat.tasks import detached_task

logger = logging.getLogger(__name__)

Deliver = Callable[[str], Awaitable[None]]

# How long the hub waits before it reads again after its layer failed (Redis).
RETRY_S = 1.0
STOP = "hub.stop"
# A hub that follows a conversation tells the conversation's group when it starts
# (and when it stops): the other hubs learn the conversation is followed elsewhere.
FOLLOWS, LEAVES = "hub.follows", "hub.leaves"
# How long a hub trusts what it knows of the other followers before asking the
# layer again: bounds what a missed announcement (a dead process never says it
# left; a Redis reconnect drops what was published meanwhile) can cost.
RECHECK_S = 30.0


@dataclass(frozen=True, slots=True)
class Following:
    conversation_id: int
    key: int
    address: str  # where a frame for this follower alone goes: wire.send_to


class Hub:
    def __init__(self, layer, loop: asyncio.AbstractEventLoop):
        self.layer = layer
        self.loop = loop
        self.channel: str | None = None
        self.listener: asyncio.Task | None = None
        self.followers: dict[int, dict[int, Deliver]] = {}  # conversation → key →
        self.by_key: dict[int, Deliver] = {}
        self.keys = itertools.count(1)
        # Conversation followed here → (whether another hub follows it, since when):
        # publish goes through the layer only when one does (see the docstring).
        self.elsewhere: dict[int, tuple[bool, float]] = {}
        # Joins and leaves in order: a leave's group_discard must not land after
        # a later join's group_add of the same conversation.
        self.changing = asyncio.Lock()

    async def follow(self, conversation_id: int, deliver: Deliver) -> Following:
        """Hand `deliver` every frame of the conversation from now on. Raises if
        the layer fails (nothing is left joined then)."""
        async with self.changing:
            if self.channel is None:
                # The layer's own prefix: Redis's core layer reads a process's
                # channels through one list per prefix, and a second prefix would
                # wait for the first's blocking read.
                self.channel = await self.layer.new_channel()
                self.listener = detached_task(self._listen(), name="frame-hub")
            key = next(self.keys)
            first = conversation_id not in self.followers
            self.by_key[key] = deliver
            self.followers.setdefault(conversation_id, {})[key] = deliver
            group = wire.group_name_for(conversation_id)
            try:
                # Every join renews this process's membership: Redis groups expire.
                await self.layer.group_add(group, self.channel)
                if first:
                    # After the subscription, so a hub that hears this and then
                    # publishes reaches us; before the follower asks for snapshots.
                    await self._announce(FOLLOWS, conversation_id)
            except BaseException:
                self._forget(conversation_id, key)
                if conversation_id not in self.followers:
                    with contextlib.suppress(Exception):
                        await self.layer.group_discard(group, self.channel)
                raise
        return Following(conversation_id, key, wire.address(self.channel, key))

    async def unfollow(self, following: Following) -> None:
        async with self.changing:
            self._forget(following.conversation_id, following.key)
            if following.conversation_id not in self.followers:
                await self.layer.group_discard(
                    wire.group_name_for(following.conversation_id), self.channel
                )
                await self._announce(LEAVES, following.conversation_id)

    def _forget(self, conversation_id: int, key: int) -> None:
        self.by_key.pop(key, None)
        here = self.followers.get(conversation_id)
        if here is not None:
            here.pop(key, None)
            if not here:
                del self.followers[conversation_id]
                # Not subscribed any more: announcements no longer reach this hub.
                self.elsewhere.pop(conversation_id, None)

    async def stop(self) -> None:
        """Stop listening and let the layer forget the hub's channel (the test
        suite, before it closes a test's loop: cancelling a pub/sub receive then
        waits on a layer that is being torn down)."""
        if self.listener is None:
            return
        await self.layer.send(self.channel, {"type": STOP})
        await self.listener
        await forget_channel(self.layer, self.channel)
        self.listener = self.channel = None

    async def _listen(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except Exception:
                logger.exception("The frame hub could not read its channel")
                await asyncio.sleep(RETRY_S)
                continue
            kind = event.get("type")
            if kind == STOP:
                return
            if event.get("from") == self.channel:
                continue  # published here, and handed over here already
            if kind == FOLLOWS or kind == LEAVES:
                self._heard(kind, event.get("conversation"))
                continue
            frame = event.get("frame")
            if frame is None:
                continue  # a hub message of a later version: not a frame
            key = event.get("to")
            if key is not None:
                await self.hand_to(key, frame)
            else:
                await self.hand_over(event.get("conversation"), frame)

    async def publish(self, conversation_id: int, frame: str) -> None:
        """Hand a frame to every follower of the conversation: this process's in
        this task, the other processes' through the layer."""
        await self.hand_over(conversation_id, frame)
        if self.alone() or not await self.followed_elsewhere(conversation_id):
            return
        await self.layer.group_send(
            wire.group_name_for(conversation_id),
            wire.encoded_event(
                frame, {"conversation": conversation_id, "from": self.channel}
            ),
        )

    async def followed_elsewhere(self, conversation_id: int) -> bool:
        """Whether another hub may follow the conversation, so that its frames
        must go through the layer."""
        if conversation_id not in self.followers:
            return True  # not subscribed here: joins elsewhere go unheard
        known = self.elsewhere.get(conversation_id)
        asked_at = self.loop.time()
        if known is not None and asked_at - known[1] < RECHECK_S:
            return known[0]
        try:
            others = await other_members(
                self.layer, wire.group_name_for(conversation_id), self.channel
            )
        except Exception:
            logger.warning("Could not count a group's members", exc_info=True)
            return True
        answer = others is None or others > 0
        current = self.elsewhere.get(conversation_id)
        if current is not None and current[1] >= asked_at:
            return current[0]  # an announcement came meanwhile: it is newer
        if conversation_id in self.followers:
            self.elsewhere[conversation_id] = (answer, asked_at)
        return answer

    def _heard(self, kind: str, conversation_id) -> None:
        """Another hub started or stopped following a conversation."""
        if conversation_id not in self.followers:
            return  # this hub publishes that conversation's frames regardless
        if kind == FOLLOWS:
            self.elsewhere[conversation_id] = (True, self.loop.time())
        else:
            # Others may still follow it: ask the layer at the next frame.
            self.elsewhere.pop(conversation_id, None)

    async def _announce(self, kind: str, conversation_id: int) -> None:
        if not self.alone():
            await self.layer.group_send(
                wire.group_name_for(conversation_id),
                {"type": kind, "conversation": conversation_id, "from": self.channel},
            )

    async def send_to(self, address: str, frame: str) -> None:
        """Hand a frame to one follower, here or on the process it lives on."""
        channel, _, key = address.rpartition("#")
        if channel == self.channel:
            await self.hand_to(int(key), frame)
        else:
            await self.layer.send(channel, wire.encoded_event(frame, {"to": int(key)}))

    def alone(self) -> bool:
        """Whether no other hub can follow a conversation: the one-process layer,
        and no other event loop in this process with a hub of its own."""
        return isinstance(self.layer, InMemoryLayer) and all(
            other is self or other.layer is not self.layer for other in _hubs.values()
        )

    async def hand_to(self, key: int, frame: str) -> None:
        deliver = self.by_key.get(key)
        if deliver is not None:
            await self._deliver((deliver,), frame)

    async def hand_over(self, conversation_id: int, frame: str) -> None:
        here = self.followers.get(conversation_id)
        if here:
            await self._deliver(tuple(here.values()), frame)

    @staticmethod
    async def _deliver(targets: tuple, frame: str) -> None:
        for deliver in targets:
            try:
                await deliver(frame)
            except Exception:
                # A follower that went away must not cost the others their frame.
                logger.debug("A follower could not take a frame", exc_info=True)


_hubs: dict[int, Hub] = {}


async def stop_hub() -> None:
    """Stop the running loop's hub, if it has one."""
    current = _hubs.pop(id(asyncio.get_running_loop()), None)
    if current is not None and current.loop is asyncio.get_running_loop():
        await current.stop()


def hub() -> Hub:
    """This process's hub (one per event loop and channel layer)."""
    loop, layer = asyncio.get_running_loop(), get_channel_layer()
    current = _hubs.get(id(loop))
    if current is None or current.loop is not loop or current.layer is not layer:
        if current is not None and current.listener is not None:
            current.listener.cancel()  # the settings swapped the layer (tests)
        current = _hubs[id(loop)] = Hub(layer, loop)
    return current
