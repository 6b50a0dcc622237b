#!/usr/bin/env python3
"""Where a backbone's time goes (issue 22, item 3): reads `perf script` output of a
`perf record --call-graph dwarf` run of `artemo bench backbones --only NAME` and prints the
share of samples per category (matmul, softmax, layer norm, GELU, copies, ...).

Samples of the set-up (random weights, start-up) are counted apart and left out of the
shares; the shares are of the samples spent in the forwards (all threads).

    perf record -e cycles:u -F 1999 --call-graph dwarf,16384 -o b32.data -- \\
        target/release/artemo --threads 2 bench backbones --only clip-vit-b32
    perf script -i b32.data | tools/bench/perf_categories.py [--json] [--unmatched] \\
        [--require FRAME_REGEX] [--exclude FRAME_REGEX]   # e.g. only Artemo's TinyViT
"""
import collections
import json
import re
import sys

# (category, frame pattern): the first rule whose pattern matches any frame of a sample's
# stack decides, so specific contexts (an activation, a softmax) come before the kernels
# they call (exp, unary maps, gemm).
SETUP = re.compile(r"Init::var|rand_normal|randn|_dl_|clap_builder|::new\+|VarMap|load_|rt0_|_start\b")
RULES = [
    ("matmul (gemm)", r"gemm|MatMul"),
    ("GELU", r"Activation as candle_core::Module>::forward|gelu|Gelu|erf"),
    ("softmax", r"softmax"),
    ("layer norm", r"layer_norm|LayerNorm"),
    ("window partition/unpartition", r"window_partition|window_unpartition|pad_with_zeros"),
    ("bias add (linear layers)", r"Linear as candle_core::Module>::forward|Dense as candle_core::Module>::forward|gpt2::Conv1D"),
    ("conv (patch embed, 1x1, depthwise)", r"conv2d|Conv2D|ConvBn|im2col|Depthwise|PatchEmbed"),
    ("copies (contiguous, transpose, cat, index)", r"copy_strided|copy2d|Tensor::contiguous|Tensor::cat|index_select|IndexSelect|Copy2D"),
    ("other elementwise (residual, scale, mask)", r"binary_map|unary_map|binary_impl|affine|Affine|BinaryOp|UnaryOp|exp"),
    ("allocation", r"malloc|_int_free|cfree|memset|mmap|munmap|__GI___libc_free"),
    ("threads: waiting (spin, park)", r"BarrierGuard|BarrierPool|wait_until|rayon_core::sleep|sched_yield|futex|__rust_begin_short_backtrace|crossbeam"),
]
RULES = [(c, re.compile(p)) for c, p in RULES]


def samples(lines, threads=None):
    """Each sample's stack (leaf first); `threads` counts samples per (name, id)."""
    stack = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if stack:
                yield stack
            stack = []
        elif line.startswith("\t") or line.startswith(" "):
            parts = line.strip().split(" ", 1)
            stack.append(parts[1] if len(parts) > 1 else parts[0])
        elif threads is not None:
            head = line.split()
            if len(head) >= 2:
                threads[(head[0], head[1])] += 1
    if stack:
        yield stack


def main():
    require = None
    if "--require" in sys.argv:
        require = re.compile(sys.argv[sys.argv.index("--require") + 1])
    exclude = None
    if "--exclude" in sys.argv:
        exclude = re.compile(sys.argv[sys.argv.index("--exclude") + 1])
    kernel = 0
    packing = 0
    counts = collections.Counter()
    unmatched = collections.Counter()
    setup = 0
    threads = collections.Counter()
    for st in samples(sys.stdin, threads):
        # Set-up: anything under a model's constructor or the random initialisation.
        if any(SETUP.search(f) for f in st) and not any("forward" in f or "embeddings" in f for f in st[:-1]):
            setup += 1
            continue
        if require and not any(require.search(f) for f in st):
            continue
        if exclude and any(exclude.search(f) for f in st):
            continue
        for cat, rx in RULES:
            if any(rx.search(f) for f in st):
                counts[cat] += 1
                if cat.startswith("matmul") and "microkernel" in st[0]:
                    kernel += 1
                if cat.startswith("matmul") and any("pack_operands" in f for f in st[:3]):
                    packing += 1
                break
        else:
            counts["other"] += 1
            unmatched[st[0][:100]] += 1
    total = sum(counts.values())
    busiest = max(threads.values(), default=0)
    # Samples of every thread but the busiest, per sample of the busiest (set-up included):
    # 1.0 would be two threads busy all the time.
    others = round((sum(threads.values()) - busiest) / max(busiest, 1), 2)
    if "--json" in sys.argv:
        print(json.dumps({"setup": setup, "forward": total, "gemm_microkernel": round(100 * kernel / max(total, 1), 1), "other_threads": others, "gemm_packing": round(100 * packing / max(total, 1), 1),
                          "shares": {c: round(100 * n / max(total, 1), 1) for c, n in counts.items()}}))
    else:
        print(f"forward samples {total}, set-up samples left out {setup}; gemm microkernels {100 * kernel / max(total, 1):.1f}%; packing {100 * packing / max(total, 1):.1f}%; other threads {others} of the busiest")
        for c, n in counts.most_common():
            print(f"{100 * n / max(total, 1):5.1f}%  {c}")
    if "--unmatched" in sys.argv:
        for f, n in unmatched.most_common(25):
            print(f"  {n:5d}  {f}")


if __name__ == "__main__":
    main()
