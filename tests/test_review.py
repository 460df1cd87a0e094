"""Transcript review in the admin: who may read, flags, exports, audit and usage.

Alice chats; Bob is staff with the review permission; Charlie is staff without it
and should see nothing of anyone's transcripts; root is a superuser.
"""

import datetime
import json
import re
from collections import defaultdict
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

from chat.models import AuditEntry, Conversation, Flag, Message
from chat.rendering import render_markdown
from tests.conftest import make_user
from tests.hostile_corpus import HOSTILE_CASES

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chat/conversation/"


def transcript_url(conversation) -> str:
    return f"{CHANGELIST}{conversation.pk}/change/"


def staff(username: str, *permissions: str):
    user = make_user(username)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    for codename in permissions:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="chat", codename=codename)
        )
    return user


@pytest.fixture
def bob(db):
    return staff("bob", "review_transcripts")


@pytest.fixture
def charlie(db):
    return staff("charlie")


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", password="pw-root")


@pytest.fixture
def as_bob(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture
def as_charlie(client, charlie):
    client.force_login(charlie)
    return client


@pytest.fixture
def as_root(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def chat(alice):
    """Alice's conversation: a question, a good answer and a failed retry."""
    conversation = Conversation.objects.create(
        user=alice, title="Lighthouse trip", model="gpt-test"
    )
    question = Message.objects.create(
        conversation=conversation,
        role="user",
        content="<script>alert('hi')</script> Where do the lighthouse keepers live?",
    )
    answer_text = "They live **on site**.\n\n```python\nprint('keeper')\n```"
    answer = Message.objects.create(
        conversation=conversation,
        role="assistant",
        content=answer_text,
        html=render_markdown(answer_text),
        model="gpt-test",
        prompt_tokens=12,
        completion_tokens=30,
        ttft_ms=210,
        duration_ms=1500,
        finish_reason="stop",
        parent=question,
    )
    failed = Message.objects.create(
        conversation=conversation,
        role="assistant",
        status=Message.Status.FAILED,
        model="gpt-other",
        error="Upstream said 503\nService unavailable",
        prompt_tokens=12,
        parent=question,
    )
    # The failed retry is the branch shown; the good answer is its sibling.
    conversation.current_leaf = failed
    conversation.save(update_fields=["current_leaf"])
    return conversation, question, answer, failed


@pytest.fixture
def bobs_chat(db):
    """A conversation of another user, with nothing wrong in it."""
    dora = make_user("dora")
    conversation = Conversation.objects.create(user=dora, title="Sourdough")
    Message.objects.create(conversation=conversation, role="user", content="Bread?")
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="Flour and water.",
        html="<p>Flour and water.</p>",
        prompt_tokens=5,
        completion_tokens=4,
    )
    return conversation


def listed(response) -> set[int]:
    return {conversation.pk for conversation in response.context["cl"].result_list}


class Tags(HTMLParser):
    """Collect every start tag and its attributes, as a browser would build them."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def transcript_part(page: str) -> str:
    start = page.index('<div id="transcript">')
    return page[start : page.index("</div><!-- end transcript -->", start)]


# Who may look.


def test_bob_sees_the_list_with_counts_tokens_and_badges(as_bob, chat, bobs_chat):
    conversation, *_ = chat
    Flag.objects.create(conversation=conversation, reason=Flag.Reason.OTHER)

    response = as_bob.get(CHANGELIST)

    assert response.status_code == 200
    assert listed(response) == {conversation.pk, bobs_chat.pk}
    row = next(c for c in response.context["cl"].result_list if c == conversation)
    assert (row.message_count, row.total_tokens) == (3, 12 + 30 + 12)
    page = response.content.decode()
    assert "Lighthouse trip" in page and "alice" in page
    assert "review-badge-failed" in page and "1 failed" in page
    assert "1 flagged" in page
    # The list never shows what was said.
    assert "lighthouse keepers" not in page


def test_charlie_staff_without_the_permission_sees_nothing(as_charlie, chat):
    conversation, *_ = chat

    assert as_charlie.get(CHANGELIST).status_code == 403
    assert as_charlie.get(transcript_url(conversation)).status_code == 403
    assert as_charlie.get(f"{CHANGELIST}usage/").status_code == 403
    export = f"{CHANGELIST}{conversation.pk}/export/markdown/"
    assert as_charlie.get(export).status_code == 403
    flag = as_charlie.post(f"{CHANGELIST}{conversation.pk}/flag/", {"reason": "other"})
    assert flag.status_code == 403
    assert as_charlie.get("/admin/chat/flag/").status_code == 403
    assert "/admin/chat/" not in as_charlie.get("/admin/").content.decode()
    assert not Flag.objects.exists() and not AuditEntry.objects.exists()


def test_alice_a_normal_user_is_sent_to_the_admin_login(client, alice, chat):
    conversation, *_ = chat
    client.force_login(alice)

    for url in [CHANGELIST, transcript_url(conversation), f"{CHANGELIST}usage/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    assert not AuditEntry.objects.exists()


def test_the_view_permission_alone_lets_staff_read_transcripts(client, chat):
    conversation, *_ = chat
    client.force_login(staff("viewer", "view_conversation"))

    assert client.get(CHANGELIST).status_code == 200
    assert client.get(transcript_url(conversation)).status_code == 200


# Finding problems.


def test_the_list_filters_by_user_model_status_flag_and_date(as_bob, chat, bobs_chat):
    conversation, *_ = chat
    Flag.objects.create(conversation=bobs_chat, reason=Flag.Reason.OTHER)

    by_user = as_bob.get(CHANGELIST, {"user__id__exact": conversation.user_id})
    by_model = as_bob.get(CHANGELIST, {"model": "gpt-other"})
    failed = as_bob.get(CHANGELIST, {"status": "failed"})
    flagged = as_bob.get(CHANGELIST, {"flagged": "open"})
    unflagged = as_bob.get(CHANGELIST, {"flagged": "none"})
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    today = as_bob.get(CHANGELIST, {"updated_at__gte": str(midnight)})
    long_ago = as_bob.get(CHANGELIST, {"updated_at__lt": "2000-01-01 00:00:00+00:00"})

    assert listed(by_user) == {conversation.pk}
    assert listed(by_model) == {conversation.pk}
    assert listed(failed) == {conversation.pk}
    assert listed(flagged) == {bobs_chat.pk}
    assert listed(unflagged) == {conversation.pk}
    assert listed(today) == {conversation.pk, bobs_chat.pk}
    assert listed(long_ago) == set()
    # Filtering on messages must not repeat rows or inflate the counts.
    assert [c.message_count for c in failed.context["cl"].result_list] == [3]
    facets = as_bob.get(CHANGELIST, {"_facets": "True"}).content.decode()
    assert "Failed (1)" in facets and "Open flags (1)" in facets


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("Lighthouse", {"chat"}),  # title
        ("dora", {"bobs_chat"}),  # username
        ("water", {"bobs_chat"}),  # an answer's text
        ("keepers", {"chat"}),  # a question's text
        ("nothing-like-this", set()),
    ],
)
def test_search_matches_title_username_and_message_text(
    as_bob, chat, bobs_chat, term, found
):
    pks = {"chat": chat[0].pk, "bobs_chat": bobs_chat.pk}

    response = as_bob.get(CHANGELIST, {"q": term})

    assert listed(response) == {pks[name] for name in found}


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="full-text search is PostgreSQL's"
)
def test_search_on_postgresql_matches_other_forms_of_a_word(as_bob, chat, bobs_chat):
    # Neither word is in the text as written ("keepers live"): stemming finds both.
    response = as_bob.get(CHANGELIST, {"q": "lives keeper"})

    assert listed(response) == {chat[0].pk}


# Reading a transcript.


def test_the_transcript_shows_each_message_with_its_metadata(as_bob, chat):
    conversation, question, answer, _ = chat

    page = as_bob.get(transcript_url(conversation)).content.decode()

    body = transcript_part(page)
    assert answer.html in body
    assert "&lt;script&gt;alert(&#x27;hi&#x27;)&lt;/script&gt;" in body
    assert "12 in, 30 out, 42 total" in body
    assert "First token: 210 ms" in body and "Duration: 1500 ms" in body
    assert "Model: gpt-test" in body and "Finish: stop" in body
    assert "Upstream said 503" in body and "review-badge-failed" in body
    assert body.index(f'id="message-{question.pk}"') < body.index(
        f'id="message-{answer.pk}"'
    )


def test_the_transcript_uses_stored_html_and_never_rerenders_the_text(
    as_bob, conversation
):
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="**raw markdown**",
        html="<p>what the person saw</p>",
    )

    body = transcript_part(as_bob.get(transcript_url(conversation)).content.decode())

    assert "<p>what the person saw</p>" in body
    assert "raw markdown" not in body


def test_no_hostile_markup_reaches_the_transcript(as_bob, conversation):
    for _name, text in HOSTILE_CASES:
        Message.objects.create(conversation=conversation, role="user", content=text)
        Message.objects.create(
            conversation=conversation,
            role="assistant",
            content=text,
            html=render_markdown(text),
        )
    # A system or user message with html must not be trusted either.
    Message.objects.create(
        conversation=conversation,
        role="user",
        content="<img src=x onerror=alert(1)>",
        html="<img src=x onerror=alert(1)>",
    )

    body = transcript_part(as_bob.get(transcript_url(conversation)).content.decode())

    banned = {"script", "iframe", "object", "embed", "style", "base", "meta", "link"}
    for tag, attrs in Tags(body).tags:
        assert tag not in banned | {"svg", "math"}
        # The only forms are the admin's own flag forms.
        if tag == "form":
            assert attrs["action"].startswith(f"{CHANGELIST}{conversation.pk}/")
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert "javascript:" not in (value or "").lower(), (tag, name)


def test_messages_are_read_only_even_for_a_superuser(as_root, chat):
    conversation, question, *_ = chat
    edit = {"content": "Alice said something else", "title": "Edited"}

    assert as_root.post(transcript_url(conversation), edit).status_code == 403
    message_page = f"/admin/chat/message/{question.pk}/change/"
    assert as_root.post(message_page, edit).status_code == 404
    assert as_root.post("/admin/chat/conversation/add/", edit).status_code == 403

    question.refresh_from_db()
    conversation.refresh_from_db()
    assert question.content.startswith("<script>alert('hi')</script>")
    assert conversation.title == "Lighthouse trip"


# Flags.


def test_bob_flags_a_message_and_then_clears_the_flag(as_bob, bob, chat):
    conversation, _, answer, _ = chat
    flag_url = f"{CHANGELIST}{conversation.pk}/flag/"

    response = as_bob.post(
        flag_url, {"message": answer.pk, "reason": "inaccurate", "note": "Wrong"}
    )

    assert response.status_code == 302
    assert response["Location"].endswith(f"#message-{answer.pk}")
    flag = Flag.objects.get()
    assert (flag.conversation, flag.message, flag.created_by) == (
        conversation,
        answer,
        bob,
    )
    assert (flag.reason, flag.note, flag.is_open) == ("inaccurate", "Wrong", True)
    assert listed(as_bob.get(CHANGELIST, {"flagged": "open"})) == {conversation.pk}
    page = as_bob.get(transcript_url(conversation)).content.decode()
    assert "Wrong or misleading" in page

    as_bob.post(f"{CHANGELIST}{conversation.pk}/flags/{flag.pk}/clear/")

    flag.refresh_from_db()
    assert flag.cleared_by == bob and flag.cleared_at is not None
    assert listed(as_bob.get(CHANGELIST, {"flagged": "open"})) == set()
    assert listed(as_bob.get(CHANGELIST, {"flagged": "cleared"})) == {conversation.pk}


def test_bob_flags_a_whole_conversation(as_bob, chat):
    conversation, *_ = chat

    as_bob.post(f"{CHANGELIST}{conversation.pk}/flag/", {"reason": "privacy"})

    flag = Flag.objects.get()
    assert (flag.conversation, flag.message, flag.reason) == (
        conversation,
        None,
        "privacy",
    )


def test_a_message_of_another_conversation_cannot_be_flagged_here(
    as_bob, chat, bobs_chat
):
    conversation, *_ = chat
    elsewhere = bobs_chat.messages.first()

    response = as_bob.post(
        f"{CHANGELIST}{conversation.pk}/flag/",
        {"message": elsewhere.pk, "reason": "other"},
    )

    assert response.status_code == 404
    assert not Flag.objects.exists()


def test_flagging_needs_a_post_and_a_reason(as_bob, chat):
    conversation, *_ = chat
    flag_url = f"{CHANGELIST}{conversation.pk}/flag/"

    assert as_bob.get(flag_url).status_code == 405
    as_bob.post(flag_url, {"reason": "not-a-reason"})

    assert not Flag.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/chat/flag/abc/change/",
        "/admin/chat/flag/1x/change/",
        "/admin/chat/flag/99999999999999999999999/change/",
    ],
)
def test_a_flag_id_that_is_not_a_number_is_not_found(as_bob, chat, path):
    as_bob.raise_request_exception = False

    assert as_bob.get(path).status_code == 404


def test_the_flag_queue_lists_open_flags_and_clears_them_in_bulk(as_bob, chat, bob):
    conversation, _, answer, failed = chat
    first = Flag.objects.create(
        conversation=conversation, message=answer, reason="other"
    )
    second = Flag.objects.create(
        conversation=conversation, message=failed, reason="broken"
    )

    queue = as_bob.get("/admin/chat/flag/", {"state": "open"})
    assert {f.pk for f in queue.context["cl"].result_list} == {first.pk, second.pk}

    as_bob.post(
        "/admin/chat/flag/",
        {"action": "clear_flags", "_selected_action": [first.pk, second.pk]},
    )

    assert not Flag.objects.filter(cleared_at__isnull=True).exists()
    assert set(Flag.objects.values_list("cleared_by", flat=True)) == {bob.pk}
    queue = as_bob.get("/admin/chat/flag/", {"state": "open"})
    assert list(queue.context["cl"].result_list) == []


# Exports.


def parse_markdown(text: str) -> list[dict]:
    """Read an export back: headings, `- Key: value` lines and fenced text."""
    conversations: list[dict] = []
    target: dict = {}
    lines = iter(text.split("\n"))
    for line in lines:
        if line.startswith("# "):
            target = {"title": line[2:], "messages": []}
            conversations.append(target)
        elif match := re.fullmatch(r"## \d+\. (\w+) \(message (\d+)\)", line):
            target = {"role": match[1], "id": int(match[2])}
            conversations[-1]["messages"].append(target)
        elif match := re.fullmatch(r"- ([^:]+): (.*)", line):
            target[match[1]] = match[2]
        elif match := re.fullmatch(r"(`{3,})text", line):
            content = []
            for inner in lines:
                if inner == match[1]:
                    break
                content.append(inner)
            target["content"] = "\n".join(content)
    return conversations


def shown(value) -> str:
    return "-" if value in (None, "") else " ".join(str(value).split())


def test_markdown_export_holds_every_message_with_its_metadata(as_bob, chat):
    conversation, *_ = chat

    response = as_bob.get(f"{CHANGELIST}{conversation.pk}/export/markdown/")

    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    [exported] = parse_markdown(response.content.decode())
    assert exported["title"] == "Lighthouse trip"
    assert exported["User"] == "alice" and exported["Model"] == "gpt-test"
    messages = list(conversation.messages.all())
    assert [m["id"] for m in exported["messages"]] == [m.pk for m in messages]
    for got, message in zip(exported["messages"], messages, strict=True):
        assert got["role"] == message.role
        assert got["content"] == message.content
        assert got["Status"] == message.status
        assert got["Time"] == message.created_at.isoformat()
        assert got["Model"] == shown(message.model)
        assert got["Prompt tokens"] == shown(message.prompt_tokens)
        assert got["Completion tokens"] == shown(message.completion_tokens)
        assert got["Total tokens"] == shown(message.total_tokens)
        assert got["Time to first token (ms)"] == shown(message.ttft_ms)
        assert got["Duration (ms)"] == shown(message.duration_ms)
        assert got["Error"] == shown(message.error)


def test_jsonl_export_of_several_conversations_from_the_list(as_bob, chat, bobs_chat):
    conversation, *_ = chat

    response = as_bob.post(
        CHANGELIST,
        {
            "action": "export_jsonl",
            "_selected_action": [conversation.pk, bobs_chat.pk],
        },
    )

    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    lines = response.content.decode().splitlines()
    exported = {record["id"]: record for record in map(json.loads, lines)}
    assert set(exported) == {conversation.pk, bobs_chat.pk}
    for source in [conversation, bobs_chat]:
        record = exported[source.pk]
        assert record["title"] == source.title
        assert record["user"] == source.user.username
        assert record["messages"] == [
            {
                "id": m.pk,
                "role": m.role,
                "status": m.status,
                "created_at": m.created_at.isoformat(),
                "model": m.model,
                "prompt_tokens": m.prompt_tokens,
                "completion_tokens": m.completion_tokens,
                "total_tokens": m.total_tokens,
                "ttft_ms": m.ttft_ms,
                "duration_ms": m.duration_ms,
                "finish_reason": m.finish_reason,
                "error": m.error,
                "parent_id": m.parent_id,
                "content": m.content,
                "html": m.html,
            }
            for m in source.messages.all()
        ]


def test_markdown_export_of_several_conversations_from_the_list(
    as_bob, chat, bobs_chat
):
    response = as_bob.post(
        CHANGELIST,
        {"action": "export_markdown", "_selected_action": [chat[0].pk, bobs_chat.pk]},
    )

    exported = parse_markdown(response.content.decode())
    assert sorted(c["title"] for c in exported) == ["Lighthouse trip", "Sourdough"]
    assert sum(len(c["messages"]) for c in exported) == 5


# The audit.


def test_opening_and_exporting_a_transcript_write_audit_rows(as_bob, bob, chat):
    conversation, *_ = chat

    as_bob.get(transcript_url(conversation))
    as_bob.get(f"{CHANGELIST}{conversation.pk}/export/jsonl/")

    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.staff, e.action, e.detail) for e in entries] == [
        (bob, "view", ""),
        (bob, "export", "jsonl"),
    ]
    assert {e.conversation_pk for e in entries} == {conversation.pk}
    assert all(e.conversation_title == "Lighthouse trip" for e in entries)


def test_a_bulk_export_writes_one_audit_row_per_conversation(as_bob, chat, bobs_chat):
    as_bob.post(
        CHANGELIST,
        {"action": "export_markdown", "_selected_action": [chat[0].pk, bobs_chat.pk]},
    )

    assert set(AuditEntry.objects.values_list("conversation_pk", "action")) == {
        (chat[0].pk, "export"),
        (bobs_chat.pk, "export"),
    }


def test_a_search_of_message_text_writes_an_audit_row_with_the_query(as_bob, bob, chat):
    as_bob.get(CHANGELIST)
    as_bob.get(CHANGELIST, {"flagged": "open"})
    assert not AuditEntry.objects.exists(), "only a search is recorded"

    response = as_bob.get(CHANGELIST, {"q": "lighthouse keepers"})

    assert listed(response) == {chat[0].pk}
    entry = AuditEntry.objects.get()
    assert (entry.staff, entry.staff_username, entry.action, entry.detail) == (
        bob,
        "bob",
        "search",
        "lighthouse keepers",
    )
    assert (entry.conversation, entry.conversation_pk) == (None, None)
    assert str(entry) == "bob search lighthouse keepers"


def test_a_long_search_query_is_recorded_whole(as_bob, chat):
    query = "keepers " * 100

    as_bob.get(CHANGELIST, {"q": query})

    assert AuditEntry.objects.get().detail == query


def test_audit_rows_outlive_the_conversation(as_bob, chat):
    conversation, *_ = chat
    as_bob.get(transcript_url(conversation))
    pk = conversation.pk

    conversation.delete()

    entry = AuditEntry.objects.get()
    assert (entry.conversation, entry.conversation_pk) == (None, pk)


def test_only_superusers_list_audit_rows_and_nobody_edits_or_deletes_them(
    client, as_bob, root, chat
):
    conversation, *_ = chat
    as_bob.get(transcript_url(conversation))
    entry = AuditEntry.objects.get()

    assert as_bob.get("/admin/chat/auditentry/").status_code == 403
    client.force_login(root)
    assert client.get("/admin/chat/auditentry/").status_code == 200
    edit = {"staff_username": "nobody", "action": "export"}
    url = f"/admin/chat/auditentry/{entry.pk}"
    assert client.post(f"{url}/change/", edit).status_code == 403
    assert client.post(f"{url}/delete/", {"post": "yes"}).status_code == 403
    assert client.post("/admin/chat/auditentry/add/", edit).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    client.post("/admin/chat/auditentry/", bulk)

    entry.refresh_from_db()
    assert entry.staff_username == "bob" and entry.action == "view"


# Usage.


class Chart(HTMLParser):
    """Read the numbers the usage page draws and tabulates."""

    def __init__(self, text: str):
        super().__init__()
        self.bars: dict[tuple[str, str], int] = {}
        self.rows: dict[tuple[str, str], int] = {}
        self.day_totals: dict[str, int] = {}
        self.day = ""
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "g" and "data-day" in attrs:
            self.day = attrs["data-day"]
            self.day_totals[self.day] = int(attrs["data-total"])
        elif tag == "rect" and "data-user" in attrs:
            self.bars[self.day, attrs["data-user"]] = int(attrs["data-tokens"])
        elif tag == "tr" and "data-user" in attrs:
            key = (attrs["data-day"], attrs["data-user"])
            self.rows[key] = int(attrs["data-tokens"])


def test_the_usage_chart_and_table_match_the_database(as_bob, alice, bobs_chat):
    conversation = Conversation.objects.create(user=alice)
    now = timezone.now()
    for days_ago, user_conversation, prompt, completion in [
        (0, conversation, 100, 250),
        (0, conversation, 10, None),
        (0, bobs_chat, 7, 8),
        (3, conversation, 40, 60),
        (29, bobs_chat, 1, 2),
        (30, conversation, 1000, 1000),  # a day too old
    ]:
        message = Message.objects.create(
            conversation=user_conversation,
            role="assistant",
            prompt_tokens=prompt,
            completion_tokens=completion,
        )
        created = now - datetime.timedelta(days=days_ago)
        Message.objects.filter(pk=message.pk).update(created_at=created)

    page = as_bob.get(f"{CHANGELIST}usage/").content.decode()

    first_day = timezone.localdate() - datetime.timedelta(days=29)
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for message in Message.objects.select_related("conversation__user"):
        day = timezone.localdate(message.created_at)
        if day >= first_day and message.total_tokens:
            key = (day.isoformat(), message.conversation.user.username)
            expected[key] += message.total_tokens
    chart = Chart(page)
    assert chart.bars == expected == chart.rows
    assert len(chart.day_totals) == 30
    # Alice: 360 today and 100 three days ago; Dora: 15 + 9 today and 3 at the edge.
    assert sum(chart.day_totals.values()) == sum(expected.values()) == 487
    assert f'<strong id="usage-total">{sum(expected.values())}</strong>' in page
    assert "<script" not in page.split('<svg class="usage-chart"')[1].split("</svg>")[0]
