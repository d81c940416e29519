#include "app/config.h"

#include <cstdlib>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "yaml-cpp/yaml.h"

namespace observex::app {
namespace {

struct Setting {
  const char* key;
  const char* help;
  std::function<absl::Status(ServerConfig&, const std::string&)> apply;
  std::function<std::string(const ServerConfig&)> show;
};

absl::Status Bad(const std::string& key, const std::string& value, const char* want) {
  return absl::InvalidArgumentError(absl::StrCat("setting ", key, ": '", value, "' is not ", want));
}

template <typename T>
Setting Uint(const char* key, T ServerConfig::*field, const char* help, bool bytes = false) {
  return {key, help,
          [=](ServerConfig& c, const std::string& v) -> absl::Status {
            if (bytes) {
              auto b = ParseBytes(v);
              if (!b.ok()) return Bad(key, v, "a byte size like 1GiB, 512MiB or 1048576");
              c.*field = static_cast<T>(*b);
              return absl::OkStatus();
            }
            uint64_t n = 0;
            if (!absl::SimpleAtoi(v, &n)) return Bad(key, v, "a non-negative integer");
            c.*field = static_cast<T>(n);
            return absl::OkStatus();
          },
          [=](const ServerConfig& c) { return std::to_string(c.*field); }};
}

Setting Str(const char* key, std::string ServerConfig::*field, const char* help) {
  return {key, help,
          [=](ServerConfig& c, const std::string& v) -> absl::Status {
            if (v.empty()) return Bad(key, v, "a non-empty string");
            c.*field = v;
            return absl::OkStatus();
          },
          [=](const ServerConfig& c) { return c.*field; }};
}

// Durations are written back in the largest unit that divides them ("15d", "10m").
std::string ShowDuration(uint64_t seconds) {
  if (seconds == 0) return "0";
  for (auto [unit, n] : {std::pair<const char*, uint64_t>{"d", 86'400}, {"h", 3'600}, {"m", 60}}) {
    if (seconds % n == 0) return absl::StrCat(seconds / n, unit);
  }
  return absl::StrCat(seconds, "s");
}

Setting Duration(const char* key, uint64_t ServerConfig::*field, const char* help) {
  return {key, help,
          [=](ServerConfig& c, const std::string& v) -> absl::Status {
            auto d = ParseDurationSeconds(v);
            if (!d.ok()) return Bad(key, v, "a duration like 15d, 12h, 10m or 30s");
            c.*field = *d;
            return absl::OkStatus();
          },
          [=](const ServerConfig& c) { return ShowDuration(c.*field); }};
}

// A string that may be empty (a feature turned off).
Setting OptionalStr(const char* key, std::string ServerConfig::*field, const char* help) {
  return {
      key, help,
      [=](ServerConfig& c, const std::string& v) -> absl::Status {
        c.*field = v;
        return absl::OkStatus();
      },
      [=](const ServerConfig& c) { return (c.*field).empty() ? std::string("\"\"") : c.*field; }};
}

Setting List(const char* key, std::vector<std::string> ServerConfig::*field, const char* help) {
  return {key, help,
          [=](ServerConfig& c, const std::string& v) -> absl::Status {
            std::vector<std::string> items;
            for (absl::string_view part : absl::StrSplit(v, ',')) {
              part = absl::StripAsciiWhitespace(part);
              if (!part.empty()) items.emplace_back(part);
            }
            c.*field = std::move(items);
            return absl::OkStatus();
          },
          [=](const ServerConfig& c) {
            return (c.*field).empty() ? std::string("\"\"") : absl::StrJoin(c.*field, ",");
          }};
}

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = {
      Str("data_dir", &ServerConfig::data_dir,
          "Directory for the WAL, the control plane (control.db) and storage."),
      Str("otlp_http_addr", &ServerConfig::otlp_http_addr,
          "OTLP/HTTP listen address (/v1/traces, /v1/metrics, /v1/logs)."),
      Str("otlp_grpc_addr", &ServerConfig::otlp_grpc_addr, "OTLP/gRPC listen address."),
      Str("api_addr", &ServerConfig::api_addr,
          "API listen address (/metrics, /healthz, /readyz, query APIs)."),
      Uint("memory_budget", &ServerConfig::memory_budget,
           "Memory the write path may hold: 35% for OTLP/HTTP bodies being read or processed, "
           "50% for the gRPC transport, 20% for WAL bytes waiting for their group commit; "
           "admitted request bytes over both transports are capped at 60%.",
           true),
      Str("log_level", &ServerConfig::log_level, "trace, debug, info, warn or error."),
      Uint("ingest_queue_signals", &ServerConfig::ingest_queue_signals,
           "The ingest queue's budget in signals (spans, points, log records) between "
           "admission and the WAL ack; full -> 429 / RESOURCE_EXHAUSTED."),
      {"ingest_tenant_share", "Largest share (0-1] of the ingest queue one tenant may hold.",
       [](ServerConfig& c, const std::string& v) -> absl::Status {
         double d = 0;
         if (!absl::SimpleAtod(v, &d) || d <= 0 || d > 1) {
           return Bad("ingest_tenant_share", v, "a number in (0, 1]");
         }
         c.ingest_tenant_share = d;
         return absl::OkStatus();
       },
       [](const ServerConfig& c) { return absl::StrCat(c.ingest_tenant_share); }},
      Uint("max_body_bytes", &ServerConfig::max_body_bytes,
           "Largest request body after decompression; larger -> 413.", true),
      Uint("retry_after_seconds", &ServerConfig::retry_after_seconds,
           "Retry-After (and gRPC RetryInfo) sent with 429 and 503."),
      Uint("decode_threads", &ServerConfig::decode_threads, "Threads decoding OTLP requests."),
      Uint("http_threads", &ServerConfig::http_threads, "Threads serving HTTP connections."),
      Uint("max_attributes", &ServerConfig::max_attributes,
           "Attributes kept per resource, scope, span, event, link, log record or point; "
           "the rest are dropped and counted."),
      Uint("max_attribute_key_bytes", &ServerConfig::max_attribute_key_bytes,
           "Longest attribute key; longer keys are truncated and counted."),
      Uint("max_attribute_value_bytes", &ServerConfig::max_attribute_value_bytes,
           "Longest string/bytes attribute value; longer values are truncated and counted."),
      Uint("wal_group_commit_us", &ServerConfig::wal_group_commit_us,
           "Longest time (microseconds) an append waits for its group commit."),
      Uint("wal_segment_bytes", &ServerConfig::wal_segment_bytes, "WAL segment size.", true),
      Uint("wal_max_uncheckpointed_bytes", &ServerConfig::wal_max_uncheckpointed_bytes,
           "WAL bytes not yet checkpointed by storage; beyond this ingest answers 429 instead "
           "of filling the disk.",
           true),
      {"wal_fsync", "fdatasync each group commit (turn off only for tests).",
       [](ServerConfig& c, const std::string& v) -> absl::Status {
         std::string l = absl::AsciiStrToLower(v);
         if (l == "true" || l == "1" || l == "yes" || l == "on") {
           c.wal_fsync = true;
         } else if (l == "false" || l == "0" || l == "no" || l == "off") {
           c.wal_fsync = false;
         } else {
           return Bad("wal_fsync", v, "true or false");
         }
         return absl::OkStatus();
       },
       [](const ServerConfig& c) { return std::string(c.wal_fsync ? "true" : "false"); }},
      Duration("retention", &ServerConfig::retention_seconds,
               "How long stored telemetry is kept; whole days are dropped once they ended "
               "longer ago than this. 0 keeps everything."),
      Uint("max_disk_bytes", &ServerConfig::max_disk_bytes,
           "Cap on stored parts (hot and cold); above it the oldest days are dropped first. "
           "0 = no cap.",
           true),
      OptionalStr("cold_dir", &ServerConfig::cold_dir,
                  "Second directory for parts older than cold_after (still queried). Empty = "
                  "no cold tier."),
      Duration("cold_after", &ServerConfig::cold_after_seconds,
               "Age (after the end of their day) at which parts move to cold_dir. 0 = never."),
      Duration("storage_seal_after", &ServerConfig::storage_seal_after_seconds,
               "Longest time rows stay in the in-memory head before they are written as a "
               "part."),
      Uint("storage_head_bytes", &ServerConfig::storage_head_bytes,
           "A (tenant, table) head is written as parts once it holds this many bytes.", true),
      Uint("storage_head_budget", &ServerConfig::storage_head_budget,
           "Memory all heads together may hold; beyond it the largest are written first, and "
           "beyond twice it appends wait for the seals (the WAL holds the backlog).",
           true),
      Uint("storage_max_parts_per_day", &ServerConfig::storage_max_parts_per_day,
           "Background merges keep each (tenant, table, day) at about this many parts."),
      Uint("storage_merge_bytes_per_second", &ServerConfig::storage_merge_bytes_per_second,
           "Throttle for background merges, so ingest keeps priority. 0 = unthrottled.", true),
      Uint("storage_head_wal_lag_bytes", &ServerConfig::storage_head_wal_lag_bytes,
           "A storage head whose oldest rows lie this many WAL bytes behind the newest is "
           "written as a part, so the WAL checkpoint moves on. 0 = a quarter of "
           "wal_max_uncheckpointed_bytes, at most 1GiB.",
           true),
      Uint("storage_block_cache_bytes", &ServerConfig::storage_block_cache_bytes,
           "Decompressed part blocks kept in memory for short reads (instant queries, a few "
           "series over minutes), which dashboards repeat; long reads bypass it. 0 = off.",
           true),
      List("promote_resource_attributes", &ServerConfig::promote_resource_attributes,
           "Comma-separated resource attribute keys copied as labels onto every metric "
           "series of that resource (e.g. k8s.namespace.name)."),
  };
  return settings;
}

std::string EnvName(const std::string& key) { return "OBSERVE_X_" + absl::AsciiStrToUpper(key); }

std::string FlagName(const std::string& key) {
  return "--" + absl::StrReplaceAll(key, {{"_", "-"}});
}

}  // namespace

