// Fuzzes the OTLP codec's decode path, built twice: otlp_protobuf_fuzzer and, with
// OBX_OTLP_FUZZ_JSON defined, otlp_json_fuzzer. Decode as each signal type, then on success
// ApplyLimits (tight limits, so cutting runs), encode to protobuf, re-decode that and render it
// for `wal dump`. Invariants: no crash or sanitizer report; whatever was accepted becomes
// protobuf that decodes again (valid UTF-8, valid ids), also after limits; every rendered line
// is well-formed JSON.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "otlp/otlp.h"
#include "simdjson.h"

namespace {

using observex::SignalType;
namespace otlp = observex::otlp;

#ifdef OBX_OTLP_FUZZ_JSON
constexpr otlp::Encoding kInputEncoding = otlp::Encoding::kJson;
#else
constexpr otlp::Encoding kInputEncoding = otlp::Encoding::kProtobuf;
#endif

void Check(SignalType type, std::string_view body) {
  otlp::Limits limits;
  limits.max_nesting_depth = 8;
  absl::StatusOr<otlp::DecodedRequest> decoded = otlp::Decode(type, kInputEncoding, body, limits);
  if (!decoded.ok()) return;
  otlp::Limits tight = limits;
  tight.max_attributes = 3;
  tight.max_attribute_key_bytes = 5;
  tight.max_attribute_value_bytes = 7;
  otlp::ApplyLimits(tight, *decoded);
  const std::string wire = decoded->message->SerializeAsString();
  if (!otlp::Decode(type, otlp::Encoding::kProtobuf, wire, limits).ok()) abort();
  simdjson::dom::parser parser;
  absl::Status st = otlp::ForEachSignalJson(type, wire, [&](std::string_view json) {
    simdjson::dom::element doc;
    if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
      abort();
    }
  });
  if (!st.ok()) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (SignalType type : {SignalType::kTraces, SignalType::kMetrics, SignalType::kLogs}) {
    Check(type, body);
  }
  return 0;
}
