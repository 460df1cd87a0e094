"""What a person picks: the model, system prompts; and titles the model writes."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

from chat import choices
from chat.models import Conversation, Message
from chat.profiles import profile_for
from chat.replies import titles

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_cached_models():
    cache.clear()
    yield
    cache.clear()


async def ask(socket, content: str) -> dict:
    await socket.send(type="send", content=content)
    return (await socket.receive_until("reply.done"))[-1]


def test_the_models_on_offer_are_the_upstreams_list_asked_for_once(openai_upstream):
    first = choices.available_models()
    again = choices.available_models()

    # The default (CHAT_MODEL) first, then what GET /v1/models listed.
    assert first == again == ["test-model", "fake-model", "gpt-4o-mini"]
    assert openai_upstream.model_listings == 1


def test_chat_models_names_the_models_without_asking_the_upstream(
    openai_upstream, settings
):
    settings.CHAT_MODELS = ["small", "test-model", "large"]

    assert choices.available_models() == ["test-model", "small", "large"]
    assert openai_upstream.model_listings == 0


def test_an_upstream_that_cannot_list_leaves_only_the_default(settings):
    settings.CHAT_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    settings.CHAT_MODEL = "test-model"

    assert choices.available_models() == ["test-model"]


async def test_a_model_outside_the_list_is_refused_and_nothing_changes(
    alice, conversation, connect, openai_upstream
):
    tab = await connect(alice, conversation.pk)

    await tab.send(type="configure", model="not-offered")
    error = await tab.receive()

    assert error["type"] == "error" and error["code"] == "bad_model"
    assert error["request"] == "configure"
    await conversation.arefresh_from_db()
    assert conversation.model == ""
    assert (await ask(tab, "hello"))["model"] == "test-model"


async def test_a_picked_model_is_stored_shown_on_every_tab_and_answers_next(
    alice, conversation, connect, openai_upstream
):
    tab = await connect(alice, conversation.pk)
    other_tab = await connect(alice, conversation.pk)

    await tab.send(type="configure", model="fake-model")

    for socket in (tab, other_tab):
        frame = await socket.receive()
        assert frame["type"] == "conversation" and frame["model"] == "fake-model"
    done = await ask(tab, "hello")
    assert done["model"] == "fake-model"
    assert openai_upstream.requests[-1]["model"] == "fake-model"
    assert (await Message.objects.aget(pk=done["message_id"])).model == "fake-model"


async def test_the_conversations_system_prompt_goes_first_upstream(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_SYSTEM_PROMPT = "The site's prompt."
    tab = await connect(alice, conversation.pk)
    await ask(tab, "one")
    first = openai_upstream.requests[-1]["messages"][0]
    assert first == {"role": "system", "content": "The site's prompt."}

    await tab.send(type="configure", system_prompt="  Answer in French.  ")
    assert (await tab.receive())["system_prompt"] == "Answer in French."
    await ask(tab, "two")

    sent = openai_upstream.requests[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Answer in French."}
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]


async def test_a_persons_default_prompt_starts_their_new_conversations(
    alice, conversation, connect, openai_upstream, client
):
    tab = await connect(alice, conversation.pk)
    await tab.send(type="configure", default_system_prompt="Be terse.")
    await tab.receive()
    await sync_to_async(client.force_login)(alice)

    response = await sync_to_async(client.post)("/c/new/")

    new = await Conversation.objects.exclude(pk=conversation.pk).aget()
    assert response.url == f"/c/{new.pk}/"
    assert new.system_prompt == "Be terse."
    await conversation.arefresh_from_db()
    assert conversation.system_prompt == ""  # the default is for new chats only
    page = (await sync_to_async(client.get)(response.url)).content.decode()
    assert "Be terse.</textarea>" in page


async def test_a_system_prompt_too_long_or_not_text_is_refused(
    alice, conversation, connect, openai_upstream
):
    tab = await connect(alice, conversation.pk)

    await tab.send(type="configure", system_prompt="x" * 8001)
    assert (await tab.receive())["code"] == "too_long"
    await tab.send(type="configure", default_system_prompt=["x"])
    assert (await tab.receive())["code"] == "bad_request"
    # One bad field and nothing is stored, the good ones neither.
    await tab.send(type="configure", model="fake-model", system_prompt=7)
    assert (await tab.receive())["code"] == "bad_request"

    await conversation.arefresh_from_db()
    assert (conversation.model, conversation.system_prompt) == ("", "")
    assert (await sync_to_async(profile_for)(alice)).system_prompt == ""


def test_staff_see_the_system_prompt_in_the_transcript(admin_client, conversation):
    conversation.system_prompt = "Speak like a pirate."
    conversation.save()

    page = admin_client.get(f"/admin/chat/conversation/{conversation.pk}/change/")

    assert "Speak like a pirate." in page.content.decode()


# Titles written by the model.


async def wait_for_title_task():
    await asyncio.gather(*titles._tasks)


async def test_the_model_titles_a_conversation_after_its_first_answer(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_MODEL_TITLES = True
    openai_upstream.script(text="Here are some ideas.")
    openai_upstream.script(text='"Lisbon with kids."')
    tab = await connect(alice, conversation.pk)

    await ask(tab, "Plan a trip to Lisbon\nwith two kids")
    retitled = (await tab.receive_until("conversation", title="Lisbon with kids"))[-1]
    await wait_for_title_task()

    await conversation.arefresh_from_db()
    assert conversation.title == retitled["title"] == "Lisbon with kids"
    request = openai_upstream.requests[-1]
    assert not request.get("stream") and request["max_tokens"] <= 30
    assert request["messages"][1:] == [
        {"role": "user", "content": "Plan a trip to Lisbon\nwith two kids"},
        {"role": "assistant", "content": "Here are some ideas."},
    ]


@pytest.mark.parametrize("title_request", ["fails", "is turned off"])
async def test_without_a_model_title_the_first_line_stays(
    alice, conversation, connect, openai_upstream, settings, title_request
):
    settings.CHAT_MODEL_TITLES = title_request == "fails"
    openai_upstream.script(text="Sure.")
    openai_upstream.script(fail_status=500)
    tab = await connect(alice, conversation.pk)

    await ask(tab, "Plan a trip to Lisbon")
    await wait_for_title_task()

    await conversation.arefresh_from_db()
    assert conversation.title == "Plan a trip to Lisbon"
    assert len(openai_upstream.requests) == (2 if title_request == "fails" else 1)


async def test_a_title_the_person_gave_meanwhile_is_kept(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_MODEL_TITLES = True
    openai_upstream.script(tokens=["slow "] * 20, delay=0.02)
    openai_upstream.script(text="Model title")
    tab = await connect(alice, conversation.pk)
    await tab.send(type="send", content="Plan a trip")
    await tab.receive_until("reply.start")

    await Conversation.objects.filter(pk=conversation.pk).aupdate(title="My trip")
    await tab.receive_until("reply.done")
    await wait_for_title_task()

    await conversation.arefresh_from_db()
    assert conversation.title == "My trip"


async def test_a_stopped_first_answer_asks_for_no_title(
    alice, conversation, connect, openai_upstream, settings
):
    settings.CHAT_MODEL_TITLES = True
    openai_upstream.script(tokens=["slow "] * 50, delay=0.02)
    tab = await connect(alice, conversation.pk)
    await tab.send(type="send", content="Plan a trip")
    # Its first words: the answer's request has reached the upstream (a stop right
    # after reply.start could cut it off before it is sent).
    delta = (await tab.receive_until("reply.delta"))[-1]

    await tab.send(type="stop", message_id=delta["message_id"])
    done = (await tab.receive_until("reply.done"))[-1]
    await wait_for_title_task()

    assert done["status"] == "stopped"
    await conversation.arefresh_from_db()
    assert conversation.title == "Plan a trip"
    assert len(openai_upstream.requests) == 1  # the answer's only


def test_the_local_provider_offers_its_gguf_and_writes_no_titles(settings):
    from chat.providers.local import LocalProvider

    settings.CHAT_PROVIDER = "local"
    settings.CHAT_LOCAL_MODEL_PATH = "/models/tiny-chat.Q4.gguf"

    assert choices.available_models() == ["tiny-chat.Q4"]
    assert asyncio.run(LocalProvider().title(messages=[], model="x")) is None
