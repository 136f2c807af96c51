# Earshot web/worker image: Python 3.12 slim, ffmpeg, a non-root user, Daphne.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=portal.settings

# The decode sandbox: bubblewrap where the runtime allows user namespaces; under a default seccomp
# profile it is refused and ffmpeg runs under Landlock and seccomp, from Python (docs/decisions.md).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg util-linux bubblewrap \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings to import, not real secrets.
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && useradd --create-home --uid 10001 earshot \
    && mkdir -p /app/media && chown earshot /app/media

USER earshot
EXPOSE 8000
# The worker runs the same image with: python manage.py db_worker
CMD ["python", "-m", "portal.serve", "--bind", "0.0.0.0", "--port", "8000", "--websocket-max-message-size", "131072"]
