// `GET /api/v1/traces/{trace_id}` on the API address: the spans of one trace, for the
// authenticated tenant only, as an OTLP/JSON ExportTraceServiceRequest
// (`{"resourceSpans":[...]}`), grouped by resource and scope, spans in start-time order.
// The trace id is 32 hex digits (case-insensitive). Answers: 200 with the trace; 404 when the
// tenant has no span of that trace; 400 for a malformed id; 401 without a valid key; 405 for
// another method. A trace with more than kMaxTraceSpans spans is cut there and says so in the
// `X-ObserveX-Truncated` header; when a part could not be read (quarantined) the result is
// partial and `X-ObserveX-Warning` says why (a 404 then also lists the warnings in its body:
// the trace may be in the part that could not be read).
//
// Thread-safety: Handle may be called from any thread.
#pragma once

#include <cstdint>

#include "http/http_server.h"
#include "storage/store.h"
#include "tenant/key_store.h"

namespace observex::api {

inline constexpr uint64_t kMaxTraceSpans = 100'000;

class TracesHandler : public http::Handler {
 public:
  // `keys` and `store` are not owned and must outlive the handler.
  TracesHandler(tenant::KeyStore* keys, const storage::Store* store);
  void Handle(http::Request request, http::Responder respond) override;

 private:
  tenant::KeyStore* const keys_;
  const storage::Store* const store_;
};

}  // namespace observex::api
