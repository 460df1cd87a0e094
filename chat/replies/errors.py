"""What can go wrong with a reply, in the words a person reads."""


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
        "busy", "An answer is still being written here. Stop it or wait for it."
    )


# Stored on an answer (Message.error) and shown under its text.
INTERRUPTED_ERROR = (
    "The server running this answer stopped. The text up to its last checkpoint is "
    "kept; you can regenerate it."
)
UNEXPECTED_ERROR = "Something went wrong while answering. Try again."
WITHHELD_ERROR = "Moderation stopped this answer ({}). It is kept for review."
TIMEOUT_ERROR = (
    "This answer took longer than the {:g} s an answer may take, so it was cut "
    "off here. The text so far is kept; you can regenerate it."
)
