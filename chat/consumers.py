"""The websocket of one conversation page: parse, authorize, delegate."""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.sessions import InstanceSessionWrapper
from django.conf import settings
from django.http import Http404
from django.utils import translation
from django.utils.translation import gettext

from chat import accounts, client_requests, fanout, metrics, replies
from chat.fanout import Following
from chat.i18n import language_for_scope
from chat.replies import wire
from chat.replies.limits import SocketBucket
from chat.selectors import aconversation_for_user, streaming_replies

logger = logging.getLogger(__name__)

# Close codes the client reads as "do not reconnect".
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
# "Reconnect, please": the client does, at once, and resyncs.
CLOSE_RECONNECT = 4000
# A server-side failure (the channel layer at connect): the client reconnects with
# backoff, so a Redis hiccup under load does not become a stampede.
CLOSE_SERVER_ERROR = 1011


def server_send(send):
    """The server's own `send` under Channels' session wrapper: the wrapper acts on
    HTTP responses only, and asked the session twice for every frame it passed."""
    wrapper = getattr(send, "__self__", None)
    return wrapper.real_send if isinstance(wrapper, InstanceSessionWrapper) else send


class ChatConsumer(AsyncWebsocketConsumer):
    conversation_id: int | None = None
    max_age: asyncio.TimerHandle | None = None
    language: str | None = None

    async def __call__(self, scope, receive, send):
        self.joined: list[str] = []
        self.following: Following | None = None
        self.write = server_send(send)
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the consumer dies of an exception, which skips disconnect():
            # else its groups keep a dead channel (and Redis its messages).
            await self.leave_groups()

    async def join(self, group: str) -> None:
        self.joined.append(group)
        await self.channel_layer.group_add(group, self.channel_name)

    async def follow(self, conversation_id: int) -> None:
        self.following = await fanout.hub().follow(conversation_id, self.forward)

    async def join_or_close(self, join: Callable[[], Awaitable[None]]) -> bool:
        """Join a group (or follow the conversation); if the layer fails (Redis),
        close with a code the page reconnects after, rather than leave a dead
        socket."""
        try:
            await join()
        except Exception:
            logger.exception("Joining failed")
            await self.close(code=CLOSE_SERVER_ERROR)
            return False
        return True

    async def leave_groups(self) -> None:
        if self.following is not None:
            following, self.following = self.following, None
            await fanout.hub().unfollow(following)
        while self.joined:
            await self.channel_layer.group_discard(self.joined.pop(), self.channel_name)

    async def forward(self, frame: str) -> None:
        """Write one of the conversation's frames, as encoded (the hub calls this)."""
        await self.write({"type": "websocket.send", "text": frame})

    async def connect(self):
        user = self.scope["user"]
        await self.accept()
        if not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # Logging out, a new password or deactivation closes this socket.
        if not await self.join_or_close(
            lambda: self.join(accounts.user_group_name(user.pk))
        ):
            return
        try:
            conversation = await aconversation_for_user(
                user=user,
                conversation_id=int(
                    self.scope["url_route"]["kwargs"]["conversation_id"]
                ),
            )
        except Http404:
            # The same answer for someone else's conversation and a missing one.
            await self.close(code=CLOSE_NOT_FOUND)
            return
        # Follow before asking runs for snapshots, so no delta falls in between.
        if not await self.join_or_close(lambda: self.follow(conversation.pk)):
            return
        self.conversation_id = conversation.pk
        self.control_bucket = SocketBucket(
            burst=settings.CHAT_CONTROL_BURST,
            per_minute=settings.CHAT_CONTROL_PER_MINUTE,
        )
        replies.ensure_reaper()
        # A Redis group forgets members after its group expiry: close first, and
        # the client comes back as a new member (nothing is lost: it resyncs).
        self.max_age = asyncio.get_running_loop().call_later(
            settings.CHAT_SOCKET_MAX_AGE_S,
            lambda: asyncio.ensure_future(self.close(code=CLOSE_RECONNECT)),
        )
        async for reply in streaming_replies(conversation_id=self.conversation_id):
            await replies.send_snapshot_of(reply, reply_to=self.following.address)
        # The person's language (profile, cookie, Accept-Language: the pages' rule,
        # chat/i18n.py), last, so the join and the snapshots come first. Not on the
        # first request: 50 sends at once queued 50 of these on the database
        # thread ahead of their turns (bench/README.md, figure 4).
        self.language = await database_sync_to_async(language_for_scope)(self.scope)

    async def disconnect(self, code):
        if self.max_age is not None:
            self.max_age.cancel()
        await self.leave_groups()

    async def user_signed_out(self, event):
        """Sent to the person's group; `session` (if set) names one session."""
        session = event.get("session")
        if session is None or session == accounts.session_id(self.scope["session"]):
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def send_error(self, code: str, message: str, **extra):
        await self.send(
            text_data=wire.frame(wire.error_payload(code, message, **extra))
        )

    async def receive(self, text_data=None, bytes_data=None):
        if self.conversation_id is None:
            return
        # Errors are worded as they are made, and the history's language sentence
        # (CHAT_ANSWER_IN_USER_LANGUAGE) is read, in this person's language.
        with translation.override(self.language):
            await self.handle(text_data)

    async def handle(self, text_data):
        try:
            request = json.loads(text_data) if text_data is not None else None
        except (ValueError, RecursionError):  # deep nesting raises RecursionError
            request = None
        if not isinstance(request, dict):
            await self.send_error(
                "bad_request", gettext("Messages must be JSON objects.")
            )
            return
        kind = request.get("type")
        if kind != "resync" and kind not in client_requests.HANDLERS:
            await self.send_error(
                "unknown_type",
                gettext("Unknown message type %(type)r.")
                % {"type": request.get("type")},
            )
            return
        try:
            if kind in client_requests.CONTROL_TYPES:
                self.control_bucket.take()
            await self.run_request(request)
        except replies.ReplyError as exc:
            # Say what the error answers, so the page can match it to its send.
            echo = {k: request[k] for k in ("client_id", "message_id") if k in request}
            await self.send_error(
                exc.code,
                exc.message,
                request=request.get("type"),
                **echo,
                **exc.details,
            )
        except Exception:
            logger.exception("Handling %r failed", request.get("type"))
            await self.send_error(
                "server_error", gettext("That failed on our side. Try again.")
            )

    async def echo_if_retried(self, turn):
        if turn.reply is None:
            # A retried send or edit: nothing new starts; this tab learns what
            # was stored.
            frame = wire.frame(wire.user_message_payload(turn.user_message))
            await self.send(text_data=frame)

    async def on_resync(self, request):
        metrics.resynced("websocket")
        await replies.send_snapshot(
            conversation_id=self.conversation_id,
            message_id=request.get("message_id"),
            reply_to=self.following.address,
        )

    async def run_request(self, request):
        kind = request["type"]
        if kind == "resync":
            await self.on_resync(request)
            return
        turn = await client_requests.HANDLERS[kind](
            user=self.scope["user"],
            conversation_id=self.conversation_id,
            request=request,
        )
        if kind in ("send", "edit"):
            await self.echo_if_retried(turn)
