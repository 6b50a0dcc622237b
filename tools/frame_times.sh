#!/usr/bin/env bash
# Measures the real window's UI time per frame under Xvfb while engine jobs run:
#   tools/frame_times.sh OUT.json [SECONDS]
# Opens the shipped collection, opens the first painting (SEVLM explanation and EmoSEM
# masks start on the engine), then the Map tab (PACL embeddings and t-SNE start), and
# keeps the window busy with arrow keys; the app writes its frame statistics
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
key() { DISPLAY=$display xdotool windowactivate --sync "$win" key "$@" || true; }
key Return
end=$((SECONDS + secs / 2))
while [ $SECONDS -lt $end ]; do key Right; sleep 0.5; done
key ctrl+4
end=$((SECONDS + secs / 2))
while [ $SECONDS -lt $end ]; do DISPLAY=$display xdotool mousemove $((400 + RANDOM % 800)) $((200 + RANDOM % 600)); sleep 0.2; done
sleep 4
cat "$out"
