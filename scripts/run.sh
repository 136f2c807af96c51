#!/usr/bin/env bash
# Run the portal locally: set up what is missing, migrate, load the demo catalog, then serve on
# :8000 with Daphne, a background-job worker, a webhook-delivery worker, a monitor worker (live streams and venue devices)
# and the requeuer of jobs whose worker died.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh run
export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
python=.venv/bin/python
$python manage.py migrate --noinput
$python manage.py load_demo
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
.venv/bin/daphne -b 127.0.0.1 -p "${PORT:-8000}" --websocket-max-message-size 131072 portal.asgi:application
