"""A conversation over HTTP: post a message, follow answers as Server-Sent Events,
and the page's other requests, for clients (and pages) that cannot hold a websocket.

Every endpoint authenticates (`chat.api.auth`), fetches the conversation through
the owner-scoped selector (someone else's answers 404, like a missing one), and
runs the websocket's own request functions (`chat/client_requests.py`); a refusal
is JSON `{"error": {"message", "type", "code"}}` with a status for its code.
"""

import functools
import json

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt

from chat import accounts, client_requests, metrics, ratelimit, replies
from chat.api.auth import api_error, authenticate
from chat.api.events import EventStream, event, parse_ids, parse_last_event_id
from chat.models import Message
from chat.replies import wire
from chat.replies.limits import refuse
from chat.selectors import aconversation_for_user

# The HTTP status of each ReplyError code; a code not listed is a bad request.
STATUS_FOR_CODE = {
    "not_found": 404,
    "busy": 409,
    "not_running": 409,
    "quota": 429,
    "rate_limited": 429,
    "too_many_streams": 429,
    "too_long": 413,
    "moderated": 422,
    "moderation_unavailable": 503,
    "server_error": 500,
}
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def reply_error_response(exc: replies.ReplyError) -> JsonResponse:
    status = STATUS_FOR_CODE.get(exc.code, 400)
    retry_after = exc.details.get("retry_after_s")
    return api_error(
        status,
        exc.message,
        code=exc.code,
        type="rate_limit_error" if status == 429 else "invalid_request_error",
        headers={"Retry-After": str(retry_after)} if retry_after else None,
    )


def conversation_endpoint(method: str):
    """Authenticate, scope the conversation to the caller, read a POST's JSON
    object, and answer a ReplyError as JSON; the view gets (request, user,
    conversation, body)."""

    def decorate(view):
        # authenticate() checks CSRF for a session's POST (a token needs none).
        @csrf_exempt
        @functools.wraps(view)
        async def endpoint(request, conversation_id: int):
            if request.method != method:
                return api_error(
                    405,
                    gettext("Use %(method)s here.") % {"method": method},
                    code="method_not_allowed",
                    headers={"Allow": method},
                )
            user = await sync_to_async(authenticate)(request)
            if user is None:
                return api_error(
                    401,
                    gettext("Log in, or send a personal API token."),
                    code="unauthenticated",
                    type="authentication_error",
                )
            try:
                conversation = await aconversation_for_user(
                    user=user, conversation_id=conversation_id
                )
            except Http404:
                return api_error(
                    404, gettext("There is no such conversation."), code="not_found"
                )
            body = {}
            if method == "POST":
                try:
                    body = json.loads(request.body or b"{}")
                except (ValueError, RecursionError):
                    body = None
                if not isinstance(body, dict):
                    return api_error(
                        400,
                        gettext("The body must be a JSON object."),
                        code="bad_request",
                    )
            try:
                return await view(request, user, conversation, body)
            except replies.ReplyError as exc:
                return reply_error_response(exc)

        return endpoint

    return decorate


def _event_stream(request, user, conversation, **options) -> EventStream:
    return EventStream(
        conversation_id=conversation.pk,
        user_id=user.pk,
        session=accounts.session_id(request.session),
        **options,
    )


async def _joined(stream: EventStream) -> JsonResponse | None:
    """Join the stream's groups; a failing layer (Redis) is a 503 to retry."""
    try:
        await stream.join()
    except Exception:
        return api_error(
            503,
            gettext("Live updates are unavailable right now. Try again."),
            code="unavailable",
            type="server_error",
        )
    return None


def _streaming(stream: EventStream, preface: tuple[str, ...] = ()):
    async def body():
        for text in preface:
            yield text
        async for text in stream.events():
            yield text

    return StreamingHttpResponse(
        body(), content_type="text/event-stream; charset=utf-8", headers=STREAM_HEADERS
    )


def _take_control_slot(user) -> None:
    """The per-person rate of requests that cost a query (the socket's bucket's
    twin for HTTP, in the cache so it holds across processes)."""
    per_minute = settings.CHAT_CONTROL_PER_MINUTE
    _, refusal = ratelimit.take(
        ratelimit.bucket_key("control", user.pk), limit=per_minute, window_s=60
    )
    if refusal is not None:
        raise refuse(
            "rate_limited",
            gettext("Too many requests at once. Try again in a minute."),
            limit=refusal.limit,
            retry_after_s=refusal.retry_after_s,
        )


