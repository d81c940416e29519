#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "api/api.h"
#include "api/prom_api.h"
#include "api/traces_api.h"
#include "app/commands.h"
#include "app/storage_metrics.h"
#include "common/clock.h"
#include "common/lock_file.h"
#include "common/logging.h"
#include "google/protobuf/stubs/logging.h"
#include "http/http_server.h"
#include "ingest/metrics.h"
#include "ingest/pipeline.h"
#include "ingest/prom_receiver.h"
#include "ingest/receivers.h"
#include "storage/store.h"
#include "tenant/control_plane.h"
#include "tenant/key_store.h"
#include "wal/wal.h"
#include "writer/storage_writer.h"

namespace observex::app {

namespace fs = std::filesystem;

std::string DefaultDataDir() {
  if (const char* d = std::getenv("OBSERVE_X_DATA_DIR"); d != nullptr && *d != '\0') return d;
  return "./data";
}

namespace {

// Blocks the shutdown signals in every thread created afterwards, so the main thread can
// wait for them synchronously with sigwait.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int Fail(const std::string& what) {
  OBX_LOG_ERROR("{}", what);
  return 1;
}

}  // namespace

int RunServe(const ServerConfig& config) {
  // glibc gives every busy thread its own malloc arena by default (8 per core), and each
  // keeps freed request buffers mapped; a few shared arenas keep RSS near what is in use,
  // which is what --memory-budget promises.
  mallopt(M_ARENA_MAX, 2);
  InitLogging(config.log_level);
  // protobuf reports invalid UTF-8 and the like on stderr; the client already gets the
  // error, so keep it out of the operator's log unless debugging.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char* file, int line, const std::string& message) {
        OBX_LOG_DEBUG("protobuf {}:{}: {}", file, line, message);
      });
  const sigset_t signals = BlockShutdownSignals();
  std::error_code ec;
  fs::create_directories(config.data_dir, ec);
  if (ec) return Fail(absl::StrCat("cannot create data dir ", config.data_dir, ": ", ec.message()));
  // One server per data dir, held until this function returns (or the process dies).
  auto data_dir_lock = LockFile::Acquire(fs::path(config.data_dir) / "LOCK");
  if (!data_dir_lock.ok()) return Fail(std::string(data_dir_lock.status().message()));
  OBX_LOG_INFO("observex {} starting; data dir {}", OBX_VERSION_STRING,
               fs::absolute(config.data_dir).string());

  // Control plane; a new data dir gets tenant "default" and one key, shown once.
  auto control = tenant::ControlPlane::Open(fs::path(config.data_dir) / "control.db");
  if (!control.ok()) return Fail(absl::StrCat("control plane: ", control.status().ToString()));
  std::string first_key;
  auto initial = (*control)->EnsureInitialTenant("default");
  if (!initial.ok()) {
    return Fail(absl::StrCat("creating the default tenant: ", initial.status().ToString()));
  }
  if (initial->has_value()) first_key = (*initial)->secret;
  auto keys = tenant::NewCachingKeyStore(control->get());

  auto registry = std::make_shared<prometheus::Registry>();
  ingest::IngestMetrics metrics(registry);

  // WAL recovery, with progress in the log.
  wal::WalOptions wal_options;
  wal_options.dir = fs::path(config.data_dir) / "wal";
  wal_options.segment_bytes = config.wal_segment_bytes;
  wal_options.group_commit_window = absl::Microseconds(config.wal_group_commit_us);
  wal_options.max_uncheckpointed_bytes = config.wal_max_uncheckpointed_bytes;
  wal_options.max_pending_bytes = config.wal_pending_bytes_budget();
  wal_options.fsync = config.wal_fsync;
  wal_options.observer = &metrics;
  const int64_t recovery_start = MonotonicNanos();
  wal::RecoveryReport report;
  auto wal = wal::Wal::Open(
      wal_options,
      [](uint64_t done, uint64_t total, uint64_t entries) {
        OBX_LOG_INFO(
            "WAL replay: {} entries, {} / {} bytes ({:.1f}% done)", entries, done, total,
            total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0);
      },
      &report);
  if (!wal.ok()) return Fail(absl::StrCat("WAL: ", wal.status().ToString()));
  OBX_LOG_INFO(
      "WAL recovered in {:.3f}s: {} segments, {} entries, {} bytes; {} corrupt ranges ({} bytes) "
      "skipped, {} torn-tail bytes truncated",
      static_cast<double>(MonotonicNanos() - recovery_start) / 1e9, report.segments, report.entries,
      report.bytes, report.corrupt_ranges, report.corrupt_bytes, report.truncated_tail_bytes);

  // Storage, then the WAL entries it does not hold yet, before any receiver listens.
  StorageMetrics storage_metrics(*registry);
  storage::StoreOptions so;
  so.dir = fs::path(config.data_dir) / "storage";
  if (!config.cold_dir.empty()) so.cold_dir = config.cold_dir;
  if (config.cold_after_seconds > 0) so.cold_after = absl::Seconds(config.cold_after_seconds);
  so.retention = config.retention_seconds == 0 ? absl::InfiniteDuration()
                                               : absl::Seconds(config.retention_seconds);
  so.max_disk_bytes = config.max_disk_bytes;
  so.head.max_age = absl::Seconds(config.storage_seal_after_seconds);
  so.head.max_bytes = config.storage_head_bytes;
  so.head.fsync = config.wal_fsync;
  so.max_head_bytes_total = config.storage_head_budget;
  so.merge.max_parts_per_day = config.storage_max_parts_per_day;
  so.merge.max_bytes_per_second = config.storage_merge_bytes_per_second;
  so.block_cache_bytes = config.storage_block_cache_bytes;
  so.observer = &storage_metrics;
  so.max_head_wal_lag_bytes = config.storage_head_wal_lag();
  if (config.wal_max_uncheckpointed_bytes <= 2 * so.max_head_wal_lag_bytes) {
    // An idle head is sealed for WAL lag only once it holds this much WAL behind it; with a
    // smaller WAL bound the WAL fills first and ingest is refused until the head ages out.
    OBX_LOG_WARN(
        "wal_max_uncheckpointed_bytes ({}) is at most twice storage_head_wal_lag_bytes ({}): "
        "ingest may be refused (429) until heads reach storage_seal_after or "
        "storage_head_bytes",
        config.wal_max_uncheckpointed_bytes, so.max_head_wal_lag_bytes);
  }
  if (so.cold_after != absl::InfiniteDuration() && so.cold_dir.empty()) {
    return Fail("cold_after is set but cold_dir is not: say where cold parts go");
  }
  auto store = storage::OpenEmbeddedStore(so);
  if (!store.ok()) return Fail(absl::StrCat("storage: ", store.status().ToString()));
  writer::StorageWriterOptions wo;
  wo.convert.promote_resource_attributes = config.promote_resource_attributes;
  wo.observer = &storage_metrics;
  writer::StorageWriter storage_writer(wal->get(), store->get(), wo);
  const int64_t replay_start = MonotonicNanos();
  auto recovered = storage_writer.Recover([](uint64_t entries, uint64_t done, uint64_t total) {
    OBX_LOG_INFO("storage replay: {} WAL entries, {} / {} bytes ({:.1f}% done)", entries, done,
                 total,
                 total ? 100.0 * static_cast<double>(done) / static_cast<double>(total) : 100.0);
  });
  if (!recovered.ok()) return Fail(absl::StrCat("storage replay: ", recovered.ToString()));
  {
    const auto st = (*store)->stats();
    OBX_LOG_INFO("storage ready in {:.3f}s: {} parts, {} bytes, {} series",
                 static_cast<double>(MonotonicNanos() - replay_start) / 1e9, st.parts,
                 st.part_bytes, st.series);
  }
  storage_writer.Start();

  ingest::PipelineOptions po;
  po.queue_signals = config.ingest_queue_signals;
  po.tenant_share = config.ingest_tenant_share;
  po.max_inflight_bytes = config.inflight_bytes_budget();
  po.max_decompressed_bytes = config.max_body_bytes;
  po.limits.max_attributes = static_cast<uint32_t>(config.max_attributes);
  po.limits.max_attribute_key_bytes = static_cast<uint32_t>(config.max_attribute_key_bytes);
  po.limits.max_attribute_value_bytes = static_cast<uint32_t>(config.max_attribute_value_bytes);
  po.decode_threads = config.decode_threads;
  po.version = OBX_VERSION_STRING;
  ingest::Pipeline pipeline(po, wal->get(), &metrics);

  ingest::ReceiverOptions ro;
  ro.retry_after_seconds = config.retry_after_seconds;
  ro.max_body_bytes = config.max_body_bytes;
  ro.grpc_memory_quota_bytes = config.grpc_memory_quota_bytes();
  ingest::OtlpHttpHandler otlp_handler(ro, keys.get(), &pipeline, &metrics);
  api::ApiHandler api_handler(registry, [&] {
    pipeline.PublishQueueDepths();
    storage_metrics.Publish(**store, **wal, storage_writer);
  });
  api::TracesHandler traces_handler(keys.get(), store->get());
  api_handler.Mount("/api/v1/traces", &traces_handler);
  // The Prometheus API reads the authenticated tenant's series only; remote write and text
  // import (longer prefixes) go through the same admission and WAL as OTLP.
  api::PromApiOptions prom_opts;
  prom_opts.observex_version = OBX_VERSION_STRING;
  if (config.retention_seconds > 0) {
    prom_opts.storage_retention = absl::StrCat(config.retention_seconds / 86'400, "d");
  }
  api::PromApiHandler prom_handler(
      keys.get(),
      [&store](const tenant::AuthResult& auth) {
        return (*store)->Series(storage::TenantScope(auth));
      },
      prom_opts);
  ingest::PromWriteHandler prom_write_handler(ro, keys.get(), &pipeline, &metrics);
  api_handler.Mount("/prom", &prom_handler);
  api_handler.Mount("/prom/api/v1/write", &prom_write_handler);
  api_handler.Mount("/prom/api/v1/import", &prom_write_handler);

  http::ServerOptions api_opts;
  api_opts.address = config.api_addr;
  api_opts.threads = 2;
  // Remote write and text import bodies arrive here too.
  api_opts.max_body_bytes = config.max_body_bytes;
  api_opts.max_body_bytes_in_flight = config.http_body_bytes_budget() / 4;
  api_opts.name = "api";
  auto api_server = http::Server::Start(api_opts, &api_handler);
  if (!api_server.ok()) return Fail(std::string(api_server.status().message()));

  http::ServerOptions otlp_opts;
  otlp_opts.address = config.otlp_http_addr;
  otlp_opts.threads = config.http_threads;
  // The transport limit is the decompressed limit too: an uncompressed body can be no
  // larger, and a compressed one is checked again after inflating.
  otlp_opts.max_body_bytes = config.max_body_bytes;
  otlp_opts.name = "otlp-http";
  otlp_opts.max_body_bytes_in_flight = config.http_body_bytes_budget();
  otlp_opts.on_early_response = [&metrics](const std::string& target, int status) {
    const std::string path = target.substr(0, target.find('?'));
    auto type = ParseSignalType(path.rfind("/v1/", 0) == 0 ? path.substr(4) : "");
    metrics.HttpRequest(type.ok() ? path : "other", status);
    if (type.ok()) {
      metrics.SignalsDropped("", *type,
                             status == 429   ? ingest::DropReason::kOverload
                             : status == 413 ? ingest::DropReason::kTooLarge
                                             : ingest::DropReason::kDecode,
                             1);
    }
  };
  auto otlp_server = http::Server::Start(otlp_opts, &otlp_handler);
  if (!otlp_server.ok()) return Fail(std::string(otlp_server.status().message()));

  auto grpc_server =
      ingest::GrpcReceiver::Start(config.otlp_grpc_addr, ro, keys.get(), &pipeline, &metrics);
  if (!grpc_server.ok()) return Fail(std::string(grpc_server.status().message()));
  api_handler.set_ready(true);

  const auto host_of = [](const std::string& addr, int port) {
    auto hp = http::SplitHostPort(addr);
    std::string host = hp.ok() ? hp->first : "127.0.0.1";
    if (host == "0.0.0.0") host = "127.0.0.1";
    return absl::StrCat(host, ":", port);
  };
  const std::string otlp_http = host_of(config.otlp_http_addr, (*otlp_server)->port());
  const std::string otlp_grpc = host_of(config.otlp_grpc_addr, (*grpc_server)->port());
  const std::string api = host_of(config.api_addr, (*api_server)->port());
  std::cout << "ObserveX " << OBX_VERSION_STRING << " is ready.\n"
            << "  OTLP/HTTP  http://" << otlp_http << "   (OTEL_EXPORTER_OTLP_ENDPOINT=http://"
            << otlp_http << ")\n"
            << "  OTLP/gRPC  " << otlp_grpc << "\n"
            << "  Console    http://" << api << "/\n"
            << "  Metrics    http://" << api << "/metrics\n";
  if (!first_key.empty()) {
    std::cout << "  Created tenant 'default' with this API key (shown once, store it now):\n"
              << "  OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20" << first_key << "\n"
              << first_key << "\n";
  } else {
    std::cout << "  API keys: 'observex keys create --tenant NAME --data-dir " << config.data_dir
              << "' prints a new one.\n";
  }
  std::cout.flush();

  int sig = 0;
  sigwait(&signals, &sig);
  OBX_LOG_INFO("received {}; draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  api_handler.set_ready(false);
  (*grpc_server)->Shutdown(absl::Seconds(10));
  (*otlp_server)->Stop(absl::Seconds(10));
  pipeline.Shutdown();
  (*wal)->Close();
  // Everything acknowledged goes to parts, so the next start has nothing to replay.
  storage_writer.Stop();
  if (auto s = (*store)->Flush(); !s.ok()) {
    OBX_LOG_WARN("storage flush at shutdown: {} (the WAL still holds the rows)", s.ToString());
  } else if (auto c = storage_writer.Checkpoint(); !c.ok()) {
    OBX_LOG_WARN("WAL checkpoint at shutdown: {}", c.ToString());
  }
  (*store)->Close();
  (*api_server)->Stop(absl::Seconds(1));
  prom_handler.Shutdown();
  OBX_LOG_INFO("stopped cleanly");
  return 0;
}

}  // namespace observex::app
