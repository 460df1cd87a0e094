"""The OpenAI-compatible API and the conversations API, against a running server.

The client is the real `openai` SDK (and httpx2 for raw HTTP); the server is a
real process of the site (tests/api_site.py) in front of the test upstream.
"""

import re
import time

import httpx2
import openai
import pytest

from tests.api_site import start_api_site
from tests.upstream import MODERATION_MARKER, count_tokens, split_tokens


@pytest.fixture(scope="module")
def site(upstream, tmp_path_factory):
    site = start_api_site(upstream, tmp_path_factory.mktemp("api"))
    yield site
    site.server.stop()


@pytest.fixture
def api(site, upstream):
    upstream.reset()
    return site


def sdk(site, who: str = "alice", **options) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{site.url}/v1", api_key=site.tokens[who], max_retries=0, **options
    )


def http(site, who: str | None = "alice") -> httpx2.Client:
    headers = {"Authorization": f"Bearer {site.tokens[who]}"} if who else {}
    return httpx2.Client(base_url=site.url, headers=headers, timeout=10)


def stream_of(site, content: str, **options):
    return sdk(site).chat.completions.create(
        model="test-model",
        messages=[{"role": "user", "content": content}],
        stream=True,
        **options,
    )


def newest_conversation(site, who: str = "alice") -> dict:
    with http(site, who) as client:
        listed = client.get("/api/conversations/").json()["data"]
        return client.get(f"/api/conversations/{listed[0]['id']}/").json()