absl::StatusOr<uint64_t> ParseBytes(const std::string& text) {
  std::string t = absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(text)));
  struct Suffix {
    const char* s;
    uint64_t mult;
  };
  static const Suffix kSuffixes[] = {
      {"kib", 1ull << 10}, {"mib", 1ull << 20}, {"gib", 1ull << 30}, {"tib", 1ull << 40},
      {"kb", 1000},        {"mb", 1000000},     {"gb", 1000000000},  {"tb", 1000000000000},
      {"k", 1ull << 10},   {"m", 1ull << 20},   {"g", 1ull << 30},   {"b", 1}};
  uint64_t mult = 1;
  for (const auto& s : kSuffixes) {
    const size_t n = strlen(s.s);
    if (t.size() > n && t.compare(t.size() - n, n, s.s) == 0) {
      mult = s.mult;
      t.resize(t.size() - n);
      break;
    }
  }
  double v = 0;
  if (t.empty() || !absl::SimpleAtod(t, &v) || v < 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a byte size"));
  }
  return static_cast<uint64_t>(v * static_cast<double>(mult));
}

absl::StatusOr<uint64_t> ParseDurationSeconds(const std::string& text) {
  std::string t = absl::AsciiStrToLower(std::string(absl::StripAsciiWhitespace(text)));
  uint64_t mult = 1;
  if (!t.empty()) {
    switch (t.back()) {
      case 's':
        mult = 1;
        break;
      case 'm':
        mult = 60;
        break;
      case 'h':
        mult = 3'600;
        break;
      case 'd':
        mult = 86'400;
        break;
      case 'w':
        mult = 7 * 86'400;
        break;
      default:
        mult = 0;
        break;
    }
    if (mult != 0) t.pop_back();
  }
  uint64_t v = 0;
  if (t.empty() || !absl::SimpleAtoi(t, &v) || (mult != 0 && v > UINT64_MAX / mult)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a duration"));
  }
  return v * (mult == 0 ? 1 : mult);
}

