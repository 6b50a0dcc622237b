#!/usr/bin/env bash
# The GPU check (docs/cuda.md): on a machine with an NVIDIA GPU, runs the parity tests and
# the training-step tests on CUDA (`ARTEMO_TEST_DEVICE=cuda`), then `artemo --gpu bench
# paper` and `bench backbones`, and prints one table.
#
# Usage:
#   tools/cuda/gpu-check.sh [run]        build here (needs the CUDA toolkit: nvcc on PATH,
#                                        /usr/local/cuda, or tools/cuda/setup.sh --link) and run
#   tools/cuda/gpu-check.sh build DIR    build only (no GPU needed; CUDA_COMPUTE_CAP, default
#                                        90): DIR/artemo and DIR/engine-tests, stripped
#   tools/cuda/gpu-check.sh run DIR      run binaries built before (a GPU machine without
#                                        cargo or network: carry DIR there)
# Tolerances: the parity tests keep their CPU tolerances on CUDA (candle's f32 products do
# not use TF32 unless asked; with TF32 they widen 20x, see engine/src/device.rs); AdamW's
# device path agrees with the host pass within 1e-5 on CUDA (1e-6 on the CPU).
# Without a GPU the run stops with the reason (exit 2); tests that need a GPU skip with
# their reason in the ordinary test suite.
set -euo pipefail
cd "$(dirname "$0")/../.."

mode="${1:-run}"
dir="${2:-}"

# The parity tests (PyTorch references in tests/fixtures/parity) and the training steps.
tests=(
  "models::gpt2::tests::matches_pytorch_with_and_without_cross_attention|GPT-2 parity (+cross-attention), 1e-4"
  "models::bert::tests::tiny_bert_matches_pytorch|BERT parity, 1e-4"
  "models::bert::tests::shipped_minilm_matches_sentence_transformers|MiniLM parity (shipped weights), 1e-4"
  "models::clip_vision::tests::vision_matches_pytorch|CLIP vision parity, 1e-4"
  "models::clip_text::tests::text_matches_pytorch|CLIP text parity, 1e-4"
  "models::sam::tests::hf_layout_matches_pytorch|SAM parity (HF layout), 1e-4"
  "models::sam::tests::mobilesam_fair_layout_matches_pytorch|MobileSAM parity, 1e-4"
  "train::optim::device::tests::device_path_gives_the_host_path_weights|AdamW on CUDA = host pass, 1e-5"
  "train::optim::device::tests::device_path_reads_one_scalar_per_step_whatever_the_size|AdamW: one 8-byte read per step"
  "train::optim::device::tests::device_path_skips_non_finite_steps|AdamW: non-finite step skipped"
  "train::optim::device::tests::mixed_devices_are_refused_naming_both|mixed devices refused"
  "bench::paper::tests::every_paper_stage_runs_at_a_tiny_size|paper stages + EmoSEM training step"
)

