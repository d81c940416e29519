#include "ingest/metrics.h"

#include <string>

namespace observex::ingest {
namespace {

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};
}

}  // namespace

std::string_view DropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kOverload:
      return "overload";
    case DropReason::kAuth:
      return "auth";
    case DropReason::kDecode:
      return "decode";
    case DropReason::kNoTenant:
      return "no_tenant";
    case DropReason::kTooLarge:
      return "too_large";
    case DropReason::kActorFull:
      return "actor_full";
    case DropReason::kSampledOut:
      return "sampled_out";
    case DropReason::kWalError:
      return "wal_error";
    case DropReason::kPluginDrop:
      return "plugin_drop";
  }
  return "unknown";
}

IngestMetrics::IngestMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      received_(prometheus::BuildCounter()
                    .Name("observex_ingest_signals_received_total")
                    .Help("Signals (spans, metric data points, log records) accepted and durable")
                    .Register(*registry_)),
      dropped_(prometheus::BuildCounter()
                   .Name("observex_ingest_signals_dropped_total")
                   .Help("Signals refused or dropped, by reason (estimated when refused before "
                         "decoding)")
                   .Register(*registry_)),
      queue_depth_(prometheus::BuildGauge()
                       .Name("observex_ingest_pipeline_queue_depth")
                       .Help("Signals waiting in each pipeline stage's queue")
                       .Register(*registry_)),
      http_requests_(prometheus::BuildCounter()
                         .Name("observex_http_requests_total")
                         .Help("HTTP requests by route and status code")
                         .Register(*registry_)),
      grpc_requests_(prometheus::BuildCounter()
                         .Name("observex_grpc_requests_total")
                         .Help("gRPC requests by method and status code")
                         .Register(*registry_)),
      truncated_values_(prometheus::BuildCounter()
                            .Name("observex_ingest_attribute_values_truncated_total")
                            .Help("Attribute keys or values cut to the configured length limits")
                            .Register(*registry_)),
      dropped_attributes_(prometheus::BuildCounter()
                              .Name("observex_ingest_attributes_dropped_total")
                              .Help("Attributes removed by the per-item attribute count limit")
                              .Register(*registry_)),
      wal_write_seconds_(prometheus::BuildHistogram()
                             .Name("observex_wal_write_seconds")
                             .Help("Time to write one group commit to the WAL segment")
                             .Register(*registry_)
                             .Add({}, LatencyBuckets())),
      wal_fsync_seconds_(prometheus::BuildHistogram()
                             .Name("observex_wal_fsync_seconds")
                             .Help("Time of one WAL fdatasync")
                             .Register(*registry_)
                             .Add({}, LatencyBuckets())),
      wal_written_bytes_(prometheus::BuildCounter()
                             .Name("observex_wal_written_bytes_total")
                             .Help("Bytes written to WAL segments")
                             .Register(*registry_)
                             .Add({})),
      wal_fsyncs_(prometheus::BuildCounter()
                      .Name("observex_wal_fsyncs_total")
                      .Help("WAL fdatasync calls (group commits)")
                      .Register(*registry_)
                      .Add({})),
      wal_corrupt_bytes_(prometheus::BuildCounter()
                             .Name("observex_wal_corrupt_bytes_total")
                             .Help("WAL bytes skipped as corrupt during recovery")
                             .Register(*registry_)
                             .Add({})) {}

void IngestMetrics::SignalsReceived(std::string_view tenant, SignalType type, uint64_t n) {
  received_.Add({{"tenant", std::string(tenant)}, {"type", std::string(SignalTypeName(type))}})
      .Increment(static_cast<double>(n));
}

void IngestMetrics::SignalsDropped(std::string_view tenant, SignalType type, DropReason reason,
                                   uint64_t n) {
  dropped_
      .Add({{"tenant", std::string(tenant)},
            {"type", std::string(SignalTypeName(type))},
            {"reason", std::string(DropReasonName(reason))}})
      .Increment(static_cast<double>(n));
}

void IngestMetrics::SetQueueDepth(std::string_view stage, double signals) {
  queue_depth_.Add({{"stage", std::string(stage)}}).Set(signals);
}

void IngestMetrics::HttpRequest(std::string_view route, int code) {
  http_requests_.Add({{"route", std::string(route)}, {"code", std::to_string(code)}}).Increment();
}

void IngestMetrics::GrpcRequest(std::string_view method, std::string_view code) {
  grpc_requests_.Add({{"method", std::string(method)}, {"code", std::string(code)}}).Increment();
}

void IngestMetrics::AttributesTruncated(std::string_view tenant, uint64_t values,
                                        uint64_t dropped) {
  if (values) truncated_values_.Add({{"tenant", std::string(tenant)}}).Increment(values);
  if (dropped) dropped_attributes_.Add({{"tenant", std::string(tenant)}}).Increment(dropped);
}

void IngestMetrics::OnWrite(double seconds, uint64_t bytes) {
  wal_write_seconds_.Observe(seconds);
  wal_written_bytes_.Increment(static_cast<double>(bytes));
}

void IngestMetrics::OnFsync(double seconds, uint64_t entries) {
  wal_fsync_seconds_.Observe(seconds);
  wal_fsyncs_.Increment();
}

void IngestMetrics::OnCorruptBytes(uint64_t bytes) {
  wal_corrupt_bytes_.Increment(static_cast<double>(bytes));
}

}  // namespace observex::ingest
