// observex: one binary for the server and its operator commands.
#include <cstdlib>
#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "app/commands.h"
#include "app/config.h"

namespace {

constexpr char kVersion[] = OBX_VERSION_STRING;

}  // namespace

#ifdef OBX_JEMALLOC
// jemalloc reads its defaults from this symbol (MALLOC_CONF in the environment still
// overrides). Freed pages go back to the kernel after 1 s instead of 10 s, so the resident
// size follows the memory budget closely rather than the last burst's peak.
extern "C" {
// NOLINTNEXTLINE(readability-identifier-naming): the name jemalloc looks up.
extern const char* const malloc_conf;
const char* const malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif

int main(int argc, char** argv) {
  using namespace observex::app;
  CLI::App app{"ObserveX: self-hosted, multi-tenant observability platform"};
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);

  // serve
  auto* serve = app.add_subcommand("serve", "Run the server (OTLP receivers, API, storage)");
  std::string config_file;
  if (const char* env = std::getenv("OBSERVE_X_CONFIG")) config_file = env;
  serve->add_option("--config", config_file, "YAML configuration file (OBSERVE_X_CONFIG)");
  std::map<std::string, std::string> flag_values;
  std::vector<SettingInfo> settings = SettingsReference();
  std::map<std::string, std::string> raw_flags;
  for (const auto& s : settings) {
    serve->add_option(s.flag, raw_flags[s.key],
                      s.help + " [env " + s.env + ", default " + s.default_value + "]");
  }

  // keys
  auto* keys = app.add_subcommand("keys", "Manage API keys in the control plane");
  keys->require_subcommand(1);
  std::string data_dir = DefaultDataDir();
  std::string tenant;
  int64_t key_id = 0;
  auto* keys_create = keys->add_subcommand("create", "Create an API key (printed once)");
  keys_create->add_option("--tenant", tenant, "Tenant name (created if missing)")->required();
  keys_create->add_option("--data-dir", data_dir, "Data directory");
  auto* keys_list = keys->add_subcommand("list", "List API keys (never shows the keys)");
  keys_list->add_option("--data-dir", data_dir, "Data directory");
  auto* keys_revoke = keys->add_subcommand("revoke", "Revoke an API key by id");
  keys_revoke->add_option("id", key_id, "Key id from 'observex keys list'")->required();
  keys_revoke->add_option("--data-dir", data_dir, "Data directory");

  // wal
  auto* wal = app.add_subcommand("wal", "Inspect the write-ahead log (read-only)");
  wal->require_subcommand(1);
  std::string type_filter;
  auto* wal_verify = wal->add_subcommand("verify", "Check every entry's CRC; exit 1 on damage");
  wal_verify->add_option("--data-dir", data_dir, "Data directory");
  auto* wal_dump = wal->add_subcommand("dump", "Print every signal as one JSON line");
  wal_dump->add_option("--data-dir", data_dir, "Data directory");
  wal_dump->add_option("--tenant", tenant, "Only this tenant");
  wal_dump->add_option("--type", type_filter, "Only traces, metrics, logs or prometheus");

  // storage
  auto* storage = app.add_subcommand("storage", "Inspect the embedded storage (read-only)");
  storage->require_subcommand(1);
  StorageInspectOptions inspect;
  auto* storage_inspect = storage->add_subcommand(
      "inspect", "Parts, sizes per column, compression, quarantined parts; exit 1 on damage");
  storage_inspect->add_option("--data-dir", data_dir, "Data directory");
  storage_inspect->add_option("--cold-dir", inspect.cold_dir, "Cold tier directory, if any");
  storage_inspect->add_option("--tenant", inspect.tenant, "Only this tenant id");
  storage_inspect->add_option("--table", inspect.table,
                              "Only this table, e.g. spans, logs or samples");
  storage_inspect->add_flag("--json", inspect.json, "One JSON document instead of text");

  // bench
  auto* bench = app.add_subcommand("bench", "Load generators");
  bench->require_subcommand(1);
  IngestBenchOptions bo;
  auto* bench_ingest = bench->add_subcommand("ingest", "OTLP ingest load generator");
  bench_ingest->add_option("--protocol", bo.protocol, "http or grpc");
  bench_ingest->add_option("--signal", bo.signal, "traces, logs or metrics");
  bench_ingest->add_option("--http-endpoint", bo.http_endpoint, "OTLP/HTTP base URL");
  bench_ingest->add_option("--grpc-endpoint", bo.grpc_endpoint, "OTLP/gRPC host:port");
  bench_ingest->add_option("--api-key", bo.api_key, "API key (or OBSERVE_X_API_KEY)");
  bench_ingest->add_option("--connections", bo.connections, "Concurrent connections");
  bench_ingest->add_option("--batch", bo.batch, "Signals per request");
  bench_ingest->add_option("--duration", bo.duration_seconds, "Seconds to run");
  bench_ingest->add_option("--rate", bo.rate, "Target signals/s (0 = as fast as possible)");
  bench_ingest->add_option("--server-pid", bo.server_pid, "Report this process's RSS");

  auto* config_ref = app.add_subcommand("config", "Print the configuration reference (Markdown)");

  CLI11_PARSE(app, argc, argv);

  if (*serve) {
    for (const auto& [k, v] : raw_flags) {
      if (!v.empty()) flag_values[k] = v;
    }
    auto config = LoadConfig(config_file, flag_values);
    if (!config.ok()) {
      std::cerr << "observex serve: " << config.status().message() << "\n";
      return 2;
    }
    return RunServe(*config);
  }
  if (*keys_create) return RunKeysCreate(data_dir, tenant);
  if (*keys_list) return RunKeysList(data_dir);
  if (*keys_revoke) return RunKeysRevoke(data_dir, key_id);
  if (*wal_verify) return RunWalVerify(data_dir);
  if (*wal_dump) return RunWalDump(data_dir, tenant, type_filter);
  if (*storage_inspect) {
    inspect.data_dir = data_dir;
    return RunStorageInspect(inspect);
  }
  if (*bench_ingest) {
    if (bo.api_key.empty()) {
      if (const char* k = std::getenv("OBSERVE_X_API_KEY")) bo.api_key = k;
    }
    return RunIngestBench(bo);
  }
  if (*config_ref) {
    std::cout << "| YAML key | flag | environment | default | meaning |\n|---|---|---|---|---|\n";
    for (const auto& s : settings) {
      std::cout << "| `" << s.key << "` | `" << s.flag << "` | `" << s.env << "` | `"
                << s.default_value << "` | " << s.help << " |\n";
    }
    return 0;
  }
  return 0;
}
