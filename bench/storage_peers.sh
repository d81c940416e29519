#!/usr/bin/env bash
# Bytes on disk against peers, on one generated data set (bench/storage_size_bench.cc):
#   metric samples  ObserveX part + series index  vs  Prometheus (promtool tsdb
#                   create-blocks-from openmetrics) and VictoriaMetrics (/api/v1/import/prometheus)
#   spans, logs     ObserveX parts  vs  ClickHouse 18.16 MergeTree, zstd
# Installs nothing: the peers come from scripts/install-deps.sh ("benchmark peers"). Each peer
# runs as a child of this script on free loopback ports with its own temporary data dir and
# config, and is stopped before the script ends. Bytes are the sum of the sizes of every file
# a system keeps for the data (directories themselves not counted), measured after the peer
# has flushed and merged everything into its final form. Prints one markdown table, then where
# the bytes go (per column, and for samples per metric name).
#
#   bench/storage_peers.sh [build-dir] [storage_size_bench options, e.g. --series 10000]
#
# KEEP=1 keeps the working directory (generated files, every system's data) for inspection;
# WORK=dir puts it somewhere else than under ${TMPDIR:-/tmp} (it needs about 6 GB by default).
set -euo pipefail
build=${1:-build}
shift || true
gen=$build/bench/storage_size_bench
[[ -x $gen ]] || { echo "storage_peers: $gen not built (cmake --build $build --target storage_size_bench)" >&2; exit 2; }

missing=()
for tool in promtool victoria-metrics clickhouse-server clickhouse-client curl python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "storage_peers: missing ${missing[*]} (scripts/install-deps.sh installs the benchmark peers)" >&2
  exit 2
fi

work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/obx-peers.XXXXXX")}
mkdir -p "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  [[ ${KEEP:-0} == 1 ]] && echo "storage_peers: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Sum of the sizes of the regular files under the given paths.
file_bytes() { find "$@" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d\n", s}'; }
log() { echo "storage_peers: $*" >&2; }
version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | sed 's/[+~].*//' || echo "?"; }

# --- generate ------------------------------------------------------------------------------
log "generating into $work"
"$gen" --out "$work" "$@" >"$work/generator.txt"
grep -v -E '^(column|table|index|whatif|metric) ' "$work/generator.txt" >&2 || true
declare -A obx_rows obx_bytes
while read -r _ table _ rows _ bytes _; do
  obx_rows[$table]=$rows
  obx_bytes[$table]=$bytes
done < <(grep '^table ' "$work/observex.txt")
obx_parts_samples=${obx_bytes[samples]}
obx_index=$(awk '$1 == "index" && $2 == "samples" {print $4}' "$work/observex.txt")
# Like the peers' totals, ObserveX's samples total includes its series index (labels -> ids).
obx_bytes[samples]=$((obx_parts_samples + obx_index))

results=()  # "table|system|rows|bytes"
result() { results+=("$1|$2|$3|$4"); }
result samples "ObserveX (part + series index)" "${obx_rows[samples]}" "${obx_bytes[samples]}"
result samples "ObserveX, part only" "${obx_rows[samples]}" "$obx_parts_samples"
for t in spans logs; do
  [[ -n ${obx_rows[$t]:-} ]] && result "$t" "ObserveX (part: column files, manifest, bloom)" "${obx_rows[$t]}" "${obx_bytes[$t]}"
done

# --- Prometheus ----------------------------------------------------------------------------
# promtool writes 2 h blocks unless told otherwise; Prometheus itself compacts them into larger
# blocks (up to 18 h with the default 15 d retention), and bigger blocks only shrink the index.
# The hidden --max-block-duration flag makes promtool write those compacted blocks directly;
# the generator's window lies inside one 18 h block.
log "prometheus: promtool tsdb create-blocks-from openmetrics"
promtool tsdb create-blocks-from openmetrics --max-block-duration=18h "$work/samples.om" \
  "$work/prom" >"$work/promtool.txt" 2>&1 || { cat "$work/promtool.txt" >&2; exit 1; }
