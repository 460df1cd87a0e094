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
    # Only for `manage.py runserver`: daphne's app makes it serve ASGI (websockets).
    # The site itself is served by uvicorn: `python -m chatsite.serve`.
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
    # Above WhiteNoise, so static files (an SVG opened on its own) carry it too.
    "chatsite.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the cookie the switcher sets, else Accept-Language; then, for
    # someone logged in, the language saved in their profile (chat/i18n.py).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "chat.i18n.ProfileLanguageMiddleware",
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
        # Kept open: each process does its ORM work on one database thread, and a
        # new connection per checkpoint cost more than the UPDATE itself.
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets page views read while a reply writes its checkpoint; NORMAL
    # syncs at WAL checkpoints rather than at every commit (a power cut may lose
    # the last commits, never consistency).
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# On PostgreSQL, storing a turn (a send) runs on this many threads per process,
# each with a connection of its own, so a burst of sends does not queue on the one
# database thread (chat/dbthreads.py); 0 keeps it there. SQLite always does.
CHAT_DATABASE_THREADS = envint("CHAT_DATABASE_THREADS", 4)

# One URL per shard of the channel layer; with Sentinels, each URL's host names a
# master they monitor (chatsite/redis_servers.py, deploy/README.md).
REDIS_URLS = envlist("REDIS_URL", "")
REDIS_SENTINELS = envlist("REDIS_SENTINELS", "")
if REDIS_URLS:
    from chatsite.redis_servers import layer_backend, layer_hosts

    _redis_connect_timeout_s = envfloat("REDIS_CONNECT_TIMEOUT_S", 5)
    # Sizing and the measurements behind it: deploy/README.md.
    _redis_hosts = layer_hosts(
        REDIS_URLS,
        sentinels=REDIS_SENTINELS,
        # Above the core layer's 5 s blocking pop: redis-py's default of 5 s made
        # idle sockets die with 1011 (docs/FIELD_NOTES.md).
        socket_timeout=envfloat("REDIS_SOCKET_TIMEOUT_S", 30),
        socket_connect_timeout=_redis_connect_timeout_s,
        # Ping idle pooled connections so a firewall or NAT cannot cut them unseen.
        health_check_interval=envint("REDIS_HEALTH_CHECK_S", 15),
        # Every command in flight holds a pooled connection: a process needs about
        # one per socket connecting at once plus one per running answer. redis-py's
        # default of 100 made a burst of connects fail (docs/FIELD_NOTES.md).
        max_connections=envint("REDIS_MAX_CONNECTIONS", 1000),
    )
    CHANNEL_LAYER_BACKEND = layer_backend(
        env("CHANNEL_LAYER_BACKEND", "channels_redis.core.RedisChannelLayer"),
        shards=len(_redis_hosts),
    )
    if CHANNEL_LAYER_BACKEND.endswith("RedisPubSubChannelLayer"):
        # Pub/sub has no capacity or expiry: a message reaches whoever listens now.
        _layer_config = {"hosts": _redis_hosts}
    else:
        _layer_config = {
            "hosts": _redis_hosts,
            # Per process, not per socket: every socket of a process reads one
            # Redis list, so this is the backlog a process may fall behind by
            # before group_send drops (offsets and resync repair that).
            "capacity": envint("CHANNEL_LAYER_CAPACITY", 5000),
            # Seconds an unread message waits; a delta older than this is stale.
            "expiry": envint("CHANNEL_LAYER_EXPIRY_S", 60),
            # A socket's group membership lasts this long. The consumer closes a
            # socket after CHAT_SOCKET_MAX_AGE_S (12 h), well before, and the page
            # reconnects as a new member.
            "group_expiry": envint("CHANNEL_LAYER_GROUP_EXPIRY_S", 86400),
        }
    _layer_config["prefix"] = env("CHANNEL_LAYER_PREFIX", "asgi")
    CHANNEL_LAYERS = {
        "default": {"BACKEND": CHANNEL_LAYER_BACKEND, "CONFIG": _layer_config}
    }
    # The cache lives on the first shard only: Django's cache takes several URLs
    # as one writer and its read replicas, not as shards.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URLS[0],
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "chatsite"),
        }
    }
    if REDIS_SENTINELS:
        CACHES["default"]["OPTIONS"] = {
            "pool_class": "chatsite.redis_servers.SentinelCachePool",
            "sentinels": REDIS_SENTINELS,
            # A dead Sentinel or master must not hold a request for minutes.
            "socket_connect_timeout": _redis_connect_timeout_s,
        }
