"""Transcript review for staff; the rules and queries live in chat.review."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from chat import review
from chat.models import AuditEntry, Conversation, Flag, Message

EXPORT_FORMATS = {
    "markdown": (review.export_markdown, "text/markdown", "md"),
    "jsonl": (review.export_jsonl, "application/jsonl", "jsonl"),
}


class FlagForm(forms.Form):
    reason = forms.ChoiceField(choices=Flag.Reason.choices)
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )
    # Empty flags the whole conversation.
    message = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ModelFilter(admin.SimpleListFilter):
    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        return [(name, name) for name in review.models_in_use()]

    def queryset(self, request, queryset):
        if self.value():
            return review.filter_by_model(queryset, model=self.value())
        return queryset


class StatusFilter(admin.SimpleListFilter):
    title = "message status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(status.value, status.label) for status in Message.Status]

    def queryset(self, request, queryset):
        if self.value() in Message.Status.values:
            return review.filter_by_status(queryset, status=self.value())
        return queryset


class FlaggedFilter(admin.SimpleListFilter):
    title = "flagged"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("open", "Open flags"), ("cleared", "Cleared only"), ("none", "Never")]

    def queryset(self, request, queryset):
        return review.filter_by_flag(queryset, state=self.value())


class LastActivityFilter(admin.DateFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "last activity"


def download(text: str, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ReviewPermissions:
    """Readable by reviewers; nothing here can be added or changed in the admin."""

    def has_module_permission(self, request):
        return review.can_review(request.user)

    def has_view_permission(self, request, obj=None):
        return review.can_review(request.user)

    def has_review_permission(self, request):
        return review.can_review(request.user)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(ReviewPermissions, admin.ModelAdmin):
    list_display = [
        "title_or_number",
        "user",
        "model_name",
        "message_total",
        "token_total",
        "last_activity",
        "badges",
    ]
    list_filter = [
        ("user", admin.RelatedOnlyFieldListFilter),
        ModelFilter,
        ("updated_at", LastActivityFilter),
        StatusFilter,
        FlaggedFilter,
    ]
    search_fields = ["title", "user__username"]
    search_help_text = "Title, username, or words from the messages."
    actions = ["export_markdown", "export_jsonl"]
    list_per_page = 50

    def get_queryset(self, request):
        return review.conversations_for_review()

    def get_search_results(self, request, queryset, search_term):
        # Message text is searched here too: the admin's search_fields can only
        # do icontains, and a join on messages would repeat each conversation.
        return review.search_conversations(queryset, text=search_term), False

    def has_delete_permission(self, request, obj=None):
        # Deleting shows message excerpts on the confirmation page.
        return review.can_review(request.user) and super().has_delete_permission(
            request, obj
        )

    @admin.display(description="Title", ordering="title")
    def title_or_number(self, conversation):
        return str(conversation)

    @admin.display(description="Model", ordering="model")
    def model_name(self, conversation):
        return conversation.model or "(default)"

    @admin.display(description="Messages", ordering="message_count")
    def message_total(self, conversation):
        return conversation.message_count

    @admin.display(description="Tokens", ordering="total_tokens")
    def token_total(self, conversation):
        return conversation.total_tokens

    @admin.display(description="Last activity", ordering="updated_at")
    def last_activity(self, conversation):
        return conversation.updated_at

    @admin.display(description="Problems")
    def badges(self, conversation):
        counts = [
            (getattr(conversation, f"{status}_count"), status.value)
            for status in review.PROBLEM_STATUSES
        ]
        counts.append((conversation.open_flag_count, "flagged"))
        return format_html_join(
            " ",
            '<span class="review-badge review-badge-{}">{} {}</span>',
            ((label, count, label) for count, label in counts if count),
        )

    # The transcript, flags and exports.

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("usage/", view(self.usage_view), name="chat_conversation_usage"),
            path(
                "<int:conversation_id>/export/<str:fmt>/",
                view(self.export_view),
                name="chat_conversation_export",
            ),
            path(
                "<int:conversation_id>/flag/",
                view(self.flag_view),
                name="chat_conversation_flag",
            ),
            path(
                "<int:conversation_id>/flags/<int:flag_id>/clear/",
                view(self.clear_flag_view),
                name="chat_conversation_clear_flag",
            ),
            *super().get_urls(),
        ]

    def _conversation(self, request, conversation_id) -> Conversation:
        if not review.can_review(request.user):
            raise PermissionDenied
        try:
            return review.conversation_for_review(conversation_id=int(conversation_id))
        except (ValueError, Conversation.DoesNotExist):
            raise Http404("No such conversation.") from None

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """Show the transcript as its user saw it, and record who looked."""
        conversation = self._conversation(request, object_id)
        if request.method != "GET":
            # Nothing said can be changed; flags have their own view.
            raise PermissionDenied
        review.audit_record(
            staff=request.user,
            action=AuditEntry.Action.VIEW,
            conversations=[conversation],
        )
        flags = list(review.flags_for_conversation(conversation=conversation))
        transcript = list(review.messages_for_review(conversation=conversation))
        for message in transcript:
            message.review_flags = [f for f in flags if f.message_id == message.pk]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": str(conversation),
            "conversation": conversation,
            "transcript": transcript,
            "conversation_flags": [f for f in flags if f.message_id is None],
            "flag_form": FlagForm(auto_id=False),
            "export_formats": list(EXPORT_FORMATS),
            **(extra_context or {}),
        }
        return TemplateResponse(
            request, "admin/chat/conversation/transcript.html", context
        )

    def export_view(self, request, conversation_id, fmt):
        conversation = self._conversation(request, conversation_id)
        if fmt not in EXPORT_FORMATS:
            raise Http404("No such format.")
        queryset = Conversation.objects.filter(pk=conversation.pk)
        return self._export(
            request, queryset, fmt=fmt, name=f"conversation-{conversation.pk}"
        )

    def _export(self, request, queryset, *, fmt: str, name: str) -> HttpResponse:
        render, content_type, extension = EXPORT_FORMATS[fmt]
        conversations = list(review.conversations_for_export(queryset))
        review.audit_record(
            staff=request.user,
            action=AuditEntry.Action.EXPORT,
            conversations=conversations,
            detail=fmt,
        )
        return download(
            render(conversations),
            filename=f"{name}.{extension}",
            content_type=content_type,
        )

    def _bulk_name(self) -> str:
        return "conversations-" + timezone.now().strftime("%Y%m%d-%H%M%S")

    @admin.action(description="Export as Markdown", permissions=["review"])
    def export_markdown(self, request, queryset):
        return self._export(request, queryset, fmt="markdown", name=self._bulk_name())

    @admin.action(description="Export as JSON Lines", permissions=["review"])
    def export_jsonl(self, request, queryset):
        return self._export(request, queryset, fmt="jsonl", name=self._bulk_name())

    def _back_to(self, conversation, message_id=None):
        url = reverse("admin:chat_conversation_change", args=[conversation.pk])
        return HttpResponseRedirect(
            f"{url}#message-{message_id}" if message_id else url
        )

    def flag_view(self, request, conversation_id):
        conversation = self._conversation(request, conversation_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = FlagForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Choose a reason to flag.", messages.ERROR)
            return self._back_to(conversation)
        message = None
        if form.cleaned_data["message"]:
            message = get_object_or_404(
                conversation.messages, pk=form.cleaned_data["message"]
            )
        review.flag_create(
            conversation=conversation,
            message=message,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
            by=request.user,
        )
        self.message_user(request, "Flagged for follow-up.", messages.SUCCESS)
        return self._back_to(conversation, message and message.pk)

    def clear_flag_view(self, request, conversation_id, flag_id):
        conversation = self._conversation(request, conversation_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        flag = get_object_or_404(conversation.flags, pk=flag_id)
        review.flags_clear(flags=Flag.objects.filter(pk=flag.pk), by=request.user)
        self.message_user(request, "Flag cleared.", messages.SUCCESS)
        return self._back_to(conversation, flag.message_id)

    def usage_view(self, request):
        if not review.can_review(request.user):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Token usage, last {review.USAGE_DAYS} days",
            "usage": review.usage_by_user_and_day(),
        }
        return TemplateResponse(request, "admin/chat/conversation/usage.html", context)


class FlagStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("cleared", "Cleared")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(cleared_at__isnull=True)
        if self.value() == "cleared":
            return queryset.filter(cleared_at__isnull=False)
        return queryset


@admin.register(Flag)
class FlagAdmin(ReviewPermissions, admin.ModelAdmin):
    list_display = [
        "created_at",
        "transcript_link",
        "target",
        "reason",
        "note",
        "created_by",
        "state",
        "cleared_by",
    ]
    list_filter = [FlagStateFilter, "reason", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["conversation", "created_by", "cleared_by"]
    actions = ["clear_flags"]

    def has_delete_permission(self, request, obj=None):
        # Cleared, never deleted: the queue keeps its history.
        return False

    @admin.display(description="Conversation")
    def transcript_link(self, flag):
        url = reverse("admin:chat_conversation_change", args=[flag.conversation_id])
        return format_html('<a href="{}">{}</a>', url, flag.conversation)

    @admin.display(description="Flagged")
    def target(self, flag):
        return f"message {flag.message_id}" if flag.message_id else "conversation"

    @admin.display(description="State", ordering="cleared_at")
    def state(self, flag):
        return "open" if flag.is_open else "cleared"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A flag is read in its transcript, which records that it was read.
        if not review.can_review(request.user):
            raise PermissionDenied
        flag = get_object_or_404(Flag, pk=object_id)
        url = reverse("admin:chat_conversation_change", args=[flag.conversation_id])
        anchor = f"#message-{flag.message_id}" if flag.message_id else ""
        return HttpResponseRedirect(url + anchor)

    @admin.action(description="Clear the selected flags", permissions=["review"])
    def clear_flags(self, request, queryset):
        cleared = review.flags_clear(flags=queryset, by=request.user)
        self.message_user(request, f"Cleared {cleared} flag(s).", messages.SUCCESS)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "staff_username",
        "action",
        "conversation_pk",
        "conversation_title",
        "detail",
    ]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["staff_username", "conversation_title", "=conversation_pk"]
    date_hierarchy = "created_at"

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
