"""Statements built once (chat/prepared.py) keep the ORM's guards."""

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError

from chat import prepared
from chat.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(
    not connection.features.has_select_for_update,
    reason="SQLite takes no row locks: nothing to guard",
)
def test_a_locked_read_outside_a_transaction_is_refused_every_time(alice):
    conversation = Conversation.objects.create(user=alice)
    with transaction.atomic():  # the statement is built and cached here
        assert prepared.get_locked(Conversation, "pk", conversation.pk) == conversation

    with pytest.raises(TransactionManagementError):
        prepared.get_locked(Conversation, "pk", conversation.pk)
