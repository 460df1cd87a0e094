"""The conversations' streaming endpoints, under /api/ (chat/api/sse.py)."""

from django.urls import path

from chat.api import sse

urlpatterns = [
    path(
        "conversations/<int:conversation_id>/messages/",
        sse.post_message,
        name="api_conversation_messages",
    ),
    path(
        "conversations/<int:conversation_id>/events",
        sse.follow_events,
        name="api_conversation_events",
    ),
    path(
        "conversations/<int:conversation_id>/stop",
        sse.stop,
        name="api_conversation_stop",
    ),
    path(
        "conversations/<int:conversation_id>/frames/",
        sse.post_frame,
        name="api_conversation_frames",
    ),
]
