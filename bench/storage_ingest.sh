#!/usr/bin/env bash
# Sustained ingest with storage: starts `observex serve` (fsync on, default storage settings:
# heads sealed into parts, background merges) on a temp data dir and, for each signal type,
# sends OTLP/gRPC flat out for N seconds, then waits until the storage writer has applied
# every acknowledged signal (observex_storage_writer_lag_bytes = 0). The stored rate is
# rows stored / time from the first request until the last row is in storage, so a writer
# that falls behind ingest shows up as a lower rate, not as a hidden backlog.
#
#   bench/storage_ingest.sh [build-dir] [seconds]      (SIGNALS="metrics" for a subset)
set -euo pipefail
build=${1:-build}
seconds=${2:-20}
bin="$build/src/app/observex"
[[ -x $bin ]] || { echo "bench/storage_ingest.sh: $bin not built (make build)" >&2; exit 2; }

data=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port); grpc_port=$(free_port); api_port=$(free_port)
cleanup() { [[ -n ${pid:-} ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

"$bin" serve --data-dir "$data/d" --otlp-http-addr "127.0.0.1:$http_port" \
  --otlp-grpc-addr "127.0.0.1:$grpc_port" --api-addr "127.0.0.1:$api_port" \
  --log-level warn >"$data/stdout" 2>"$data/serve.log" &
pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$api_port/readyz" >/dev/null && break
  sleep 0.1
done
key=$("$bin" keys create --tenant bench --data-dir "$data/d" | tail -1)
metric() { curl -s "http://127.0.0.1:$api_port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, fsync on, ${seconds}s of ingest per signal"
for signal in ${SIGNALS:-traces logs metrics}; do
  before=$(metric "observex_storage_rows_written_total{type=\"$signal\"}")
  before=${before:-0}
  start=$(date +%s.%N)
  out=$("$bin" bench ingest --signal "$signal" --protocol grpc --connections 8 --batch 1000 \
    --duration "$seconds" --api-key "$key" --http-endpoint "http://127.0.0.1:$http_port" \
    --grpc-endpoint "127.0.0.1:$grpc_port" --server-pid "$pid" 2>/dev/null)
  ingest_end=$(date +%s.%N)
  for _ in $(seq 3000); do
    lag=$(metric observex_storage_writer_lag_bytes)
    [[ ${lag%.*} == 0 ]] && break
    sleep 0.1
  done
  stored_end=$(date +%s.%N)
  after=$(metric "observex_storage_rows_written_total{type=\"$signal\"}")
  parts=$(curl -s "http://127.0.0.1:$api_port/metrics" |
    awk '/^observex_storage_parts_written_total/ {s += $2} END {print s + 0}')
  python3 - "$signal" "$before" "$after" "$start" "$ingest_end" "$stored_end" "$parts" "$out" <<'EOF'
import sys
signal, before, after, start, ingest_end, stored_end, parts, out = sys.argv[1:]
rows = float(after) - float(before)
fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
total = float(stored_end) - float(start)
print(f"signal={signal} acked={fields.get('accepted_signals')} "
      f"ingest_per_sec={fields.get('signals_per_sec')} stored_rows={int(rows)} "
      f"catch_up_s={float(stored_end) - float(ingest_end):.1f} "
      f"stored_per_sec={rows / total:.0f} parts_written_so_far={parts} "
      f"server_peak_rss_mib={fields.get('server_peak_rss_mib')}")
EOF
done
