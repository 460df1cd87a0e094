"""Profiles: one per person, made on first need, edited in the admin."""

import pytest

from chat.models import Profile
from chat.profiles import profile_for

pytestmark = pytest.mark.django_db


def test_a_profile_is_made_once_on_first_need(alice):
    first = profile_for(alice)
    again = profile_for(alice)

    assert first.pk == again.pk
    assert Profile.objects.filter(user=alice).count() == 1
    assert first.language == "" and first.daily_token_quota is None


def test_staff_edit_a_persons_limits_on_the_user_page(admin_client, alice):
    response = admin_client.get(f"/admin/auth/user/{alice.pk}/change/")

    assert response.status_code == 200
    assert b"profile-0-daily_token_quota" in response.content
