// Pieces shared by the OTLP codec's translation units; not part of the module's interface.
// Everything here is stateless or per-call, so it is safe to use from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/utf8.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "otlp/otlp.h"

namespace observex::otlp::internal {

// A field path such as "resourceSpans[0].scopeSpans[1].spans[3].traceId". Steps hold views of
// descriptor-owned names (which live as long as the process), so pushing and popping is cheap;
// the string is built only when an error is reported.
class FieldPath {
 public:
  FieldPath() { steps_.reserve(16); }
  void Push(std::string_view name, int64_t index = -1) { steps_.push_back({name, index}); }
  void Pop() { steps_.pop_back(); }
  void SetIndex(int64_t index) { steps_.back().index = index; }
  bool empty() const { return steps_.empty(); }
  size_t size() const { return steps_.size(); }
  void Truncate(size_t n) { steps_.resize(n); }
  std::string ToString() const;

 private:
  struct Step {
    std::string_view name;
    int64_t index;
  };
  std::vector<Step> steps_;
};

// "<path>: <what>" (or just <what> at the root) as InvalidArgument.
absl::Status PathError(const FieldPath& path, std::string_view what);

// Name used in messages and JSON output: the proto3 JSON (lowerCamelCase) name.
inline std::string_view JsonName(const google::protobuf::FieldDescriptor* f) {
  return f->json_name();
}

// OTLP/JSON writes trace and span ids as hex; every other bytes field is base64.
bool IsHexIdField(const google::protobuf::FieldDescriptor* f);

// Shared UTF-8 checks (common/utf8.h), named here for the codec's own call sites.
using ::observex::IsValidUtf8;
using ::observex::Utf8SafePrefix;

const google::protobuf::Descriptor* RequestDescriptor(SignalType type);
// The request message for `type` on `arena` (heap when null; the caller then owns it).
google::protobuf::Message* NewRequest(SignalType type, google::protobuf::Arena* arena);

// Checks ids, AnyValue nesting and deprecated fields of a parsed request and sets
// request.signal_count. The message must be the request type for request.type.
absl::Status Validate(const Limits& limits, DecodedRequest& request);

// OTLP/JSON -> protobuf message of `type`; checks JSON types and AnyValue nesting.
absl::Status ParseJsonRequest(std::string_view body, const Limits& limits,
                              google::protobuf::Message& out);

// Cold path after ParseFromArray failed: walks the wire format to name the first field that
// is truncated, nested too deeply or carries invalid UTF-8. Empty if nothing specific is found.
std::string DiagnoseProtobuf(const google::protobuf::Descriptor* descriptor, std::string_view body);

}  // namespace observex::otlp::internal
