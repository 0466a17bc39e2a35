"""Settings for taisly-dash, read from the environment (see .env.example).

Development needs no environment at all. ``DJANGO_ENV=production`` refuses to start on a default
``SECRET_KEY``, ``DEBUG`` on, no ``ALLOWED_HOSTS``, no ``DATABASE_URL``, or missing or malformed
encryption keys for stored Taisly keys.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from taisly_dash import logs
from taisly_dash.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DJANGO_ENV = env_choice("DJANGO_ENV", ("development", "test", "production"), "development")
PRODUCTION = DJANGO_ENV == "production"
TESTING = DJANGO_ENV == "test" or "pytest" in sys.modules

_DEV_SECRET_KEY = "dev-insecure-secret-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", not PRODUCTION and not TESTING)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Stored Taisly keys are encrypted with these (MultiFernet, newest first), never with SECRET_KEY.
TAISLY_DASH_ENCRYPTION_KEYS = env_list("TAISLY_DASH_ENCRYPTION_KEYS", [])
if not TAISLY_DASH_ENCRYPTION_KEYS and not PRODUCTION:
    # A fixed development key so `make run` works with no environment. Never used in production.
    TAISLY_DASH_ENCRYPTION_KEYS = ["ZGV2LW9ubHktZmVybmV0LWtleS1ub3Qtc2VjcmV0ISE="]


def _check_fernet_keys(keys: list[str]) -> None:
    """Refuse a malformed key now, at start-up, not at the first page that reads a stored key.
    The sentence says which position is wrong, never the value (it is a secret)."""
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"TAISLY_DASH_ENCRYPTION_KEYS: value {position} of {len(keys)} is not a Fernet "
                "key (44 characters of url-safe base64 for 32 bytes). Make one with "
                "`python manage.py generate_encryption_key`."
            ) from None


_check_fernet_keys(TAISLY_DASH_ENCRYPTION_KEYS)

# The keyed fingerprint of a stored Taisly key (HMAC-SHA256 under this secret, never the key), so
# connections holding the same key share one quota. Apart from SECRET_KEY and the encryption
# keys; changing it makes every stored fingerprint stale (they are recomputed on next use).
_DEV_FINGERPRINT_KEY = "dev-only-taisly-key-fingerprint-secret"  # noqa: S105
TAISLY_DASH_FINGERPRINT_KEY = env_str("TAISLY_DASH_FINGERPRINT_KEY", "") or (
    "" if PRODUCTION else _DEV_FINGERPRINT_KEY
)

if PRODUCTION:
    if SECRET_KEY == _DEV_SECRET_KEY or not SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("Set SECRET_KEY (at least 32 characters) in production.")
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production.")
    if not TAISLY_DASH_ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "Set TAISLY_DASH_ENCRYPTION_KEYS (or TAISLY_DASH_ENCRYPTION_KEYS_FILE) in production."
        )
    if len(TAISLY_DASH_FINGERPRINT_KEY) < 32:
        raise ImproperlyConfigured(
            "Set TAISLY_DASH_FINGERPRINT_KEY (or TAISLY_DASH_FINGERPRINT_KEY_FILE, at least 32 "
            "random characters, not the encryption keys) in production."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("Set ALLOWED_HOSTS in production.")
    if not env_str("DATABASE_URL"):
        # The SQLite default would quietly put production data in a file inside the image.
        raise ImproperlyConfigured(
            "Set DATABASE_URL in production: postgres://user:password@host:5432/name, or "
            "sqlite:////absolute/path/db.sqlite3 for a single machine."
        )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "bulma",
    "django_q",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "accounts",
    "posting",
    "oversight",
    "sandbox",
    # The project itself: the request id carried into tasks (taisly_dash/apps.py).
    "taisly_dash",
]

MIDDLEWARE = [
    # First: every log line of a request carries its id (taisly_dash/requestid.py), and the
    # metrics time the whole of it (taisly_dash/metrics/requests.py).
    "taisly_dash.requestid.RequestIdMiddleware",
    "taisly_dash.metrics.requests.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF: a body's limits and upload handlers are set before anything reads it.
    "taisly_dash.request_body.RequestBodyMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in user's own time zone and language, on every request.
    "accounts.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # allauth's sign-in stages (verification, two-factor code) and its redirects.
    "allauth.account.middleware.AccountMiddleware",
    # A workspace that requires two-factor sign-in sends members without it to set it up.
    "accounts.middleware.TwoFactorRequiredMiddleware",
    # 422 for a refused form on allauth's pages too (ours set it themselves).
    "accounts.middleware.RefusedFormStatusMiddleware",
]

ROOT_URLCONF = "taisly_dash.urls"
WSGI_APPLICATION = "taisly_dash.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "accounts.context_processors.workspaces",
            ],
        },
    },
]

# --- Databases ------------------------------------------------------------------------------
# The dashboard: PostgreSQL in production and CI, a SQLite file by default. SQLite runs in WAL mode
# with a busy timeout because the qclusters (ORM broker) write to the same file as the web process.
_SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}


#: Seconds a web thread or worker keeps its database connection; 0 (Django's default): a new
#: one per request. A new PostgreSQL connection starts a server process with cold catalog
#: caches, which every request then pays for; production with PostgreSQL should set 60
#: (README, "Configuration"), at the cost of one held connection per web thread and worker
#: (count them against max_connections; keep 0 behind a pooler in transaction mode). Health
#: checks drop a broken connection before it is used.
DATABASE_CONN_MAX_AGE = env_int("DATABASE_CONN_MAX_AGE", 0)


def _database(url: str) -> dict:
    try:
        config = dj_database_url.parse(
            url, conn_max_age=DATABASE_CONN_MAX_AGE, conn_health_checks=True
        )
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"Cannot read database URL {url.split('@')[-1]!r}: {exc}"
        ) from exc
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**_SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    return config


DATABASES = {
    "default": _database(env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")),
    # The sandbox (a fake Taisly) keeps its state apart, as a real remote API would.
    "sandbox": _database(
        env_str("SANDBOX_DATABASE_URL", f"sqlite:///{BASE_DIR / 'sandbox.sqlite3'}")
    ),
}
DATABASE_ROUTERS = ["sandbox.routers.SandboxRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING and not PRODUCTION:
    # Tests create many users; the real hasher's deliberate slowness (about a second a user on a
    # small CI machine) would dominate the run. Never used outside tests.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
# allauth's backend logs in by email (case-insensitive); Django's own serves the admin's
# password check and force_login in tests.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# Closed deployments switch sign-up off; people then join only through an invitation.
ACCOUNT_SIGNUP_OPEN = env_bool("ACCOUNT_SIGNUP_OPEN", True)
INVITATION_EXPIRY_DAYS = env_int("INVITATION_EXPIRY_DAYS", 7, minimum=1)
# Invitation emails carry a workspace name the inviter chose: only verified accounts send them,
# and at most this many an hour per inviter and per invited address (counted in the database,
# so every web process sees the same count).
INVITATIONS_PER_INVITER_PER_HOUR = env_int("INVITATIONS_PER_INVITER_PER_HOUR", 20, minimum=1)
INVITATIONS_PER_ADDRESS_PER_HOUR = env_int("INVITATIONS_PER_ADDRESS_PER_HOUR", 3, minimum=1)
# Review links (a client reviews drafts without an account): days a link stays valid, and at
# most this many links an hour per sender and per address (counted in the database, like the
# invitations). Opening a link is limited per IP, counted by allauth's rate limiter in the cache.
REVIEW_LINK_DAYS = env_int("REVIEW_LINK_DAYS", 7, minimum=1)
REVIEW_LINKS_PER_SENDER_PER_HOUR = env_int("REVIEW_LINKS_PER_SENDER_PER_HOUR", 20, minimum=1)
REVIEW_LINKS_PER_ADDRESS_PER_HOUR = env_int("REVIEW_LINKS_PER_ADDRESS_PER_HOUR", 5, minimum=1)
REVIEW_LINK_OPENS_PER_MINUTE = env_int("REVIEW_LINK_OPENS_PER_MINUTE", 20, minimum=1)
# Comments and decisions through one review link (each one emails the team).
REVIEW_LINK_POSTS_PER_HOUR = env_int("REVIEW_LINK_POSTS_PER_HOUR", 30, minimum=1)

# --- Accounts (django-allauth) ----------------------------------------------------------------
# Email is the login; there is no username. Addresses are verified by an emailed link, but an
# unverified account may sign in ("optional") and use its personal workspace: joining anyone
# else's workspace needs a verified address, which accounts.services.invitation_accept checks.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {
    "login": "accounts.forms.LoginForm",
    "reset_password": "accounts.forms.ResetPasswordForm",
    "signup": "accounts.forms.SignUpForm",
}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "optional"
# One address per account; a new one replaces it only once it is verified.
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_SESSION_REMEMBER = True  # as before: a session lasts until logging out or expiry
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[taisly-dash] "
# Nobody learns from sign-up or password reset whether an address has an account: both answer
# as for a new address, and the owner of a taken address gets an email saying so. allauth can
# only hide a taken address when sign-up waits for verification, so sign-up does
# (accounts.views_auth.SignupView); logging in still works before the address is verified.
ACCOUNT_PREVENT_ENUMERATION = True
# Following the link in the browser that signed up logs it in (allauth does so only where the
# session holds that sign-up; anywhere else the link asks to log in first).
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# A borrowed session must not take the account over: changing the email address, setting up or
# turning off two-factor sign-in (allauth's), and a workspace's Taisly key or showing a
# webhook's secret (ours, accounts.reauth) ask for the password again (or a two-factor code)
# when it was last given more than ACCOUNT_REAUTHENTICATION_TIMEOUT seconds ago. Changing the
# password asks for the current one on its own form. An emailed code is not offered: whoever
# holds the session may also read the inbox on the same machine.
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = env_int("ACCOUNT_REAUTHENTICATION_TIMEOUT", 300, minimum=30)
ACCOUNT_REAUTHENTICATION_METHODS = ("password", "mfa")
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
# The one login rate limiter (django-axes was removed): allauth counts failed passwords per
# address and per IP, and also limits two-factor codes, sign-ups, reset and verification emails,
# which axes never saw. Five failures for one address lock it for LOGIN_COOLOFF_MINUTES; the
# per-IP limit is generous, so one typo streak cannot shut out an agency office behind one NAT.
# Its counters live in the cache below (shared by every process).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1)
ACCOUNT_RATE_LIMITS = {
    "login_failed": f"30/m/ip,{LOGIN_FAILURE_LIMIT}/{LOGIN_COOLOFF_MINUTES}m/key",
}
# Behind a reverse proxy every request comes from the proxy's address: without these, the per-IP
# limits above count the whole site as one visitor (30 wrong passwords a minute, anyone's, and
# nobody can log in). Trust the proxies you run (their X-Forwarded-For), or the one header your
# proxy sets to the client's address (e.g. X-Real-IP, CF-Connecting-IP). Default: trust none.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("ALLAUTH_TRUSTED_PROXY_COUNT", 0, minimum=0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = env_str("ALLAUTH_TRUSTED_CLIENT_IP_HEADER", "") or None

# Two-factor sign-in: an authenticator app (TOTP) with recovery codes. Passkeys are left out for
# now: they need their own browser flow and tests.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "taisly-dash"
# TOTP secrets and recovery-code seeds are stored encrypted, under the Taisly keys' key list.
MFA_ADAPTER = "accounts.adapter.MFAAdapter"
MFA_REAUTHENTICATION_REQUIRED = True  # allauth's default, said out loud
# The code page says a recovery code works too.
MFA_FORMS = {
    "authenticate": "accounts.forms.TwoFactorCodeForm",
    "reauthenticate": "accounts.forms.TwoFactorReauthenticateForm",
}
# Staff always need two-factor sign-in in production before any oversight page.
STAFF_REQUIRE_2FA = PRODUCTION

# allauth's rate limits count in the cache, so every web process must see the same one: the
# database. `migrate` makes its table (accounts' 0008_cache_table); a cache added here later needs
# `manage.py createcachetable`.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "taisly_dash_cache",
    }
}

# --- Language and time ------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("id", _("Bahasa Indonesia"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# --- Static and media -------------------------------------------------------------------------
STATIC_URL = "static/"
# collectstatic's target; production only (elsewhere whitenoise serves from the finders).
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles") if PRODUCTION else None)
WHITENOISE_USE_FINDERS = not PRODUCTION
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"
# Uploads go to a temp dir on the same filesystem as media storage, so saving is a rename (with a
# bucket, below, they are sent there from it). Each machine has its own.
# Made here (Django's checks refuse a missing one); the daily cleanup removes abandoned files.
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR") or str(MEDIA_ROOT / "tmp")
try:
    Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
except OSError as exc:
    raise ImproperlyConfigured(f"FILE_UPLOAD_TEMP_DIR {FILE_UPLOAD_TEMP_DIR!r}: {exc}") from exc


def _media_storage() -> dict:
    """Where kept videos live: MEDIA_ROOT on local disk, or an S3-compatible bucket
    (django-storages) once STORAGE_S3_BUCKET is set; anything else about a bucket without the
    bucket itself is a mistake, refused here rather than silently kept on one machine's disk.

    The bucket stays private: no ACL is sent with an object (it takes the bucket's, private
    unless someone made the bucket public), and every URL the storage makes is signed and
    expires. Object names are random (``posting.sending.receive``), never the uploaded name."""
    bucket = env_str("STORAGE_S3_BUCKET", "").strip()
    given = {
        "STORAGE_S3_ENDPOINT_URL": env_str("STORAGE_S3_ENDPOINT_URL", "").strip(),
        "STORAGE_S3_REGION": env_str("STORAGE_S3_REGION", "").strip(),
        "STORAGE_S3_ACCESS_KEY_ID": env_str("STORAGE_S3_ACCESS_KEY_ID", "").strip(),
        "STORAGE_S3_SECRET_ACCESS_KEY": env_str("STORAGE_S3_SECRET_ACCESS_KEY", "").strip(),
        "STORAGE_S3_ADDRESSING_STYLE": env_str("STORAGE_S3_ADDRESSING_STYLE", "").strip(),
    }
    if not bucket:
        stray = [name for name, value in given.items() if value]
        if stray:
            raise ImproperlyConfigured(
                f"{', '.join(stray)} set, but STORAGE_S3_BUCKET is not: set the bucket to keep "
                "videos in S3-compatible storage, or unset these to keep them on local disk."
            )
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    endpoint = given["STORAGE_S3_ENDPOINT_URL"]
    key_id, secret = given["STORAGE_S3_ACCESS_KEY_ID"], given["STORAGE_S3_SECRET_ACCESS_KEY"]
    if bool(key_id) != bool(secret):
        raise ImproperlyConfigured(
            "Set both STORAGE_S3_ACCESS_KEY_ID and STORAGE_S3_SECRET_ACCESS_KEY, or neither "
            "(boto3 then finds credentials itself: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or the machine's role)."
        )
    parsed = urlsplit(endpoint)
    if endpoint and (parsed.scheme not in ("http", "https") or not parsed.hostname):
        raise ImproperlyConfigured(
            f"STORAGE_S3_ENDPOINT_URL must be an http(s) URL such as https://s3.example.com, not "
            f"{endpoint!r}."
        )
    # Path style (https://host/bucket/key) for a named endpoint: MinIO and most self-hosted
    # servers have no per-bucket host names; AWS itself (no endpoint) chooses on its own.
    style = given["STORAGE_S3_ADDRESSING_STYLE"] or ("path" if endpoint else "auto")
    if style not in ("path", "virtual", "auto"):
        raise ImproperlyConfigured(
            f"STORAGE_S3_ADDRESSING_STYLE must be path, virtual or auto, not {style!r}."
        )
    options = {
        "bucket_name": bucket,
        "endpoint_url": endpoint or None,
        "region_name": given["STORAGE_S3_REGION"] or None,
        "addressing_style": None if style == "auto" else style,
        "signature_version": "s3v4",
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": 300,
        "custom_domain": None,
        # As on local disk: a name already taken gets a suffix, never the other file's place.
        "file_overwrite": False,
    }
    if key_id:
        options |= {"access_key": key_id, "secret_key": secret}
    return {"BACKEND": "taisly_dash.storage.VideoStorage", "OPTIONS": options}


# Request bodies (taisly_dash/request_body.py, taisly_dash/wsgi_input.py). Every view but the few
# that opt in to files (compose) takes a body of at most REQUEST_BODY_MAX_KB and no file part:
# the default handler refuses files without writing a byte. Every body, the largest upload
# included, must arrive within REQUEST_BODY_GRACE_SECONDS plus its size at
# REQUEST_BODY_MIN_RATE_KB KiB/s, or reading stops and the partial temp file is removed.
REQUEST_BODY_MAX_KB = env_int("REQUEST_BODY_MAX_KB", 1024, minimum=1)
REQUEST_BODY_GRACE_SECONDS = env_float("REQUEST_BODY_GRACE_SECONDS", 30.0, minimum=0)
REQUEST_BODY_MIN_RATE_KB = env_float("REQUEST_BODY_MIN_RATE_KB", 32.0, minimum=0.001)
FILE_UPLOAD_HANDLERS = ["taisly_dash.request_body.RefuseFilesUploadHandler"]
# Django's own count of non-file form fields, no larger than the whole body may be.
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_KB * 1024

STORAGES = {
    "default": _media_storage(),
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Security ---------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# Prometheus may scrape each web container on the private network over plain HTTP (README, "Logs
# and metrics"); /metrics still needs its bearer token.
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
# HSTS: a year in production, off elsewhere (a browser would remember it for localhost). With
# include-subdomains and preload on there, as cookiecutter-django does, `check --deploy` is clean;
# each can be switched off (SECURE_HSTS_SECONDS=0 sends no header at all).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Strict CSP: no inline script, no CDN. htmx comes from django-htmx's own static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        # The compose page previews the chosen video from a blob: URL before uploading it.
        "media-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "taisly-dash <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Taisly -----------------------------------------------------------------------------------
TAISLY_BASE_URL = env_str(
    "TAISLY_BASE_URL",
    "https://app.taisly.com/api/private" if PRODUCTION else "http://127.0.0.1:8765/api/private",
)
# Seconds: connecting, reading an ordinary answer, and reading the answer after a long upload.
TAISLY_CONNECT_TIMEOUT = env_float("TAISLY_CONNECT_TIMEOUT", 5.0, minimum=0.1)
TAISLY_READ_TIMEOUT = env_float("TAISLY_READ_TIMEOUT", 30.0, minimum=0.1)
TAISLY_UPLOAD_READ_TIMEOUT = env_float("TAISLY_UPLOAD_READ_TIMEOUT", 300.0, minimum=1)

# History sync (posting/mirror/sync.py): how far back one "Sync now" looks for posts that can still
# change, how far ahead scheduled posts are read, and how many history pages (10 posts, one
# request each) a new connection's backfill reads at most.
POSTING_SYNC_LOOKBACK_DAYS = env_int("POSTING_SYNC_LOOKBACK_DAYS", 14, minimum=1)
SYNC_BACKFILL_PAGES = env_int("SYNC_BACKFILL_PAGES", 10, minimum=1)
POSTING_SYNC_AHEAD_DAYS = env_int("POSTING_SYNC_AHEAD_DAYS", 60, minimum=1)

# --- Posting -----------------------------------------------------------------------------------
# Taisly's limit is 500 MB (MiB); the upload handler aborts a request that streams past it.
POST_VIDEO_MAX_MB = env_float("POST_VIDEO_MAX_MB", 500.0, minimum=0.001)
# One person's uploads being received at once (a further one is refused until one ends), and the
# MiB of kept videos a workspace may hold (a new upload that would pass it is refused).
POST_UPLOADS_PER_USER = env_int("POST_UPLOADS_PER_USER", 2, minimum=1)
WORKSPACE_VIDEO_STORAGE_MB = env_float("WORKSPACE_VIDEO_STORAGE_MB", 5120.0, minimum=1)
# How far ahead a post may be scheduled (days).
POST_SCHEDULE_MAX_DAYS = env_int("POST_SCHEDULE_MAX_DAYS", 365, minimum=1)
# Days a video is kept after it was sent (a later retry of failed platforms re-sends it).
POST_VIDEO_RETAIN_DAYS = env_int("POST_VIDEO_RETAIN_DAYS", 7, minimum=0)
# Forwarding to Taisly: tries before SEND_FAILED, and the first backoff (doubled each try).
POST_SEND_MAX_ATTEMPTS = env_int("POST_SEND_MAX_ATTEMPTS", 5, minimum=1)
POST_SEND_RETRY_SECONDS = env_int("POST_SEND_RETRY_SECONDS", 30, minimum=1)
# After an ambiguous send left a post NEEDS_CHECK, history is read again this much later.
POST_RECHECK_SECONDS = env_int("POST_RECHECK_SECONDS", 120, minimum=1)

# --- Quota and background sync (posting/taisly/governor.py, posting/mirror/background.py) -
# Ledger rows (one per Taisly request) are kept this many days; a daily task prunes older ones.
LEDGER_RETAIN_DAYS = env_int("LEDGER_RETAIN_DAYS", 7, minimum=1)
# The share of a key's hourly requests background work (sync) may use; the rest is the team's.
SYNC_BUDGET_FRACTION = env_float("SYNC_BUDGET_FRACTION", 0.5, minimum=0)
# History sync cadence: seconds from a post's send (or due time) to the first sync; and, when
# nothing is in flight, the share of the plan's hourly budget spent reading history to find posts
# made outside the dashboard (0.25: Starter every ~5 min, Influencer ~2, Pro every minute; see
# posting.mirror.background.idle_interval). Keep it well below SYNC_BUDGET_FRACTION, which caps all
# background work. Platforms and repost rules: hours.
SYNC_FIRST_SECONDS = env_int("SYNC_FIRST_SECONDS", 20, minimum=1)
SYNC_IDLE_SHARE = env_float("SYNC_IDLE_SHARE", 0.25, minimum=0.001)
SYNC_PLATFORMS_HOURS = env_float("SYNC_PLATFORMS_HOURS", 6, minimum=0.001)
# How often the dispatcher runs. django-q2 schedules are at least a minute apart; a shorter value
# (tests) makes the dispatcher bring its own schedule's next run forward.
SYNC_DISPATCH_SECONDS = env_int("SYNC_DISPATCH_SECONDS", 60, minimum=1)
# Results due (posting.mirror.background.results_watch): after a send, one default-cluster worker
# reads history when the post's results are due rather than at the next minute's dispatch, for
# at most SYNC_WATCH_SECONDS at a time, while a post went out within SYNC_WATCH_HORIZON_MINUTES.
# 0 turns the watch off (the test suite, which runs tasks inline).
SYNC_WATCH_SECONDS = env_int("SYNC_WATCH_SECONDS", 0 if TESTING else 60, minimum=0)
SYNC_WATCH_HORIZON_MINUTES = env_int("SYNC_WATCH_HORIZON_MINUTES", 10, minimum=1)

# --- Alerts and outgoing webhooks (posting/alerts/) -------------------------------------------
# Absolute links in alert emails and webhook bodies point here (no trailing slash); production
# defaults to https:// and the first of ALLOWED_HOSTS.
SITE_URL = (
    env_str("SITE_URL", "")
    or (f"https://{ALLOWED_HOSTS[0]}" if PRODUCTION and ALLOWED_HOSTS else "http://127.0.0.1:8000")
).rstrip("/")
# A result still PENDING this many minutes after its post was due raises a "stuck" alert.
STUCK_AFTER_MINUTES = env_int("STUCK_AFTER_MINUTES", 30, minimum=1)
# A key blocked by a 429 for longer than this (minutes) raises a "blocked" alert.
ALERT_BLOCKED_MINUTES = env_int("ALERT_BLOCKED_MINUTES", 60, minimum=1)
# Webhooks: the overall deadline of one try in seconds (resolving, connecting, TLS, sending and
# reading the answer together: the connection is closed when it passes, however the server
# drips), tries per delivery, the first retry delay (doubled each try), and days of nothing but
# failures before an endpoint is disabled.
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=0.1)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)
WEBHOOK_RETRY_SECONDS = env_int("WEBHOOK_RETRY_SECONDS", 30, minimum=0)
WEBHOOK_DISABLE_AFTER_DAYS = env_int("WEBHOOK_DISABLE_AFTER_DAYS", 3, minimum=1)
# Tries of one endpoint in flight at once (the rest of its deliveries wait their turn), so one
# slow endpoint holds at most this many of the webhook lane's workers.
WEBHOOK_ENDPOINT_CONCURRENCY = env_int("WEBHOOK_ENDPOINT_CONCURRENCY", 1, minimum=1)
# Tries of one workspace in flight at once, whatever number of endpoints it has: fewer than the
# lane's workers, so one workspace never holds the whole lane. And how many endpoints a
# workspace may have.
Q_WEBHOOK_WORKERS = env_int("Q_WEBHOOK_WORKERS", 2, minimum=1)
WEBHOOK_WORKSPACE_CONCURRENCY = env_int("WEBHOOK_WORKSPACE_CONCURRENCY", 1, minimum=1)
if Q_WEBHOOK_WORKERS > 1 and WEBHOOK_WORKSPACE_CONCURRENCY >= Q_WEBHOOK_WORKERS:
    raise ImproperlyConfigured(
        "WEBHOOK_WORKSPACE_CONCURRENCY must be less than Q_WEBHOOK_WORKERS, or one workspace "
        "can hold every worker of the webhook lane."
    )
WEBHOOK_ENDPOINTS_PER_WORKSPACE = env_int("WEBHOOK_ENDPOINTS_PER_WORKSPACE", 10, minimum=1)
# "Send a test event" and "Redeliver" together: at most this many per endpoint in this many
# seconds.
WEBHOOK_MANUAL_LIMIT = env_int("WEBHOOK_MANUAL_LIMIT", 3, minimum=1)
WEBHOOK_MANUAL_WINDOW_SECONDS = env_int("WEBHOOK_MANUAL_WINDOW_SECONDS", 60, minimum=1)
# The webhook lane's task limit: a little above the deadline (the try's own database writes);
# a claimed try whose worker stopped is claimed again only after it (see delivery.py).
WEBHOOK_TASK_TIMEOUT = int(WEBHOOK_TIMEOUT_SECONDS) + 15
# Production refuses plain http and private, loopback and link-local addresses (a webhook must
# not be a way to probe the internal network); development and tests allow both.
WEBHOOK_REQUIRE_HTTPS = env_bool("WEBHOOK_REQUIRE_HTTPS", PRODUCTION)
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", not PRODUCTION)

# The sandbox's own knobs (only read by `manage.py sandbox`).
SANDBOX_PUBLISH_SECONDS = env_float("SANDBOX_PUBLISH_SECONDS", 5.0, minimum=0)
SANDBOX_RATE_WINDOW_SECONDS = env_int("SANDBOX_RATE_WINDOW_SECONDS", 3600, minimum=1)

# --- Background tasks (django-q2, ORM broker) --------------------------------------------------
# The default cluster runs sync and alerts; the `uploads` cluster forwards videos to Taisly; the
# `webhooks` cluster makes webhook tries, so a slow endpoint never holds a worker that sync,
# alerts or uploads need. Each queue's `retry` exceeds its `timeout`, so a slow task is never
# handed out twice while it still runs. `catch_up=False`: a worker that was down does not replay
# missed schedules.
Q_CLUSTER = {
    "name": "default",
    "orm": "default",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 1,
    "catch_up": False,
    "save_limit": 500,
    "ack_failures": True,
    "sync": TESTING,
    "ALT_CLUSTERS": {
        "uploads": {
            "workers": env_int("Q_UPLOAD_WORKERS", 2, minimum=1),
            "timeout": 1800,
            "retry": 2100,
        },
        "webhooks": {
            "workers": Q_WEBHOOK_WORKERS,
            "timeout": WEBHOOK_TASK_TIMEOUT,
            "retry": WEBHOOK_TASK_TIMEOUT + 15,
        },
    },
}

# --- Logging and metrics ----------------------------------------------------------------------
# plain (the default) or json: one JSON object per line, for a log collector (taisly_dash/logs.py).
# Every line of a request, and of the tasks it queues, carries its request id.
LOG_FORMAT = env_choice("LOG_FORMAT", logs.FORMATS, "plain")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not {LOG_LEVEL!r}"
    )
LOGGING = logs.logging_config(log_format=LOG_FORMAT, level=LOG_LEVEL)
# Take the request id from the X-Request-ID header a proxy in front sets (when well formed:
# 8-128 letters, digits, ".", "_" or "-"); false: always make a new one.
REQUEST_ID_TRUST_HEADER = env_bool("REQUEST_ID_TRUST_HEADER", True)
# /metrics (Prometheus) answers only a request with "Authorization: Bearer <METRICS_TOKEN>";
# unset, /metrics is a 404 (taisly_dash/metrics/).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
if PRODUCTION and METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured(
        "METRICS_TOKEN must be at least 32 random characters: "
        'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
    )
