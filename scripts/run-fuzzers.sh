#!/usr/bin/env bash
# Runs every libFuzzer target built in $1 for $2 seconds each, seeded from tests/fuzz/corpus/<name>.
set -euo pipefail
build_dir=$1
seconds=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
targets=("$build_dir"/tests/fuzz/*_fuzzer)
if ((${#targets[@]} == 0)); then
  echo "run-fuzzers: no fuzz targets found in $build_dir/tests/fuzz" >&2
  exit 1
fi
for t in "${targets[@]}"; do
  name=$(basename "$t")
  work=$(mktemp -d)
  seeds=()
  [[ -d "$root/tests/fuzz/corpus/$name" ]] && seeds=("$root/tests/fuzz/corpus/$name")
  echo "fuzz: $name for ${seconds}s"
  "$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
       "$work" "${seeds[@]}" > "$work/log" 2>&1 || { tail -50 "$work/log"; echo "fuzz: $name FAILED"; exit 1; }
  grep -E "stat::number_of_executed_units" "$work/log" || true
  rm -rf "$work"
done
echo "fuzz: all ${#targets[@]} targets ran clean"
