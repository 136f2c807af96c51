#!/usr/bin/env bash
# Run the portal locally, as production-like as the machine allows: set up what is missing,
# migrate, load the demo catalog, then serve on :8000 (PORT=… for another) with Daphne, a
# background-job worker, a webhook-delivery worker, a monitor worker (live streams and venue
# devices) and the requeuer of jobs whose worker died.
#
# Production settings, not DEBUG: Django's error pages never show (the site's 404 and 500 do),
# the secret key is this machine's own (var/secret_key, made once, outside git), static files
# come through WhiteNoise. Plain HTTP on loopback, so the HTTPS settings are off. With a Redis on
# 127.0.0.1:6379 (or REDIS_URL set), every process shares the cache, sessions, channel layer,
# limits and the workers' heartbeat, so /readyz tells the truth about the workers.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh run
python=.venv/bin/python
say() { printf '\033[1m[run]\033[0m %s\n' "$*" >&2; }

export DJANGO_DEBUG="${DJANGO_DEBUG:-false}"
export DJANGO_HTTPS="${DJANGO_HTTPS:-false}"
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  mkdir -p var
  if [ ! -s var/secret_key ]; then
    (umask 077 && $python -c 'import secrets; print(secrets.token_urlsafe(50))' > var/secret_key)
    say "made this machine's secret key in var/secret_key"
  fi
  DJANGO_SECRET_KEY="$(cat var/secret_key)"
  export DJANGO_SECRET_KEY
fi
if [ -z "${REDIS_URL:-}" ]; then
  local_redis=redis://127.0.0.1:6379/0
  if $python -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()' \
      "$local_redis" 2>/dev/null; then
    export REDIS_URL="$local_redis"
  else
    say "no Redis on 127.0.0.1:6379: each process keeps its own cache and limits, and /readyz cannot see the workers"
  fi
fi
if [ -n "${REDIS_URL:-}" ]; then say "Redis holds the cache, sessions, channel layer and limits"; fi

$python manage.py migrate --noinput
# The demo users' password is published: fine on a loopback-only server, refused elsewhere.
$python manage.py load_demo --force
$python manage.py db_worker --interval 0.5 &
worker=$!
$python manage.py db_worker --interval 0.5 --queue-name webhooks &
webhooks=$!
$python manage.py requeue_uploads --every 60 &
requeuer=$!
$python manage.py monitor_worker &
monitors=$!
trap 'kill $worker $webhooks $requeuer $monitors 2>/dev/null || true' EXIT INT TERM
echo "Earshot on http://127.0.0.1:${PORT:-8000}/  (admin: /admin/, Ctrl-C stops)"
# One Daphne process per CPU on the one port (portal/serve.py).
$python -m portal.serve --bind 127.0.0.1 --port "${PORT:-8000}" --websocket-max-message-size 131072
