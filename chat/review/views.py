"""The conversation admin's pages: transcript, exports, flag and clear, usage."""

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
from django.utils.translation import gettext_lazy as _

from chat.models import AuditEntry, Conversation, Flag
from chat.review.audit import audit_record
from chat.review.exports import EXPORT_FORMATS, conversations_for_export
from chat.review.flags import flag_create, flags_clear
from chat.review.permissions import can_review
from chat.review.queries import (
    conversation_for_review,
    flags_for_conversation,
)
from chat.review.transcript import transcript_tree
from chat.review.usage import USAGE_DAYS, usage_by_user_and_day
from chat.sharing import share_revoke


class FlagForm(forms.Form):
    reason = forms.ChoiceField(choices=Flag.Reason.choices)
    note = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )
    # Empty flags the whole conversation.
    message = forms.IntegerField(required=False, widget=forms.HiddenInput)


def download(text: str, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ConversationViews:
    """The transcript, flags, exports and usage; mixed into ConversationAdmin."""

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
                "<int:conversation_id>/links/<int:link_id>/revoke/",
                view(self.revoke_link_view),
                name="chat_conversation_revoke_link",
            ),
            path(
                "<int:conversation_id>/flags/<int:flag_id>/clear/",
                view(self.clear_flag_view),
                name="chat_conversation_clear_flag",
            ),
            *super().get_urls(),
        ]

    def _conversation(self, request, conversation_id) -> Conversation:
        if not can_review(request.user):
            raise PermissionDenied
        try:
            return conversation_for_review(conversation_id=int(conversation_id))
        except (ValueError, Conversation.DoesNotExist):
            raise Http404("No such conversation.") from None

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """Show the transcript as its user saw it, and record who looked."""
        conversation = self._conversation(request, object_id)
        if request.method != "GET":
            # Nothing said can be changed; flags have their own view.
            raise PermissionDenied
        audit_record(
            staff=request.user,
            action=AuditEntry.Action.VIEW,
            conversations=[conversation],
        )
        flags = list(flags_for_conversation(conversation=conversation))
        transcript, branches = transcript_tree(conversation=conversation)
        for message in [*transcript, *(m for branch in branches for m in branch)]:
            message.review_flags = [f for f in flags if f.message_id == message.pk]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": str(conversation),
            "conversation": conversation,
            "transcript": transcript,
            "branches": branches,
            "conversation_flags": [f for f in flags if f.message_id is None],
            "flag_form": FlagForm(auto_id=False),
            "export_formats": list(EXPORT_FORMATS),
            "shared_links": list(conversation.shared_links.all()),
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
        conversations = list(conversations_for_export(queryset))
        audit_record(
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

    @admin.action(description=_("Export as Markdown"), permissions=["review"])
    def export_markdown(self, request, queryset):
        return self._export(request, queryset, fmt="markdown", name=self._bulk_name())

    @admin.action(description=_("Export as JSON Lines"), permissions=["review"])
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
            self.message_user(request, _("Choose a reason to flag."), messages.ERROR)
            return self._back_to(conversation)
        message = None
        if form.cleaned_data["message"]:
            message = get_object_or_404(
                conversation.messages, pk=form.cleaned_data["message"]
            )
        flag_create(
            conversation=conversation,
            message=message,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
            by=request.user,
        )
        self.message_user(request, _("Flagged for follow-up."), messages.SUCCESS)
        return self._back_to(conversation, message and message.pk)

    def clear_flag_view(self, request, conversation_id, flag_id):
        conversation = self._conversation(request, conversation_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        flag = get_object_or_404(conversation.flags, pk=flag_id)
        flags_clear(flags=Flag.objects.filter(pk=flag.pk), by=request.user)
        self.message_user(request, _("Flag cleared."), messages.SUCCESS)
        return self._back_to(conversation, flag.message_id)

    def revoke_link_view(self, request, conversation_id, link_id):
        """Staff take down a public link (audited as theirs)."""
        conversation = self._conversation(request, conversation_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        link = get_object_or_404(conversation.shared_links, pk=link_id)
        share_revoke(link=link, by=request.user, by_staff=True)
        self.message_user(request, _("Link revoked."), messages.SUCCESS)
        return self._back_to(conversation)

    def usage_view(self, request):
        if not can_review(request.user):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Token usage, last %(days)d days") % {"days": USAGE_DAYS},
            "usage": usage_by_user_and_day(),
        }
        return TemplateResponse(request, "admin/chat/conversation/usage.html", context)
