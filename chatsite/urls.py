from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat import health, metrics, share_views, sidebar_views, views
from chat.api import account as api_account
from chat.api.urls import api_patterns, v1_patterns
from chat.auth_limits import throttled
from chat.transfer import views as transfer_views

# The admin's login form is throttled like the site's (chat/auth_limits.py).
admin.site.login = throttled(admin.site.login)

urlpatterns = [
    path("", views.home, name="home"),
    path("c/new/", views.conversation_new, name="conversation_new"),
    path("c/<int:conversation_id>/", views.conversation_detail, name="conversation"),
    path(
        "c/<int:conversation_id>/rename/",
        views.conversation_rename,
        name="conversation_rename",
    ),
    path(
        "c/<int:conversation_id>/delete/",
        views.conversation_delete,
        name="conversation_delete",
    ),
    path(
        "c/<int:conversation_id>/pin/",
        sidebar_views.conversation_pin,
        name="conversation_pin",
    ),
    path(
        "c/<int:conversation_id>/archive/",
        sidebar_views.conversation_archive,
        name="conversation_archive",
    ),
    path("c/page/", sidebar_views.conversation_list_page, name="conversation_page"),
    path("archived/", sidebar_views.archived, name="archived"),
    path("search/", sidebar_views.search_results, name="search"),
    # Sharing (chat/share_views.py) and export/import (chat/transfer/views.py).
    path("c/<int:conversation_id>/share/", share_views.share, name="share"),
    path(
        "c/<int:conversation_id>/export/<str:fmt>/",
        transfer_views.export_conversation,
        name="export_conversation",
    ),
    path("shared/", share_views.shared_links, name="shared_links"),
    path(
        "shared/<int:link_id>/update/",
        share_views.shared_link_update,
        name="shared_link_update",
    ),
    path(
        "shared/<int:link_id>/revoke/",
        share_views.shared_link_revoke,
        name="shared_link_revoke",
    ),
    path("s/<str:token>/", share_views.shared_page, name="shared"),
    path(
        "s/<str:token>/continue/", share_views.shared_continue, name="shared_continue"
    ),
    path("transfer/", transfer_views.transfer_page, name="transfer"),
    path("transfer/export/<str:fmt>/", transfer_views.export_all, name="export_all"),
    path("transfer/import/", transfer_views.import_upload, name="import_upload"),
    path(
        "transfer/import/<str:job_id>/",
        transfer_views.import_status,
        name="import_status",
    ),
    path("accounts/signup/", throttled(views.signup), name="signup"),
    path("accounts/login/", throttled(auth_views.LoginView.as_view()), name="login"),
    path("language/", views.set_language, name="set_language"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("account/tokens/", api_account.tokens_page, name="api_tokens"),
    path(
        "account/tokens/<int:token_id>/revoke/",
        api_account.token_revoke,
        name="api_token_revoke",
    ),
    path("v1/", include(v1_patterns)),
    path("api/", include(api_patterns)),
    path("api/", include("chat.api.sse_urls")),
]
