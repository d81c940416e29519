#!/usr/bin/env bash
# PromQL latency against peers: loads one generated data set (bench/storage_size_bench.cc
# --samples-text-only: 10,000 series of 50 scrape targets, 24 h at 15 s, counters, gauges,
# classic histograms and a summary) into ObserveX, Prometheus and VictoriaMetrics, checks that
# the three answer the dashboard queries of bench/promql_peers.py alike, then times those
# queries over HTTP and prints the latencies and the ratios ObserveX / peer.
#   ObserveX         `observex serve`, text import (/prom/api/v1/import/prometheus) in chunks of
#                    at most 16 MiB (under max_body_bytes), 2 at a time; then, once the storage
#                    writer has applied the whole WAL, a graceful restart: SIGTERM writes every
#                    head to parts, so the queries read parts only (the steady state of data
#                    older than storage_seal_after), after background merges have settled.
#   Prometheus       `promtool tsdb create-blocks-from openmetrics --max-block-duration=54h`
#                    (the day lies in one 54 h block, one of the sizes Prometheus compacts to), then
#                    `prometheus` on that directory with 100 y retention.
#   VictoriaMetrics  /api/v1/import/prometheus with the same chunks, /internal/force_flush until
#                    every row is searchable, /internal/force_merge; -search.disableCache, so
#                    every timed query is computed (its rollup result cache would otherwise
#                    answer repeats of a range query from memory).
# Every system runs as a child of this script on free loopback ports with its own temporary
# data dir and is stopped at the end. Installs nothing (scripts/install-deps.sh installs the
# peers). Before timing, each system must answer the load checks identically (number of
# series, samples of one family); then `promql_peers.py verify` compares every query's answer.
#
#   bench/promql_peers.sh [build-dir]
#
# Environment: RUNS (timed runs per query and system, default 5), SERIES (10000), HOURS (24),
# SEED (1), KEEP=1 keeps the working directory, WORK=dir puts it elsewhere (about 16 GB),
# REUSE=1 with a kept WORK skips generating and serves the loaded data again (for before/after
# comparisons of a rebuilt observex); a system whose data dir was removed (obx, prom, vm; e.g.
# after a storage format change) is loaded again from the kept files. HOLD=1 keeps the three
# servers running after the report until the script is interrupted (for profiling).
# BEFORE_TIMING / AFTER_TIMING are shell commands run just before and after the timed part
# (e.g. to quiet the machine).
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
gen=$build/bench/storage_size_bench
obx=$build/src/app/observex
for b in "$gen" "$obx"; do
  [[ -x $b ]] || { echo "promql_peers: $b not built (cmake --build $build --target observex storage_size_bench)" >&2; exit 2; }
done
missing=()
for tool in promtool prometheus victoria-metrics curl python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "promql_peers: missing ${missing[*]} (scripts/install-deps.sh installs the benchmark peers)" >&2
  exit 2
fi

runs=${RUNS:-5}
series=${SERIES:-10000}
hours=${HOURS:-24}
seed=${SEED:-1}
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/obx-promql.XXXXXX")}
mkdir -p "$work"
work=$(cd "$work" && pwd)
reuse=0
[[ ${REUSE:-0} == 1 && -f $work/generated ]] && reuse=1
# Whether a system's data must be loaded (not reusing, or its data dir is gone).
must_load() { [[ $reuse == 0 || ! -f $work/$1.loaded || ! -d $work/$1 ]]; }

declare -A pid_of=()
stop() { # name: SIGTERM and wait
  local p=${pid_of[$1]:-}
  [[ -n $p ]] || return 0
  kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  unset "pid_of[$1]"
}
cleanup() {
  for n in "${!pid_of[@]}"; do stop "$n"; done
  if [[ ${KEEP:-0} == 1 || $reuse == 1 ]]; then echo "promql_peers: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
log() { echo "promql_peers: $(date -u +%H:%M:%S) $*" >&2; }
version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null | sed 's/[+~].*//' || echo "?"; }
wait_http() { # url [tries of 0.2 s]
  for _ in $(seq "${2:-300}"); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "no answer from $1"; return 1
}
metric_sum() { # url name [label regex]: sum of a metric's series on a /metrics page
  curl -sf "$1" | awk -v m="$2" -v f="${3:-}" \
    'index($0, m) == 1 && (substr($0, length(m) + 1, 1) ~ /[{ ]/) && (f == "" || $0 ~ f) {s += $NF} END {printf "%.0f\n", s}'
}

# The data's day starts at 2023-11-16 00:00 UTC (storage_size_bench's kStartMs).
day_start=1700092800
q_start=$day_start
q_end=$((day_start + hours * 3600))
q_step=60

