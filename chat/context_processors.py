from django.conf import settings


def site(request):
    return {"allow_signup": settings.CHAT_ALLOW_SIGNUP}