def until_finished(site, who: str = "alice") -> dict:
    """The newest conversation once its last answer has stopped streaming."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        conversation = newest_conversation(site, who)
        if conversation["messages"][-1]["status"] != "streaming":
            return conversation
        time.sleep(0.05)  # polling another process's database: no event to await
    pytest.fail("the answer never finished")


def test_the_sdk_chats_without_streaming_and_the_call_is_stored_as_a_conversation(
    api, upstream
):
    upstream.script(text="Fine, thanks.", prompt_tokens=11)
    sent = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello **there**!"},
        {"role": "user", "content": "How are you?"},
    ]

    completion = sdk(api).chat.completions.create(model="test-model", messages=sent)

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Fine, thanks."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 11
    assert completion.usage.completion_tokens == len(split_tokens("Fine, thanks."))
    # The model saw exactly the call's messages.
    assert upstream.requests[-1]["messages"] == sent
    stored = newest_conversation(api)
    assert stored["source"] == "api"
    assert stored["system_prompt"] == "Be brief."
    assert [(m["role"], m["content"]) for m in stored["messages"]] == [
        ("user", "Hi"),
        ("assistant", "Hello **there**!"),
        ("user", "How are you?"),
        ("assistant", "Fine, thanks."),
    ]
    assert "<strong>there</strong>" in stored["messages"][1]["html"]
    assert stored["messages"][3]["html"] == "<p>Fine, thanks.</p>"


def test_the_sdk_streams_chunks_then_the_finish_then_the_usage(api, upstream):
    upstream.script(tokens=count_tokens(40), prompt_tokens=5)

    stream = stream_of(api, "Count", stream_options={"include_usage": True})
    chunks = list(stream)

    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(count_tokens(40))
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 5
    assert chunks[-1].usage.completion_tokens == 40
    assert chunks[-1].usage.total_tokens == 45


def test_a_stream_without_include_usage_has_no_usage_chunk_and_ends_with_done(api):
    with http(api) as client:
        with client.stream(
            "POST",
            "/v1/chat/completions",
            json={
                "model": "test-model",
                "messages": [{"role": "user", "content": "Hi"}],
                "stream": True,
            },
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            body = response.read().decode()
    events = re.findall(r"^data: (.*)$", body, re.M)
    assert events[-1] == "[DONE]"
    assert '"usage"' not in body
    assert '"finish_reason":"stop"' in events[-2]


def test_errors_reach_the_sdk_as_its_exception_classes(api):
    messages = [{"role": "user", "content": "Hi"}]
    wrong = openai.OpenAI(
        base_url=f"{api.url}/v1", api_key="chat_00000000_wrong", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="test-model", messages=messages)
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk(api).chat.completions.create(model="no-such-model", messages=messages)
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        sdk(api).chat.completions.create(
            model="test-model", messages=[{"role": "assistant", "content": "Hi"}]
        )
    sdk(api, "slow").chat.completions.create(model="test-model", messages=messages)
    with pytest.raises(openai.RateLimitError) as limited:
        sdk(api, "slow").chat.completions.create(model="test-model", messages=messages)
    assert limited.value.code == "rate_limited"
    assert 0 < int(limited.value.response.headers["retry-after"]) <= 60


def test_raw_errors_are_in_openais_format(api):
    with http(api, who=None) as client:
        missing = client.get("/v1/models")
    with http(api) as client:
        not_json = client.post(
            "/v1/chat/completions",
            content=b"{nope",
            headers={"Content-Type": "application/json"},
        )
        no_messages = client.post("/v1/chat/completions", json={"model": "test-model"})
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    assert set(missing.json()["error"]) >= {"message", "type", "code"}
    assert not_json.status_code == 400
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["code"] == "bad_request"


def test_models_lists_what_a_person_may_pick(api):
    listed = sdk(api).models.list()

    assert listed.data[0].id == "test-model"


def test_a_token_that_keeps_no_calls_leaves_only_token_counts(api, upstream):
    upstream.script(text="Secret answer.", prompt_tokens=9)

    sdk(api, "quiet").chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "A secret"}]
    )

    deadline = time.monotonic() + 15
    while True:
        stored = api.query(
            "import json; from chat.models import Message; print(json.dumps(["
            "[m.content, m.conversation.title, m.prompt_tokens, m.completion_tokens, "
            "m.conversation.text_kept] for m in Message.objects.filter("
            "conversation__user__username='quiet').order_by('pk')]))"
        )
        if stored[0][0] == "" or time.monotonic() > deadline:
            break
    answered = len(split_tokens("Secret answer."))
    assert stored == [["", "", None, None, False], ["", "", 9, answered, False]]
    with http(api, "quiet") as client:
        assert client.get("/api/conversations/").json()["data"] == []


def test_an_answer_outlives_a_client_that_goes_away(api, upstream):
    upstream.script(tokens=count_tokens(30), delay=0.02)

    stream = stream_of(api, "Go on")
    next(chunk for chunk in stream if chunk.choices and chunk.choices[0].delta.content)
    stream.close()

    stored = until_finished(api)
    assert stored["messages"][-1]["status"] == "complete"
    assert stored["messages"][-1]["content"] == "".join(count_tokens(30))


def test_stop_over_the_api_ends_the_stream_with_the_text_so_far(api, upstream):
    upstream.script(tokens=count_tokens(400), delay=0.02)
    stream = stream_of(api, "Long")
    text = ""
    for chunk in stream:
        text += chunk.choices[0].delta.content or ""
        if text:
            break
    conversation = newest_conversation(api)
    with http(api) as client:
        stopped = client.post(f"/api/conversations/{conversation['id']}/stop")
    assert stopped.status_code == 202

    chunks = list(stream)

    assert chunks[-1].choices[0].finish_reason == "stop"
    text += "".join(c.choices[0].delta.content or "" for c in chunks)
    stored = until_finished(api)
    assert stored["messages"][-1]["status"] == "stopped"
    assert stored["messages"][-1]["content"] == text
    assert len(text) < len("".join(count_tokens(400)))


def test_another_persons_conversation_answers_like_a_missing_one(api):
    mine = api.alice_conversation
    with http(api, "bob") as bob:
        assert bob.get(f"/api/conversations/{mine}/").status_code == 404
        assert bob.post(f"/api/conversations/{mine}/stop").status_code == 404
        listed = bob.get("/api/conversations/").json()["data"]
    with http(api, "alice") as alice:
        assert alice.get(f"/api/conversations/{mine}/").json()["title"] == "Mine"
        assert alice.post(f"/api/conversations/{mine}/stop").status_code == 409
    assert mine not in [conversation["id"] for conversation in listed]


def test_creating_a_conversation_checks_its_model(api):
    with http(api, "bob") as bob:
        made = bob.post(
            "/api/conversations/", json={"title": "Plans", "system_prompt": "Terse."}
        )
        refused = bob.post("/api/conversations/", json={"model": "no-such-model"})
        listed = bob.get("/api/conversations/").json()["data"]
    assert made.status_code == 201
    assert made.json()["title"] == "Plans"
    assert made.json()["system_prompt"] == "Terse."
    assert refused.status_code == 404
    assert [conversation["title"] for conversation in listed] == ["Plans"]


def test_session_calls_work_and_need_the_csrf_token_to_change_anything(api):
    with httpx2.Client(base_url=api.url, timeout=10) as browser:
        browser.get("/accounts/login/")
        csrf = browser.cookies["csrftoken"]
        browser.post(
            "/accounts/login/",
            data={
                "username": "alice",
                "password": "a-long-api-password-7",
                "csrfmiddlewaretoken": csrf,
            },
        )
        csrf = browser.cookies["csrftoken"]
        read = browser.get("/api/conversations/")
        forged = browser.post("/api/conversations/", json={})
        made = browser.post(
            "/api/conversations/", json={}, headers={"X-CSRFToken": csrf}
        )
    assert read.status_code == 200
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf_failed"
    assert made.status_code == 201


def test_a_flagged_message_never_reaches_the_model_and_nothing_is_stored(api, upstream):
    with http(api, "bob") as bob:
        before = bob.get("/api/conversations/").json()["data"]

    with pytest.raises(openai.BadRequestError) as refused:
        sdk(api, "bob").chat.completions.create(
            model="test-model",
            messages=[{"role": "user", "content": f"Hi {MODERATION_MARKER}"}],
        )

    assert refused.value.code == "moderated"
    assert upstream.requests == []
    with http(api, "bob") as bob:
        assert bob.get("/api/conversations/").json()["data"] == before


def test_a_flagged_answer_ends_as_filtered_and_its_text_is_not_returned(api, upstream):
    upstream.script(text=f"Here is {MODERATION_MARKER} for you.")

    completion = sdk(api).chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "Tell me"}]
    )

    assert completion.choices[0].finish_reason == "content_filter"
    assert completion.choices[0].message.content == ""
    stored = newest_conversation(api)
    assert stored["messages"][-1]["content"] == ""
    assert stored["messages"][-1]["status"] == "failed"
