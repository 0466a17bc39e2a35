# Production image: gunicorn (gthread) for the web; the same image runs the qclusters.
# .dockerignore keeps .env, the SQLite files, .git, .venv, media and caches out of it.
# Run it with DATABASE_URL (required), SECRET_KEY, ALLOWED_HOSTS, TAISLY_DASH_ENCRYPTION_KEYS.
#   docker run ... taisly-dash                                  # web
#   docker run ... taisly-dash python manage.py qcluster        # default cluster
#   docker run -e Q_CLUSTER_NAME=uploads ... taisly-dash python manage.py qcluster
#   docker run -e Q_CLUSTER_NAME=webhooks ... taisly-dash python manage.py qcluster
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_ENV=production
WORKDIR /app

COPY pyproject.toml ./
RUN pip install --no-cache-dir --upgrade pip
COPY . .
RUN pip install --no-cache-dir . \
    && SECRET_KEY=build-only-secret-key-build-only-secret-key \
       TAISLY_DASH_ENCRYPTION_KEYS=$(python -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())") \
       ALLOWED_HOSTS=localhost DATABASE_URL=sqlite:////tmp/build-only.sqlite3 \
       python manage.py collectstatic --noinput -v0

RUN useradd --system --home /app taisly && mkdir -p /app/media && chown taisly /app/media
USER taisly
EXPOSE 8000
CMD ["gunicorn", "taisly_dash.wsgi", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", \
     "--workers", "2", "--threads", "8", "--timeout", "600"]
