"""The conversations API, plain JSON: list, create, read one, stop its answer.

Every call goes through the owner-scoped selectors: another person's conversation
answers exactly like a missing one (404).
"""

import json

from django.http import Http404, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from chat.api.auth import api_error, authenticate, refused, reply_error
from chat.choices import (
    available_models,
    conversation_payload,
    start_conversation,
    store_choices,
)
from chat.models import Conversation
from chat.replies.errors import ReplyError
from chat.replies.wire import message_payload
from chat.selectors import (
    conversation_for_user,
    conversations_for_user,
    shown_branch,
)

PAGE_SIZE = 100


def _summary(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "source": conversation.source,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


def _not_found() -> JsonResponse:
    return api_error(404, gettext("There is no such conversation."), code="not_found")


def _body(request) -> dict:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except ValueError:
        raise ReplyError("bad_request", gettext("The body is not JSON.")) from None
    if not isinstance(body, dict):
        raise ReplyError("bad_request", gettext("The body must be a JSON object."))
    return body


@csrf_exempt
@require_http_methods(["GET", "POST"])
def conversation_list(request):
    """GET: the person's conversations, newest first (by id, up to 100;
    `?before=<id>` pages on).
    POST: a new one, with `title`, `model`, `system_prompt` if given."""
    user = authenticate(request)
    if user is None:
        return refused(request)
    if request.method == "POST":
        return _create(request, user)
    # Unstored API calls have no text left to list.
    conversations = (
        conversations_for_user(user=user).filter(text_kept=True).order_by("-id")
    )
    before = request.GET.get("before")
    if before:
        if not before.isdigit():
            return api_error(400, gettext("before must be an id."), code="bad_request")
        conversations = conversations.filter(pk__lt=int(before))
    page = list(conversations[:PAGE_SIZE])
    return JsonResponse({"object": "list", "data": [_summary(c) for c in page]})


def _create(request, user) -> JsonResponse:
    try:
        body = _body(request)
        title = body.get("title", "")
        if not isinstance(title, str):
            raise ReplyError("bad_request", gettext("title must be text."))
        # Checked before the conversation exists, so a refusal stores nothing.
        changes = {key: body[key] for key in ("model", "system_prompt") if key in body}
        conversation = start_conversation(user)
        try:
            conversation = store_choices(
                user=user,
                conversation_id=conversation.pk,
                changes=changes,
                models=available_models(),
            )
        except ReplyError:
            conversation.delete()
            raise
    except ReplyError as error:
        return reply_error(error)
    if title.strip():
        conversation.title = title.strip()[:200]
        conversation.save(update_fields=["title"])
    payload = {**_summary(conversation), **conversation_payload(conversation)}
    payload.pop("type")
    return JsonResponse(payload, status=201)


@csrf_exempt
@require_GET
def conversation_detail(request, conversation_id: int):
    """One conversation: its settings and the messages of the branch shown."""
    user = authenticate(request)
    if user is None:
        return refused(request)
    try:
        conversation = conversation_for_user(user=user, conversation_id=conversation_id)
    except Http404:
        return _not_found()
    messages, _ = shown_branch(conversation=conversation, limit=None)
    payload = {**_summary(conversation), **conversation_payload(conversation)}
    payload.pop("type")
    payload["messages"] = [
        {
            **message_payload(message),
            "siblings": message.siblings,
            "error": message.error,
            "usage": {
                "prompt_tokens": message.prompt_tokens,
                "completion_tokens": message.completion_tokens,
            }
            if message.completion_tokens is not None
            else None,
        }
        for message in messages
    ]
    return JsonResponse(payload)
