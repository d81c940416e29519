#!/usr/bin/env bash
# Trace by id over HTTP among many stored spans.
#
#   bench/trace_lookup.sh [build-dir] [spans]        (defaults: build, 50000000)
#
# 1. Creates a control plane with one tenant and API key in a temp data dir.
# 2. Loads `spans` spans for that tenant into <data-dir>/storage with `store_bench trace`
#    (Store::Append with background seals and merges, 4-16 spans per trace over 8 services,
#    so a trace's spans lie in many blocks), which also writes stored and unknown trace ids.
# 3. Starts `observex serve` on that data dir (retention off: the spans are dated 2025) and
#    times GET /api/v1/traces/{id} with bench/trace_lookup.py: first alone, then while
#    `observex bench ingest` sends spans to the same server at 100,000 spans/s, then flat out.
# DATA=dir keeps the loaded data in dir/base (reused when dir/ids exists; each run serves a
# fresh copy of it, ~2 GB for 50 M spans); by default the temp dir is removed at the end.
set -euo pipefail
build=${1:-build}
spans=${2:-50000000}
lookups=${LOOKUPS:-200}
bin="$build/src/app/observex"
store_bench="$build/bench/store_bench"
here=$(cd "$(dirname "$0")" && pwd)
for b in "$bin" "$store_bench"; do
  [[ -x $b ]] || { echo "bench/trace_lookup.sh: $b not built" >&2; exit 2; }
done

data=${DATA:-}
keep=1
if [[ -z $data ]]; then
  data=$(mktemp -d)
  keep=0
fi
mkdir -p "$data"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() {
  [[ -n ${load_pid:-} ]] && kill "$load_pid" 2>/dev/null || true
  [[ -n ${pid:-} ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [[ $keep == 0 ]] && rm -rf "$data"
  return 0
}
trap cleanup EXIT

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ ! -s $data/ids ]]; then
  rm -rf "$data/base"
  "$bin" keys create --tenant bench --data-dir "$data/base" | tail -1 >"$data/key"
  # A fresh control plane numbers its first tenant 1; a wrong id would make every stored
  # trace answer 404, which trace_lookup.py reports as an error.
  "$store_bench" trace --spans "$spans" --lookups "$lookups" --dir "$data/base/storage" \
    --tenant 1 --ids-out "$data/ids"
fi
key=$(cat "$data/key")
# The server runs on a copy: its ingest and merges must not change the loaded data that a
# later run with DATA= reuses.
rm -rf "$data/d"
cp -a "$data/base" "$data/d"

http_port=$(free_port); grpc_port=$(free_port); api_port=$(free_port)
"$bin" serve --data-dir "$data/d" --otlp-http-addr "127.0.0.1:$http_port" \
  --otlp-grpc-addr "127.0.0.1:$grpc_port" --api-addr "127.0.0.1:$api_port" \
  --retention 0 --log-level warn >"$data/stdout" 2>"$data/serve.log" &
pid=$!
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$api_port/readyz" >/dev/null && break
  sleep 0.1
done
parts=$(curl -s "http://127.0.0.1:$api_port/metrics" | awk '$1 ~ /^observex_storage_parts\{/ {s += $2} END {print s + 0}')
echo "server: $(du -sh "$data/d/storage" | cut -f1) of parts ($parts parts) in $data/d/storage"

# Warm-up: the first look-up of each part reads and verifies its Bloom filter.
python3 "$here/trace_lookup.py" "127.0.0.1:$api_port" "$key" <(head -40 "$data/ids") warmup >/dev/null
python3 "$here/trace_lookup.py" "127.0.0.1:$api_port" "$key" "$data/ids" "idle server"

under_load() {  # label, spans/s (0 = flat out)
  "$bin" bench ingest --signal traces --protocol grpc --connections 8 --batch 1000 \
    --rate "$2" --duration 600 --api-key "$key" --http-endpoint "http://127.0.0.1:$http_port" \
    --grpc-endpoint "127.0.0.1:$grpc_port" --server-pid "$pid" >"$data/ingest.out" 2>&1 &
  load_pid=$!
  sleep 5
  python3 "$here/trace_lookup.py" "127.0.0.1:$api_port" "$key" "$data/ids" "$1"
  # An asynchronous job of a script ignores SIGINT: stop the generator with SIGTERM.
  kill -TERM "$load_pid" 2>/dev/null || true
  wait "$load_pid" 2>/dev/null || true
  load_pid=
}
under_load "during OTLP span ingest at 100,000 spans/s" 100000
under_load "during OTLP span ingest flat out" 0
ingested=$(curl -s "http://127.0.0.1:$api_port/metrics" |
  awk '$1 == "observex_storage_rows_written_total{type=\"traces\"}" {print $2}')
echo "spans written by the concurrent ingest: ${ingested:-0}"
