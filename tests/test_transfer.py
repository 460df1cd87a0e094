"""Export and import: our JSON round trip, ChatGPT's export, bad files, scoping."""

import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from chat.models import Conversation, Message
from chat.replies import tree
from chat.transfer import jobs
from chat.transfer.records import ImportFileError
from chat.transfer.store import import_file

pytestmark = pytest.mark.django_db

T0 = 1_700_000_000.0


def node(node_id, parent, children, role=None, parts=None, **extra):
    message = None
    if role:
        content = extra.pop("content", None) or {
            "content_type": "text",
            "parts": parts,
        }
        message = {
            "id": node_id,
            "author": {"role": role},
            "content": content,
            "create_time": T0 + len(node_id),
            "metadata": extra.pop("metadata", {}),
            **extra,
        }
    return node_id, {
        "id": node_id,
        "message": message,
        "parent": parent,
        "children": children,
    }


def chatgpt_export() -> list[dict]:
    """Three conversations as ChatGPT exports them: a regenerated answer (two
    children, the second shown), code, an image, a tool call; one in Chinese."""
    branched = dict(
        [
            node("root", None, ["sys"]),
            node("sys", "root", ["q1"], "system", [""]),
            node("q1", "sys", ["a1", "a2"], "user", ["Sort a list in Python?"]),
            node(
                "a1",
                "q1",
                [],
                "assistant",
                ["Use sorted()."],
                metadata={"model_slug": "gpt-4"},
            ),
            node(
                "a2",
                "q1",
                ["q2"],
                "assistant",
                ["Use `sorted`:\n\n```python\nprint(sorted([3, 1, 2]))\n```"],
                metadata={"model_slug": "gpt-4o"},
            ),
            node(
                "q2",
                "a2",
                ["call"],
                "user",
                None,
                content={
                    "content_type": "multimodal_text",
                    "parts": [
                        {"content_type": "image_asset_pointer", "asset_pointer": "x"},
                        "What is in this <script>alert(1)</script> picture?",
                    ],
                },
            ),
            node(
                "call",
                "q2",
                ["tool"],
                "assistant",
                None,
                content={"content_type": "code", "text": "look()"},
                recipient="python",
            ),
            node(
                "tool",
                "call",
                ["a3"],
                "tool",
                None,
                content={"content_type": "execution_output", "text": "ok"},
            ),
            node("a3", "tool", [], "assistant", ["A cat."]),
        ]
    )
    chinese = dict(
        [
            node("r", None, ["u"]),
            node("u", "r", ["b"], "user", ["你好，请介绍一下长城。"]),
            node("b", "u", [], "assistant", ["长城是**中国**古代的防御工程。"]),
        ]
    )
    return [
        {
            "title": "Sorting",
            "create_time": T0,
            "update_time": T0 + 100,
            "mapping": branched,
            "current_node": "a3",
        },
        {
            "title": "长城",
            "create_time": T0 + 200,
            "update_time": T0 + 300,
            "mapping": chinese,
            "current_node": "b",
        },
    ]


def as_bytes(document) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


def branch(conversation) -> list[Message]:
    by_id = conversation.messages.in_bulk()
    return [
        by_id[i] for i in tree.path_ids(conversation.pk, conversation.current_leaf_id)
    ]


def test_a_chatgpt_export_arrives_as_trees_on_the_branch_chatgpt_showed(alice):
    import_file(alice, as_bytes(chatgpt_export()))

    sorting = Conversation.objects.get(user=alice, title="Sorting")
    shown = branch(sorting)
    assert [m.role for m in shown] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "assistant",
    ]
    question, answer, picture, call, cat = shown
    # The regenerated answer: two children of the question, the second shown.
    assert [m.content for m in question.children.order_by("id")] == [
        "Use sorted().",
        answer.content,
    ]
    assert answer.model == "gpt-4o"
    assert '<div class="codehilite"' in answer.html  # rendered by the server
    assert picture.content.startswith("[image omitted]")
    assert call.content == "[tool call omitted]" and cat.content == "A cat."
    assert sorting.created_at.timestamp() == T0
    assert sorting.updated_at.timestamp() == T0 + 100
    assert question.created_at.timestamp() == T0 + 2
    assert not sorting.messages.filter(role="system").exists()


