"""The person's language: where it comes from, and what the page script reads.

A language comes, in this order, from the person's profile (when logged in and set),
the cookie the switcher sets, then the browser's Accept-Language (Django's
LocaleMiddleware does the last two for pages; `language_for_scope` does all three
for a websocket). The page script's strings are the `djangojs` catalog, handed to
the page as JSON (`page_catalog`), so no extra request and no inline script.
"""

import gettext as gettext_module
from functools import cache
from types import SimpleNamespace

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from chat.profiles import profile_for
from chat.replies import errors


def saved_language(user) -> str:
    """The language this person chose on the switcher, or "" (follow the browser)."""
    if not user.is_authenticated:
        return ""
    language = profile_for(user).language
    return language if translation.check_for_language(language) else ""


def set_language_cookie(response, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


class ProfileLanguageMiddleware:
    """After LocaleMiddleware: a logged-in person's saved language wins.

    It also puts that language in the cookie, so a new browser follows the profile
    from the first page after logging in (and the websocket, which reads the cookie
    too, agrees).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = saved_language(request.user)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if language and cookie != language:
            set_language_cookie(response, language)
        return response


def language_for_scope(scope) -> str:
    """The language of a websocket's person: profile, cookie, then Accept-Language.

    Sync (the profile is a query): call it through database_sync_to_async.
    """
    language = saved_language(scope["user"])
    if language:
        return language
    headers = dict(scope.get("headers") or [])
    accept = headers.get(b"accept-language", b"").decode("latin-1")
    # Django's own rule, fed what a request would have.
    request = SimpleNamespace(
        COOKIES=scope.get("cookies") or {}, META={"HTTP_ACCEPT_LANGUAGE": accept}
    )
    return translation.get_language_from_request(request)


@cache
def _script_catalog(language: str) -> dict[str, str]:
    """This site's own `djangojs` translations for one language (read once)."""
    found = gettext_module.translation(
        "djangojs",
        localedir=str(settings.LOCALE_PATHS[0]),
        languages=[translation.to_locale(language)],
        fallback=True,
    )
    catalog = getattr(found, "_catalog", {})
    return {k: v for k, v in catalog.items() if isinstance(k, str) and k and v}


def page_catalog() -> dict[str, str]:
    """The page script's strings in the active language, msgid → translation.

    Also the texts stored on answers that the script shows when a reply ends
    (they are made in English, where the person's language is unknown).
    """
    catalog = dict(_script_catalog(translation.get_language() or "en"))
    catalog.update({text: gettext(text) for text in errors.STORED_ERRORS})
    return catalog
