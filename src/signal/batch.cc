#include "signal/batch.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace observex {
namespace {

constexpr uint8_t kRecordFormatVersion = 1;

template <typename T>
void PutLe(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));  // x86-64 and aarch64 Linux are little-endian
  out.append(buf, sizeof(T));
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  bool Get(T& v) {
    if (in_.size() < sizeof(T)) return false;
    std::memcpy(&v, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return true;
  }
  bool GetString16(std::string& s) {
    uint16_t n = 0;
    if (!Get(n) || in_.size() < n) return false;
    s.assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  std::string_view rest() const { return in_; }

 private:
  std::string_view in_;
};

}  // namespace

std::string_view SignalTypeName(SignalType type) {
  switch (type) {
    case SignalType::kTraces:
      return "traces";
    case SignalType::kMetrics:
      return "metrics";
    case SignalType::kLogs:
      return "logs";
    case SignalType::kPrometheus:
      return "prometheus";
  }
  return "unknown";
}

absl::StatusOr<SignalType> ParseSignalType(std::string_view name) {
  if (name == "traces") return SignalType::kTraces;
  if (name == "metrics") return SignalType::kMetrics;
  if (name == "logs") return SignalType::kLogs;
  if (name == "prometheus") return SignalType::kPrometheus;
  return absl::InvalidArgumentError(absl::StrCat("unknown signal type '", std::string(name), "'"));
}

std::string EncodeBatchRecord(const BatchHeader& h, std::string_view request) {
  std::string out;
  out.reserve(40 + h.tenant_name.size() + h.observex_version.size() + request.size());
  PutLe<uint8_t>(out, kRecordFormatVersion);
  PutLe<uint8_t>(out, static_cast<uint8_t>(h.type));
  PutLe<int64_t>(out, h.tenant_id);
  PutLe<int64_t>(out, h.ingested_at_unix_nanos);
  PutLe<uint32_t>(out, h.signal_count);
  PutLe<uint32_t>(out, h.truncated_values);
  PutLe<uint32_t>(out, h.dropped_attributes);
  const std::string_view name = std::string_view(h.tenant_name).substr(0, 0xFFFF);
  PutLe<uint16_t>(out, static_cast<uint16_t>(name.size()));
  out.append(name);
  const std::string_view ver = std::string_view(h.observex_version).substr(0, 0xFFFF);
  PutLe<uint16_t>(out, static_cast<uint16_t>(ver.size()));
  out.append(ver);
  out.append(request);
  return out;
}

absl::StatusOr<BatchRecordView> DecodeBatchRecord(std::string_view record) {
  Reader r(record);
  uint8_t version = 0, type = 0;
  BatchRecordView view;
  BatchHeader& h = view.header;
  if (!r.Get(version)) return absl::DataLossError("batch record: empty");
  if (version != kRecordFormatVersion) {
    return absl::DataLossError(
        absl::StrCat("batch record: unknown format version ", static_cast<int>(version)));
  }
  if (!r.Get(type) || !r.Get(h.tenant_id) || !r.Get(h.ingested_at_unix_nanos) ||
      !r.Get(h.signal_count) || !r.Get(h.truncated_values) || !r.Get(h.dropped_attributes) ||
      !r.GetString16(h.tenant_name) || !r.GetString16(h.observex_version)) {
    return absl::DataLossError("batch record: truncated header");
  }
  if (type < static_cast<uint8_t>(SignalType::kTraces) ||
      type > static_cast<uint8_t>(SignalType::kPrometheus)) {
    return absl::DataLossError(
        absl::StrCat("batch record: unknown signal type ", static_cast<int>(type)));
  }
  h.type = static_cast<SignalType>(type);
  view.request = r.rest();
  return view;
}

}  // namespace observex
