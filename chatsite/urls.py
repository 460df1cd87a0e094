from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat import health, sidebar_views, views
from chat.auth_limits import throttled

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
    path("accounts/signup/", throttled(views.signup), name="signup"),
    path("accounts/login/", throttled(auth_views.LoginView.as_view()), name="login"),
    path("language/", views.set_language, name="set_language"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
]
