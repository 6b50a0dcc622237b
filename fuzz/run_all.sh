#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 300) each and prints libFuzzer's summary.
# Needs cargo-fuzz; on a stable toolchain RUSTC_BOOTSTRAP=1 lets it pass its -Z flags.
set -u
cd "$(dirname "$0")"
secs=${1:-300}
for t in artemis_csv npy_mask coco_rle lexicon; do
  mkdir -p corpus/$t
  echo "== $t"
  RUSTC_BOOTSTRAP=1 cargo fuzz run -O --sanitizer none $t corpus/$t seeds/$t -- -max_total_time=$secs -rss_limit_mb=2048 -print_final_stats=1 > log-$t.txt 2>&1
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|==[0-9]+== ERROR)|panicked" log-$t.txt
  echo "exit: ${PIPESTATUS[0]}"
done
