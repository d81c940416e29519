#!/usr/bin/env bash
# Fails when docs/configuration.md does not contain the table `observex config` prints,
# so the configuration reference cannot drift from the code.
set -euo pipefail
bin=$1
doc=$2
table=$("$bin" config)
if ! grep -qxF -- "$(head -3 <<<"$table" | tail -1)" "$doc"; then
  echo "docs/configuration.md is out of date: regenerate its table with 'observex config'" >&2
  exit 1
fi
while IFS= read -r line; do
  if ! grep -qxF -- "$line" "$doc"; then
    echo "docs/configuration.md lacks: $line" >&2
    echo "regenerate its table with 'observex config'" >&2
    exit 1
  fi
done <<<"$table"
echo "configuration reference matches ($(wc -l <<<"$table") lines)"
