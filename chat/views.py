"""Pages: parse, authorize through the selectors, delegate, render."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from chat import sidebar
from chat.choices import available_models, start_conversation
from chat.forms import RenameForm, SignupForm
from chat.i18n import page_catalog
from chat.message_list import messages_html
from chat.models import Conversation
from chat.profiles import profile_for
from chat.providers import default_model
from chat.replies.limits import usage_today
from chat.search import show_message
from chat.selectors import conversation_for_user, shown_branch


def chat_page(
    request,
    conversation: Conversation | None,
    *,
    show_all=False,
    archived=False,
    shown_message_id: int | None = None,
    **extra,
):
    model_name = default_model(conversation)
    messages, earlier_count = [], 0
    if conversation:
        messages, earlier_count = shown_branch(
            conversation=conversation,
            limit=None if show_all else settings.CHAT_PAGE_MESSAGES,
        )
    return render(
        request,
        "chat/chat.html",
        {
            "pinned": [] if archived else sidebar.pinned(user=request.user),
            "sidebar_page": sidebar.page(
                user=request.user, archived=archived, current=conversation
            ),
            "archived_view": archived,
            "conversation": conversation,
            "messages": messages,
            "messages_html": messages_html(
                messages, model_name=model_name, shown_message_id=shown_message_id
            ),
            "earlier_count": earlier_count,
            "model_name": model_name,
            "models": available_models() if conversation else [],
            "default_system_prompt": profile_for(request.user).system_prompt,
            "chat_config": {
                "conversationId": conversation.pk if conversation else None,
                "wsPath": f"/ws/chat/{conversation.pk}/" if conversation else None,
                # Server-Sent Events + POST instead (static/chat/js/sse-transport.js).
                "transport": settings.CHAT_TRANSPORT,
                "apiPath": f"/api/conversations/{conversation.pk}/"
                if conversation
                else None,
                "newUrl": reverse("conversation_new"),
                "homeUrl": reverse("home"),
                "maxChars": settings.CHAT_MAX_MESSAGE_CHARS,
                "model": model_name,
                # The usage line under the composer (usage.js renders it).
                "usage": usage_today(request.user),
            },
            "page_catalog": page_catalog(),
            **extra,
        },
    )


@login_required
def home(request):
    return chat_page(request, None)


@login_required
def conversation_detail(request, conversation_id: int):
    conversation = conversation_for_user(
        user=request.user, conversation_id=conversation_id
    )
    # ?m=<id>, from a search result: show that message's branch, scrolled to it.
    shown = show_message(conversation, request.GET.get("m"))
    return chat_page(
        request,
        conversation,
        show_all="all" in request.GET or shown.needs_all,
        shown_message_id=shown.message_id,
    )


@login_required
@require_POST
def conversation_new(request):
    return redirect(start_conversation(request.user))


@login_required
@require_POST
def conversation_rename(request, conversation_id: int):
    conversation = conversation_for_user(
        user=request.user, conversation_id=conversation_id
    )
    form = RenameForm(request.POST)
    if form.is_valid():
        conversation.title = form.cleaned_data["title"]
        conversation.save(update_fields=["title", "updated_at"])
    return redirect(conversation)


@login_required
@require_POST
def conversation_delete(request, conversation_id: int):
    conversation_for_user(user=request.user, conversation_id=conversation_id).delete()
    return redirect("home")


def signup(request):
    if not settings.CHAT_ALLOW_SIGNUP:
        raise Http404("Sign-up is turned off.")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@require_POST
def set_language(request):
    """The switcher: Django's cookie and redirect, and the profile when logged in."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if translation.check_for_language(language) and request.user.is_authenticated:
        profile = profile_for(request.user)
        profile.language = translation.get_supported_language_variant(language)
        profile.save(update_fields=["language"])
    return response
