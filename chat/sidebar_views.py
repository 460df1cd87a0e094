"""The sidebar's entry points: search, the next page of the list, the archived
list, pin and archive. Every one reads through the owner-scoped selectors."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from chat import search, sidebar
from chat.selectors import conversation_for_user, conversations_for_user
from chat.views import chat_page

# The page script asks for fragments with this header; without it (no script,
# the form submitted) the answer is the whole page.
FRAGMENT_HEADER = "X-Fragment"


@login_required
@require_GET
def search_results(request):
    query = request.GET.get("q", "")
    error = ""
    if len(query) > search.MAX_QUERY_CHARS:
        error = gettext("Search for at most %(count)d characters.") % {
            "count": search.MAX_QUERY_CHARS
        }
        results = []
    else:
        results = search.search(user=request.user, query=query)
    context = {"search_query": query, "search_results": results, "search_error": error}
    if request.headers.get(FRAGMENT_HEADER):
        return render(
            request,
            "chat/_search_results.html",
            context,
            status=400 if error else 200,
        )
    return chat_page(request, None, **context)


@login_required
@require_GET
def conversation_list_page(request):
    """The next page of the sidebar's list, as list items (an HTML fragment)."""
    try:
        page = sidebar.page(
            user=request.user,
            archived=request.GET.get("archived") == "1",
            cursor=request.GET.get("cursor") or None,
        )
    except ValueError:
        return HttpResponseBadRequest(gettext("That page of the list does not exist."))
    return render(
        request,
        "chat/_conversation_items.html",
        {
            "sidebar_page": page,
            "archived_view": request.GET.get("archived") == "1",
            # Pin and archive go back to the page the list is on, not here.
            "sidebar_return": request.headers.get("Referer", ""),
        },
    )


@login_required
def archived(request):
    return chat_page(request, None, archived=True)


def _back(request, conversation):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(conversation)


def _set_flag(request, conversation_id: int, field: str):
    conversation = conversation_for_user(
        user=request.user, conversation_id=conversation_id
    )
    # .update(): pinning or archiving is not activity; the date it is listed
    # under (updated_at) stays.
    conversations_for_user(user=request.user).filter(pk=conversation.pk).update(
        **{field: request.POST.get(field) == "1"}
    )
    return _back(request, conversation)


@login_required
@require_POST
def conversation_pin(request, conversation_id: int):
    return _set_flag(request, conversation_id, "pinned")


@login_required
@require_POST
def conversation_archive(request, conversation_id: int):
    return _set_flag(request, conversation_id, "archived")
