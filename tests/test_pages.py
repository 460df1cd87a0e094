"""Pages: the chat list, a conversation, accounts."""

import pytest

from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_new_chat_creates_a_conversation_and_opens_it(alice_client, alice):
    response = alice_client.post("/c/new/")

    conversation = Conversation.objects.get(user=alice)
    assert response.status_code == 302
    assert response["Location"] == f"/c/{conversation.pk}/"


def test_new_chat_needs_a_post(alice_client):
    assert alice_client.get("/c/new/").status_code == 405


def test_the_sidebar_lists_conversations_newest_first(alice_client, alice):
    Conversation.objects.create(user=alice, title="Older chat")
    Conversation.objects.create(user=alice, title="Newer chat")

    page = alice_client.get("/").content.decode()

    assert page.index("Newer chat") < page.index("Older chat")


def test_a_conversation_page_shows_stored_html_not_rerendered_text(
    alice_client, conversation
):
    question = Message.objects.create(
        conversation=conversation, role="user", content="<b>hi</b>"
    )
    conversation.current_leaf = Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="**stored**",
        html="<p><strong>stored</strong></p>",
        parent=question,
    )
    conversation.save()

    page = alice_client.get(f"/c/{conversation.pk}/").content.decode()

    assert "<p><strong>stored</strong></p>" in page
    assert "&lt;b&gt;hi&lt;/b&gt;" in page and "<b>hi</b>" not in page
    assert f'"wsPath": "/ws/chat/{conversation.pk}/"' in page


def test_renaming_and_deleting_a_conversation(alice_client, conversation):
    alice_client.post(f"/c/{conversation.pk}/rename/", {"title": "Trip plans"})
    conversation.refresh_from_db()
    assert conversation.title == "Trip plans"

    response = alice_client.post(f"/c/{conversation.pk}/delete/")

    assert response.status_code == 302
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_signup_creates_a_user_and_logs_them_in(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "carol",
            "password1": "a-long-passphrase-77",
            "password2": "a-long-passphrase-77",
        },
    )

    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_signup_can_be_turned_off(client, settings):
    settings.CHAT_ALLOW_SIGNUP = False

    assert client.get("/accounts/signup/").status_code == 404


def test_login_and_logout(client, alice):
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "pw-alice"}
    )
    assert response.status_code == 302 and client.get("/").status_code == 200

    client.post("/accounts/logout/")

    assert client.get("/").status_code == 302


def test_unused_new_chats_stay_out_of_the_sidebar(alice_client, alice):
    unused = Conversation.objects.create(user=alice)
    Conversation.objects.create(user=alice, title="Used chat")

    home = alice_client.get("/").content.decode()
    shown = alice_client.get(f"/c/{unused.pk}/").content.decode()

    assert f'data-conversation-id="{unused.pk}"' not in home
    assert "Used chat" in home
    assert f'data-conversation-id="{unused.pk}"' in shown


def test_a_long_conversation_shows_its_recent_messages_and_a_link_to_all(
    alice_client, conversation, settings
):
    settings.CHAT_PAGE_MESSAGES = 3
    parent = None
    for i in range(5):
        parent = Message.objects.create(
            conversation=conversation, role="user", content=f"m{i}", parent=parent
        )
    conversation.current_leaf = parent
    conversation.save()

    page = alice_client.get(f"/c/{conversation.pk}/").content.decode()
    everything = alice_client.get(f"/c/{conversation.pk}/?all=1").content.decode()

    assert "m1<" not in page and all(f"m{i}<" in page for i in (2, 3, 4))
    assert "Show 2 earlier messages" in page
    assert all(f"m{i}<" in everything for i in range(5))
    assert "earlier message" not in everything


def test_a_wrong_password_says_so_and_keeps_the_username(client, alice):
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "not-it"}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in page and "correct username and password" in page
    assert 'value="alice"' in page
