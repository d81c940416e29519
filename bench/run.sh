#!/usr/bin/env bash
# Runs every benchmark in bench/ against the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/ingest.sh build "${BENCH_SECONDS:-15}"
