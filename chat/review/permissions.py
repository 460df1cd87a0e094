"""Who may review transcripts, and the admin permissions that follow from it."""

REVIEW_PERMISSION = "chat.review_transcripts"


def can_review(user) -> bool:
    """Tell whether this user may read transcripts in the admin."""
    return bool(
        user.is_active
        and user.is_staff
        and (
            user.has_perm(REVIEW_PERMISSION) or user.has_perm("chat.view_conversation")
        )
    )


class ReviewPermissions:
    """Readable by reviewers; nothing here can be added or changed in the admin."""

    def has_module_permission(self, request):
        return can_review(request.user)

    def has_view_permission(self, request, obj=None):
        return can_review(request.user)

    def has_review_permission(self, request):
        return can_review(request.user)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
