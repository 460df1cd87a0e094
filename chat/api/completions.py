"""/v1: OpenAI's chat completions and models, served through the page's reply path.

A call is stored as a conversation (`calls`), its last message starts an answer
with `replies.start_reply`, and the answer's ReplyRun publishes its frames to the
conversation's group as it would for the page. This view follows the conversation
through its process's hub (chat/fanout.py) before the run starts, and re-encodes
`reply.delta` frames as
`chat.completion.chunk`s. The run belongs to no request: a client that goes
away stops reading, and the answer is still written and stored.
"""

import asyncio
import json
import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.http import JsonResponse, StreamingHttpResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from chat import fanout, replies
from chat.api.auth import api_error, authenticate, refused, reply_error
from chat.api.calls import erase_text, parse_call, store_call
from chat.choices import available_models
from chat.fanout import Following
from chat.models import Conversation, Message
from chat.render_budget import render_answer
from chat.replies.errors import ReplyError
from chat.tasks import detached_task

# Tasks that erase unstored calls once answered: strong references, as for runs.
_erasers: set[asyncio.Task] = set()

_models = sync_to_async(available_models, thread_sensitive=False)


@csrf_exempt
@require_GET
async def models(request):
    if await sync_to_async(authenticate)(request) is None:
        return refused(request)
    names = await _models()
    return JsonResponse(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "chatsite"}
                for name in names
            ],
        }
    )


