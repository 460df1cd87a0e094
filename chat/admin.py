"""The admin's entry point: transcript review (chat.review) and profiles."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from chat.models import AuditEntry, Conversation, Flag, Profile
from chat.review.admin import AuditEntryAdmin, ConversationAdmin, FlagAdmin

admin.site.register(Conversation, ConversationAdmin)
admin.site.register(Flag, FlagAdmin)
admin.site.register(AuditEntry, AuditEntryAdmin)


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    verbose_name_plural = "profile: language and limits (empty follows the settings)"


class UserWithProfileAdmin(UserAdmin):
    inlines = [ProfileInline]


User = get_user_model()
admin.site.unregister(User)
admin.site.register(User, UserWithProfileAdmin)
