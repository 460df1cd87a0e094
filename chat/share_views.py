"""Share links: making, listing, updating and revoking them; the public page."""

from django.contrib import messages as notices
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from chat.i18n import page_catalog
from chat.selectors import (
    conversation_for_user,
    shared_link_by_token,
    shared_link_for_user,
    shared_links_for_user,
)
from chat.sharing import (
    NothingToShare,
    continue_shared,
    share_create,
    share_revoke,
    share_update,
    shared_messages,
)


def _links_url() -> str:
    return reverse("shared_links")


@login_required
@require_POST
def share(request, conversation_id: int):
    conversation = conversation_for_user(
        user=request.user, conversation_id=conversation_id
    )
    try:
        link = share_create(
            conversation=conversation, show_name=bool(request.POST.get("show_name"))
        )
    except NothingToShare as exc:
        # Shown on the links page (the chat page's "messages" are the chat's).
        notices.error(request, str(exc))
        return redirect(_links_url())
    return redirect(f"{_links_url()}?new={link.pk}#link-{link.pk}")


@login_required
def shared_links(request):
    return render(
        request,
        "chat/shared_links.html",
        {
            "links": shared_links_for_user(user=request.user),
            "new_id": request.GET.get("new", ""),
        },
    )


@login_required
@require_POST
def shared_link_update(request, link_id: int):
    link = shared_link_for_user(user=request.user, link_id=link_id)
    try:
        share_update(link=link)
    except NothingToShare as exc:
        notices.error(request, str(exc))
    return redirect(f"{_links_url()}#link-{link.pk}")


@login_required
@require_POST
def shared_link_revoke(request, link_id: int):
    link = shared_link_for_user(user=request.user, link_id=link_id)
    share_revoke(link=link, by=request.user)
    return redirect(_links_url())


def shared_page(request, token: str):
    """The public page: no login, the stored HTML only, nothing live."""
    link = shared_link_by_token(token=token)
    response = render(
        request,
        "chat/shared.html",
        {
            "link": link,
            "messages": shared_messages(link),
            "author": link.conversation.user.get_username() if link.show_name else "",
            "page_catalog": page_catalog(),
        },
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    # The snapshot may be revoked at any time: no shared cache keeps a copy.
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
@require_POST
def shared_continue(request, token: str):
    link = shared_link_by_token(token=token)
    return redirect(continue_shared(link=link, user=request.user))
