"""All settings, read from the environment in this one module.

CIVICGRID_MODE=production turns on the hardening that `check --deploy` asks for and refuses to
start with DEBUG on, a default secret key or a missing encryption key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


PACKAGE_DIR = Path(__file__).resolve().parent.parent
# The repository root in a source checkout: node_modules lives there.
PROJECT_DIR = PACKAGE_DIR.parent.parent
VAR_DIR = Path(env("CIVICGRID_VAR_DIR", str(PROJECT_DIR / "var")))

MODE = env("CIVICGRID_MODE", "development")
if MODE not in {"development", "production"}:
    raise ImproperlyConfigured("CIVICGRID_MODE must be 'development' or 'production'.")
PRODUCTION = MODE == "production"
DEBUG = env_bool("CIVICGRID_DEBUG", False)

_DEV_SECRET_PREFIX = "civicgrid-development-only-"


def _development_secret() -> str:
    """A per-checkout secret so that sessions survive restarts of the demo."""
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = _DEV_SECRET_PREFIX + secrets.token_urlsafe(40)
        try:
            VAR_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(value)
        except OSError:
            pass
        return value


SECRET_KEY = env("CIVICGRID_SECRET_KEY") or _development_secret()

# 32 bytes as 64 hex digits: the master key for field encryption and blind indexes (core.crypto).
# Development and the demo keep a generated key in the var folder; production must set it.
ENCRYPTION_KEY = env("CIVICGRID_ENCRYPTION_KEY")


def _development_encryption_key() -> str:
    path = VAR_DIR / "encryption_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = secrets.token_hex(32)
        try:
            VAR_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(value)
            path.chmod(0o600)
        except OSError:
            pass
        return value


if not PRODUCTION and not ENCRYPTION_KEY:
    ENCRYPTION_KEY = _development_encryption_key()

if PRODUCTION:
    problems = []
    if DEBUG:
        problems.append("CIVICGRID_DEBUG must be off")
    if not env("CIVICGRID_SECRET_KEY") or SECRET_KEY.startswith(_DEV_SECRET_PREFIX):
        problems.append("CIVICGRID_SECRET_KEY must be set")
    elif len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        problems.append("CIVICGRID_SECRET_KEY must be at least 50 varied characters")
    if not ENCRYPTION_KEY:
        problems.append("CIVICGRID_ENCRYPTION_KEY must be set (civicgrid generate-key)")
    else:
        from civicgrid.core.crypto import load_master_key

        try:
            load_master_key(ENCRYPTION_KEY)
        except ImproperlyConfigured as exc:
            problems.append(str(exc).rstrip("."))
    if problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(problems) + ".")

ALLOWED_HOSTS = env_list("CIVICGRID_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "Refusing to start in production: CIVICGRID_ALLOWED_HOSTS must be set."
    )
CSRF_TRUSTED_ORIGINS = env_list("CIVICGRID_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "civicgrid.web.apps.CivicgridAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_tasks",
    "django_tasks_db",
    "civicgrid.core",
    "civicgrid.geo",
    "civicgrid.accounts",
    "civicgrid.catalog",
    "civicgrid.cases",
    "civicgrid.registry",
    "civicgrid.exchange",
    "civicgrid.insights",
    "civicgrid.fieldwork",
    "civicgrid.web",
]

MIDDLEWARE = [
    "civicgrid.core.middleware.ServerTimingMiddleware",  # off unless CIVICGRID_SERVER_TIMING
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "civicgrid.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "civicgrid.core.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

# Time in the database per request in a Server-Timing header (the benchmarks read it).
SERVER_TIMING = env_bool("CIVICGRID_SERVER_TIMING")

ROOT_URLCONF = "civicgrid.config.urls"
WSGI_APPLICATION = "civicgrid.config.wsgi.application"
ASGI_APPLICATION = "civicgrid.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "civicgrid.web.context_processors.navigation",
            ],
        },
    }
]

# --- database -------------------------------------------------------------------------------
DEFAULT_SQLITE = f"sqlite:///{VAR_DIR / 'civicgrid.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env("DATABASE_URL", DEFAULT_SQLITE))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front (no upgrade deadlocks); WAL lets
    # readers run beside the writer; synchronous=FULL makes "acknowledged" mean "on disk".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=FULL;"
            "PRAGMA busy_timeout=20000;PRAGMA foreign_keys=ON"
        ),
    }
    with contextlib.suppress(OSError):
        VAR_DIR.mkdir(parents=True, exist_ok=True)
    # A file, not memory, so that tests can run a real worker process against the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-civicgrid.sqlite3")}
else:
    # dj-database-url writes CONN_MAX_AGE=0 (a connection per request) into the dict: replace it.
    DATABASES["default"]["CONN_MAX_AGE"] = int(env("CIVICGRID_CONN_MAX_AGE", "60"))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["TEST"] = {"TEMPLATE": "template0", "CHARSET": "UTF8"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- accounts -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["civicgrid.accounts.backends.LockoutModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
SESSION_COOKIE_AGE = int(env("CIVICGRID_SESSION_SECONDS", str(8 * 3600)))
# API tokens expire; the holder obtains a new one with username and password.
API_TOKEN_DAYS = int(env("CIVICGRID_API_TOKEN_DAYS", "30"))
# Failed logins before an account is locked for LOGIN_LOCK_MINUTES.
LOGIN_MAX_FAILURES = int(env("CIVICGRID_LOGIN_MAX_FAILURES", "5"))
LOGIN_LOCK_MINUTES = int(env("CIVICGRID_LOGIN_LOCK_MINUTES", "15"))

# --- language and time ----------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env("CIVICGRID_TIME_ZONE", "Asia/Shanghai")
USE_TZ = True

# --- static and media -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("CIVICGRID_MEDIA_ROOT", str(VAR_DIR / "media")))
NODE_MODULES = Path(env("CIVICGRID_NODE_MODULES", str(PROJECT_DIR / "node_modules")))
# Front-end packages are installed by npm (package.json) and served from here, never a CDN.
STATICFILES_DIRS = [
    ("vendor/leaflet", NODE_MODULES / "leaflet" / "dist"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/alpinejs", NODE_MODULES / "alpinejs" / "dist"),
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
]
# Packages of which only a few files are used (core/finders.py): not their whole folder.
VENDOR_FILES = [
    ("vendor/echarts", NODE_MODULES / "echarts" / "dist", ["echarts.min.js"]),
]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "civicgrid.core.finders.VendorFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if env_bool("CIVICGRID_PLAIN_STATIC")
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_KEEP_ONLY_HASHED_FILES = False
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 50 * 1024 * 1024

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "civicgrid.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "civicgrid.core.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "civicgrid.core.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": "20/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "civicgrid API",
    "DESCRIPTION": "Grid-based community governance: divisions, grids, units, accounts, audit.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "GridKindEnum": "civicgrid.geo.choices.GridKind",
        "UnitKindEnum": "civicgrid.accounts.choices.UnitKind",
        "CoverageKindEnum": "civicgrid.geo.choices.CoverageKind",
        "ChangeKindEnum": "civicgrid.core.models.ChangeKind",
        "CaseStatusEnum": "civicgrid.cases.choices.Status",
        "JobStatusEnum": "civicgrid.core.models.JobStatus",
        "PriorityEnum": "civicgrid.catalog.choices.Priority",
        "BuildingUseEnum": "civicgrid.registry.choices.BuildingUse",
        "HouseUseEnum": "civicgrid.registry.choices.HouseUse",
        "OrganisationKindEnum": "civicgrid.registry.choices.OrganisationKind",
        "PlaceKindEnum": "civicgrid.registry.choices.PlaceKind",
        "IndicatorKindEnum": "civicgrid.insights.models.scorecards.IndicatorKind",
        "ScorecardRunStatusEnum": "civicgrid.insights.models.scorecards.RunStatus",
    },
}

# --- background work ------------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend"
            if env("CIVICGRID_TASKS", "database") == "immediate"
            else "django_tasks_db.DatabaseBackend"
        ),
        "QUEUES": ["default"],
    }
}
SWEEP_SECONDS = int(env("CIVICGRID_SWEEP_SECONDS", "60"))  # the task worker queues the SLA sweep
# How often the task workers bring the figures' rollups up to date (insights.rollup.refresh).
ROLLUP_SECONDS = int(env("CIVICGRID_ROLLUP_SECONDS", "30"))
# Reading figures first refreshes the rollups itself when no more marks than this wait.
ROLLUP_READ_REFRESH = int(env("CIVICGRID_ROLLUP_READ_REFRESH", "500"))
# Webhook delivery of the change feed (exchange/webhooks.py): how often the worker delivers, the
# receiver's time to answer, entries per POST, failures in a row before a delivery is "stuck",
# and the exponential backoff between attempts (first wait, ceiling).
WEBHOOK_SECONDS = int(env("CIVICGRID_WEBHOOK_SECONDS", "30"))
WEBHOOK_TIMEOUT = float(env("CIVICGRID_WEBHOOK_TIMEOUT", "5"))
WEBHOOK_BATCH = int(env("CIVICGRID_WEBHOOK_BATCH", "100"))
WEBHOOK_MAX_ATTEMPTS = int(env("CIVICGRID_WEBHOOK_MAX_ATTEMPTS", "10"))
WEBHOOK_RETRY_SECONDS = float(env("CIVICGRID_WEBHOOK_RETRY_SECONDS", "30"))
WEBHOOK_RETRY_MAX_SECONDS = float(env("CIVICGRID_WEBHOOK_RETRY_MAX_SECONDS", "3600"))
WEBHOOK_RUN_SECONDS = float(env("CIVICGRID_WEBHOOK_RUN_SECONDS", "20"))  # per run, all receivers

# --- field app ------------------------------------------------------------------------------
# The grid workers' offline app (fieldwork/): hours without an authenticated contact after which
# the phone wipes what it keeps; bytes per photo upload chunk; seconds between GPS track points;
# days after which incomplete or never used photo uploads are purged, and how often the task
# workers run that purge (`civicgrid purge-uploads`).
FIELD_WIPE_HOURS = int(env("CIVICGRID_FIELD_WIPE_HOURS", "72"))
FIELD_CHUNK_BYTES = int(env("CIVICGRID_FIELD_CHUNK_BYTES", "262144"))
FIELD_TRACK_SECONDS = int(env("CIVICGRID_FIELD_TRACK_SECONDS", "15"))
FIELD_UPLOAD_DAYS = int(env("CIVICGRID_FIELD_UPLOAD_DAYS", "7"))
FIELD_PURGE_SECONDS = int(env("CIVICGRID_FIELD_PURGE_SECONDS", "3600"))

# --- notifications ---------------------------------------------------------------------------
SMS_BACKEND = env("CIVICGRID_SMS_BACKEND", "civicgrid.core.sms.ConsoleBackend")

# --- maps -----------------------------------------------------------------------------------
# Intranet deployments have no basemap: the map draws vector layers alone unless a tile URL is
# configured. TILE_CRS says which datum the tiles use (gcj02 for AMap/Tencent tiles).
MAP_TILE_URL = env("CIVICGRID_TILE_URL")
MAP_TILE_ATTRIBUTION = env("CIVICGRID_TILE_ATTRIBUTION")
MAP_TILE_CRS = env("CIVICGRID_TILE_CRS", "wgs84")
if MAP_TILE_CRS not in {"wgs84", "gcj02"}:
    raise ImproperlyConfigured("CIVICGRID_TILE_CRS must be 'wgs84' or 'gcj02'.")
# Seconds between checks of the boundary version stamp by the in-process point→grid index.
LOCATE_INDEX_CHECK_SECONDS = float(env("CIVICGRID_LOCATE_CHECK_SECONDS", "2"))

# Grid sizing norm (DOMAIN.md §2); dedicated grids are exempt from the household norm.
GRID_SIZING = {
    "urban": {"min_households": 300, "max_households": 500, "max_residents": 2500},
    "rural": {"min_households": 200, "max_households": 400, "max_residents": 2500},
}
# Gaps and overlaps smaller than this (square metres) are rounding noise, not coverage faults.
COVERAGE_TOLERANCE_M2 = float(env("CIVICGRID_COVERAGE_TOLERANCE_M2", "1"))

# --- security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("CIVICGRID_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(env("CIVICGRID_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("CIVICGRID_HSTS_PRELOAD", True)
    if env_bool("CIVICGRID_BEHIND_PROXY"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # A reverse proxy terminates TLS; SSL redirect is checked by check --deploy but may be off.
    SILENCED_SYSTEM_CHECKS = [] if SECURE_SSL_REDIRECT else ["security.W008"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "civicgrid.core.context.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env("CIVICGRID_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

SITE_NAME = _("civicgrid")
