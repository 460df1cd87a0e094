"""Accounts and deletions reach open sockets and running answers, on every process.

Signing out, a new password (which changes the session's auth hash) or
deactivation closes the person's sockets with 4401, which the page reads as "log
in again", through a group per person that every socket joins. Deleting a
conversation or a person, or deactivating them, stops their running answers.
Everything is sent after the commit, so a rolled-back change sends nothing.
"""

import hashlib

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from chat.models import Conversation, Message

# The fields a session depends on: the password (its auth hash) and is_active.
CREDENTIALS = ("password", "is_active")


def user_group_name(user_id: int) -> str:
    return f"chat.user.{int(user_id)}"


def session_id(session) -> str:
    """Name a session on the channel layer without its key, which is a credential."""
    return hashlib.sha256((session.session_key or "").encode()).hexdigest()[:32]


def close_sockets(user_id: int, *, session: str | None = None) -> None:
    """Close a person's sockets (only one session's, if named) after the commit."""
    event = {"type": "user.signed_out"}
    if session:
        event["session"] = session
    send = async_to_sync(get_channel_layer().group_send)
    transaction.on_commit(lambda: send(user_group_name(user_id), event))


def stop_runs(messages) -> None:
    """Stop the running answers among these messages after the commit."""
    channels = list(
        messages.filter(status=Message.Status.STREAMING)
        .exclude(run_channel="")
        .values_list("run_channel", flat=True)
    )
    if channels:
        transaction.on_commit(lambda: async_to_sync(_send_stops)(channels))


async def _send_stops(channels: list[str]) -> None:
    # The run stops as on the Stop button; its final write then finds no row
    # (deleted) or writes `stopped` (deactivated), and it ends quietly.
    layer = get_channel_layer()
    for channel in channels:
        await layer.send(channel, {"type": "run.stop"})


@receiver(user_logged_out)
def _signed_out(sender, request, user, **kwargs):
    # Only this session's sockets: the person's other devices stay signed in.
    if user is not None:
        close_sockets(user.pk, session=session_id(request.session))


@receiver(pre_save, sender=settings.AUTH_USER_MODEL)
def _remember_credentials(sender, instance, update_fields=None, **kwargs):
    if instance.pk is None:
        return
    if update_fields is not None and not set(CREDENTIALS) & set(update_fields):
        return  # e.g. last_login on every login: no query
    instance._stored_credentials = (
        sender.objects.filter(pk=instance.pk).values_list(*CREDENTIALS).first()
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _credentials_changed(sender, instance, **kwargs):
    stored = instance.__dict__.pop("_stored_credentials", None)
    if stored is None:
        return
    password, was_active = stored
    deactivated = was_active and not instance.is_active
    if deactivated or instance.password != password:
        close_sockets(instance.pk)
    if deactivated:
        stop_runs(Message.objects.filter(conversation__user_id=instance.pk))


@receiver(pre_delete, sender=Conversation)
def _conversation_deleted(sender, instance, **kwargs):
    # Also for each conversation of a person being deleted (the cascade).
    stop_runs(instance.messages.all())


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def _user_deleted(sender, instance, **kwargs):
    close_sockets(instance.pk)
