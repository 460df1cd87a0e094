"""The transcript as a tree: the branch its person sees first, then the others.

Each message carries `version` ("2 of 3") when it has siblings. The other
branches are listed one by one, each from where it leaves the shown branch, with
everything below it in tree order.
"""

from django.utils.translation import gettext

from chat.models import Conversation, Message
from chat.replies import tree


def transcript_tree(*, conversation: Conversation) -> tuple[list, list[list]]:
    """Return (the shown branch, the other branches as lists of messages)."""
    messages = list(conversation.messages.order_by("created_at", "id"))
    children: dict[int | None, list[Message]] = {}
    for message in messages:
        children.setdefault(message.parent_id, []).append(message)
    for message in messages:
        family = children[message.parent_id]
        message.version = (
            gettext("%(index)s of %(count)s")
            % {"index": family.index(message) + 1, "count": len(family)}
            if len(family) > 1
            else ""
        )
    on_path = set(tree.path_ids(conversation.pk, conversation.current_leaf_id))

    def below(message) -> list[Message]:
        # Depth first, without recursion: a branch may be thousands deep.
        found, stack = [], [message]
        while stack:
            found.append(stack.pop())
            stack.extend(reversed(children.get(found[-1].pk, ())))
        return found

    branches = [
        below(message)
        for message in messages
        if message.pk not in on_path
        and (message.parent_id is None or message.parent_id in on_path)
    ]
    return [m for m in messages if m.pk in on_path], branches
