"""The review ModelAdmins: the conversation list, the flag queue and the audit log."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from chat.review.audit import audit_search
from chat.review.filters import (
    FlaggedFilter,
    FlagStateFilter,
    LastActivityFilter,
    ModelFilter,
    StatusFilter,
)
from chat.review.flags import flags_clear
from chat.review.permissions import ReviewPermissions, can_review
from chat.review.queries import (
    PROBLEM_STATUSES,
    conversations_for_review,
    search_conversations,
)
from chat.review.views import ConversationViews


class ConversationAdmin(ReviewPermissions, ConversationViews, admin.ModelAdmin):
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
        "source",
    ]
    search_fields = ["title", "user__username"]
    search_help_text = _("Title, username, or words from the messages.")
    actions = ["export_markdown", "export_jsonl"]
    list_per_page = 50

    def get_queryset(self, request):
        return conversations_for_review()

    def get_search_results(self, request, queryset, search_term):
        # Message text is searched here too: the admin's search_fields can only
        # do icontains, and a join on messages would repeat each conversation.
        # Which conversations hold some words is read from their transcripts, so
        # the search is audited like a transcript view.
        if search_term.strip():
            audit_search(staff=request.user, query=search_term)
        return search_conversations(queryset, text=search_term), False

    def has_delete_permission(self, request, obj=None):
        # Deleting shows message excerpts on the confirmation page.
        return can_review(request.user) and super().has_delete_permission(request, obj)

    @admin.display(description=_("Title"), ordering="title")
    def title_or_number(self, conversation):
        return str(conversation)

    @admin.display(description=_("Model"), ordering="model")
    def model_name(self, conversation):
        return conversation.model or "(default)"

    @admin.display(description=_("Messages"), ordering="message_count")
    def message_total(self, conversation):
        return conversation.message_count

    @admin.display(description=_("Tokens"), ordering="total_tokens")
    def token_total(self, conversation):
        return conversation.total_tokens

    @admin.display(description=_("Last activity"), ordering="updated_at")
    def last_activity(self, conversation):
        return conversation.updated_at

    @admin.display(description=_("Problems"))
    def badges(self, conversation):
        counts = [
            (getattr(conversation, f"{status}_count"), status.value)
            for status in PROBLEM_STATUSES
        ]
        counts.append((conversation.open_flag_count, "flagged"))
        return format_html_join(
            " ",
            '<span class="review-badge review-badge-{}">{} {}</span>',
            ((label, count, label) for count, label in counts if count),
        )


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

    @admin.display(description=_("Conversation"))
    def transcript_link(self, flag):
        url = reverse("admin:chat_conversation_change", args=[flag.conversation_id])
        return format_html('<a href="{}">{}</a>', url, flag.conversation)

    @admin.display(description=_("Flagged"))
    def target(self, flag):
        return f"message {flag.message_id}" if flag.message_id else "conversation"

    @admin.display(description=_("State"), ordering="cleared_at")
    def state(self, flag):
        return "open" if flag.is_open else "cleared"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # A flag is read in its transcript, which records that it was read.
        if not can_review(request.user):
            raise PermissionDenied
        # get_object answers None for an id that is not a number, not a 500.
        flag = self.get_object(request, unquote(object_id))
        if flag is None:
            raise Http404("No such flag.")
        url = reverse("admin:chat_conversation_change", args=[flag.conversation_id])
        anchor = f"#message-{flag.message_id}" if flag.message_id else ""
        return HttpResponseRedirect(url + anchor)

    @admin.action(description=_("Clear the selected flags"), permissions=["review"])
    def clear_flags(self, request, queryset):
        cleared = flags_clear(flags=queryset, by=request.user)
        self.message_user(
            request,
            ngettext("Cleared %(count)d flag.", "Cleared %(count)d flags.", cleared)
            % {"count": cleared},
            messages.SUCCESS,
        )


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
    search_fields = [
        "staff_username",
        "conversation_title",
        "=conversation_pk",
        "detail",
    ]
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
