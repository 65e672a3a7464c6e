"""Settings for Infusion MAR, read from the environment.

DJANGO_ENV      development (default) or production.
DATABASE_URL    e.g. postgres://user@host:5432/name; unset: SQLite in db.sqlite3 beside manage.py.
REDIS_URL       Celery broker and result backend; unset: Celery runs tasks eagerly in-process.
SECRET_KEY      required in production.
ALLOWED_HOSTS   comma-separated; required in production.
CSRF_TRUSTED_ORIGINS  comma-separated origins (https://mar.example.org) behind the proxy.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DJANGO_ENV = os.environ.get("DJANGO_ENV", "development")
if DJANGO_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"DJANGO_ENV must be development or production, not {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEVELOPMENT_SECRET_KEY = "django-insecure-infusion-mar-development-only"

if PRODUCTION:
    try:
        SECRET_KEY = os.environ["SECRET_KEY"]
    except KeyError:
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_ENV=production") from None
    DEBUG = False
    ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_ENV=production")
else:
    # Development only: the fixed key is public, so with it the app answers only on this machine
    # (LOOPBACK_ONLY below: config.security.LoopbackOnlyMiddleware); production needs its own key.
    SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    DEBUG = os.environ.get("DEBUG", "1") == "1"
    ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
# DEBUG or the public key: refuse every request that does not come from this machine.
LOOPBACK_ONLY = not PRODUCTION and (DEBUG or SECRET_KEY == DEVELOPMENT_SECRET_KEY)

CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "mar",
    "coding",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's SessionMiddleware, except that background polls do not extend an idle session.
    "config.session.IdleSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a login unless its view is marked @login_not_required (an htmx request
    # without a session gets 401 + X-Session-Expired, for the page's sign-in dialog).
    "config.session.HtmxLoginRequiredMiddleware",
    # A plain form posted without a session (no JavaScript) is kept for the same user and put
    # back into its page after signing in again (config/form_refill.py).
    "config.form_refill.FormRefillMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"

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
                "mar.context_processors.role",
            ],
            # `{% load jinja %}`: a Jinja2 chart partial in a Django page (mar/jinja.py).
            "libraries": {"jinja": "mar.jinja"},
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    if DATABASE_URL
    else {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo's SQLite: a write waits for another to finish rather than failing at once. Each
    # transaction takes the write lock as it begins (IMMEDIATE: a read transaction that later
    # writes cannot deadlock with another and fail without waiting), and waits up to `timeout`
    # seconds for it (QA: an autosave and a button press at once answered 500 "database is
    # locked"). Django 5.1+.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The chart's reads (mar/prepared.py) are prepared statements on PostgreSQL, planned once per
# connection. Behind a pooler that does not keep a session's prepared statements across
# transactions (PgBouncer in transaction mode before 1.21), set PREPARED_STATEMENTS=0.
PREPARED_STATEMENTS = os.environ.get("PREPARED_STATEMENTS", "1") != "0"
# The audit trail and the signed-record guard are PostgreSQL triggers: SQLite (the demo) has
# neither, so production refuses it.
AUDIT_TRAIL = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if PRODUCTION and not AUDIT_TRAIL:
    raise ImproperlyConfigured(
        "DJANGO_ENV=production needs PostgreSQL (DATABASE_URL=postgres://...): the audit trail "
        "and the signed-record guard are PostgreSQL triggers, which SQLite does not have"
    )

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Shared tablets: a session idle for 30 minutes ends. What a person does pushes the expiry on, at
# most once a minute (SESSION_PUSH_SECONDS: a write of the session row per request cost three
# queries on every request, issue 19); the page's background polls never do (config/session.py).
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", 30 * 60))
SESSION_SAVE_EVERY_REQUEST = False
SESSION_PUSH_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# htmx sends the token from hx-headers on <body>, so no script needs to read the cookie.
CSRF_COOKIE_HTTPONLY = True
# An htmx request refused for its token gets an answer the page handles (config/session.py).
CSRF_FAILURE_VIEW = "config.session.csrf_failure"

LANGUAGE_CODE = "en-us"
# The hospital's zone; each encounter also carries its own IANA zone for the record.
TIME_ZONE = os.environ.get("TIME_ZONE", "America/New_York")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", str(BASE_DIR / "staticfiles"))
# Development and tests serve straight from static/ and the apps; production from collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION and not Path(STATIC_ROOT).is_dir():
    STATIC_ROOT = None  # type: ignore[assignment]  # nothing collected: whitenoise need not look
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The manifest needs collectstatic, which production runs at deploy time.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# The board's cards, each kept while its record has not changed (mar/board_cards.py): in each
# process's memory (a miss costs one board load as before; no round trip to a shared cache).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "board": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "board-cards",
        "TIMEOUT": 24 * 3600,
        "OPTIONS": {"MAX_ENTRIES": 5000},
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Celery: Redis when REDIS_URL is set; otherwise tasks run in-process so a first look needs nothing.
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
# A task is acknowledged after it ran, so a worker lost mid-task leaves it to be redelivered;
# the charge task is idempotent, which makes a second delivery harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# The FHIR API is not redirected to HTTPS: a redirect would come after the client had sent its
# token in the clear, and a client following it may turn a POSTed Bundle into a GET. Over plain
# HTTP it is refused instead (coding/fhir/views.py), when SECURE_SSL_REDIRECT is on.
SECURE_REDIRECT_EXEMPT = [r"^fhir/"]

if PRODUCTION:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 365 * 24 * 3600
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    CSRF_COOKIE_SECURE = True
    X_FRAME_OPTIONS = "DENY"

# --- Audit trail, signed-record guard, outbox, lockout, security headers (issue 7) ----------
# Database triggers (mar/audit/models.py, mar/audit/guard.py) are installed by `migrate`, not
# written into the tracked apps' migrations.
INSTALLED_APPS += ["pgtrigger", "pghistory", "mar.audit"]
if AUDIT_TRAIL:
    # The events list in the admin (its queries are PostgreSQL's): on SQLite there is no trail
    # to list (the demo's banner says so), and the page was a 500.
    INSTALLED_APPS.insert(INSTALLED_APPS.index("mar.audit"), "pghistory.admin")
PGTRIGGER_MIGRATIONS = False
PGTRIGGER_INSTALL_ON_MIGRATE = True
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "csp.middleware.CSPMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("csp.middleware.CSPMiddleware") + 1,
    "config.security.SecurityHeadersMiddleware",
)
# A charset other than UTF-8, or a NUL in a query or form value: 400 (config/security.py).
MIDDLEWARE.insert(
    MIDDLEWARE.index("config.security.SecurityHeadersMiddleware") + 1,
    "config.security.RequestTextMiddleware",
)
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "mar.audit.context.HistoryMiddleware",
)
if LOOPBACK_ONLY:
    MIDDLEWARE.insert(0, "config.security.LoopbackOnlyMiddleware")
# pghistory's middleware: only the methods that change something get a context.
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# The admin's events list (admin › Pghistory › Middleware events) shows who made each change and
# from which page (the context's user and URL) beside what changed, not only a context id.
PGHISTORY_ADMIN_MODEL = "pghistory.MiddlewareEvents"

# Content security policy (django-csp): only the app's own files, no inline <script>, no
# style="" attributes, no eval, nothing from another origin (every asset is vendored).
# Bootstrap's form controls draw their arrows and ticks with data: SVG images, hence img-src data:.
# CSP_REPORT_ONLY=1 in the environment sends the same policy as report-only, for trying a change.
INSTALLED_APPS += ["csp"]
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if os.environ.get("CSP_REPORT_ONLY", "") == "1":
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

# Lockout: this many failed sign-ins for one username from one address in the window.
AUTHENTICATION_BACKENDS = [
    "mar.audit.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOCKOUT_FAILURES = int(os.environ.get("LOCKOUT_FAILURES", 5))
# ... and this many from one address, whatever the usernames (mar/audit/lockout.py).
LOCKOUT_ADDRESS_FAILURES = int(os.environ.get("LOCKOUT_ADDRESS_FAILURES", 20))
LOCKOUT_WINDOW_SECONDS = int(os.environ.get("LOCKOUT_WINDOW_SECONDS", 15 * 60))
# Behind the TLS proxy every request comes from the proxy: the header it appends the client's
# address to, so the lockout is per device, not per proxy. Production runs behind the proxy, so
# that is its default (a sign-in without the header is refused, never counted against the
# proxy's address); set it empty to serve production without a proxy.
LOCKOUT_CLIENT_IP_HEADER = os.environ.get(
    "LOCKOUT_CLIENT_IP_HEADER", "HTTP_X_FORWARDED_FOR" if PRODUCTION else ""
)

# Charges outbox (coding/outbox.py): beat re-sends pending rows every CHARGE_OUTBOX_BEAT_SECONDS;
# a row sent but not done after CHARGE_OUTBOX_RESEND_AFTER_SECONDS is presumed lost (a Redis
# without persistence restarted) and sent again. Generation is idempotent, so that is safe.
CHARGE_OUTBOX_BEAT_SECONDS = float(os.environ.get("CHARGE_OUTBOX_BEAT_SECONDS", 60))
CHARGE_OUTBOX_RESEND_AFTER_SECONDS = int(os.environ.get("CHARGE_OUTBOX_RESEND_AFTER_SECONDS", 600))
# Publishing while Redis is down fails fast (the row stays pending) instead of holding the request.
CHARGE_OUTBOX_PUBLISH_RETRY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# A task runs at most CELERY_TASK_TIME_LIMIT seconds; the broker redelivers an unacknowledged
# task (worker killed) after the visibility timeout, which must stay above the longest run.
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", 300))
CELERY_TASK_SOFT_TIME_LIMIT = max(CELERY_TASK_TIME_LIMIT * 0.9, CELERY_TASK_TIME_LIMIT - 30)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 3600)),
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
    # How often a worker looks for unacknowledged tasks past the visibility timeout (kombu's
    # defaults: a scan every 10 s x 10 = 100 s); tests with a short timeout look every second.
    "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", 10)),
    "unacked_restore_throttle": int(os.environ.get("CELERY_UNACKED_RESTORE_THROTTLE", 10)),
}
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT")
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 10}
CELERY_BEAT_SCHEDULE = {
    "resend-pending-charges": {
        "task": "coding.outbox_resend_pending",
        "schedule": CHARGE_OUTBOX_BEAT_SECONDS,
    }
}

# The HL7 v2 MLLP listener (`manage.py hl7_listen`, mar/hl7/): where it listens, the largest
# message it takes (a larger one is answered AR) and how long a silent connection stays open.
HL7_MLLP_HOST = os.environ.get("HL7_MLLP_HOST", "0.0.0.0")
HL7_MLLP_PORT = int(os.environ.get("HL7_MLLP_PORT", 2575))
HL7_MAX_MESSAGE_BYTES = int(os.environ.get("HL7_MAX_MESSAGE_BYTES", 1_000_000))
HL7_IDLE_SECONDS = float(os.environ.get("HL7_IDLE_SECONDS", 300))

# The ICD-10-CM list an order's indication is checked against (mar/registration/icd10.py): unset,
# the shipped sample (a code outside it is accepted with a warning); set, the full list of
# billable codes (CMS's icd10cm-codes-YYYY.txt, or a CSV code,description), a code outside it
# refused. ICD10CM_FY names its fiscal year in the refusal.
ICD10CM_FILE = os.environ.get("ICD10CM_FILE", "")
ICD10CM_FY = os.environ.get("ICD10CM_FY", "")
