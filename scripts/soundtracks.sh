#!/usr/bin/env bash
# The benchmarks' real music: Debian's free game soundtracks (bench/corpus.py reads them), and the
# tools that distort its robustness set (bench/distortions.py): sox (pitch and tempo changes) and
# espeak-ng (voice-over). Installs the missing ones when run as root; otherwise says which are
# missing and goes on.
set -euo pipefail
missing=()
for p in drascula-music asc-music warzone2100-music hyperrogue-music sox espeak-ng; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[soundtracks] not root: the corpus lacks ${missing[*]} (apt-get install them for the full set)" >&2
fi
