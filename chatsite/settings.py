"""Settings, read once from the environment.

With nothing set this runs on SQLite with the in-memory channel layer and the local
model, so a fresh clone works without services or keys.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def envfloat(name: str, default: float) -> float:
    return float(os.environ.get(name) or default)


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", False)
# A fixed development key only while DEBUG is on; production must set SECRET_KEY.
SECRET_KEY = env("SECRET_KEY") or (
    "django-insecure-development-key-only" if DEBUG else ""
)
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=true for development).")

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "chat.context_processors.site",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets page views read while a reply writes its checkpoint.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": env(
                "CHANNEL_LAYER_BACKEND", "channels_redis.core.RedisChannelLayer"
            ),
            "CONFIG": {
                # redis-py's default 5 s socket timeout equals the layer's 5 s
                # blocking pop, which killed idle sockets (FIELD_NOTES.md).
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "capacity": envint("CHANNEL_LAYER_CAPACITY", 1000),
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": envint("CHANNEL_LAYER_CAPACITY", 1000)},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Hashed, compressed files need `collectstatic` first (deployment does it); without
# the manifest WhiteNoise serves straight from static/, so one process just works.
STATIC_MANIFEST = envbool("STATIC_MANIFEST", not DEBUG)
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
STATIC_ROOT = (
    env("STATIC_ROOT", str(BASE_DIR / "staticfiles")) if STATIC_MANIFEST else None
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Production hardening: on when DEBUG is off, each switchable for a plain-HTTP setup.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}

# The chat itself.
CHAT_ALLOW_SIGNUP = envbool("CHAT_ALLOW_SIGNUP", True)
OPENAI_API_KEY = env("OPENAI_API_KEY")
OPENAI_BASE_URL = env("OPENAI_BASE_URL")
# Provider: "openai" or "local"; unset means openai when a key is set, else local.
CHAT_PROVIDER = env("CHAT_PROVIDER") or ("openai" if OPENAI_API_KEY else "local")
CHAT_MODEL = env("CHAT_MODEL", "gpt-4o-mini" if CHAT_PROVIDER == "openai" else "")
CHAT_SYSTEM_PROMPT = env("CHAT_SYSTEM_PROMPT")
CHAT_REQUEST_TIMEOUT_S = envfloat("CHAT_REQUEST_TIMEOUT_S", 60)
CHAT_MAX_RETRIES = envint("CHAT_MAX_RETRIES", 0)
CHAT_FLUSH_MS = envint("CHAT_FLUSH_MS", 30)
CHAT_FLUSH_QUIET_MS = envfloat("CHAT_FLUSH_QUIET_MS", 5)
CHAT_CHECKPOINT_S = envfloat("CHAT_CHECKPOINT_S", 2)
CHAT_HEARTBEAT_S = envfloat("CHAT_HEARTBEAT_S", 2)
# A streaming answer with no checkpoint for this long belongs to a dead process.
CHAT_REAP_AFTER_S = envfloat("CHAT_REAP_AFTER_S", max(15.0, 5 * CHAT_CHECKPOINT_S))
CHAT_REAP_INTERVAL_S = envfloat("CHAT_REAP_INTERVAL_S", 10)
CHAT_MAX_MESSAGE_CHARS = envint("CHAT_MAX_MESSAGE_CHARS", 32000)
CHAT_HISTORY_MESSAGES = envint("CHAT_HISTORY_MESSAGES", 50)
CHAT_LOCAL_MODEL_PATH = env("CHAT_LOCAL_MODEL_PATH")
CHAT_LOCAL_MAX_TOKENS = envint("CHAT_LOCAL_MAX_TOKENS", 512)
CHAT_LOCAL_CONTEXT = envint("CHAT_LOCAL_CONTEXT", 2048)
CHAT_LOCAL_THREADS = envint("CHAT_LOCAL_THREADS", 0)
