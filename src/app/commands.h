// The `observex` subcommands. Each returns the process exit code; errors are printed to
// stderr with what to do about them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "app/config.h"

namespace observex::app {

// Runs the server until SIGTERM/SIGINT, then drains and exits 0.
int RunServe(const ServerConfig& config);

int RunKeysCreate(const std::string& data_dir, const std::string& tenant);
int RunKeysList(const std::string& data_dir);
int RunKeysRevoke(const std::string& data_dir, int64_t key_id);

struct StorageInspectOptions {
  std::string data_dir;  // parts under <data_dir>/storage
  std::string cold_dir;  // empty: no cold tier
  std::string tenant;    // a tenant id; empty = every tenant
  std::string table;     // spans, logs or samples; empty = every table
  bool json = false;
  // Progress goes to stderr once more than this many parts are to be read.
  size_t progress_above_parts = 1000;
};
// What InspectStorage found, besides what it printed.
struct StorageInspectSummary {
  uint64_t parts = 0;        // in service, readable
  uint64_t damaged = 0;      // in service but failing their manifest or file sizes
  uint64_t quarantined = 0;  // under quarantine/
};
// Prints every part, per-table and per-column totals and the quarantined parts to `out` as
// text or one JSON document, progress to `progress`. Read-only: it opens no file for writing
// and takes no lock, so it runs beside a server (parts it sees may vanish meanwhile; they are
// skipped). InvalidArgument for bad options, NotFound for a missing directory.
absl::StatusOr<StorageInspectSummary> InspectStorage(const StorageInspectOptions& options,
                                                     std::ostream& out, std::ostream& progress);
// Exit code: 0, or 1 when a part in service is damaged, or 2 for bad options.
int RunStorageInspect(const StorageInspectOptions& options);

int RunWalVerify(const std::string& data_dir);
int RunWalDump(const std::string& data_dir, const std::string& tenant_filter,
               const std::string& type_filter);

struct IngestBenchOptions {
  std::string protocol = "http";  // http (protobuf) or grpc
  std::string signal = "traces";  // traces, logs, metrics
  std::string http_endpoint = "http://127.0.0.1:4318";
  std::string grpc_endpoint = "127.0.0.1:4317";
  std::string api_key;
  int connections = 8;
  int batch = 512;  // signals per request
  double duration_seconds = 10;
  double rate = 0;     // target signals/s, 0 = as fast as possible
  int server_pid = 0;  // read this process's RSS from /proc while running
};
int RunIngestBench(const IngestBenchOptions& options);

// The data dir used by commands that do not take --data-dir: OBSERVE_X_DATA_DIR or ./data.
std::string DefaultDataDir();

}  // namespace observex::app
