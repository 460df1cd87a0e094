"""A person's profile: made on first need, so every user has one when asked."""

from chat.models import Profile


def profile_for(user) -> Profile:
    """Return this user's profile, creating an empty one the first time."""
    profile, _ = Profile.objects.get_or_create(user=user)
    return profile