@csrf_exempt
@require_POST
async def chat_completions(request):
    user = await sync_to_async(authenticate)(request)
    if user is None:
        return refused(request)
    try:
        call = parse_call(json.loads(request.body))
    except ValueError:
        return api_error(400, gettext("The body is not JSON."), code="bad_request")
    except ReplyError as error:
        return reply_error(error)
    if call.model not in await _models():
        return api_error(
            404,
            gettext("The model '%(model)s' does not exist or is not offered here.")
            % {"model": call.model},
            code="model_not_found",
        )
    token = request.api_token
    text_kept = token is None or token.store_calls
    answer = await _Answer.start(user, call, text_kept=text_kept)
    if isinstance(answer, JsonResponse):
        return answer
    if call.stream:
        response = StreamingHttpResponse(
            answer.chunks(), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each chunk on at once
        return response
    return await answer.completion()


async def _render_all(texts: list[str]) -> list[str]:
    if not texts:
        return []  # a one-message call: no thread hop
    return await sync_to_async(
        lambda: [render_answer(text) for text in texts], thread_sensitive=False
    )()


class _Answer:
    """One call's answer, followed through the process's frame hub."""

    def __init__(self, call, conversation_id: int):
        self.call = call
        self.conversation_id = conversation_id
        self.following: Following | None = None
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.reply_id: int | None = None
        self.text = ""  # what the client was sent
        self.withheld = False
        self.created = int(time.time())

    @classmethod
    async def start(cls, user, call, *, text_kept: bool):
        htmls = await _render_all(
            [text for role, text in call.earlier if role == Message.Role.ASSISTANT]
        )
        try:
            conversation_id = await database_sync_to_async(store_call)(
                user, call, htmls=htmls, text_kept=text_kept
            )
        except ReplyError as error:
            return reply_error(error)
        answer = cls(call, conversation_id)
        # Following before the run starts: no frame of it comes before we listen.
        await answer.follow()
        try:
            # The run itself is detached from this request (chat/tasks.py).
            turn = await replies.start_reply(
                conversation_id=conversation_id, content=call.content
            )
        except ReplyError as error:
            await answer.leave()
            await Conversation.objects.filter(pk=conversation_id).adelete()
            return reply_error(error)
        except BaseException:
            await answer.leave()
            raise
        answer.reply_id = turn.reply.pk
        if not text_kept:
            run = replies.local_run(answer.reply_id)
            task = detached_task(
                _erase_after(run, conversation_id), name=f"erase-{answer.reply_id}"
            )
            _erasers.add(task)
            task.add_done_callback(_erasers.discard)
        return answer

    async def follow(self) -> None:
        self.following = await fanout.hub().follow(
            self.conversation_id, self._take_frame
        )

    async def _take_frame(self, frame: str) -> None:
        self.inbox.put_nowait(frame)

    async def leave(self) -> None:
        if self.following is not None:
            following, self.following = self.following, None
            await fanout.hub().unfollow(following)

    async def frames(self):
        """This answer's frames, as dicts, up to and including reply.done."""
        while True:
            payload = json.loads(await self.inbox.get())
            if payload.get("message_id") != self.reply_id:
                continue
            yield payload
            if payload["type"] == "reply.done":
                return

    def _take(self, payload: dict) -> str:
        """The new text of a delta by its offset ("" for one already had)."""
        offset, text = payload["offset"], payload["text"]
        have = len(self.text)
        if offset > have or offset + len(text) <= have:
            return ""  # a gap (the layer dropped a delta) is filled at the end
        new = text[have - offset :]
        self.text += new
        return new

    async def _rest(self, done: dict) -> str:
        """The stored answer's text beyond what was sent (after a dropped delta)."""
        message = await Message.objects.filter(pk=self.reply_id).afirst()
        if message is None:  # its conversation was deleted meanwhile
            return ""
        # Cut off by moderation: it ends as OpenAI's content filter does.
        self.withheld = message.withheld
        # An unstored call's text may be erased already: then nothing is added.
        rest = message.shown_content[len(self.text) :]
        self.text += rest
        return rest

    def _chunk(self, delta: dict, finish_reason=None, **extra) -> str:
        chunk = {
            "id": f"chatcmpl-{self.reply_id}",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.call.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
        }
        if self.call.include_usage:
            chunk["usage"] = None
        chunk.update(extra)
        return _event(chunk)

    def _failed(self, done: dict) -> bool:
        failed = (Message.Status.FAILED, Message.Status.INTERRUPTED)
        return done["status"] in failed and not self.withheld

    def _finish_reason(self, done: dict) -> str:
        return "content_filter" if self.withheld else done["finish_reason"] or "stop"

    async def chunks(self):
        try:
            yield self._chunk({"role": "assistant", "content": ""})
            async for payload in self.frames():
                kind = payload["type"]
                if kind == "reply.delta":
                    new = self._take(payload)
                    if new:
                        yield self._chunk({"content": new})
                elif kind == "reply.heartbeat":
                    yield ": keep-alive\n\n"  # proxies keep a talking stream open
                elif kind == "reply.done":
                    rest = await self._rest(payload)
                    if rest:
                        yield self._chunk({"content": rest})
                    if self._failed(payload):
                        yield _event(_failure(payload))
                        return
                    yield self._chunk({}, self._finish_reason(payload))
                    if self.call.include_usage:
                        yield self._chunk({}, choices=[], usage=_usage(payload))
            yield "data: [DONE]\n\n"
        finally:
            # Also when the client went away: the answer goes on without it.
            await self.leave()

    async def completion(self) -> JsonResponse:
        try:
            async for payload in self.frames():
                if payload["type"] == "reply.delta":
                    self._take(payload)
                elif payload["type"] == "reply.done":
                    await self._rest(payload)
                    done = payload
        finally:
            await self.leave()
        if self._failed(done):
            return JsonResponse(_failure(done), status=502)
        return JsonResponse(
            {
                "id": f"chatcmpl-{self.reply_id}",
                "object": "chat.completion",
                "created": self.created,
                "model": self.call.model,
                "system_fingerprint": None,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            # A withheld answer's text never reaches a person.
                            "content": "" if self.withheld else self.text,
                            "refusal": None,
                        },
                        "logprobs": None,
                        "finish_reason": self._finish_reason(done),
                    }
                ],
                "usage": _usage(done),
            }
        )


def _event(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


def _failure(done: dict) -> dict:
    return {
        "error": {
            "message": gettext(done["error"]) if done["error"] else "",
            "type": "upstream_error",
            "code": "upstream_error",
            "param": None,
        }
    }


def _usage(done: dict) -> dict | None:
    usage = done["usage"]
    if usage is None:
        return None
    prompt, completion = usage["prompt_tokens"] or 0, usage["completion_tokens"] or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def _erase_after(run, conversation_id: int) -> None:
    if run is not None:
        await run.finished()
    await database_sync_to_async(erase_text)(conversation_id)
