# One image for every process of taisly-dash; compose.yaml runs each with its own command:
#   web       gunicorn (taisly_dash/gunicorn_conf.py: gthread, $PORT, 8 s to finish on SIGTERM)
#   worker    python manage.py qcluster                            (default cluster)
#   uploads   Q_CLUSTER_NAME=uploads python manage.py qcluster     (forwards videos to Taisly)
#   webhooks  Q_CLUSTER_NAME=webhooks python manage.py qcluster    (webhook deliveries)
#   migrate   python manage.py migrate                             (one-shot, before the others)
# Required environment: see README "Deploying" and .env.example. Runs as the unprivileged user
# `taisly`; the only place it writes is MEDIA_ROOT (/app/media, a volume).
# CI builds it on a stand-in for this base made from Debian's packages (.ci/base-image).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# A virtualenv of its own, so `python` and the installed packages sit at the same paths whatever
# the base's Python is (/usr/local/bin/python in the official image, /usr/bin/python3 on Debian).
RUN python3 -m venv /opt/venv

WORKDIR /app

# The dependencies alone first (read from pyproject.toml), so a change to the code reuses them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --quiet -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .

# Static files are collected once, at build time, with throw-away values for what production
# insists on (none of them is kept in the image or used at run time).
ENV DJANGO_ENV=production MEDIA_ROOT=/app/media
RUN SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret \
    TAISLY_DASH_ENCRYPTION_KEYS=YnVpbGQtb25seS1rZXktbm90LWEtc2VjcmV0LTAwMDA= \
    TAISLY_DASH_FINGERPRINT_KEY=build-only-not-a-secret-build-only-not-a-secret \
    ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/build-only.sqlite3 MEDIA_ROOT=/tmp/build-media \
    python manage.py collectstatic --noinput -v0 \
    && rm -rf /tmp/build-media /tmp/build-only.sqlite3

RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home taisly \
    && mkdir -p /app/media/tmp && chown -R taisly:taisly /app/media
USER taisly
VOLUME ["/app/media"]
EXPOSE 8000

# Exec form: the command is PID 1 and gets docker stop's SIGTERM itself. gunicorn and qcluster
# both stop cleanly on it (gunicorn within graceful_timeout, qcluster once its workers finish).
STOPSIGNAL SIGTERM
CMD ["gunicorn", "--config", "python:taisly_dash.gunicorn_conf"]
