# PureLaka production image: gunicorn serving purelaka.settings_prod.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=purelaka.settings_prod

WORKDIR /app
RUN groupadd --system purelaka && useradd --system --gid purelaka --home /app purelaka

COPY requirements.txt .
RUN pip install --upgrade pip && pip install -r requirements.txt

COPY --chown=purelaka:purelaka . .

# Static files are collected at build time; the values below exist only for this step.
RUN DJANGO_SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret-0000 \
    DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    PAYMENTS_USE_STRIPE=0 PAYMENTS_ALLOW_OFFLINE=1 STRIPE_WEBHOOK_SECRET=whsec_build_only \
    python manage.py collectstatic --noinput \
    && chown -R purelaka:purelaka /app/staticfiles

USER purelaka
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://localhost:8000/monitoring/healthz/', timeout=4).status == 200 else 1)"]

# gunicorn is PID 1 (exec form), so it receives SIGTERM and shuts down gracefully.
CMD ["gunicorn", "purelaka.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "--forwarded-allow-ips", "*"]
