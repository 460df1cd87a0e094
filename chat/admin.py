"""The admin's entry point: transcript review (chat.review) and profiles."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from chat.models import ApiToken, AuditEntry, Conversation, Flag, Profile
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


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff see people's tokens and revoke them (delete); nobody sees a secret."""

    FIELDS = ["name", "user", "prefix", "store_calls", "created_at", "last_used_at"]
    list_display = FIELDS
    list_filter = ["store_calls", ("user", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = FIELDS
    exclude = ["secret_hash"]
    actions = ["delete_selected"]

    def has_add_permission(self, request):
        return False  # a person makes their own, on their account page