async def _answer_to(user_message: Message) -> Message | None:
    return (
        await Message.objects.filter(parent=user_message, role=Message.Role.ASSISTANT)
        .order_by("-pk")
        .afirst()
    )


@conversation_endpoint("POST")
async def post_message(request, user, conversation, body):
    """Send a message: `{"content", "client_id", "stream"}`. Streamed, the answer's
    frames follow until its `reply.done`; else the stored ids come back at once."""
    stream = None
    if body.get("stream") is True:
        stream = _event_stream(request, user, conversation)
        # Joined before the send, so the stream hears every frame of the answer.
        if refused := await _joined(stream):
            return refused
    try:
        turn = await client_requests.send(
            user=user, conversation_id=conversation.pk, request=body
        )
    except BaseException:
        if stream is not None:
            await stream.leave()
        raise
    answer = turn.reply or await _answer_to(turn.user_message)
    if stream is None:
        return JsonResponse(
            {
                "conversation_id": conversation.pk,
                "message": wire.message_payload(turn.user_message),
                "client_id": turn.user_message.client_id,
                "reply_id": answer.pk if answer else None,
            },
            status=201 if turn.reply else 200,
        )
    preface = ()
    if turn.reply is None:
        # A retried send: nothing new runs; the stored message, then its answer
        # (a snapshot, and its done if it has finished).
        frame = wire.frame(wire.user_message_payload(turn.user_message))
        preface = (event("message", frame),)
        if answer is None:
            stream.ended = True
        else:
            await stream.ask_snapshots(only=answer)
    stream.until_done_of = answer.pk if answer else None
    return _streaming(stream, preface)


@conversation_endpoint("GET")
async def follow_events(request, user, conversation, body):
    """Follow a conversation's answers; `Last-Event-ID` resumes where it left;
    `?resync=<ids>` also sends those answers' snapshots (and done if they ended)."""
    stream = _event_stream(
        request,
        user,
        conversation,
        resume=parse_last_event_id(request.headers.get("Last-Event-ID")),
    )
    if refused := await _joined(stream):
        return refused
    replies.ensure_reaper()
    try:
        named = parse_ids(request.GET.get("resync"))
        metrics.resynced("sse", len(named))
        await stream.ask_snapshots(named=named)
    except BaseException:
        await stream.leave()
        raise
    return _streaming(stream)


@conversation_endpoint("POST")
async def stop(request, user, conversation, body):
    """Stop an answer (`message_id`), or, without one, the one running."""
    await sync_to_async(_take_control_slot)(user)
    message_id = body.get("message_id")
    if message_id is None:
        running = await Message.objects.filter(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
        ).afirst()
        if running is None:
            raise replies.ReplyError(
                "not_running", gettext("No answer is being written here.")
            )
        message_id = running.pk
    await replies.stop_reply(conversation_id=conversation.pk, message_id=message_id)
    return JsonResponse({"message_id": message_id, "stopping": True}, status=202)


@conversation_endpoint("POST")
async def post_frame(request, user, conversation, body):
    """Any request the websocket takes (`regenerate`, `edit`, `switch`,
    `configure`, …) with the same JSON; its frames reach the conversation's
    streams. A retried `send`/`edit` answers with its stored message."""
    kind = body.get("type")
    handler = client_requests.HANDLERS.get(kind)
    if handler is None:
        raise replies.ReplyError(
            "unknown_type",
            gettext("Unknown message type %(type)r.") % {"type": kind},
        )
    if kind in client_requests.CONTROL_TYPES:
        await sync_to_async(_take_control_slot)(user)
    turn = await handler(user=user, conversation_id=conversation.pk, request=body)
    answer = {"type": kind}
    if isinstance(turn, replies.Turn):
        answer["message"] = wire.message_payload(turn.user_message)
        answer["client_id"] = turn.user_message.client_id
        answer["reply_id"] = turn.reply.pk if turn.reply else None
    return JsonResponse(answer, status=202)
