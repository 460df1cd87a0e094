from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from chat import health, views
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
    path("accounts/signup/", throttled(views.signup), name="signup"),
    path("accounts/login/", throttled(auth_views.LoginView.as_view()), name="login"),
    path("language/", views.set_language, name="set_language"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("api/", include("chat.api.sse_urls")),
]
