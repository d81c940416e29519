// The Prometheus ingest endpoints, one http::Handler for exactly two paths:
//   POST /prom/api/v1/write              remote write 1.0: a snappy-compressed (block format)
//                                        WriteRequest protobuf
//   POST /prom/api/v1/import/prometheus  text exposition format 0.0.4, or OpenMetrics 1.0 text
//                                        when the Content-Type is application/openmetrics-text;
//                                        optionally gzip-compressed
// Both authenticate the API key to a tenant (`Authorization: Bearer <key>`, or basic auth with
// the key as the password, which is what Prometheus's `authorization` and `basic_auth`
// settings send), refuse at admission before anything is decompressed or parsed, and go
// through the same Pipeline as OTLP: the WAL stores a SignalType::kPrometheus batch whose
// request is an uncompressed remote-write WriteRequest (text is converted to one). An answer
// is sent only after the pipeline's completion, so a 2xx means the samples are fsynced.
//
// Answers follow Prometheus's receiver: 204 No Content when everything was stored; 400 with a
// plain-text message for data that cannot be stored (senders do not retry a 4xx), also when
// only part of a request was refused (the rest is stored and the message says how much);
// 401 for a missing or unknown key; 413 when the body, decompressed, is over
// `max_body_bytes` (for snappy this is known from the block's header, before decompressing);
// 415 for another content type or encoding (remote write 2.0 included); 429 and 503 with
// Retry-After from admission and the WAL, like OTLP. Status codes come from status_mapping.h.
//
// Thread-safety: Handle may be called from any number of threads.
#pragma once

#include <string>
#include <string_view>

#include "http/http_server.h"
#include "ingest/metrics.h"
#include "ingest/pipeline.h"
#include "ingest/receivers.h"
#include "tenant/key_store.h"

namespace observex::ingest {

inline constexpr std::string_view kPromWritePath = "/prom/api/v1/write";
inline constexpr std::string_view kPromImportPath = "/prom/api/v1/import/prometheus";

class PromWriteHandler : public http::Handler {
 public:
  // `keys`, `pipeline` and `metrics` must outlive the handler. Uses `max_body_bytes` and
  // `retry_after_seconds` of `options`.
  PromWriteHandler(ReceiverOptions options, tenant::KeyStore* keys, Pipeline* pipeline,
                   IngestMetrics* metrics);
  // Matches the full request path (a mount must not strip the /prom prefix); anything else is
  // answered 404.
  void Handle(http::Request request, http::Responder respond) override;

 private:
  ReceiverOptions options_;
  tenant::KeyStore* keys_;
  Pipeline* pipeline_;
  IngestMetrics* metrics_;
};

}  // namespace observex::ingest