prom_samples=$(awk 'length($1) == 26 && $1 ~ /^[0-9A-Z]+$/ {s += $5} END {printf "%d\n", s}' "$work/promtool.txt")
prom_blocks=$(awk 'length($1) == 26 && $1 ~ /^[0-9A-Z]+$/ {n++} END {print n + 0}' "$work/promtool.txt")
prom_all=$(file_bytes "$work/prom")
prom_chunks=$(find "$work/prom" -path '*/chunks/*' -type f -printf '%s\n' | awk '{s += $1} END {printf "%d\n", s}')
pv=$(version prometheus)
result samples "Prometheus $pv ($prom_blocks block: chunks, index, meta)" "$prom_samples" "$prom_all"
result samples "Prometheus $pv, chunks only" "$prom_samples" "$prom_chunks"

# --- VictoriaMetrics -----------------------------------------------------------------------
vm_port=$(free_port)
vm_url="http://127.0.0.1:$vm_port"
log "victoria-metrics on 127.0.0.1:$vm_port"
victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm_port" \
  -retentionPeriod=100y -loggerLevel=WARN >"$work/vm.log" 2>&1 &
vm_pid=$!
pids+=("$vm_pid")
for _ in $(seq 100); do curl -sf "$vm_url/health" >/dev/null && break; sleep 0.2; done
vm_metric() { # sum of a metric's series, optionally restricted by a label matcher regex
  curl -sf "$vm_url/metrics" | awk -v m="$1" -v f="${2:-}" \
    'index($0, m) == 1 && (substr($0, length(m) + 1, 1) ~ /[{ ]/) && (f == "" || $0 ~ f) {s += $NF} END {printf "%d\n", s}'
}
code=$(curl -sS -o "$work/vm-import.txt" -w '%{http_code}' -X POST -H 'Content-Type: text/plain' \
  -T "$work/samples.prom" "$vm_url/api/v1/import/prometheus")
[[ $code == 204 ]] || { log "import failed: HTTP $code $(cat "$work/vm-import.txt")"; exit 1; }
curl -sf "$vm_url/internal/force_flush" >/dev/null
# Wait until every sample is in a searchable part, then merge each partition into one part.
expected=${obx_rows[samples]}
for _ in $(seq 600); do
  [[ $(vm_metric vm_rows 'type="storage/') -ge $expected ]] && break
  curl -sf "$vm_url/internal/force_flush" >/dev/null
  sleep 1
done
curl -sf "$vm_url/internal/force_merge" >/dev/null
sleep 2
for _ in $(seq 1800); do
  [[ $(vm_metric vm_active_force_merges) -eq 0 && $(vm_metric vm_active_merges) -eq 0 ]] && break
  sleep 1
done
vm_rows=$(vm_metric vm_rows 'type="storage/')
vm_parts=$(vm_metric vm_parts 'type="storage/')
vm_data=$(file_bytes "$work/vm/data")
vm_index=$(file_bytes "$work/vm/indexdb")
kill -TERM "$vm_pid" && wait "$vm_pid" 2>/dev/null || true
vv=$(version victoria-metrics)
result samples "VictoriaMetrics $vv ($vm_parts part(s) + indexdb)" "$vm_rows" $((vm_data + vm_index))
result samples "VictoriaMetrics $vv, data only" "$vm_rows" "$vm_data"

# --- ClickHouse ----------------------------------------------------------------------------
# 18.16 has no per-column CODEC clause (added in 19.1), so zstd is chosen server-wide by the
# <compression> section, at level 3 like ObserveX's parts.
ch=$work/ch
mkdir -p "$ch/data" "$ch/tmp" "$ch/user_files" "$ch/format_schemas"
ch_http=$(free_port)
ch_tcp=$(free_port)
cat >"$ch/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$ch/server.log</log><errorlog>$ch/error.log</errorlog><console>0</console></logger>
  <http_port>$ch_http</http_port>
  <tcp_port>$ch_tcp</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$ch/data/</path>
  <tmp_path>$ch/tmp/</tmp_path>
  <user_files_path>$ch/user_files/</user_files_path>
  <format_schema_path>$ch/format_schemas/</format_schema_path>
  <users_config>$ch/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
  <compression>
    <case><method>zstd</method><level>3</level></case>
  </compression>
