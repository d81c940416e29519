#!/usr/bin/env bash
# Installs what building and testing ObserveX needs on Debian 12, and nothing that is
# already there. Safe to run repeatedly; `make run` and `make test` call it first.
set -euo pipefail

packages=(
  cmake ninja-build ccache g++ clang libclang-rt-14-dev pkg-config git
  libboost-dev libboost-system-dev libssl-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libsimdjson-dev rapidjson-dev libre2-dev
  libzstd-dev liblz4-dev zlib1g-dev libsnappy-dev
  libsodium-dev libsqlite3-dev libjemalloc-dev
  libspdlog-dev libfmt-dev libcli11-dev libyaml-cpp-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl procps
)

# Benchmark peers: bench/storage_peers.sh compares ObserveX's bytes on disk with these. The
# benchmark runs each one itself on its own ports and data dir; none is needed as a service.
bench_peers=(prometheus victoria-metrics clickhouse-server clickhouse-client)

missing=()
new_peers=()
for p in "${packages[@]}" "${bench_peers[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
    [[ " ${bench_peers[*]} " == *" $p "* ]] && new_peers+=("$p")
  fi
done
sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The peers' packages start system services (Prometheus on :9090, VictoriaMetrics on :8428,
# ClickHouse on :8123/:9000) where systemd runs; stop and disable the ones installed just now.
# A machine that already had a peer installed keeps its services as they were.
if ((${#new_peers[@]})) && [[ -d /run/systemd/system ]]; then
  for p in "${new_peers[@]}"; do
    [[ $p == clickhouse-client ]] && continue
    "${sudo_cmd[@]}" systemctl disable --now "$p" >/dev/null 2>&1 || true
  done
fi

# Node.js + npm: the build fetches the OTLP protos with npm, and the end-to-end tests use
# the OpenTelemetry JS SDK. A machine whose Node.js comes from elsewhere keeps it.
if ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: installing nodejs and npm"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm
fi
