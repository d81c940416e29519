#!/usr/bin/env bash
# Ingest benchmark: starts `observex serve` (fsync on) on a temp data dir, then drives it
# with `observex bench ingest` for each signal type over OTLP/HTTP protobuf and OTLP/gRPC,
# first flat out (16 connections), then paced to half of what flat out reached over 4
# connections (for the latency figure: fewer generator threads competing with the server
# for the same 2 cores, as a few Collectors would send).
# Prints one result line per run; docs/benchmarks.md records them.
#
#   bench/ingest.sh [build-dir] [seconds]
set -euo pipefail
build=${1:-build}
seconds=${2:-15}
bin="$build/src/app/observex"
[[ -x $bin ]] || { echo "bench/ingest.sh: $bin not built (make build)" >&2; exit 2; }

data=$(mktemp -d)
log="$data/serve.log"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port); grpc_port=$(free_port); api_port=$(free_port)
cleanup() { [[ -n ${pid:-} ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

# Storage does not checkpoint the WAL yet, so give the WAL room for the whole run.
"$bin" serve --data-dir "$data/d" --otlp-http-addr "127.0.0.1:$http_port" \
  --otlp-grpc-addr "127.0.0.1:$grpc_port" --api-addr "127.0.0.1:$api_port" \
  --wal-max-uncheckpointed-bytes 200GiB --log-level warn >"$data/stdout" 2>"$log" &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$api_port/readyz" >/dev/null && break
  sleep 0.1
done
key=$("$bin" keys create --tenant bench --data-dir "$data/d" | tail -1)

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, fsync on, ${seconds}s per run"
for signal in traces logs metrics; do
  for protocol in http grpc; do
    out=$("$bin" bench ingest --signal "$signal" --protocol "$protocol" --connections 16 \
      --batch 1000 --duration "$seconds" --api-key "$key" \
      --http-endpoint "http://127.0.0.1:$http_port" --grpc-endpoint "127.0.0.1:$grpc_port" \
      --server-pid "$pid" 2>/dev/null)
    echo "$out"
    rate=$(sed -n 's/.*signals_per_sec=\([0-9]*\).*/\1/p' <<<"$out")
    if [[ -n $rate && $rate -gt 0 ]]; then
      "$bin" bench ingest --signal "$signal" --protocol "$protocol" --connections 4 \
        --batch 1000 --duration "$seconds" --api-key "$key" --rate $((rate / 2)) \
        --http-endpoint "http://127.0.0.1:$http_port" --grpc-endpoint "127.0.0.1:$grpc_port" \
        --server-pid "$pid" 2>/dev/null | sed 's/^/half-load /'
    fi
  done
done