def test_imported_text_never_becomes_raw_html(alice):
    document = chatgpt_export()
    document[0]["mapping"]["a3"]["message"]["content"]["parts"] = [
        "<img src=x onerror=alert(1)> done"
    ]

    import_file(alice, as_bytes(document))

    answer = Message.objects.get(content__endswith="done")
    assert "<img" not in answer.html and "&lt;img" in answer.html
    picture = Message.objects.get(content__contains="picture")
    assert picture.html == ""  # a person's text is escaped where shown


def test_odd_values_import_or_are_refused_cleanly(alice):
    document = chatgpt_export()
    document[1]["mapping"]["u"]["message"]["content"]["parts"] = ["nul\x00here"]
    import_file(alice, as_bytes(document))
    assert Message.objects.filter(content="nulhere").exists()

    document[1]["create_time"] = 1e300
    with pytest.raises(ImportFileError, match="Conversation 2"):
        import_file(alice, as_bytes(document))


def test_a_chinese_conversation_keeps_its_text(alice):
    import_file(alice, as_bytes(chatgpt_export()))

    great_wall = Conversation.objects.get(title="长城")
    question, answer = branch(great_wall)
    assert question.content == "你好，请介绍一下长城。"
    assert "<strong>中国</strong>" in answer.html


def test_chatgpts_zip_is_read_too(alice):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("conversations.json", as_bytes(chatgpt_export()))
        archive.writestr("chat.html", "<html></html>")

    assert len(import_file(alice, buffer.getvalue())) == 2


def test_our_json_export_imports_back_to_the_same_tree(alice, bob):
    import_file(alice, as_bytes(chatgpt_export()))
    original = Conversation.objects.get(user=alice, title="Sorting")
    original.system_prompt = "Be brief."
    original.save()
    Message.objects.filter(pk=original.current_leaf_id).update(
        prompt_tokens=12, completion_tokens=34, ttft_ms=56, duration_ms=78
    )
    exported = Client()
    exported.force_login(alice)
    body = exported.get(
        reverse("export_conversation", args=[original.pk, "json"])
    ).content

    (copy,) = import_file(bob, body)

    def shape(conversation):
        messages = list(conversation.messages.order_by("id"))
        index = {m.pk: n for n, m in enumerate(messages)}
        return [
            (
                index.get(m.parent_id),
                m.role,
                m.content,
                m.model,
                m.prompt_tokens,
                m.completion_tokens,
                m.ttft_ms,
                m.duration_ms,
                m.created_at,
            )
            for m in messages
        ], index[conversation.current_leaf_id]

    copy.refresh_from_db()
    assert shape(copy) == shape(original)
    assert copy.user == bob and copy.system_prompt == "Be brief."
    assert (copy.title, copy.created_at) == (original.title, original.created_at)


def test_a_withheld_answer_is_not_in_a_persons_export(alice):
    conversation = Conversation.objects.create(user=alice, title="t")
    question = Message.objects.create(
        conversation=conversation, role="user", content="q"
    )
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="FORBIDDEN",
        parent=question,
        withheld=True,
    )
    after = Message.objects.create(
        conversation=conversation, role="user", content="next", parent=question
    )
    conversation.current_leaf = after
    conversation.save()
    client = Client()
    client.force_login(alice)

    for fmt in ("json", "markdown"):
        body = client.get(reverse("export_conversation", args=[conversation.pk, fmt]))
        assert b"FORBIDDEN" not in body.content
    archive = client.get(reverse("export_all", args=["json"])).content
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        document = json.loads(opened.read("conversations.json"))
    assert "FORBIDDEN" not in json.dumps(document)
    assert len(document["conversations"][0]["messages"]) == 2


def test_exporting_all_gives_a_zip_with_only_ones_own_conversations(alice, bob):
    import_file(alice, as_bytes(chatgpt_export()))
    Conversation.objects.create(user=bob, title="bob's secret")
    client = Client()
    client.force_login(alice)

    markdown = client.get(reverse("export_all", args=["markdown"]))

    with zipfile.ZipFile(io.BytesIO(markdown.content)) as opened:
        names = opened.namelist()
        texts = "".join(opened.read(n).decode() for n in names)
    assert len(names) == 2 and "bob's secret" not in texts
    assert "长城是**中国**古代的防御工程。" in texts and "A cat." in texts
    assert "Use sorted()." not in texts  # Markdown is the branch shown