std::vector<SettingInfo> SettingsReference() {
  ServerConfig defaults;
  std::vector<SettingInfo> out;
  for (const auto& s : Settings()) {
    out.push_back({s.key, FlagName(s.key), EnvName(s.key), s.show(defaults), s.help});
  }
  return out;
}

absl::Status ApplySetting(ServerConfig& config, const std::string& key, const std::string& value) {
  for (const auto& s : Settings()) {
    if (key == s.key) return s.apply(config, value);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown setting '", key, "'"));
}

absl::StatusOr<ServerConfig> LoadConfig(const std::string& yaml_file,
                                        const std::map<std::string, std::string>& flags) {
  ServerConfig config;
  if (!yaml_file.empty()) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(yaml_file);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("config file ", yaml_file, ": ", e.what()));
    }
    if (root && !root.IsNull()) {
      if (!root.IsMap()) {
        return absl::InvalidArgumentError(
            absl::StrCat("config file ", yaml_file, ": top level must be a mapping"));
      }
      for (const auto& kv : root) {
        const std::string key = kv.first.as<std::string>();
        if (!kv.second.IsScalar()) {
          return absl::InvalidArgumentError(
              absl::StrCat("config file ", yaml_file, ": '", key, "' must be a scalar"));
        }
        if (auto st = ApplySetting(config, key, kv.second.as<std::string>()); !st.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("config file ", yaml_file, ": ", st.message()));
        }
      }
    }
  }
  for (const auto& s : Settings()) {
    if (const char* v = std::getenv(EnvName(s.key).c_str()); v != nullptr && *v != '\0') {
      if (auto st = s.apply(config, v); !st.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("environment ", EnvName(s.key), ": ", st.message()));
      }
    }
  }
  for (const auto& [key, value] : flags) {
    if (auto st = ApplySetting(config, key, value); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("flag ", FlagName(key), ": ", st.message()));
    }
  }
  if (config.ingest_queue_signals == 0) {
    return absl::InvalidArgumentError("ingest_queue_signals must be positive");
  }
  if (config.memory_budget < (16u << 20)) {
    return absl::InvalidArgumentError("memory_budget must be at least 16MiB");
  }
  return config;
}

}  // namespace observex::app
