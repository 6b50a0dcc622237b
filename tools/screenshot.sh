#!/usr/bin/env bash
# Takes a screenshot of the real window under Xvfb: tools/screenshot.sh OUT.png [ARGS...]
# Needs: apt-get install xvfb xdotool imagemagick libgl1-mesa-dri
set -euo pipefail
out=${1:?output png}; shift || true
bin=${ARTEMO_BIN:-target/release/artemo}
display=:${XVFB_DISPLAY:-99}
Xvfb "$display" -screen 0 1600x1000x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $app $xvfb 2>/dev/null || true' EXIT
sleep 1
DISPLAY=$display XDG_CONFIG_HOME=$(mktemp -d) XDG_DATA_HOME=$(mktemp -d) "$bin" "$@" >/tmp/artemo-shot.log 2>&1 &
app=$!
sleep "${WAIT:-8}"
if [ -n "${KEYS:-}" ]; then
  DISPLAY=$display xdotool search --name Artemo windowactivate --sync key $KEYS || true
  sleep 2
fi
win=$(DISPLAY=$display xdotool search --name Artemo | head -1)
DISPLAY=$display import -window "${win:-root}" "$out"
echo "wrote $out"
