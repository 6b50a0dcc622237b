#!/usr/bin/env bash
# Measures the real window's UI time per frame under Xvfb while engine jobs run:
#   tools/frame_times.sh OUT.json [SECONDS]
# Opens the shipped collection, the first painting (SEVLM's explanation and EmoSEM's
# masks run on the engine), then the Map tab with a recomputation (PACL embeddings and
# t-SNE), moving the mouse over the canvas all along; the app writes its frame statistics
# (ARTEMO_FRAME_STATS) every 3 s. Needs: apt-get install xvfb xdotool libgl1-mesa-dri
set -euo pipefail
out=${1:?output json}
secs=${2:-40}
bin=${ARTEMO_BIN:-target/release/artemo}
display=:${XVFB_DISPLAY:-98}
Xvfb "$display" -screen 0 1600x1000x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $app $xvfb 2>/dev/null || true' EXIT
sleep 1
rm -f "$out"
DISPLAY=$display XDG_CONFIG_HOME=$(mktemp -d) XDG_DATA_HOME=$(mktemp -d) ARTEMO_FRAME_STATS="$out" \
  "$bin" >/tmp/artemo-frames.log 2>&1 &
app=$!
sleep 8
win=$(DISPLAY=$display xdotool search --name Artemo | head -1)
# Clicks at the default 1400 x 900 layout (no window manager: keys are not delivered).
click() { DISPLAY=$display xdotool mousemove --window "$win" "$1" "$2" click 1; sleep 1; }
hover() { # hover over a region for $1 seconds
  local end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ]; do
    DISPLAY=$display xdotool mousemove --window "$win" $((200 + RANDOM % 700)) $((120 + RANDOM % 700))
    sleep 0.1
  done
}
click 121 36      # Painting tab: SEVLM's explanation starts streaming
click 1000 555    # Show masks: EmoSEM's eight masks start
hover $((secs / 2))
click 248 36      # Map tab
click 1140 388    # Recompute: PACL embeddings and t-SNE run
hover $((secs / 2))
sleep 4
cat "$out"
