// The `observex` subcommands. Each returns the process exit code; errors are printed to
// stderr with what to do about them.
#pragma once

#include <cstdint>
#include <string>

#include "app/config.h"

namespace observex::app {

// Runs the server until SIGTERM/SIGINT, then drains and exits 0.
int RunServe(const ServerConfig& config);

int RunKeysCreate(const std::string& data_dir, const std::string& tenant);
int RunKeysList(const std::string& data_dir);
int RunKeysRevoke(const std::string& data_dir, int64_t key_id);

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
