#!/usr/bin/env bash
# Installs a CUDA toolkit that `cargo check/build --features cuda` can use, without root and
# without NVIDIA's apt repository: NVIDIA's own CUDA 13.0 wheels from PyPI, unpacked into one
# folder that is laid out like /usr/local/cuda (bin/nvcc, include/, lib/, lib64 -> lib, nvvm/).
#
# Why these wheels (docs/cuda.md has the details):
# - Debian bookworm's `nvidia-cuda-toolkit` (non-free) is CUDA 11.8: it cannot target sm_90a,
#   which candle-kernels 0.11 (cudaforge) picks for compute capability 90, and it does not
#   support bookworm's gcc 12 as host compiler.
# - The CUDA 12 wheels on PyPI (`nvidia-cuda-nvcc-cu12`) carry only ptxas, no nvcc.
# - The CUDA 13 wheels carry the whole compiler (nvcc, cicc, cudafe++, headers, CCCL);
#   cudarc 0.19 (candle 0.11's) supports CUDA 13.0 to 13.4.
#
# Usage: tools/cuda/setup.sh [--link]
#   (default)  the compiler, headers and runtime: enough for `cargo check --features cuda`
#              (tools/cuda/check.sh), ~0.6 GB.
#   --link     also cuBLAS, cuRAND, NVRTC and a link-time stub of the driver library
#              (`lib/stubs/libcuda.so`, like the toolkit's own stubs): enough to link
#              `cargo build --features cuda` binaries on a machine without a GPU, ~1.5 GB more.
#              The stub is for the linker only; binaries load the real driver at run time.
# Environment:
#   ARTEMO_CUDA_PREFIX  where to install (default: $HOME/.cache/artemo/cuda-13.0)
#   PYTHON              a Python with pip (default: python3)
# Prints the environment to use (also written to $ARTEMO_CUDA_PREFIX/env.sh, which
# check.sh and gpu-check.sh source).
set -euo pipefail
cd "$(dirname "$0")/../.."

prefix="${ARTEMO_CUDA_PREFIX:-$HOME/.cache/artemo/cuda-13.0}"
python="${PYTHON:-python3}"
link=0
for arg in "$@"; do
  case "$arg" in
    --link) link=1 ;;
    *) echo "usage: $0 [--link]" >&2; exit 2 ;;
  esac
done

if ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "setup.sh: '$python -m pip' is not available; install pip (apt-get install python3-pip) or set PYTHON" >&2
  exit 1
fi
if ! command -v g++ >/dev/null 2>&1; then
  echo "setup.sh: nvcc needs a host C++ compiler (g++ <= 14); apt-get install g++" >&2
  exit 1
fi

# Pinned versions of one CUDA release (13.0 update 2), so every machine compiles the same PTX.
compiler=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85
)
libraries=(
  nvidia-cuda-nvrtc==13.0.88
  nvidia-curand==10.4.0.35
  nvidia-cublas==13.0.2.14
)

wheels="$prefix/wheels"
mkdir -p "$wheels"
want=("${compiler[@]}")
if [ "$link" = 1 ]; then
  want+=("${libraries[@]}")
fi
echo "setup.sh: installing ${#want[@]} CUDA wheels into $wheels"
"$python" -m pip install --quiet --disable-pip-version-check --no-deps --upgrade \
  --target "$wheels" "${want[@]}"

root="$wheels/nvidia/cu13"
if [ ! -x "$root/bin/nvcc" ]; then
  echo "setup.sh: $root/bin/nvcc is missing after the install" >&2
  exit 1
fi
# cudaforge (candle-kernels' build) and cudarc look for lib64/ beside include/.
ln -sfn lib "$root/lib64"
# Unversioned names for the linker (the wheels ship only the sonames).
for so in "$root"/lib/lib*.so.*; do
  [ -e "$so" ] || continue
  base="${so%%.so.*}.so"
  [ -e "$base" ] || ln -sfn "$(basename "$so")" "$base"
done

if [ "$link" = 1 ]; then
  # The driver library (libcuda.so.1) comes with the GPU driver, never with the toolkit wheels.
  # For linking on a machine without a driver, build a stub exporting the driver API symbols
  # cudarc declares (soname libcuda.so.1, so a binary loads the real driver at run time).
  # The stub lives in lib/stubs/, which is never put on LD_LIBRARY_PATH.
  cudarc_src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* 2>/dev/null | tail -n 1)
  if [ -z "$cudarc_src" ]; then
    cargo fetch --locked >/dev/null
    cudarc_src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* | tail -n 1)
  fi
  mkdir -p "$root/lib/stubs"
  stub_c="$root/lib/stubs/libcuda_stub.c"
  grep -rhoE 'pub unsafe fn cu[A-Za-z0-9_]+' "$cudarc_src/src/driver/sys/" \
    | sed 's/pub unsafe fn //' | sort -u \
    | awk 'BEGIN{print "/* link-time stub of libcuda.so.1; never loaded: every entry fails */"} {printf "int %s(void) { return 999; }\n", $1}' \
    > "$stub_c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" "$stub_c"
fi

cat > "$prefix/env.sh" <<EOF
# Written by tools/cuda/setup.sh: the CUDA 13.0 toolkit from PyPI wheels.
export CUDA_HOME="$root"
export CUDA_PATH="$root"
export PATH="$root/bin:\$PATH"
# Link-time search path (the driver stub only where --link built it; run time uses the driver).
export LIBRARY_PATH="$root/lib:$root/lib/stubs\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
# Run time: cuBLAS/cuRAND/NVRTC from the wheels (the driver comes from the system).
export ARTEMO_CUDA_LD_LIBRARY_PATH="$root/lib"
EOF

"$root/bin/nvcc" --version | tail -n 2
du -sh "$prefix" | awk '{print "setup.sh: " $1 " in " $2}'
echo "setup.sh: done; use it with: source $prefix/env.sh"
