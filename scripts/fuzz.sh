#!/usr/bin/env bash
# Run each atheris fuzz target for FUZZ_SECONDS (default 120); crashers are written to tests/fuzz/crashes/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/bootstrap.sh test
seconds="${FUZZ_SECONDS:-120}"
mkdir -p tests/fuzz/crashes bench/results
echo "# $(date -u +%Y-%m-%dT%H:%MZ): each target for ${seconds}s" > bench/results/fuzz.log
status=0
for target in fuzz_fingerprint fuzz_listen fuzz_decode fuzz_wav; do
  echo "== $target for ${seconds}s" | tee -a bench/results/fuzz.log
  PYTHONPATH="$root" .venv/bin/python "tests/fuzz/$target.py" -max_total_time="$seconds" -rss_limit_mb=3072 \
    -artifact_prefix="tests/fuzz/crashes/$target-" 2>&1 | tail -n 4 | tee -a bench/results/fuzz.log || status=1
done
exit $status
