"""Search: one's own titles and messages, on SQLite's FTS5 table or PostgreSQL's
indexes (CI runs this file on both), snippets escaped and highlighted, opening a
result shows its branch."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from chat.models import Conversation, Message
from chat.search import search, snippet
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def say(conversation, content, *, role="user", parent=None, **fields):
    return Message.objects.create(
        conversation=conversation, role=role, content=content, parent=parent, **fields
    )


def chat(user, title, *contents):
    conversation = Conversation.objects.create(user=user, title=title)
    parent = None
    for i, content in enumerate(contents):
        parent = say(
            conversation,
            content,
            role="user" if i % 2 == 0 else "assistant",
            parent=parent,
        )
    conversation.current_leaf = parent
    conversation.save()
    return conversation


def found_ids(user, query):
    return [r.message_id for r in search(user=user, query=query) if r.message_id]


def test_a_word_of_a_message_finds_it_with_the_match_marked(alice):
    chat(alice, "Trip", "Plan a trip to Lisbon", "Day one: the Alfama district.")

    (result,) = search(user=alice, query="alfama")

    assert result.snippet == "Day one: the <mark>Alfama</mark> district."
    assert result.url == (
        f"/c/{result.conversation_id}/?m={result.message_id}"
        f"#message-{result.message_id}"
    )


def test_bob_does_not_find_alices_messages_or_titles(alice, bob):
    chat(alice, "Secret plans", "the launch code is swordfish")

    assert search(user=bob, query="swordfish") == []
    assert search(user=bob, query="secret") == []
    assert len(search(user=alice, query="swordfish")) == 1


def test_chinese_text_is_found_by_a_substring_without_spaces(alice):
    message_id = chat(alice, "水果", "我最喜欢吃的水果是苹果和香蕉").messages.get().pk

    assert found_ids(alice, "苹果和香蕉") == [message_id]
    assert found_ids(alice, "苹果") == [message_id]  # two characters: no trigram
    assert found_ids(alice, "葡萄") == []


def test_japanese_and_korean_substrings_are_found(alice):
    conversation = chat(alice, "", "東京の天気はどうですか", "서울의 날씨는 맑습니다")
    japanese, korean = conversation.messages.order_by("id")

    assert found_ids(alice, "天気は") == [japanese.pk]
    assert found_ids(alice, "날씨는") == [korean.pk]


def test_a_withheld_answer_is_not_found(alice):
    conversation = chat(alice, "", "tell me something")
    say(conversation, "forbidden recipe details", role="assistant", withheld=True)

    assert found_ids(alice, "recipe") == []


def test_an_answer_withheld_after_it_was_stored_leaves_the_results(alice):
    conversation = chat(alice, "", "tell me", "the hidden treasure is here")
    answer = conversation.messages.get(role="assistant")
    assert found_ids(alice, "treasure") == [answer.pk]

    # The reply path writes with .update(), as moderation does.
    Message.objects.filter(pk=answer.pk).update(withheld=True)

    assert found_ids(alice, "treasure") == []


def test_a_checkpointed_answer_is_found_by_its_new_text(alice):
    conversation = chat(alice, "", "count")
    answer = say(conversation, "", role="assistant", status="streaming")
    Message.objects.filter(pk=answer.pk).update(content="one two three elephants")

    assert found_ids(alice, "elephants") == [answer.pk]


def indexed_rowids():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rowid FROM chat_message_search")
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's FTS table; PostgreSQL indexes"
)
def test_a_streaming_answer_joins_the_sqlite_index_when_it_ends(alice):
    conversation = chat(alice, "", "count")
    answer = say(conversation, "", role="assistant", status="streaming")
    # Checkpoints rewrite the text; the index is left alone until the end.
    Message.objects.filter(pk=answer.pk).update(content="one two giraffes")
    assert answer.pk not in indexed_rowids()
    assert found_ids(alice, "giraffes") == [answer.pk]

    Message.objects.filter(pk=answer.pk).update(
        content="one two giraffes three", status="stopped"
    )

    assert answer.pk in indexed_rowids()
    assert found_ids(alice, "giraffes three") == [answer.pk]


def test_a_deleted_conversation_is_no_longer_found(alice):
    chat(alice, "", "ephemeral words").delete()

    assert search(user=alice, query="ephemeral") == []


def test_an_archived_conversation_is_found(alice):
    conversation = chat(alice, "", "archived knowledge")
    Conversation.objects.filter(pk=conversation.pk).update(archived=True)

    assert len(found_ids(alice, "knowledge")) == 1


def test_every_word_must_appear_in_a_message(alice):
    both = chat(alice, "", "django migrations explained").messages.get().pk
    chat(alice, "", "django templates")

    assert found_ids(alice, "migrations django") == [both]


def test_one_and_two_letter_queries_match_within_ones_own_messages(alice, bob):
    mine = chat(alice, "", "use Go for it").messages.get().pk
    chat(bob, "", "Go is nice")

    assert found_ids(alice, "go") == [mine]


def test_search_syntax_in_a_query_is_text_not_an_error(alice):
    chat(alice, "", 'he said "hi" AND NEAR(x) * 100% _done_')

    for query in ['"hi', "NEAR(x)", "*", "100%", "_done_", "AND", "'", "\\"]:
        search(user=alice, query=query)  # no exception
    assert len(found_ids(alice, "100%")) == 1
    assert found_ids(alice, "1%0") == []


def test_titles_match_before_messages(alice):
    conversation = chat(alice, "Bread baking", "how long to proof dough")

    first, *rest = search(user=alice, query="bread")

    assert first.message_id is None
    assert first.conversation_id == conversation.pk
    assert first.snippet == "<mark>Bread</mark> baking"
    assert rest == []


def test_a_snippet_escapes_the_text_and_marks_the_match():
    text = "<script>alert(1)</script> and then the needle & more"

    assert snippet(text, ["needle"]) == (
        "&lt;script&gt;alert(1)&lt;/script&gt; and then the "
        "<mark>needle</mark> &amp; more"
    )


def test_a_snippet_of_a_long_message_is_the_part_around_the_match():
    text = "a " * 500 + "needle" + " b" * 500

    result = snippet(text, ["needle"])

    assert result.startswith("…") and result.endswith("…")
    assert "<mark>needle</mark>" in result
    assert len(result) < 200


def test_the_rebuilt_index_finds_what_the_triggers_did(alice):
    conversation = chat(alice, "", "rebuild me please")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM chat_message_search")
        assert search(user=alice, query="rebuild") == []

    call_command("rebuild_search_index", stdout=io.StringIO())

    assert found_ids(alice, "rebuild") == [conversation.messages.get().pk]


def test_the_search_page_returns_highlighted_results_to_the_script(client, alice):
    chat(alice, "", "the <b>bold</b> claim")
    client.force_login(alice)

    response = client.get("/search/", {"q": "bold"}, headers={"X-Fragment": "1"})

    assert response.status_code == 200
    body = response.content.decode()
    assert "&lt;b&gt;<mark>bold</mark>&lt;/b&gt; claim" in body
    assert "<html" not in body


def test_the_search_page_without_script_is_the_whole_page(client, alice):
    chat(alice, "", "plain form submit")
    client.force_login(alice)

    response = client.get("/search/", {"q": "submit"})

    assert b"<html" in response.content
    assert b"<mark>submit</mark>" in response.content


def test_a_too_long_query_is_refused_with_a_reason(client, alice):
    client.force_login(alice)

    response = client.get("/search/", {"q": "x" * 201}, headers={"X-Fragment": "1"})

    assert response.status_code == 400
    assert b"at most 200 characters" in response.content


def test_search_needs_a_login(client):
    response = client.get("/search/", {"q": "x"})

    assert response.status_code == 302


def test_opening_a_result_on_another_branch_shows_that_branch(client, alice):
    conversation = chat(alice, "", "question")
    question = conversation.messages.get()
    old = say(conversation, "the first answer", role="assistant", parent=question)
    new = say(conversation, "the second answer", role="assistant", parent=question)
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=new)
    client.force_login(alice)

    response = client.get(f"/c/{conversation.pk}/", {"m": old.pk})

    conversation.refresh_from_db()
    assert conversation.current_leaf_id == old.pk
    body = response.content.decode()
    assert f'class="message message-assistant is-found" id="message-{old.pk}"' in body
    assert "the second answer" not in body


def test_opening_a_result_older_than_the_page_shows_the_whole_branch(
    client, alice, settings
):
    settings.CHAT_PAGE_MESSAGES = 2
    conversation = chat(alice, "", "first words", "a", "b", "c")
    first = conversation.messages.order_by("id").first()
    client.force_login(alice)

    response = client.get(f"/c/{conversation.pk}/", {"m": first.pk})

    assert b"first words" in response.content


def test_a_message_of_another_conversation_leaves_the_branch_alone(client, alice, bob):
    mine = chat(alice, "", "mine", "my answer")
    theirs = chat(bob, "", "theirs").messages.get()
    client.force_login(alice)

    response = client.get(f"/c/{mine.pk}/", {"m": theirs.pk})

    assert response.status_code == 200
    mine.refresh_from_db()
    assert mine.current_leaf.content == "my answer"
    assert b"is-found" not in response.content


def test_search_reads_one_person_at_a_time():
    alice, bob = make_user("alice"), make_user("bob")
    chat(alice, "", "shared word")
    chat(bob, "", "shared word")

    assert len(search(user=alice, query="shared")) == 1
    assert len(search(user=bob, query="shared")) == 1


def test_a_common_word_gives_the_newest_twenty_matches(alice, bob):
    conversation = chat(alice, "", "unrelated")
    mine = [say(conversation, f"common word number {i}").pk for i in range(25)]
    say(conversation, "nothing here")
    chat(bob, "", *["common word of bob"] * 3)

    assert found_ids(alice, "common word") == sorted(mine, reverse=True)[:20]
