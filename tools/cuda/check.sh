#!/usr/bin/env bash
# Compiles the workspace with `--features cuda` for compute capabilities 80 (A100) and 90
# (H100/H200): `cargo clippy --workspace --all-targets --features cuda --locked -- -D warnings`,
# which type-checks every crate and target exactly as `cargo check` does (candle-kernels' build
# script runs nvcc on every kernel) and then lints them. No GPU is needed.
#
# Usage: tools/cuda/check.sh [CAP...]        (default: 80 90)
# Needs the toolkit of tools/cuda/setup.sh (runs it when missing). Builds under
# target/cuda-<CAP>/ so the CPU build in target/ stays valid and a rerun per capability is
# incremental; prints the time of each step.
set -euo pipefail
cd "$(dirname "$0")/../.."

prefix="${ARTEMO_CUDA_PREFIX:-$HOME/.cache/artemo/cuda-13.0}"
if [ ! -f "$prefix/env.sh" ] || [ ! -x "$prefix/wheels/nvidia/cu13/bin/nvcc" ]; then
  tools/cuda/setup.sh
fi
# shellcheck source=/dev/null
source "$prefix/env.sh"

caps=("$@")
if [ ${#caps[@]} -eq 0 ]; then
  caps=(80 90)
fi
prev=""
for cap in "${caps[@]}"; do
  start=$(date +%s)
  # A cold second capability starts from the first one's build (a copy: only candle's
  # kernels and the crates above them recompile, not the other ~500 dependencies).
  if [ -n "$prev" ] && [ -d "target/cuda-$prev" ] && [ ! -d "target/cuda-$cap" ]; then
    cp -a "target/cuda-$prev" "target/cuda-$cap"
  fi
  echo "check.sh: CUDA_COMPUTE_CAP=$cap: cargo clippy --features cuda (target/cuda-$cap)"
  CUDA_COMPUTE_CAP="$cap" CARGO_TARGET_DIR="target/cuda-$cap" \
    cargo clippy --workspace --all-targets --features cuda --locked -- -D warnings
  echo "check.sh: CUDA_COMPUTE_CAP=$cap compiled and linted in $(( $(date +%s) - start )) s"
  prev="$cap"
done
