"""Export and import pages: downloads, the upload form and the import's progress."""

from urllib.parse import quote

from django.conf import settings
from django.contrib import messages as notices
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from chat.i18n import page_catalog
from chat.selectors import conversation_for_user, conversations_for_user
from chat.transfer import exporting, jobs
from chat.transfer.store import too_big_error

CONTENT_TYPES = {"json": "application/json", "markdown": "text/markdown"}
EXTENSIONS = {"json": "json", "markdown": "md"}


def _download(body, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
    return response


@login_required
def export_conversation(request, conversation_id: int, fmt: str):
    conversation = conversation_for_user(
        user=request.user, conversation_id=conversation_id
    )
    if fmt not in CONTENT_TYPES:
        raise Http404("No such format.")
    render_one = (
        exporting.conversation_json
        if fmt == "json"
        else exporting.conversation_markdown
    )
    return _download(
        render_one(conversation),
        filename=quote(exporting.filename(conversation, EXTENSIONS[fmt])),
        content_type=f"{CONTENT_TYPES[fmt]}; charset=utf-8",
    )


@login_required
def export_all(request, fmt: str):
    if fmt not in CONTENT_TYPES:
        raise Http404("No such format.")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return _download(
        exporting.all_zip(conversations_for_user(user=request.user), fmt),
        filename=f"conversations-{fmt}-{stamp}.zip",
        content_type="application/zip",
    )


@login_required
def transfer_page(request):
    job_id = request.GET.get("job", "")
    return render(
        request,
        "chat/transfer.html",
        {
            "job_id": job_id,
            "job_config": {
                "statusUrl": reverse("import_status", args=[job_id]) if job_id else None
            },
            "max_mb": settings.CHAT_IMPORT_MAX_BYTES // 1_000_000,
            "page_catalog": page_catalog(),
        },
    )


@login_required
@require_POST
def import_upload(request):
    upload = request.FILES.get("file")
    if upload is None:
        notices.error(request, gettext("Choose a file to import."))
        return redirect("transfer")
    if upload.size > settings.CHAT_IMPORT_MAX_BYTES:
        notices.error(request, str(too_big_error()))
        return redirect("transfer")
    job_id = jobs.start(
        user=request.user, data=upload.read(), language=translation.get_language()
    )
    return redirect(f"{reverse('transfer')}?job={job_id}")


@login_required
def import_status(request, job_id: str):
    found = jobs.status(user=request.user, job_id=job_id)
    if found is None:
        raise Http404("No such import.")
    return JsonResponse(found)