# --- generate ------------------------------------------------------------------------------
if [[ $reuse == 0 ]]; then
  rm -f "$work"/*.loaded "$work/generated"
  log "generating $series series x ${hours} h into $work"
  "$gen" --out "$work" --samples-text-only --series "$series" --hours "$hours" --seed "$seed" \
    --chunk-bytes $((16 << 20)) >"$work/generator.txt"
  touch "$work/generated"
fi
grep '^samples:' "$work/generator.txt" >&2
expected=$(awk '$1 == "samples:" {print $4}' "$work/generator.txt")
# Prometheus 2.42 counts a sample lying exactly on a range's start (Prometheus 3 and ObserveX
# do not): the evaluation grid is whole minutes, so no scrape may lie on a whole 15 s.
awk '$1 == "phases_ms" {for (i = 2; i <= NF; i++) if ($i <= 2 || $i >= 14998) bad++}
     END {if (bad) {print "promql_peers: " bad " target(s) scrape within 2 ms of the evaluation grid; results may differ from Prometheus 2.42 (try another SEED)"}}' \
  "$work/generator.txt" >&2
chunks=("$work"/samples-prom/*.prom)

# --- Prometheus ----------------------------------------------------------------------------
if must_load prom; then
  [[ -f $work/samples.om ]] || { log "$work/samples.om is gone: run without REUSE"; exit 1; }
  log "prometheus: promtool tsdb create-blocks-from openmetrics"
  rm -rf "$work/prom"
  promtool tsdb create-blocks-from openmetrics --max-block-duration=54h "$work/samples.om" \
    "$work/prom" >"$work/promtool.txt" 2>&1 || { cat "$work/promtool.txt" >&2; exit 1; }
  touch "$work/prom.loaded"
fi
prom_port=$(free_port)
prom_url="http://127.0.0.1:$prom_port"
printf 'global:\n  scrape_interval: 15s\n' >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --storage.tsdb.retention.time=100y --web.listen-address="127.0.0.1:$prom_port" \
  --log.level=warn >"$work/prometheus.log" 2>&1 &
pid_of[prometheus]=$!
wait_http "$prom_url/-/ready" 600

# --- VictoriaMetrics -----------------------------------------------------------------------
load_vm=0
must_load vm && { rm -rf "$work/vm"; load_vm=1; }
vm_port=$(free_port)
vm_url="http://127.0.0.1:$vm_port"
victoria-metrics -storageDataPath="$work/vm" -httpListenAddr="127.0.0.1:$vm_port" \
  -retentionPeriod=100y -search.disableCache -loggerLevel=WARN >"$work/vm.log" 2>&1 &
pid_of[vm]=$!
wait_http "$vm_url/health"
if ((load_vm)); then
  log "victoria-metrics: importing ${#chunks[@]} chunks"
  printf '%s\n' "${chunks[@]}" | xargs -P 2 -I{} curl -sS --fail-with-body -o /dev/null \
    -H 'Content-Type: text/plain' --data-binary @{} "$vm_url/api/v1/import/prometheus"
  curl -sf "$vm_url/internal/force_flush" >/dev/null
  for _ in $(seq 600); do
    [[ $(metric_sum "$vm_url/metrics" vm_rows 'type="storage/') -ge $expected ]] && break
    curl -sf "$vm_url/internal/force_flush" >/dev/null
    sleep 1
  done
  curl -sf "$vm_url/internal/force_merge" >/dev/null
  sleep 2
  for _ in $(seq 1800); do
    [[ $(metric_sum "$vm_url/metrics" vm_active_force_merges) -eq 0 &&
      $(metric_sum "$vm_url/metrics" vm_active_merges) -eq 0 ]] && break
    sleep 1
  done
  touch "$work/vm.loaded"
fi

# --- ObserveX ------------------------------------------------------------------------------
obx_api_port=$(free_port)
obx_url="http://127.0.0.1:$obx_api_port"
start_obx() {
  "$obx" serve --data-dir "$work/obx" --api-addr "127.0.0.1:$obx_api_port" \
    --otlp-http-addr "127.0.0.1:$(free_port)" --otlp-grpc-addr "127.0.0.1:$(free_port)" \
    --retention 0 --wal-max-uncheckpointed-bytes 64GiB --ingest-queue-signals 1000000 \
    --log-level warn >>"$work/observex.stdout" 2>>"$work/observex.log" &
  pid_of[observex]=$!
  wait_http "$obx_url/readyz" 1500
}
obx_lag() { metric_sum "$obx_url/metrics" observex_storage_writer_lag_bytes; }
load_obx=0
must_load obx && { rm -rf "$work/obx"; load_obx=1; }
start_obx
if ((load_obx)); then
  "$obx" keys create --tenant bench --data-dir "$work/obx" | tail -1 >"$work/obx.key"
fi
obx_key=$(cat "$work/obx.key")
if ((load_obx)); then
  log "observex: importing ${#chunks[@]} chunks"
  t0=$(date +%s)
  # curl retries 429 (ingest queue or WAL budget full) and 503.
  printf '%s\n' "${chunks[@]}" | xargs -P 2 -I{} curl -sS --fail-with-body -o /dev/null \
    --retry 1000 --retry-delay 1 -H "Authorization: Bearer $obx_key" \
    --data-binary @{} "$obx_url/prom/api/v1/import/prometheus"
  log "observex: import acknowledged after $(($(date +%s) - t0)) s; waiting for the storage writer"
  until [[ $(obx_lag) == 0 ]]; do sleep 1; done
  log "observex: applied after $(($(date +%s) - t0)) s; $(metric_sum "$obx_url/metrics" observex_storage_rows_written_total 'type="prometheus"') rows, $(metric_sum "$obx_url/metrics" observex_metrics_points_rejected_total) rejected"
  log "observex: graceful restart (heads to parts)"
  stop observex
  start_obx
  touch "$work/obx.loaded"
fi
until [[ $(obx_lag) == 0 ]]; do sleep 1; done
# Background merges bring each day to storage_max_parts_per_day parts; wait until the part
# count has not changed for 20 s.
last=-1 same=0
while ((same < 20)); do
  n=$(metric_sum "$obx_url/metrics" observex_storage_parts)
  if [[ $n == "$last" ]]; then same=$((same + 1)); else same=0 last=$n; fi
  sleep 1
done
obx_parts=$last
obx_head=$(metric_sum "$obx_url/metrics" observex_storage_head_rows)
log "observex: $obx_parts parts, $obx_head rows in the head"

# --- check, verify, time -------------------------------------------------------------------
cat >"$work/systems.tsv" <<EOF
ObserveX	$obx_url/prom	Bearer $obx_key
Prometheus	$prom_url
VictoriaMetrics	$vm_url
EOF
py() { python3 "$here/promql_peers.py" "$@"; }
log "load check: series, and samples of one counter family and of the histogram buckets"
{ py check --systems "$work/systems.tsv" --time $((day_start + hours * 1800)) \
    'count({__name__=~".+"})' &&
  py check --systems "$work/systems.tsv" --time $((q_end + 1800)) \
    "sum(count_over_time(http_server_requests_total[$((hours + 1))h]))" \
    "sum(count_over_time(http_server_request_duration_seconds_bucket[$((hours + 1))h]))"; } ||
  { log "the systems hold different data"; exit 1; }
verify_rc=0
# Windows that reach back before the data's first scrapes are extrapolated differently by
# Prometheus 2.x (see promql_peers.py); the first grid step whose 5 m window lies after them:
settled=$((day_start + 360))
py verify --systems "$work/systems.tsv" --start $q_start --end $q_end --step $q_step \
  --settled-from $settled || verify_rc=$?
((verify_rc == 0)) || log "answers differ (above); timing anyway"

[[ -n ${BEFORE_TIMING:-} ]] && bash -c "$BEFORE_TIMING"
log "timing: 1 warm-up + $runs runs per query and system"
report=$(py time --systems "$work/systems.tsv" --start $q_start --end $q_end --step $q_step \
  --runs "$runs") || { [[ -n ${AFTER_TIMING:-} ]] && bash -c "$AFTER_TIMING"; exit 1; }
[[ -n ${AFTER_TIMING:-} ]] && bash -c "$AFTER_TIMING"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM;" \
  "$(sed -n 's/^samples: //p' "$work/generator.txt"), 24 h range at ${q_step} s steps"
echo "# ObserveX $("$obx" --version 2>/dev/null | head -1) ($obx_parts parts, $obx_head head rows," \
  "after a restart), Prometheus $(version prometheus), VictoriaMetrics $(version victoria-metrics)" \
  "(-search.disableCache); answers $( ((verify_rc == 0)) && echo "verified alike" || echo "DIFFER, see above")"
echo "$report"

if [[ ${HOLD:-0} == 1 ]]; then
  log "holding: ObserveX $obx_url (pid ${pid_of[observex]}), Prometheus $prom_url (pid ${pid_of[prometheus]}), VictoriaMetrics $vm_url (pid ${pid_of[vm]}); interrupt to stop"
  while :; do sleep 1; done
fi
