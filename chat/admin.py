"""Registers the transcript review's ModelAdmins, which live in chat.review."""

from django.contrib import admin

from chat.models import AuditEntry, Conversation, Flag
from chat.review.admin import AuditEntryAdmin, ConversationAdmin, FlagAdmin

admin.site.register(Conversation, ConversationAdmin)
admin.site.register(Flag, FlagAdmin)
admin.site.register(AuditEntry, AuditEntryAdmin)