else:
    CHANNEL_LAYER_BACKEND = "chat.layers.InMemoryLayer"
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": CHANNEL_LAYER_BACKEND,
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

LANGUAGE_CODE = "en"
# Adding one: README, "How to add a language".
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
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
            "chatsite.storage.StaticFilesStorage"
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
# Content-Security-Policy of every response (chatsite/csp.py): everything from this
# origin only, no inline script or style anywhere (the page and the admin load
# theirs from /static/). 'self' in connect-src also allows ws:/wss: to this host.
SECURE_CSP = {
    "default-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}

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
# The models people may pick; empty: what the provider lists (GET /v1/models).
CHAT_MODELS = envlist("CHAT_MODELS", "")
# After the first answer, ask the model for a short title (not the local model).
CHAT_MODEL_TITLES = envbool("CHAT_MODEL_TITLES", True)
CHAT_SYSTEM_PROMPT = env("CHAT_SYSTEM_PROMPT")
# Add to the system prompt a sentence asking the model to answer in the language
# the person reads the site in (the model itself is not translated).
CHAT_ANSWER_IN_USER_LANGUAGE = envbool("CHAT_ANSWER_IN_USER_LANGUAGE", False)
# Send earlier answers' thinking back to the model, as <think>…</think> before
# their text (off: most reasoning models are trained without it).
CHAT_REASONING_IN_HISTORY = envbool("CHAT_REASONING_IN_HISTORY", False)
CHAT_REQUEST_TIMEOUT_S = envfloat("CHAT_REQUEST_TIMEOUT_S", 60)
CHAT_MAX_RETRIES = envint("CHAT_MAX_RETRIES", 0)
CHAT_FLUSH_MS = envint("CHAT_FLUSH_MS", 30)
CHAT_FLUSH_QUIET_MS = envfloat("CHAT_FLUSH_QUIET_MS", 5)
CHAT_CHECKPOINT_S = envfloat("CHAT_CHECKPOINT_S", 2)
# Render settled Markdown blocks while an answer streams (reply.blocks frames).
CHAT_LIVE_FORMAT = envbool("CHAT_LIVE_FORMAT", True)
CHAT_HEARTBEAT_S = envfloat("CHAT_HEARTBEAT_S", 2)
# A socket is closed (and the page reconnects) after this long: keep it below
# CHANNEL_LAYER_GROUP_EXPIRY_S, after which Redis would drop it from its group.
CHAT_SOCKET_MAX_AGE_S = envfloat("CHAT_SOCKET_MAX_AGE_S", 12 * 3600)
# A Server-Sent Events stream (chat/api/) sends a comment this often when idle, so
# proxies keep it open; it also ends after CHAT_SOCKET_MAX_AGE_S (the browser
# reconnects with Last-Event-ID).
CHAT_SSE_HEARTBEAT_S = envfloat("CHAT_SSE_HEARTBEAT_S", 15)
# How the page talks to the server: "auto" (a websocket, else Server-Sent Events
# plus POST after failed attempts), "websocket" or "sse" (always).
CHAT_TRANSPORT = env("CHAT_TRANSPORT", "auto").strip().lower()
if CHAT_TRANSPORT not in ("auto", "websocket", "sse"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("CHAT_TRANSPORT must be auto, websocket or sse.")
# A streaming answer with no checkpoint for this long belongs to a dead process.
CHAT_REAP_AFTER_S = envfloat("CHAT_REAP_AFTER_S", max(15.0, 5 * CHAT_CHECKPOINT_S))
CHAT_REAP_INTERVAL_S = envfloat("CHAT_REAP_INTERVAL_S", 10)
CHAT_MAX_MESSAGE_CHARS = envint("CHAT_MAX_MESSAGE_CHARS", 32000)
# The largest websocket frame the server reads (chatsite/serve.py), derived: the
# page's JSON.stringify writes a control character as a 6-byte \uXXXX escape (the
# worst case; UTF-8 is at most 4 bytes), plus room for the frame's other fields.
CHAT_WS_MAX_BYTES = CHAT_MAX_MESSAGE_CHARS * 6 + 4096
# Rendering an answer's Markdown (chat/render_budget.py): longer answers, or ones
# that take longer, are stored as plain text; worker processes per server process.
CHAT_RENDER_MAX_CHARS = envint("CHAT_RENDER_MAX_CHARS", 200_000)
CHAT_RENDER_TIMEOUT_S = envfloat("CHAT_RENDER_TIMEOUT_S", 2)
CHAT_RENDER_WORKERS = envint("CHAT_RENDER_WORKERS", 2)
# The largest file a person may import (chat/transfer/): an upload, or the
# conversations.json inside a zip. Files over Django's FILE_UPLOAD_MAX_MEMORY_SIZE
# (2.5 MB) are spooled to a temporary file while uploading; nginx's
# client_max_body_size for /transfer/import/ must allow it (deploy/nginx).
CHAT_IMPORT_MAX_BYTES = envint("CHAT_IMPORT_MAX_BYTES", 50_000_000)
# Limits per person (README "Limits and abuse"); a Profile may override the first
# three. On by default when DEBUG is off, so a public site is protected; 0 turns
# one off.
CHAT_MESSAGES_PER_MINUTE = envint("CHAT_MESSAGES_PER_MINUTE", 0 if DEBUG else 20)
CHAT_CONCURRENT_STREAMS = envint("CHAT_CONCURRENT_STREAMS", 0 if DEBUG else 3)
# Prompt + completion tokens a person may use per day (server time); 0: no quota.
CHAT_DAILY_TOKEN_QUOTA = envint("CHAT_DAILY_TOKEN_QUOTA", 0 if DEBUG else 200_000)
# Control frames (stop, resync, regenerate) per socket: a bucket of this many,
# refilled at this rate.
CHAT_CONTROL_BURST = envint("CHAT_CONTROL_BURST", 10)
CHAT_CONTROL_PER_MINUTE = envint("CHAT_CONTROL_PER_MINUTE", 60)
# Failed logins per username, and login/signup attempts per IP, in a window.
CHAT_LOGIN_FAILURES_PER_USERNAME = envint("CHAT_LOGIN_FAILURES_PER_USERNAME", 5)
CHAT_LOGIN_ATTEMPTS_PER_IP = envint("CHAT_LOGIN_ATTEMPTS_PER_IP", 30)
CHAT_LOGIN_WINDOW_S = envint("CHAT_LOGIN_WINDOW_S", 900)
# Bounds of one answer: the context sent (oldest turns dropped first), its length,
# and its total time.
CHAT_CONTEXT_TOKENS = envint("CHAT_CONTEXT_TOKENS", 16_000)
CHAT_MAX_TOKENS = envint("CHAT_MAX_TOKENS", 4096)
CHAT_REPLY_TIMEOUT_S = envfloat("CHAT_REPLY_TIMEOUT_S", 300)
CHAT_HISTORY_MESSAGES = envint("CHAT_HISTORY_MESSAGES", 50)
# A conversation page renders this many recent messages; older ones behind a link.
CHAT_PAGE_MESSAGES = envint("CHAT_PAGE_MESSAGES", 200)
# Moderation of messages and of answers as they stream: "" (off), "openai" (the
# moderation endpoint at OPENAI_BASE_URL), or a dotted path to a Moderator class.
CHAT_MODERATION = env("CHAT_MODERATION")
CHAT_MODERATION_MODEL = env("CHAT_MODERATION_MODEL", "omni-moderation-latest")
CHAT_MODERATION_INTERVAL_S = envfloat("CHAT_MODERATION_INTERVAL_S", 1)
# When the moderation service fails: "open" lets a person's message through (it is
# logged), "closed" refuses it (`moderation_unavailable`). Answers always fail open.
CHAT_MODERATION_FAIL = env("CHAT_MODERATION_FAIL", "open")
if CHAT_MODERATION_FAIL not in ("open", "closed"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("CHAT_MODERATION_FAIL must be open or closed.")
CHAT_LOCAL_MODEL_PATH = env("CHAT_LOCAL_MODEL_PATH")
CHAT_LOCAL_MAX_TOKENS = envint("CHAT_LOCAL_MAX_TOKENS", 512)
CHAT_LOCAL_CONTEXT = envint("CHAT_LOCAL_CONTEXT", 2048)
CHAT_LOCAL_THREADS = envint("CHAT_LOCAL_THREADS", 0)
# A fixed sampling seed makes the same prompt give the same answer (the bench, tests).
CHAT_LOCAL_SEED = int(env("CHAT_LOCAL_SEED")) if env("CHAT_LOCAL_SEED") else None

# Deployment (deploy/README.md). A load balancer polls /healthz and Prometheus
# scrapes /metrics over plain HTTP on the private network: no HTTPS redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