</yandex>
EOF
cat >"$ch/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
EOF
log "clickhouse-server on 127.0.0.1:$ch_tcp"
clickhouse-server --config-file="$ch/config.xml" >"$ch/stdout" 2>&1 &
ch_pid=$!
pids+=("$ch_pid")
chq() { clickhouse-client --host 127.0.0.1 --port "$ch_tcp" "$@"; }
for _ in $(seq 150); do chq -q 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
chq --multiquery <"$work/clickhouse.sql"
cv=$(version clickhouse-server)
for t in spans logs; do
  [[ -s $work/$t.tsv ]] || continue
  log "clickhouse: loading $t"
  chq -q "INSERT INTO $t FORMAT TabSeparated" <"$work/$t.tsv"
  chq -q "OPTIMIZE TABLE $t FINAL"
  read -r rows parts < <(chq -q "SELECT sum(rows), count() FROM system.parts WHERE active AND database = 'default' AND table = '$t'")
  mapfile -t dirs < <(chq -q "SELECT path FROM system.parts WHERE active AND database = 'default' AND table = '$t'")
  bytes=$(file_bytes "${dirs[@]}")
  result "$t" "ClickHouse $cv, MergeTree, zstd ($parts part(s))" "$rows" "$bytes"
  chq -q "SELECT name, data_compressed_bytes FROM system.columns WHERE database = 'default' AND table = '$t' FORMAT TSV" \
    | sed "s/^/clickhouse-column $t /" >>"$work/clickhouse-columns.txt"
done
kill -TERM "$ch_pid" && wait "$ch_pid" 2>/dev/null || true

# --- report --------------------------------------------------------------------------------
echo "| data | system | rows | bytes | bytes/row | × ObserveX |"
echo "|---|---|---:|---:|---:|---:|"
for r in "${results[@]}"; do
  IFS='|' read -r table system rows bytes <<<"$r"
  awk -v t="$table" -v s="$system" -v r="$rows" -v b="$bytes" -v o="${obx_bytes[$table]}" 'BEGIN {
    printf "| %s | %s | %d | %d | %.3f | %.2f |\n", t, s, r, b, (r > 0 ? b / r : 0), b / o }'
done
echo
echo "ObserveX series index (series.log): $obx_index bytes"
echo "ObserveX bytes per column (manifest ColumnMeta file_bytes; table, column, file bytes, encoded bytes, plain bytes):"
grep '^column ' "$work/observex.txt" | awk '{printf "  %-8s %-22s %12d %12d %12d\n", $2, $3, $4, $5, $6}'
if grep -q '^whatif ' "$work/observex.txt"; then
  echo "ObserveX samples, what-ifs (bytes, bytes/sample):"
  grep '^whatif ' "$work/observex.txt" | sed 's/^whatif samples /  /'
  echo "ObserveX samples by metric name, each encoded alone (samples, time B/sample, value B/sample, ~% of the part):"
  grep '^metric ' "$work/observex.txt" | awk -v total="$obx_parts_samples" \
    '{printf "  %-46s %10d %7.3f %7.3f %6.1f\n", $2, $3, $4 / $3, $5 / $3, 100 * ($4 + $5) / total}' \
    | sort -k5 -g -r
fi
if [[ -s $work/clickhouse-columns.txt ]]; then
  echo "ClickHouse compressed bytes per column (system.columns):"
  awk '{printf "  %-8s %-22s %12d\n", $2, $3, $4}' "$work/clickhouse-columns.txt"
fi
