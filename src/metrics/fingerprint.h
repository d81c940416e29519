// Stable 64-bit fingerprints of label sets. A fingerprint is a hash of the label set's byte key
// (for each label in name order: name, 0xff, value, 0xff — the form of query::Labels::Key()),
// computed with a fixed, seedless function, so the same labels give the same fingerprint in
// every process and release: storage may persist it. It is an identity hint, not an identity:
// two different label sets can share a fingerprint, and a series index must compare labels on
// a match. docs/metrics-model.md specifies the function ("fingerprint v1"); the tests pin its
// values. Pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "query/labels.h"

namespace observex::metrics {

// The hash of `bytes` (fingerprint v1).
uint64_t Hash64(std::string_view bytes);

// Appends the byte key of `labels` to `out` (same bytes as labels.Key()).
void AppendLabelsKey(const query::Labels& labels, std::string* out);

// Hash64 of the label set's byte key.
uint64_t Fingerprint(const query::Labels& labels);

}  // namespace observex::metrics
