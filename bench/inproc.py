"""In-process figures: database queries per reply, and the long page's queries.

Run by bench.run in a subprocess with the bench environment (the scratch database,
the bench upstream); prints one JSON object on its last stdout line.
"""

import json
import time

from bench.site import ROOT, make_long_conversation, make_user


def queries_for_a_reply(conversation_id: int, tokens: int) -> dict:
    from asgiref.sync import async_to_sync
    from channels.layers import channel_layers
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat import providers, replies

    # A new event loop per async_to_sync call: a fresh SDK client and layer each.
    providers.get_provider.cache_clear()
    channel_layers.backends.clear()

    async def reply():
        turn = await replies.start_reply(
            conversation_id=conversation_id, content=f"bench {tokens} 0"
        )
        await replies.local_run(turn.reply.pk).finished()
        return turn.reply.pk

    started = time.monotonic()
    # async_to_sync from sync code runs the ORM's thread-sensitive calls on this
    # thread, so this connection sees every query the reply makes.
    with CaptureQueriesContext(connection) as queries:
        message_id = async_to_sync(reply)()
    from chat.models import Message

    stored = Message.objects.get(pk=message_id)
    return {
        "queries": len(queries),
        "seconds": round(time.monotonic() - started, 3),
        "stored_tokens": len(stored.content.split()),
        "status": stored.status,
        "sql": [q["sql"][:120] for q in queries.captured_queries],
    }


def page_queries(user, conversation_id: int) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    client.get(f"/c/{conversation_id}/")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/c/{conversation_id}/")
    assert response.status_code == 200, response.status_code
    return len(queries)


def main() -> None:
    import os
    import sys

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from django.conf import settings

    from chat.models import Conversation

    user = make_user("bench-queries")
    conversation = Conversation.objects.create(user=user)
    # The first reply also sets the title; measure the ones after it.
    queries_for_a_reply(conversation.pk, 3)
    short = queries_for_a_reply(conversation.pk, 10)
    long = queries_for_a_reply(conversation.pk, 5000)
    page_user = make_user("bench-page-queries")
    long_page = make_long_conversation(page_user, 500)
    result = {
        "checkpoint_s": settings.CHAT_CHECKPOINT_S,
        "reply_10": short,
        "reply_5000": long,
        "page_500_queries": page_queries(page_user, long_page),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
