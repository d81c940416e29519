// Server configuration: one table of settings, each with a default, a YAML key, an
// OBSERVE_X_* environment variable and a --flag. Precedence, lowest first: default, the
// YAML file (--config / OBSERVE_X_CONFIG), the environment, the command line. Every bound
// the server has (queue sizes, limits, timeouts) is a setting here; docs/configuration.md
// is generated from the same table (`observex config reference`).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace observex::app {

struct ServerConfig {
  std::string data_dir = "./data";
  std::string otlp_http_addr = "127.0.0.1:4318";
  std::string otlp_grpc_addr = "127.0.0.1:4317";
  std::string api_addr = "127.0.0.1:8080";
  uint64_t memory_budget = 1ull << 30;
  std::string log_level = "info";

  // Ingest
  uint64_t ingest_queue_signals = 65'536;
  double ingest_tenant_share = 0.5;
  uint64_t max_body_bytes = 20ull << 20;
  int retry_after_seconds = 1;
  int decode_threads = 2;
  int http_threads = 2;
  uint64_t max_attributes = 128;
  uint64_t max_attribute_key_bytes = 256;
  uint64_t max_attribute_value_bytes = 16'384;

  // WAL
  uint64_t wal_group_commit_us = 5'000;
  uint64_t wal_segment_bytes = 64ull << 20;
  uint64_t wal_max_uncheckpointed_bytes = 4ull << 30;
  bool wal_fsync = true;

  // Storage (durations in seconds; 0 turns the feature off where the help says so)
  uint64_t retention_seconds = 15 * 86'400;
  uint64_t max_disk_bytes = 0;
  std::string cold_dir;
  uint64_t cold_after_seconds = 0;
  uint64_t storage_seal_after_seconds = 600;
  uint64_t storage_head_bytes = 256ull << 20;
  uint64_t storage_head_budget = 1ull << 30;
  uint64_t storage_max_parts_per_day = 8;
  uint64_t storage_merge_bytes_per_second = 64ull << 20;
  uint64_t storage_block_cache_bytes = 64ull << 20;
  uint64_t storage_head_wal_lag_bytes = 0;  // 0: derived (storage_head_wal_lag())

  // Metrics model
  std::vector<std::string> promote_resource_attributes;

  // WAL bytes a storage head may hold back before it is sealed: storage_head_wal_lag_bytes,
  // or when 0 a quarter of wal_max_uncheckpointed_bytes (at most 1 GiB), so that heads that
  // stopped growing are sealed long before the WAL's bound turns ingest into 429s.
  uint64_t storage_head_wal_lag() const {
    if (storage_head_wal_lag_bytes > 0) return storage_head_wal_lag_bytes;
    return std::min<uint64_t>(uint64_t{1} << 30, wal_max_uncheckpointed_bytes / 4);
  }

  // Derived from memory_budget (see docs/configuration.md).
  uint64_t http_body_bytes_budget() const { return memory_budget * 35 / 100; }
  // Above what admission lets gRPC hold: at its quota gRPC core itself cancels streams with a
  // RESOURCE_EXHAUSTED that carries no RetryInfo, which OTLP exporters do not retry.
  uint64_t grpc_memory_quota_bytes() const { return memory_budget * 50 / 100; }
  uint64_t inflight_bytes_budget() const { return memory_budget * 60 / 100; }
  uint64_t wal_pending_bytes_budget() const { return memory_budget * 20 / 100; }
};

struct SettingInfo {
  std::string key;   // YAML key, e.g. "otlp_http_addr"
  std::string flag;  // "--otlp-http-addr"
  std::string env;   // "OBSERVE_X_OTLP_HTTP_ADDR"
  std::string default_value;
  std::string help;
};
std::vector<SettingInfo> SettingsReference();

// Applies one named setting from text ("1GiB", "true", "0.5", ...); InvalidArgument naming
// the setting and the accepted form otherwise.
absl::Status ApplySetting(ServerConfig& config, const std::string& key, const std::string& value);

// Builds the configuration: defaults, then `yaml_file` (if non-empty), then the
// environment, then `flags` (key -> value, from the command line).
absl::StatusOr<ServerConfig> LoadConfig(const std::string& yaml_file,
                                        const std::map<std::string, std::string>& flags);

// "1GiB", "512MiB", "64KiB", "1000000", "1GB" -> bytes.
absl::StatusOr<uint64_t> ParseBytes(const std::string& text);
// "15d", "12h", "10m", "30s", "2w", "90" (seconds) -> seconds.
absl::StatusOr<uint64_t> ParseDurationSeconds(const std::string& text);

}  // namespace observex::app
