"""The account page where a person makes, lists and revokes API tokens."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from chat.api.tokens import create_token
from chat.models import ApiToken

MAX_TOKENS_PER_PERSON = 50


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    store_calls = forms.BooleanField(
        label=_("Keep calls as conversations"),
        required=False,
        initial=True,
        help_text=_(
            "Off: what calls with this token say is erased once answered; only "
            "their token counts are kept."
        ),
    )


@login_required
def tokens_page(request):
    tokens = ApiToken.objects.filter(user=request.user)
    form = TokenForm(request.POST or None)
    shown_once = None
    if request.method == "POST" and form.is_valid():
        if tokens.count() >= MAX_TOKENS_PER_PERSON:
            form.add_error(None, _("You have too many tokens. Revoke one first."))
        else:
            _token, shown_once = create_token(
                request.user,
                name=form.cleaned_data["name"],
                store_calls=form.cleaned_data["store_calls"],
            )
            form = TokenForm()
    return render(
        request,
        "chat/tokens.html",
        {
            "form": form,
            "tokens": tokens,
            "shown_once": shown_once,
            "base_url": request.build_absolute_uri("/v1"),
        },
    )


@login_required
@require_POST
def token_revoke(request, token_id: int):
    # Another person's token answers like a missing one.
    get_object_or_404(ApiToken, pk=token_id, user=request.user).delete()
    return redirect("api_tokens")
