"""The API's addresses: /v1 (OpenAI's protocol) and /api (the site's JSON)."""

from django.urls import path

from chat.api import completions, conversations

v1_patterns = [
    path("models", completions.models, name="v1_models"),
    path("chat/completions", completions.chat_completions, name="v1_chat_completions"),
]

api_patterns = [
    path("conversations/", conversations.conversation_list, name="api_conversations"),
    path(
        "conversations/<int:conversation_id>/",
        conversations.conversation_detail,
        name="api_conversation",
    ),
]
