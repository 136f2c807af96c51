"""Earshot settings: one module, every deployment difference read from the environment.

Local development needs no variables at all (the local PostgreSQL, in-memory channel layer,
files under ./media). Production sets DJANGO_DEBUG=false, DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS,
DATABASE_URL, REDIS_URL and optionally the S3 variables; `check --deploy` then passes.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from portal import logging as portal_logging

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Outside DEBUG there is no fallback key: a published default would let anyone sign sessions and
# password-reset links, so the server refuses to start instead (make run makes a key of the
# machine's own in var/; tests, CI, docker-compose and the k8s Secret set one).
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is not set; it is required when DJANGO_DEBUG is false.")
    SECRET_KEY = "django-insecure-local-development-only-never-use-this-key-in-production"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# Production runs behind TLS: cookies only over HTTPS, HSTS, redirect plain HTTP. On by default
# outside DEBUG, so a deployment that forgets the variable is secure; DJANGO_HTTPS=false turns it
# off explicitly (tests, benchmarks, docker-compose on a laptop).
HTTPS = env.bool("DJANGO_HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS and env.bool("DJANGO_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes and scrapes speak plain HTTP
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "daphne",
    # First, so its db_worker (the tasks worker with a heartbeat) overrides django-tasks-db's.
    "portal",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # GIN trigram indexes of the catalog search
    "channels",
    "django_tasks_db",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "catalog",
    "recognition",
    "recognition.monitors",
]

MIDDLEWARE = [
    "portal.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.ApiKeyUsageMiddleware",  # requests and errors per API key, counted in Redis
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
WSGI_APPLICATION = "portal.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/earshot"),
}
# Connections are kept a minute by the thread that opened them: Daphne's requests run on a few
# long-lived threads (EARSHOT_SYNC_THREADS), so a request no longer pays a connection and a new
# PostgreSQL process (docs/decisions.md, The API at 8 clients).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# No JIT: PostgreSQL overrates the cost of stage 1's index probes on a large table and compiles
# them with LLVM, which takes longer than running them; no query of the portal runs long enough
# to win the compilation back (docs/decisions.md).
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options["options"] = f"{_db_options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Redis carries the channel layer and the cache (throttles, websocket session counts) when set;
# a single local process can do without it.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Longer than the layer's blocking 5 s BZPOPMIN: redis-py 8's default socket timeout
            # of 5 s ends that read with an error, which kills the consumer (channels_redis#422).
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="earshot"),
        }
    }
    # Sessions live in Redis, not in a table, so a database dump holds no live session key (G19);
    # a Redis restart signs everyone out, which is the price (docs/decisions.md).
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Serve from the app folders when `collectstatic` has not run (tests, a fresh checkout).
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "media")))

# Uploaded audio goes through Django's storage API: local files by default, S3 (or any
# S3-compatible server) when a bucket is configured.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default=None)
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default=None)
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default=None)
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_S3_FILE_OVERWRITE = False
    default_storage = {"BACKEND": "storages.backends.s3.S3Storage"}
else:
    default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": default_storage,
    "staticfiles": {"BACKEND": "portal.storage.StaticStorage"},
}
# `manage.py storage_sweep` (a CronJob) deletes stored media no row names once it is this old:
# an hour is far beyond the longest upload plus the commit of its row.
EARSHOT_STORAGE_SWEEP_GRACE_S = env.int("EARSHOT_STORAGE_SWEEP_GRACE_S", default=3600)

# Background jobs (uploads, API jobs) through django.tasks, stored in PostgreSQL and run by
# `manage.py db_worker`. Tests run them immediately. Webhook deliveries have their own queue and
# worker (`db_worker --queue-name webhooks`): a slow receiver must not hold up upload jobs.
TASKS = {
    "default": {
        "BACKEND": env.str("DJANGO_TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "webhooks"],
    }
}

# Request bodies: uploads may be large, everything else small. Both are enforced in front of
# Django (portal.middleware.BodySizeLimit) so an oversized body is refused before it is spooled.
EARSHOT_MAX_UPLOAD_BYTES = env.int("EARSHOT_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
EARSHOT_MAX_BODY_BYTES = env.int("EARSHOT_MAX_BODY_BYTES", default=5 * 1024 * 1024)
# Past this many recognitions and uploads in flight in one process, new ones get 503 at once.
EARSHOT_MAX_QUEUED_HEAVY = env.int("EARSHOT_MAX_QUEUED_HEAVY", default=8)
# Long-lived threads for the synchronous part of HTTP requests in a Daphne process, each keeping its
# database connection (portal/sync_threads.py); requests beyond them get a thread of their own.
EARSHOT_SYNC_THREADS = env.int("EARSHOT_SYNC_THREADS", default=8)
EARSHOT_UPLOAD_PATHS = ("/uploads/new/", "/api/v1/recognitions", "/api/v1/tracks", "/admin/catalog/track/")
# The upload paths' large allowance goes only to requests with a session cookie or an API key
# (portal.bodies), and to this many at a time per process: Daphne holds each such body in memory,
# so two 200 MiB uploads cost a process about 400 MiB; the rest get 503 + Retry-After on their head
# (docs/decisions.md, EARSHOT_MAX_LARGE_BODIES).
EARSHOT_MAX_LARGE_BODIES = env.int("EARSHOT_MAX_LARGE_BODIES", default=2)
# Decoded audio is capped: an hour of recording to recognise; references may be longer (mixes).
EARSHOT_MAX_REFERENCE_SECONDS = env.float("EARSHOT_MAX_REFERENCE_SECONDS", default=2 * 3600)
EARSHOT_MAX_QUERY_SECONDS = env.float("EARSHOT_MAX_QUERY_SECONDS", default=3600)
EARSHOT_DECODE_TIMEOUT_S = env.float("EARSHOT_DECODE_TIMEOUT_S", default=120)
# Clips sped up or slowed (-20 to +25 %), transposed (2 semitones) or stretched (10 %) are found by
# the engine's wide retries; audio that matches nothing pays for them, more so in a very large
# catalog, where a deployment may turn them off (docs/decisions.md, WIDE_SHARE).
EARSHOT_WIDE_RETRIES = env.bool("EARSHOT_WIDE_RETRIES", default=True)
# Clips and a long input's windows that match nothing are looked at once more with denser peaks,
# which finds music under a voice-over; audio that matches nothing pays for it, so a deployment
# may turn it off (docs/decisions.md, dense_params).
EARSHOT_DENSE_LOOK = env.bool("EARSHOT_DENSE_LOOK", default=True)
# A clip that matches nothing as heard asks its later looks' lookups ahead, on one helper
# connection a process, while its own work goes on (docs/decisions.md, ask_ahead); false: each
# lookup waits its turn (fewer connections and no lookup made for a look the clip never takes).
EARSHOT_ASK_AHEAD = env.bool("EARSHOT_ASK_AHEAD", default=True)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# One JSON object per log line, with the request id (portal.logging).
LOGGING = portal_logging.logging_config(env.str("DJANGO_LOG_LEVEL", default="INFO"))
portal_logging.configure()

# Live listening (the record page's socket; docs/operations.md). Anonymous listeners get less.
EARSHOT_LISTEN = {
    "max_message_bytes": 64 * 1024,
    "max_messages_per_s": 10,
    "max_audio_s": env.float("EARSHOT_LISTEN_MAX_AUDIO_S", default=20.0),
    "anonymous_max_audio_s": env.float("EARSHOT_LISTEN_ANONYMOUS_MAX_AUDIO_S", default=12.0),
    "max_session_s": env.float("EARSHOT_LISTEN_MAX_SESSION_S", default=30.0),
    "sockets": env.int("EARSHOT_LISTEN_SOCKETS", default=3),
    # Per server process: past this many open sockets, a new one is closed with 4503 at once.
    "max_open_per_process": env.int("EARSHOT_LISTEN_MAX_OPEN", default=40),
    "anonymous_sockets": env.int("EARSHOT_LISTEN_ANONYMOUS_SOCKETS", default=2),
    # Sessions started per listener (a user; anonymous: an IPv4 address or IPv6 /64), so closing
    # and reopening cannot buy unlimited recognitions: a person tries a song every 15 s at most.
    "starts_burst": env.int("EARSHOT_LISTEN_STARTS_BURST", default=10),
    "starts_per_minute": env.float("EARSHOT_LISTEN_STARTS_PER_MINUTE", default=20.0),
    "anonymous_starts_burst": env.int("EARSHOT_LISTEN_ANONYMOUS_STARTS_BURST", default=6),
    "anonymous_starts_per_minute": env.float("EARSHOT_LISTEN_ANONYMOUS_STARTS_PER_MINUTE", default=6.0),
}

# Sign-up and log-in attempts (accounts/limits.py): (burst, refill per hour) per bucket. A network
# is an IPv4 address or an IPv6 /64; offices behind one NAT share it, hence the generous burst.
# Only failed log-ins count against a username: 10 at once then one every 2 minutes is too slow
# to guess a password that passes the validators, and a typo-prone owner still gets in.
EARSHOT_SIGN_IN = {
    "login_per_address": (env.int("EARSHOT_LOGIN_BURST_PER_ADDRESS", default=30), 120),
    "login_failures_per_username": (10, 30),
    "sign_up_per_address": (env.int("EARSHOT_SIGN_UP_BURST_PER_ADDRESS", default=10), 20),
    "sign_up_per_username": (5, 10),
}
# Proxies whose X-Forwarded-For is believed (addresses or networks, e.g. the ingress's pod
# network); from anyone else the header is dropped (portal/client_address.py).
EARSHOT_TRUSTED_PROXIES = env.list("EARSHOT_TRUSTED_PROXIES", default=[])

# Secrets the server reads back (webhook signing secrets) are encrypted with this key
# (derived from DJANGO_SECRET_KEY when unset).
EARSHOT_ENCRYPTION_KEY = env.str("EARSHOT_ENCRYPTION_KEY", default="")
# The catalog search's plan (catalog.selectors.TrackSearch): "auto" picks the union of trigram ids or
# the walk in title order from PostgreSQL's estimate of the matches; tests force either.
EARSHOT_SEARCH_PLAN = "auto"

# Partner API (Django REST framework).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Who may call the API at all and what a key opens; views with permissions of their own list it first.
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.ApiAccess"],
    "DEFAULT_THROTTLE_CLASSES": ["portal.throttling.ApiRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.exceptions.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Quotas on what a free account can cost (issue 36, docs/operations.md G26; read in
# recognition/services/quotas.py, accounts/services.py and portal/throttling.py):
# - upload jobs (page uploads and long API recordings): at most `jobs_in_flight` waiting or
#   processing and `jobs_per_day` in any 24 hours per user; kept media at most `kept_bytes` per
#   user, deleted `kept_days` after upload (`manage.py requeue_uploads` sweeps it);
# - API keys: at most EARSHOT_API_KEYS_PER_USER usable (not revoked) keys per user;
# - API requests: a token bucket per user of `burst` requests refilled at `rate_per_minute`, and
#   within it one per key (`key_*`; 0, the default, gives a key its user's figures: one key may
#   use the whole budget, and more keys never buy more requests). Shared by every process through Redis (the limits
#   AcoustID and ACRCloud publish are ~3 requests/s).
EARSHOT_UPLOAD_QUOTAS = {
    "jobs_in_flight": env.int("EARSHOT_UPLOAD_JOBS_IN_FLIGHT", default=3),
    "jobs_per_day": env.int("EARSHOT_UPLOAD_JOBS_PER_DAY", default=50),
    "kept_bytes": env.int("EARSHOT_UPLOAD_KEPT_BYTES", default=1024 * 1024 * 1024),
    "kept_days": env.int("EARSHOT_UPLOAD_KEPT_DAYS", default=30),
}
EARSHOT_API_KEYS_PER_USER = env.int("EARSHOT_API_KEYS_PER_USER", default=5)
EARSHOT_API_THROTTLE = {
    "rate_per_minute": env.float("EARSHOT_API_RATE_PER_MINUTE", default=120.0),
    "burst": env.int("EARSHOT_API_BURST", default=20),
    "key_rate_per_minute": env.float("EARSHOT_API_KEY_RATE_PER_MINUTE", default=0.0),
    "key_burst": env.int("EARSHOT_API_KEY_BURST", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Earshot API",
    "DESCRIPTION": (
        "Music recognition for partners: send a clip, get the song and where it plays; send a long "
        "recording, get every song in it. Authenticate with `Authorization: Api-Key <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
# Webhook URLs must reach public hosts over http(s); tests allow loopback receivers.
EARSHOT_WEBHOOKS_ALLOW_PRIVATE = env.bool("EARSHOT_WEBHOOKS_ALLOW_PRIVATE", default=False)
EARSHOT_WEBHOOK_TIMEOUT_S = 5.0
# Webhooks per account, and failed attempts in a row after which a webhook is switched off (with
# the reason shown): 20 is more than three deliveries' worth of retries (about 2.5 h each).
EARSHOT_WEBHOOKS_PER_USER = env.int("EARSHOT_WEBHOOKS_PER_USER", default=10)
EARSHOT_WEBHOOK_DISABLE_AFTER = env.int("EARSHOT_WEBHOOK_DISABLE_AFTER", default=20)
# Monitors (recognition/monitors/): who may have how many, how many one worker runs, and how long
# a worker's lease lasts without a heartbeat (another worker takes the monitor after that).
# Monitored stream URLs must reach public hosts too (portal/outbound.py); tests, development and
# on-premise installs whose radio streams live on the local network turn private sources on.
EARSHOT_MONITOR_PRIVATE_SOURCES = env.bool("EARSHOT_MONITOR_PRIVATE_SOURCES", default=False)
EARSHOT_MONITORS_PER_USER = env.int("EARSHOT_MONITORS_PER_USER", default=20)
EARSHOT_MONITORS_PER_WORKER = env.int("EARSHOT_MONITORS_PER_WORKER", default=60)
EARSHOT_MONITOR_LEASE_S = env.float("EARSHOT_MONITOR_LEASE_S", default=20.0)
EARSHOT_MONITOR_FAILED_RETRY_S = env.float("EARSHOT_MONITOR_FAILED_RETRY_S", default=600.0)
