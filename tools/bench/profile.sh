#!/usr/bin/env bash
# Where each backbone's time goes (issue 22, item 3): `perf record` with DWARF call graphs
# of `artemo bench backbones --only NAME`, sorted into categories by
# tools/bench/perf_categories.py (matmul, GELU, softmax, layer norm, copies, ...). A
# profile, never a test; user-space samples only (perf_event_paranoid 2 is enough).
#
#   tools/bench/profile.sh                    # every backbone
#   tools/bench/profile.sh clip-vit-b32 minilm
#
# Environment: ARTEMO (default target/release/artemo), THREADS (default 2), OUT (a folder
# for the JSON summaries; default a temporary one). SAM ViT-B and TinyViT are stopped
# after a short run (a few forwards are enough for shares).
set -euo pipefail
cd "$(dirname "$0")/../.."
ARTEMO=${ARTEMO:-target/release/artemo}
THREADS=${THREADS:-2}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
ALL="clip-vit-b16 clip-vit-b32 clip-text distilgpt2 minilm mobilesam sam-vit-b"
echo "load before: $(uptime)"
for name in ${*:-$ALL}; do
  freq=1999; limit=120; filter=()
  case $name in
    # Artemo's own ViT only (the bench also times candle-transformers' one first).
    sam-vit-b) freq=149; limit=110; filter=(--require sam_vit) ;;
    # Artemo's own TinyViT only (the bench also times candle-transformers' one).
    mobilesam) freq=499; limit=90; filter=(--require sam_tiny_vit) ;;
    minilm) freq=999 ;;
  esac
  timeout -s INT "$limit" perf record -q -e cycles:u -F "$freq" --call-graph dwarf,16384 \
    -o "$OUT/$name.data" -- "$ARTEMO" --threads "$THREADS" bench backbones --only "$name" \
    >"$OUT/$name.bench" 2>&1 || true
  perf script -i "$OUT/$name.data" 2>/dev/null \
    | python3 tools/bench/perf_categories.py --json "${filter[@]}" >"$OUT/$name.json"
  rm -f "$OUT/$name.data"
  echo "$name: $(cat "$OUT/$name.json")"
done
echo "load after: $(uptime)"