def test_bob_cannot_export_alices_conversation(alice, bob):
    conversation = Conversation.objects.create(user=alice, title="private")
    client = Client()
    client.force_login(bob)

    for fmt in ("json", "markdown"):
        url = reverse("export_conversation", args=[conversation.pk, fmt])
        assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json at all", "not JSON"),
        (b'{"some": "thing"}', "neither ChatGPT"),
        (b"PK\x03\x04 broken", "damaged"),
        (b'{"format": "chatsite", "version": 99}', "version"),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_error(alice, body, says):
    with pytest.raises(ImportFileError, match=says):
        import_file(alice, body)


def test_a_file_bad_halfway_stores_nothing(alice):
    document = chatgpt_export()
    document.append({"title": "broken", "mapping": "not a mapping"})

    with pytest.raises(ImportFileError, match=r"Conversation 3 \(“broken”\)"):
        import_file(alice, as_bytes(document))

    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_a_failure_while_storing_rolls_the_whole_file_back(alice, monkeypatch):
    document = {
        "format": "chatsite",
        "version": 1,
        "conversations": [
            {"title": "one", "messages": [{"id": 1, "role": "user", "content": "a"}]},
            {"title": "two", "messages": [{"id": 1, "role": "user", "content": "b"}]},
        ],
    }
    real_bulk_create = Message.objects.bulk_create

    def fail_on_messages(*args, **kwargs):
        real_bulk_create(*args, **kwargs)
        raise RuntimeError("disk full")

    monkeypatch.setattr(Message.objects, "bulk_create", fail_on_messages)
    with pytest.raises(RuntimeError):
        import_file(alice, as_bytes(document))

    assert not Conversation.objects.exists() and not Message.objects.exists()


def test_a_file_over_the_limit_is_refused(alice, settings):
    settings.CHAT_IMPORT_MAX_BYTES = 100

    with pytest.raises(ImportFileError, match="larger than the import limit"):
        import_file(alice, as_bytes(chatgpt_export()))


def test_the_management_command_imports_for_the_named_user(alice, bob, tmp_path):
    path = tmp_path / "conversations.json"
    path.write_bytes(as_bytes(chatgpt_export()))
    out = io.StringIO()

    call_command("import_conversations", "bob", str(path), stdout=out)

    assert "Imported 2 conversations for bob" in out.getvalue()
    assert Conversation.objects.filter(user=bob).count() == 2
    assert not Conversation.objects.filter(user=alice).exists()
    path.write_bytes(b"[1, 2]")
    with pytest.raises(CommandError, match="malformed"):
        call_command("import_conversations", "bob", str(path))


@pytest.mark.django_db(transaction=True)
def test_an_upload_imports_into_the_uploaders_account_and_reports_progress(alice, bob):
    client = Client()
    client.force_login(bob)
    upload = io.BytesIO(as_bytes(chatgpt_export()))
    upload.name = "conversations.json"

    response = client.post(reverse("import_upload"), {"file": upload})

    job_id = response.url.split("job=")[1]
    jobs.wait(job_id)
    status = client.get(reverse("import_status", args=[job_id])).json()
    assert status == {
        "state": "done",
        "phase": "store",
        "done": 8,
        "total": 8,
        "imported": 2,
    }
    assert Conversation.objects.filter(user=bob).count() == 2
    assert not Conversation.objects.filter(user=alice).exists()
    # Another person cannot read the job's status.
    as_alice = Client()
    as_alice.force_login(alice)
    assert as_alice.get(reverse("import_status", args=[job_id])).status_code == 404
    page = client.get(response.url).content.decode()
    assert "import-progress.js" in page and 'id="import-bar"' in page


@pytest.mark.django_db(transaction=True)
def test_a_bad_upload_reports_its_error_and_stores_nothing(bob):
    client = Client()
    client.force_login(bob)
    upload = io.BytesIO(b"{oops")
    upload.name = "conversations.json"

    job_id = client.post(reverse("import_upload"), {"file": upload}).url.split("job=")[
        1
    ]
    jobs.wait(job_id)

    status = client.get(reverse("import_status", args=[job_id])).json()
    assert status["state"] == "failed" and "not JSON" in status["error"]
    assert not Conversation.objects.exists()


def test_an_upload_needs_a_csrf_token_and_a_login(bob):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(bob)
    upload = io.BytesIO(as_bytes(chatgpt_export()))
    upload.name = "conversations.json"

    assert strict.post(reverse("import_upload"), {"file": upload}).status_code == 403
    assert Client().get(reverse("transfer")).status_code == 302
    assert not Conversation.objects.exists()
