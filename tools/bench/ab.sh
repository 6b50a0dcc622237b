#!/usr/bin/env bash
# Side-by-side benchmark (issue 22): Artemo's forwards (`artemo bench backbones`, `bench
# sevlm`) and PyTorch's (`tools/parity/*.py --bench`, `tools/bench/sevlm_generate.py
# --bench`) run alternately in one run, same shapes, random weights, 2 threads each;
# prints the ratio table (Artemo ms, PyTorch ms, ratio) with the machine's load before and
# after. A benchmark, never a test: the numbers depend on the machine and its load.
#
#   tools/bench/ab.sh                       # every row
#   tools/bench/ab.sh clip-vit-b32 sevlm    # some rows (names below)
#
# Environment: ARTEMO (default target/release/artemo; build it with
# `cargo build --release`), PYTHON (default /work/pyenv/bin/python, else python3),
# THREADS (default 2). PyTorch's row is its best attention implementation (eager or sdpa).
set -euo pipefail
cd "$(dirname "$0")/../.."
ARTEMO=${ARTEMO:-target/release/artemo}
PYTHON=${PYTHON:-$( [ -x /work/pyenv/bin/python ] && echo /work/pyenv/bin/python || echo python3 )}
THREADS=${THREADS:-2}
[ -x "$ARTEMO" ] || { echo "no $ARTEMO: run cargo build --release first" >&2; exit 2; }
"$PYTHON" -c "import torch, transformers" 2>/dev/null || { echo "$PYTHON has no torch/transformers" >&2; exit 2; }

ALL="clip-vit-b16 clip-vit-b32 clip-text distilgpt2 minilm sam-vit-b mobilesam sevlm"
ROWS=${*:-$ALL}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
LOAD_BEFORE=$(uptime)

# One PyTorch script may time several rows; run it once, before the first of them.
declare -A PY_DONE=()
py() { # script args...
  local key=$1; shift
  [ -n "${PY_DONE[$key]:-}" ] && return 0
  PY_DONE[$key]=1
  echo "pytorch: $key" >&2
  "$PYTHON" "$@" >>"$OUT/pytorch.txt" 2>"$OUT/pytorch-$key.err" || {
    echo "  failed, see below" >&2; tail -5 "$OUT/pytorch-$key.err" >&2; }
}
for row in $ROWS; do
  echo "artemo: $row" >&2
  if [ "$row" = sevlm ]; then
    "$ARTEMO" --threads "$THREADS" bench sevlm --only paper,generation --json >"$OUT/artemo-$row.json"
    py sevlm tools/bench/sevlm_generate.py --bench --threads "$THREADS"
  else
    "$ARTEMO" --threads "$THREADS" bench backbones --only "$row" --json >"$OUT/artemo-$row.json"
    case $row in
      clip-*) py clip tools/parity/clip.py --bench ;;
      distilgpt2) py gpt2 tools/parity/gpt2.py --bench ;;
      minilm) py bert tools/parity/bert.py --bench ;;
      sam-vit-b|mobilesam) py sam tools/parity/sam.py --bench ;;
    esac
  fi
done
LOAD_AFTER=$(uptime)

"$PYTHON" - "$OUT" "$ROWS" "$THREADS" "$LOAD_BEFORE" "$LOAD_AFTER" <<'PY'
import json, pathlib, re, sys
out, rows, threads, before, after = sys.argv[1:6]
out = pathlib.Path(out)
torch_lines = (out / "pytorch.txt").read_text() if (out / "pytorch.txt").exists() else ""

def torch_ms(pattern):
    """Smallest median among PyTorch lines matching `pattern` (eager / sdpa)."""
    best = None
    for line in torch_lines.splitlines():
        if re.search(pattern, line):
            m = re.search(r"median ([0-9.]+) ms", line) or re.search(r": ([0-9.]+) ms", line) \
                or re.search(r"in ([0-9.]+) ms", line)
            if m:
                v = float(m.group(1))
                best = v if best is None else min(best, v)
    return best

# row -> (label, Artemo row name part, PyTorch line pattern)
table = {
    "clip-vit-b16": ("CLIP ViT-B/16, 224", "clip-vit-b16 vision", r"ViT-B/16 224"),
    "clip-vit-b32": ("CLIP ViT-B/32, 224", "clip-vit-b32 vision", r"ViT-B/32 224"),
    "clip-text": ("CLIP text, 77 tokens", "clip text", r"torch text B"),
    "distilgpt2": ("distilgpt2 + cross-attention, 30 tokens", "distilgpt2", r"distilgpt2\+cross"),
    "minilm": ("MiniLM, 100 sentences", "all-MiniLM", r"all-MiniLM"),
    "sam-vit-b": ("SAM ViT-B encoder, 1024", "(artemo sam_vit)", r"SamModel ViT-B"),
    "mobilesam": ("TinyViT (MobileSAM), 1024", "(artemo sam_tiny_vit)", r"TinyViT"),
    "sevlm": ("SEVLM paper, 25-token explanation", "generation, shortcuts", r"sevlm-paper generation"),
}
print(f"| row | Artemo ms | PyTorch ms | ratio |")
print(f"|---|---|---|---|")
for row in rows.split():
    label, name, pat = table[row]
    f = out / f"artemo-{row}.json"
    art = None
    if f.exists():
        for r in json.loads(f.read_text() or "[]"):
            if name in r["name"]:
                art = r["median_ms"]
    pt = torch_ms(pat)
    ratio = f"{art / pt:.2f}" if art and pt else "-"
    fmt = lambda v: f"{v:,.0f}" if v is not None else "-"
    print(f"| {label} | {fmt(art)} | {fmt(pt)} | {ratio} |")
    if row == "sevlm" and f.exists():
        for r in json.loads(f.read_text() or "[]"):
            if "full recompute" in r["name"] and "generation" in r["name"]:
                print(f"| SEVLM paper, full recompute (before issue 22) | {fmt(r['median_ms'])} | {fmt(pt)} | {r['median_ms'] / pt:.2f} |" if pt else "")
print()
print(f"CPU, {threads} thread(s) each, random weights (MiniLM: shipped weights), run alternately.")
print(f"load before: {before.strip()}")
print(f"load after:  {after.strip()}")
PY
