#!/usr/bin/env bash
# Fuzz the partner API from its OpenAPI schema with schemathesis (G15), on a throwaway database.
# Fails when any generated request gets a 5xx. Usage: scripts/fuzz_api.sh [examples per operation]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh test
examples="${1:-150}"
db="earshot_fuzz_$$"
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export DJANGO_MEDIA_ROOT="$(mktemp -d)"
export EARSHOT_API_RATE_PER_MINUTE=100000 EARSHOT_API_BURST=100000 DJANGO_DEBUG=false
# Plain HTTP on loopback; a throwaway key for this run (settings refuse to start without one).
export DJANGO_HTTPS=false DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-fuzz-$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/13}"
report="bench/results/schemathesis.json"
raw="bench/out/schemathesis"
cleanup() {
  if [ -n "${server:-}" ]; then
    # Daphne may hold on to open keep-alive connections after SIGTERM: give it 10 s, then KILL.
    kill "$server" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$server" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$server" 2>/dev/null || true
  fi
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" postgres >/dev/null 2>&1 || true
  rm -rf "$DJANGO_MEDIA_ROOT"
}
trap cleanup EXIT
.venv/bin/python scripts/ensure_database.py
.venv/bin/python manage.py migrate -v0
# A rights holder with one real track, so catalog operations meet real rows; a partner for the
# recognition and webhook operations (rights holders may not register webhooks).
holder_key=$(.venv/bin/python manage.py create_api_key fuzz-label --name fuzz 2>/dev/null | tail -1)
partner_key=$(.venv/bin/python manage.py create_api_key fuzz-partner --name fuzz 2>/dev/null | tail -1)
.venv/bin/python manage.py shell -c "from accounts.models import User; from accounts.services import user_set_role; user_set_role(user=User.objects.get(username='fuzz-label'), role='rights_holder')"
.venv/bin/python manage.py ingest /usr/share/scummvm/drascula/audio/track2.ogg --owner fuzz-label --no-store-audio >/dev/null 2>&1
.venv/bin/daphne -b 127.0.0.1 -p "$port" portal.asgi:application >"$DJANGO_MEDIA_ROOT/daphne.log" 2>&1 &
server=$!
mkdir -p "$raw" "$(dirname "$report")"
status=0
for who in holder partner; do
  key_var="${who}_key"
  .venv/bin/schemathesis run "http://127.0.0.1:$port/api/v1/schema?format=json" \
    --header "Authorization: Api-Key ${!key_var}" \
    --checks not_a_server_error \
    --max-examples "$examples" --seed 2026 --workers 2 --wait-for-schema 30 \
    --report ndjson --report-ndjson-path "$raw/$who.ndjson" \
    --suppress-health-check all || status=1
done
# Count every request schemathesis sent, by status class, into a small committed summary.
.venv/bin/python - "$report" "$raw"/holder.ndjson "$raw"/partner.ndjson <<'PY'
import collections, json, sys, time
report, *paths = sys.argv[1:]
summary = {"when": time.strftime("%Y-%m-%d %H:%M"), "runs": {}}
for path in paths:
    classes = collections.Counter()
    for line in open(path):
        event = json.loads(line).get("ScenarioFinished")
        for interaction in ((event or {}).get("recorder") or {}).get("interactions", {}).values():
            if interaction.get("response"):
                classes[f"{interaction['response']['status_code'] // 100}xx"] += 1
    summary["runs"][path.rsplit("/", 1)[-1].removesuffix(".ndjson")] = dict(sorted(classes.items()))
summary["requests"] = sum(sum(c.values()) for c in summary["runs"].values())
summary["server_errors"] = sum(c.get("5xx", 0) for c in summary["runs"].values())
open(report, "w").write(json.dumps(summary, indent=1) + "\n")
print(json.dumps(summary))
PY
exit "$status"
