"""Public links to a branch: a snapshot, owner-scoped, revocable, audited."""

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import AuditEntry, Conversation, Message, SharedLink
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def say(conversation, role, content, parent=None, **fields) -> Message:
    message = Message.objects.create(
        conversation=conversation, role=role, content=content, parent=parent, **fields
    )
    conversation.current_leaf = message
    conversation.save(update_fields=["current_leaf"])
    return message


@pytest.fixture
def chat(alice):
    conversation = Conversation.objects.create(user=alice, title="Sorting")
    question = say(conversation, "user", "How do I sort? <b>bold</b>")
    old = say(conversation, "assistant", "old", question, html="<p>OLD ANSWER</p>")
    say(conversation, "assistant", "new", question, html="<p>NEW ANSWER</p>")
    conversation.old_answer = old
    return conversation


def share(client, conversation, **data):
    response = client.post(reverse("share", args=[conversation.pk]), data)
    assert response.status_code == 302
    return SharedLink.objects.filter(conversation=conversation).first()


def test_a_link_shows_the_branch_as_shared_without_login_and_not_later_messages(
    alice, chat
):
    link = share(client_for(alice), chat)
    later = say(chat, "user", "a later question", chat.current_leaf)

    response = Client().get(link.get_absolute_url())

    page = response.content.decode()
    assert response.status_code == 200
    assert "NEW ANSWER" in page
    assert "OLD ANSWER" not in page  # the other branch
    assert later.content not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page  # the person's words, escaped
    assert "alice" not in page  # no name unless chosen
    assert len(link.token) >= 32


def test_the_shared_page_is_noindex_has_no_socket_and_only_the_copy_script(alice, chat):
    link = share(client_for(alice), chat)

    response = Client().get(link.get_absolute_url())

    page = response.content.decode()
    assert response["X-Robots-Tag"].startswith("noindex")
    assert '<meta name="robots" content="noindex' in page
    assert "Content-Security-Policy" in response.headers
    assert "/ws/" not in page and "main.js" not in page
    assert "chat/js/shared.js" in page


def test_a_link_shows_the_name_only_when_chosen(alice, chat):
    link = share(client_for(alice), chat, show_name="1")

    assert "Shared by alice" in Client().get(link.get_absolute_url()).content.decode()


def test_withheld_answers_never_show_on_a_shared_page(alice, chat):
    link = share(client_for(alice), chat)
    Message.objects.filter(pk=chat.current_leaf_id).update(withheld=True)

    page = Client().get(link.get_absolute_url()).content.decode()

    assert "NEW ANSWER" not in page


def test_updating_a_link_shows_the_branch_as_it_is_now(alice, chat):
    client = client_for(alice)
    link = share(client, chat)
    say(chat, "user", "a later question", chat.current_leaf)

    client.post(reverse("shared_link_update", args=[link.pk]))

    assert "a later question" in Client().get(link.get_absolute_url()).content.decode()


def test_a_revoked_link_is_a_404_like_an_unknown_one(alice, chat):
    client = client_for(alice)
    link = share(client, chat)

    client.post(reverse("shared_link_revoke", args=[link.pk]))

    assert Client().get(link.get_absolute_url()).status_code == 404
    assert Client().get("/s/not-a-token/").status_code == 404
    listed = client.get(reverse("shared_links")).content.decode()
    assert "Revoked" in listed


def test_creating_and_revoking_are_audited(alice, chat):
    client = client_for(alice)
    link = share(client, chat)
    client.post(reverse("shared_link_revoke", args=[link.pk]))

    entries = AuditEntry.objects.filter(conversation=chat).order_by("id")
    assert [(e.action, e.staff_username) for e in entries] == [
        ("share", "alice"),
        ("revoke", "alice"),
    ]
    assert entries[0].detail == f"link {link.pk} (owner)"


def test_bob_cannot_share_update_revoke_or_list_alices_links(alice, bob, chat):
    link = share(client_for(alice), chat)
    as_bob = client_for(bob)

    assert as_bob.post(reverse("share", args=[chat.pk])).status_code == 404
    for name in ("shared_link_update", "shared_link_revoke"):
        assert as_bob.post(reverse(name, args=[link.pk])).status_code == 404
    assert link.token not in as_bob.get(reverse("shared_links")).content.decode()
    link.refresh_from_db()
    assert link.is_active and SharedLink.objects.count() == 1


def test_a_chat_with_nothing_finished_cannot_be_shared(alice):
    empty = Conversation.objects.create(user=alice)

    response = client_for(alice).post(reverse("share", args=[empty.pk]), follow=True)

    assert "There is nothing to share yet." in response.content.decode()
    assert not SharedLink.objects.exists()


def test_continue_copies_the_snapshot_into_the_visitors_account(alice, bob, chat):
    chat.system_prompt = "secret instructions"
    chat.save()
    link = share(client_for(alice), chat)
    say(chat, "user", "a later question", chat.current_leaf)

    response = client_for(bob).post(reverse("shared_continue", args=[link.token]))

    copy = Conversation.objects.get(user=bob)
    assert response.url == copy.get_absolute_url()
    path = list(copy.messages.order_by("id"))
    assert [m.content for m in path] == ["How do I sort? <b>bold</b>", "new"]
    assert path[1].parent == path[0] and copy.current_leaf == path[1]
    assert path[1].html == "<p>NEW ANSWER</p>"
    assert copy.system_prompt == "" and path[1].prompt_tokens is None
    assert Conversation.objects.filter(user=alice).count() == 1


def test_continue_needs_a_login_and_a_live_link(alice, chat):
    link = share(client_for(alice), chat)

    anonymous = Client().post(reverse("shared_continue", args=[link.token]))
    link.revoked_at = link.created_at
    link.save()
    revoked = client_for(make_user("carol")).post(
        reverse("shared_continue", args=[link.token])
    )

    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.url
    assert revoked.status_code == 404


def test_staff_see_and_revoke_links_in_the_transcript(alice, chat, admin_client):
    link = share(client_for(alice), chat)
    transcript = reverse("admin:chat_conversation_change", args=[chat.pk])

    assert link.get_absolute_url() in admin_client.get(transcript).content.decode()
    admin_client.post(
        reverse("admin:chat_conversation_revoke_link", args=[chat.pk, link.pk])
    )

    assert Client().get(link.get_absolute_url()).status_code == 404
    revoke = AuditEntry.objects.get(action="revoke")
    assert revoke.staff_username == "admin" and revoke.detail.endswith("(staff)")