toolkit() {
  if command -v nvcc >/dev/null 2>&1; then
    return
  fi
  if [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
    return
  fi
  local prefix="${ARTEMO_CUDA_PREFIX:-$HOME/.cache/artemo/cuda-13.0}"
  if [ ! -f "$prefix/lib-ready" ]; then
    tools/cuda/setup.sh --link
    touch "$prefix/lib-ready"
  fi
  # shellcheck source=/dev/null
  source "$prefix/env.sh"
}

build() {
  local out="$1"
  toolkit
  export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
  export CARGO_TARGET_DIR="target/cuda-$CUDA_COMPUTE_CAP"
  echo "gpu-check: building for compute capability $CUDA_COMPUTE_CAP into $out"
  cargo build --release --locked --features cuda --bin artemo
  local tbin
  tbin=$(cargo test --release --locked --features cuda -p artemo-engine --lib --no-run \
    --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["name"]=="artemo_engine":
        print(m["executable"])' | tail -n 1)
  mkdir -p "$out"
  cp "$CARGO_TARGET_DIR/release/artemo" "$out/artemo"
  cp "$tbin" "$out/engine-tests"
  strip "$out/artemo" "$out/engine-tests" 2>/dev/null || true
  # The unit tests find their fixtures by the source folder baked in at build time.
  pwd >"$out/source-root"
  ls -la "$out"
}

gpu_present() {
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu-check: no GPU: nvidia-smi is not installed (the NVIDIA driver is missing)" >&2
    return 1
  fi
  if ! nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader; then
    echo "gpu-check: no GPU: nvidia-smi lists none" >&2
    return 1
  fi
}

run() {
  local bins="$1"
  gpu_present || exit 2
  if [ -n "${ARTEMO_CUDA_LD_LIBRARY_PATH:-}" ]; then
    export LD_LIBRARY_PATH="$ARTEMO_CUDA_LD_LIBRARY_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  # Binaries built in another checkout look for the fixtures where that checkout was.
  local baked
  baked=$(cat "$bins/source-root" 2>/dev/null || pwd)
  if [ "$baked" != "$PWD" ] && [ ! -e "$baked" ]; then
    mkdir -p "$(dirname "$baked")" && ln -s "$PWD" "$baked"
  fi
  export ARTEMO_TEST_DEVICE=cuda
  export ARTEMO_ASSETS="${ARTEMO_ASSETS:-$PWD/assets}" ARTEMO_MODELS="${ARTEMO_MODELS:-$PWD/models}"
  local rows=() logdir
  logdir=$(mktemp -d)
  for t in "${tests[@]}"; do
    local name="${t%%|*}" what="${t#*|}" start rc
    start=$(date +%s.%N)
    # The engine's unit tests find their fixtures through CARGO_MANIFEST_DIR at build time;
    # run from engine/ as cargo does.
    (cd engine && "$bins/engine-tests" --exact "$name" --test-threads=1 --nocapture) \
      >"$logdir/${name//:/_}.log" 2>&1 && rc=0 || rc=$?
    local secs
    secs=$(python3 -c "import time;print(f'{time.time()-$start:.1f}')")
    if [ "$rc" = 0 ] && grep -q "1 passed" "$logdir/${name//:/_}.log"; then
      if grep -q "^skipped" "$logdir/${name//:/_}.log"; then
        rows+=("$what|SKIPPED ($(grep -m1 '^skipped' "$logdir/${name//:/_}.log"))|$secs s")
      else
        rows+=("$what|ok|$secs s")
      fi
    else
      rows+=("$what|FAILED (log: $logdir/${name//:/_}.log)|$secs s")
      tail -n 20 "$logdir/${name//:/_}.log" >&2
    fi
  done
  # Benchmarks on the GPU (release binary); the CPU note would say if CUDA could not open.
  "$bins/artemo" --gpu bench paper --json >"$logdir/paper.json" 2>"$logdir/paper.err" &&
    rows+=("bench paper (GPU)|ok|see below") || rows+=("bench paper (GPU)|FAILED: $(tail -n 1 "$logdir/paper.err")|")
  "$bins/artemo" --gpu bench backbones --json >"$logdir/backbones.json" 2>"$logdir/backbones.err" &&
    rows+=("bench backbones (GPU)|ok|see below") || rows+=("bench backbones (GPU)|FAILED: $(tail -n 1 "$logdir/backbones.err")|")
  grep -h '^device:\|^note:' "$logdir/paper.err" "$logdir/backbones.err" 2>/dev/null | sort -u || true

  printf '\n%-56s %-12s %s\n' "check" "result" "time / value"
  for r in "${rows[@]}"; do
    IFS='|' read -r a b c <<<"$r"
    printf '%-56s %-12s %s\n' "$a" "$b" "$c"
  done
  python3 - "$logdir" <<'EOF'
import json, os, sys
d = sys.argv[1]
for name, key, ms in (("paper.json", "stage", "ms"), ("backbones.json", "name", "median_ms")):
    p = os.path.join(d, name)
    try:
        rows = json.load(open(p))
    except Exception:
        continue
    for r in rows:
        print(f"{r[key][:56]:<56} {'ok':<12} {r[ms]:.1f} ms")
EOF
  echo "gpu-check: logs in $logdir"
  if printf '%s\n' "${rows[@]}" | grep -q FAILED; then
    exit 1
  fi
}

case "$mode" in
  build)
    [ -n "$dir" ] || { echo "usage: $0 build DIR" >&2; exit 2; }
    build "$dir"
    ;;
  run)
    gpu_present || exit 2
    if [ -z "$dir" ]; then
      CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1 | tr -d '.')}"
      export CUDA_COMPUTE_CAP
      dir="target/gpu-check"
      build "$dir"
    fi
    run "$(cd "$dir" && pwd)"
    ;;
  *)
    echo "usage: $0 [run [DIR] | build DIR]" >&2
    exit 2
    ;;
esac
