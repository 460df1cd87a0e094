"""What an import produces from any format, before anything is stored."""

import datetime
from dataclasses import dataclass, field


@dataclass
class ImportedMessage:
    key: str  # its id in the file, unique within its conversation
    parent_key: str | None  # always a message listed before this one
    role: str  # "user" or "assistant"
    content: str
    created_at: datetime.datetime | None = None
    status: str = "complete"
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: int | None = None
    duration_ms: int | None = None
    finish_reason: str = ""
    error: str = ""
    # Set only for copies of our own stored messages; a file's HTML is never
    # trusted: its answers are rendered again from their text.
    html: str | None = None


@dataclass
class ImportedConversation:
    title: str
    messages: list[ImportedMessage] = field(default_factory=list)
    current_key: str | None = None
    model: str = ""
    system_prompt: str = ""
    created_at: datetime.datetime | None = None
    updated_at: datetime.datetime | None = None


class ImportFileError(Exception):
    """A file that cannot be imported; its message is for the person (translated)."""
