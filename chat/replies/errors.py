"""What can go wrong with a reply, in the words a person reads."""


class ReplyError(Exception):
    """A request about replies that cannot be done; `code` goes on the wire."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


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
