from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Conversation(models.Model):
    class Source(models.TextChoices):
        PAGE = "page", _("Chat page")
        API = "api", _("API")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="conversations",
    )
    title = models.CharField(max_length=200, blank=True)
    # The model its replies use, read when each reply starts; empty: CHAT_MODEL.
    model = models.CharField(max_length=200, blank=True)
    # Put before the history sent to the model; empty: CHAT_SYSTEM_PROMPT. A new
    # conversation starts with its owner's default (Profile.system_prompt).
    system_prompt = models.TextField(blank=True)
    # The last message of the branch being shown (messages form a tree): the page,
    # every tab and the next send follow it. Always a message without children.
    current_leaf = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Where it was started: the chat page, or a call to /v1/chat/completions.
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.PAGE)
    # False: an API call whose token said not to store it. Its text is erased
    # when the answer ends; the rows stay, with their token counts, so the quota
    # and the usage figures count the call like any other.
    text_kept = models.BooleanField(default=True)
    # A default rather than auto_now_add, so an import keeps the original times
    # (auto_now_add overwrites them, even in bulk_create); same for a message.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # The sidebar: pinned ones on top; archived ones only in the archived list
    # (still searchable, and open as before).
    pinned = models.BooleanField(default=False)
    archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["-updated_at", "-id"]
        permissions = [("review_transcripts", "Can review transcripts in the admin")]
        indexes = [
            # One page of the sidebar: a person's list, newest first, from a cursor.
            models.Index(
                fields=["user", "archived", "pinned", "-updated_at", "-id"],
                name="conversation_sidebar",
            ),
        ]

    def __str__(self):
        return self.title or f"Conversation {self.pk}"

    def get_absolute_url(self):
        return reverse("conversation", args=[self.pk])


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        FAILED = "failed"
        INTERRUPTED = "interrupted"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    html = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.COMPLETE, db_index=True
    )
    model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    finish_reason = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Set by the browser on user messages so that a retried send stores one message.
    # NULL, not "", for messages without one: the unique constraint skips NULLs.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    # The message this one follows (None for the first): messages form a tree.
    # An answer's parent is the user message it answers; siblings share a parent
    # (regenerated answers, edited user messages).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    # While streaming: where the run listens (stop, snapshot) and when it last
    # checkpointed, so a reaper can tell a dead run from a slow one.
    run_channel = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Cut off by moderation: its text is kept for staff and never leaves the
    # server otherwise (pages, snapshots, the model's history).
    withheld = models.BooleanField(default=False)
    # The model's thinking, shown apart above the answer: its text, rendered like
    # the answer, the time from its first token to the answer's first, and the
    # tokens the upstream says it took.
    reasoning = models.TextField(blank=True)
    reasoning_html = models.TextField(blank=True)
    reasoning_ms = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"], name="unique_client_id"
            ),
            # At most one reply runs per conversation, even across processes.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(status="streaming"),
                name="one_streaming_reply",
            ),
        ]

    def __str__(self):
        return f"{self.role}: {self.content[:60]}"

    @property
    def shown_content(self) -> str:
        """The text a person may see again: none of a withheld answer."""
        return "" if self.withheld else self.content

    @property
    def shown_reasoning(self) -> str:
        return "" if self.withheld else self.reasoning

    @property
    def reasoning_seconds(self) -> int:
        """Whole seconds of thinking, as "Thought for N s" says it (at least 1)."""
        return max(1, round((self.reasoning_ms or 0) / 1000))

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None and self.completion_tokens is None:
            return None
        return (self.prompt_tokens or 0) + (self.completion_tokens or 0)


class Flag(models.Model):
    """A conversation, or one message of it, marked by staff for follow-up."""

    class Reason(models.TextChoices):
        HARMFUL = "harmful", _("Harmful or unsafe")
        INACCURATE = "inaccurate", _("Wrong or misleading")
        BROKEN = "broken", _("Broken or failed output")
        PRIVACY = "privacy", _("Personal data")
        ABUSE = "abuse", _("Abuse of the service")
        OTHER = "other", _("Other")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="flags"
    )
    # Empty when the whole conversation is flagged.
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="flags"
    )
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # A cleared flag stays, so the queue's history shows who closed what.
    cleared_at = models.DateTimeField(null=True, blank=True, db_index=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        target = f"message {self.message_id}" if self.message_id else "conversation"
        return f"{self.get_reason_display()} ({target} of {self.conversation_id})"

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None


class AuditEntry(models.Model):
    """One time a staff member read or exported a transcript, or searched the
    messages, or someone made or revoked a public link to one; never edited."""

    class Action(models.TextChoices):
        VIEW = "view"
        EXPORT = "export"
        # Of every conversation's message text: no conversation, the query in detail.
        SEARCH = "search"
        # A public link to a conversation made or revoked, by its owner or (revoke)
        # by staff: `staff` is then whoever acted, the link and who in detail.
        SHARE = "share"
        REVOKE = "revoke"

    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Copies that outlive a deleted user or conversation: the proof must stay.
    staff_username = models.CharField(max_length=150)
    action = models.CharField(max_length=16, choices=Action.choices)
    conversation = models.ForeignKey(
        Conversation,
        null=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    # Empty for a search, which is about no one conversation.
    conversation_pk = models.PositiveBigIntegerField(null=True, blank=True)
    conversation_title = models.CharField(max_length=200, blank=True)
    # The export format, or the whole search query (the proof is what was asked).
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        if self.action == self.Action.SEARCH:
            return f"{self.staff_username} search {self.detail}"
        return f"{self.staff_username} {self.action} {self.conversation_pk}"


class SharedLink(models.Model):
    """A read-only public link to one branch of a conversation, as it was when
    shared: the page shows the path from the root to `leaf`, nothing after it."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="shared_links"
    )
    # secrets.token_urlsafe: the only thing that finds the link.
    token = models.CharField(max_length=64, unique=True)
    leaf = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200, blank=True)
    # The owner's name shows on the page only when they chose so.
    show_name = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # A revoked link answers 404 like an unknown one; the row stays for the record.
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Link {self.pk} to {self.conversation_id}"

    def get_absolute_url(self):
        return reverse("shared", args=[self.token])

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Profile(models.Model):
    """What belongs to one person beyond Django's user: preferences and limits.

    Limits left empty follow the site's settings; a number overrides them for this
    person. The row is also the per-person lock that limits are decided under.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    # A language code of settings.LANGUAGES, or empty: follow the browser.
    language = models.CharField(max_length=16, blank=True)
    messages_per_minute = models.PositiveIntegerField(null=True, blank=True)
    concurrent_streams = models.PositiveIntegerField(null=True, blank=True)
    daily_token_quota = models.PositiveIntegerField(null=True, blank=True)
    # The system prompt a new conversation of this person starts with.
    system_prompt = models.TextField(blank=True)

    def __str__(self):
        return f"Profile of {self.user}"


class ApiToken(models.Model):
    """A personal API token: `chat_<prefix>_<secret>`, shown once, kept hashed.

    The secret is 256 random bits, so a plain SHA-256 is enough: a slow password
    hash protects guessable secrets, and nobody guesses 256 bits. The prefix finds
    the row; the hash is compared in constant time (chat/api/tokens.py).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    # False: what calls with it say is erased once answered (Conversation.text_kept).
    store_calls = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Updated at most once a minute (chat/api/tokens.py): not a write per call.
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} (chat_{self.prefix}_…)"
