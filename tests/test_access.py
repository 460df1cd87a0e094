"""Who may see what: every entry point goes through the user-scoped selector."""

import pytest

from chat.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)


async def test_an_anonymous_socket_is_closed_as_unauthenticated(conversation, connect):
    socket = await connect(None, conversation.pk)

    assert socket.close_code == 4401


async def test_bob_cannot_open_a_socket_on_alices_conversation(
    conversation, bob, connect
):
    socket = await connect(bob, conversation.pk)

    assert socket.close_code == 4404


async def test_a_socket_on_a_missing_conversation_is_closed_as_not_found(
    alice, connect
):
    socket = await connect(alice, 999999)

    assert socket.close_code == 4404


async def test_a_socket_from_a_foreign_origin_is_refused(alice, conversation, connect):
    socket = await connect(
        alice, conversation.pk, origin=(b"origin", b"http://evil.example")
    )

    assert socket.close_code is not None


def test_pages_need_a_logged_in_user(client, conversation):
    for url in ["/", f"/c/{conversation.pk}/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_bob_gets_not_found_for_everything_of_alices(client, conversation, bob):
    client.force_login(bob)

    assert client.get(f"/c/{conversation.pk}/").status_code == 404
    assert (
        client.post(f"/c/{conversation.pk}/rename/", {"title": "x"}).status_code == 404
    )
    assert client.post(f"/c/{conversation.pk}/delete/").status_code == 404
    conversation.refresh_from_db()
    assert conversation.title == ""


def test_bob_does_not_see_alices_conversations_in_his_sidebar(client, alice, bob):
    Conversation.objects.create(user=alice, title="Alice's secret plan")
    client.force_login(bob)

    assert "Alice&#x27;s secret plan" not in client.get("/").content.decode()
