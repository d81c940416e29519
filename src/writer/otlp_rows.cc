#include "writer/otlp_rows.h"

#include <bit>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "storage/attributes.h"
#include "storage/schema.h"

namespace observex::writer {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
namespace logs = opentelemetry::proto::logs::v1;
using storage::AttributesWriter;
using storage::AttributeType;
using storage::AttributeValue;
using storage::ColumnBatch;
using storage::StringColumn;
using KeyValues = google::protobuf::RepeatedPtrField<common::KeyValue>;
using Ints = std::vector<int64_t>;
using Floats = std::vector<double>;

// span_extra: "" when the span has a status and ends at start_time + duration; otherwise one
// byte of these bits, followed by the end time (8 bytes, little-endian) when kSpanEndStored.
constexpr uint8_t kSpanNoStatus = 1;
constexpr uint8_t kSpanEndStored = 2;

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status RowError(size_t row, std::string_view column, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("row ", row, " column ", AV(column), ": ", what));
}

// ---- Length-prefixed protobuf messages (events, links) ----

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(const char** p, const char* end, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && *p < end; shift += 7) {
    const uint64_t byte = static_cast<uint8_t>(*(*p)++);
    result |= (byte & 0x7F) << shift;
    if (byte < 0x80) {
      *v = result;
      return true;
    }
  }
  return false;
}

// Serializes `m` at the end of `bytes` without a temporary string; `n` is m.ByteSizeLong(),
// which also caches the nested sizes the serializer relies on.
void AppendMessage(const google::protobuf::MessageLite& m, size_t n, std::string* bytes) {
  const size_t at = bytes->size();
  bytes->resize(at + n);
  m.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(bytes->data() + at));
}

// One column value: each message as varint length + serialization, back to back.
template <typename M>
void PushMessages(const google::protobuf::RepeatedPtrField<M>& messages, StringColumn* col) {
  std::string& bytes = col->mutable_bytes();
  for (const M& m : messages) {
    const size_t n = m.ByteSizeLong();
    PutVarint(&bytes, n);
    AppendMessage(m, n, &bytes);
  }
  col->mutable_offsets().push_back(bytes.size());
}

template <typename M>
absl::Status ParseMessages(std::string_view stored, google::protobuf::RepeatedPtrField<M>* out,
                           size_t row, std::string_view column) {
  const char* p = stored.data();
  const char* end = p + stored.size();
  while (p < end) {
    uint64_t n;
    if (!GetVarint(&p, end, &n) || n > static_cast<uint64_t>(end - p)) {
      return RowError(row, column, "truncated message length");
    }
    if (!out->Add()->ParseFromArray(p, static_cast<int>(n))) {
      return RowError(row, column, absl::StrCat("message ", out->size() - 1, " does not parse"));
    }
    p += n;
  }
  return absl::OkStatus();
}

// ---- Attribute maps ----

// Arrays and key-value lists keep their AnyValue serialization as opaque bytes. Those bytes
// are never empty (the oneof tag alone is two bytes), so an empty opaque value is free to mark
// the two cases no other type can hold: kArray "" is a value with no kind set, kKvList "" is a
// KeyValue without a value at all.
std::string EncodeAttributes(const KeyValues& kvs, AttributesWriter& w, std::string& scratch) {
  for (const common::KeyValue& kv : kvs) {
    const std::string& key = kv.key();
    if (!kv.has_value()) {
      w.AddOpaque(key, AttributeType::kKvList, {});
      continue;
    }
    const common::AnyValue& v = kv.value();
    switch (v.value_case()) {
      case common::AnyValue::kStringValue:
        w.AddString(key, v.string_value());
        break;
      case common::AnyValue::kBoolValue:
        w.AddBool(key, v.bool_value());
        break;
      case common::AnyValue::kIntValue:
        w.AddInt(key, v.int_value());
        break;
      case common::AnyValue::kDoubleValue:
        w.AddDouble(key, v.double_value());
        break;
      case common::AnyValue::kBytesValue:
        w.AddBytes(key, v.bytes_value());
        break;
      case common::AnyValue::kArrayValue:
      case common::AnyValue::kKvlistValue:
        scratch.clear();
        v.AppendToString(&scratch);
        w.AddOpaque(key,
                    v.value_case() == common::AnyValue::kArrayValue ? AttributeType::kArray
                                                                    : AttributeType::kKvList,
                    scratch);
        break;
      case common::AnyValue::VALUE_NOT_SET:
        w.AddOpaque(key, AttributeType::kArray, {});
        break;
    }
  }
  return w.Finish();
}

absl::Status DecodeAttributes(std::string_view stored, KeyValues* out, size_t row,
                              std::string_view column) {
  bool bad_opaque = false;
  absl::Status s =
      storage::ForEachAttribute(stored, [&](std::string_view key, const AttributeValue& v) {
        common::KeyValue* kv = out->Add();
        kv->set_key(key.data(), key.size());
        switch (v.type) {
          case AttributeType::kString:
            kv->mutable_value()->set_string_value(v.bytes.data(), v.bytes.size());
            break;
          case AttributeType::kBool:
            kv->mutable_value()->set_bool_value(v.bool_value);
            break;
          case AttributeType::kInt:
            kv->mutable_value()->set_int_value(v.int_value);
            break;
          case AttributeType::kDouble:
            kv->mutable_value()->set_double_value(v.double_value);
            break;
          case AttributeType::kBytes:
            kv->mutable_value()->set_bytes_value(v.bytes.data(), v.bytes.size());
            break;
          case AttributeType::kArray:
          case AttributeType::kKvList:
            if (v.bytes.empty() && v.type == AttributeType::kKvList) break;  // no value
            if (!kv->mutable_value()->ParseFromArray(v.bytes.data(),
                                                     static_cast<int>(v.bytes.size()))) {
              bad_opaque = true;
              return false;
            }
            break;
        }
        return true;
      });
  if (!s.ok()) return RowError(row, column, s.message());
  if (bad_opaque) {
    return RowError(row, column,
                    absl::StrCat("value of '", AV(out->rbegin()->key()), "' does not parse"));
  }
  return absl::OkStatus();
}

// The first string-valued service.name, "" when there is none.
std::string_view ServiceOf(const KeyValues& resource_attributes) {
  for (const common::KeyValue& kv : resource_attributes) {
    if (kv.key() == "service.name" && kv.value().has_string_value()) {
      return kv.value().string_value();
    }
  }
  return {};
}

// ---- Column binding ----

// Finds columns by name; the first missing or mistyped one becomes `status`.
template <typename Batch>
class Binder {
 public:
  explicit Binder(Batch& batch) : batch_(batch) {}

  template <typename T>
  auto* Get(std::string_view name) {
    using Ptr = decltype(&std::get<T>(batch_.columns[0]));
    const int i = batch_.IndexOf(name);
    if (i < 0 || !std::holds_alternative<T>(batch_.columns[i])) {
      if (status_.ok()) {
        status_ = absl::InvalidArgumentError(
            absl::StrCat("rows lack column '", AV(name), "' of type ",
                         AV(storage::ColumnTypeName(storage::TypeOf(storage::Column(T()))))));
      }
      return static_cast<Ptr>(nullptr);
    }
    return &std::get<T>(batch_.columns[i]);
  }
  const absl::Status& status() const { return status_; }

 private:
  Batch& batch_;
  absl::Status status_;
};

template <typename Batch, bool kConst = std::is_const_v<Batch>>
struct SpanColumns {
  template <typename T>
  using P = std::conditional_t<kConst, const T*, T*>;
  P<StringColumn> service, name;
  P<Ints> start_time, duration;
  P<StringColumn> trace_id, span_id, parent_span_id, trace_state;
  P<Ints> kind, status_code;
  P<StringColumn> status_message;
  P<Ints> flags;
  P<StringColumn> scope_name, scope_version, attributes, resource_attributes, events, links;
  P<Ints> dropped_attributes, dropped_events, dropped_links;
  P<Floats> sampling_probability;
  P<StringColumn> resource_extra, scope_extra, span_extra;

  absl::Status Bind(Batch& batch) {
    Binder<Batch> b(batch);
    service = b.template Get<StringColumn>("service");
    name = b.template Get<StringColumn>("name");
    start_time = b.template Get<Ints>("start_time");
    duration = b.template Get<Ints>("duration");
    trace_id = b.template Get<StringColumn>("trace_id");
    span_id = b.template Get<StringColumn>("span_id");
    parent_span_id = b.template Get<StringColumn>("parent_span_id");
    trace_state = b.template Get<StringColumn>("trace_state");
    kind = b.template Get<Ints>("kind");
    status_code = b.template Get<Ints>("status_code");
    status_message = b.template Get<StringColumn>("status_message");
    flags = b.template Get<Ints>("flags");
    scope_name = b.template Get<StringColumn>("scope_name");
    scope_version = b.template Get<StringColumn>("scope_version");
    attributes = b.template Get<StringColumn>("attributes");
    resource_attributes = b.template Get<StringColumn>("resource_attributes");
    events = b.template Get<StringColumn>("events");
    links = b.template Get<StringColumn>("links");
    dropped_attributes = b.template Get<Ints>("dropped_attributes");
    dropped_events = b.template Get<Ints>("dropped_events");
    dropped_links = b.template Get<Ints>("dropped_links");
    sampling_probability = b.template Get<Floats>("sampling_probability");
    resource_extra = b.template Get<StringColumn>("resource_extra");
    scope_extra = b.template Get<StringColumn>("scope_extra");
    span_extra = b.template Get<StringColumn>("span_extra");
    return b.status();
  }
};

template <typename Batch, bool kConst = std::is_const_v<Batch>>
struct LogColumns {
  template <typename T>
  using P = std::conditional_t<kConst, const T*, T*>;
  P<StringColumn> service;
  P<Ints> severity_number;
  P<StringColumn> severity_text;
  P<Ints> time, observed_time;
  P<StringColumn> body, trace_id, span_id;
  P<Ints> flags;
  P<StringColumn> event_name, scope_name, attributes, resource_attributes;
  P<Ints> dropped_attributes;
  P<StringColumn> resource_extra, scope_extra;

  absl::Status Bind(Batch& batch) {
    Binder<Batch> b(batch);
    service = b.template Get<StringColumn>("service");
    severity_number = b.template Get<Ints>("severity_number");
    severity_text = b.template Get<StringColumn>("severity_text");
    time = b.template Get<Ints>("time");
    observed_time = b.template Get<Ints>("observed_time");
    body = b.template Get<StringColumn>("body");
    trace_id = b.template Get<StringColumn>("trace_id");
    span_id = b.template Get<StringColumn>("span_id");
    flags = b.template Get<Ints>("flags");
    event_name = b.template Get<StringColumn>("event_name");
    scope_name = b.template Get<StringColumn>("scope_name");
    attributes = b.template Get<StringColumn>("attributes");
    resource_attributes = b.template Get<StringColumn>("resource_attributes");
    dropped_attributes = b.template Get<Ints>("dropped_attributes");
    resource_extra = b.template Get<StringColumn>("resource_extra");
    scope_extra = b.template Get<StringColumn>("scope_extra");
    return b.status();
  }
};

template <typename... Vs>
void ReserveMore(size_t n, Vs*... vs) {
  (vs->reserve(vs->size() + n), ...);
}

// ---- resource_extra / scope_extra ----

// The ResourceSpans/ResourceLogs with its attributes and scope lists left out: resource
// presence, its dropped_attributes_count and the schema_url, exactly.
template <typename ResourceX>
void EncodeResourceExtra(const ResourceX& in, std::string* out) {
  ResourceX x;
  if (in.has_resource()) {
    x.mutable_resource()->set_dropped_attributes_count(in.resource().dropped_attributes_count());
  }
  x.set_schema_url(in.schema_url());
  out->clear();
  x.AppendToString(out);
}

// The ScopeSpans/ScopeLogs with its item list and the scope fields that have columns left
// out: scope presence, attributes, dropped_attributes_count (and version for logs), schema_url.
template <typename ScopeX>
void EncodeScopeExtra(const ScopeX& in, bool keep_version, std::string* out) {
  ScopeX x;
  if (in.has_scope()) {
    common::InstrumentationScope* s = x.mutable_scope();
    if (keep_version) s->set_version(in.scope().version());
    *s->mutable_attributes() = in.scope().attributes();
    s->set_dropped_attributes_count(in.scope().dropped_attributes_count());
  }
  x.set_schema_url(in.schema_url());
  out->clear();
  x.AppendToString(out);
}

// Hash key of a group of rows: views into the batch being read.
struct GroupKey {
  size_t parent;
  std::string_view a, b, c;
  friend bool operator==(const GroupKey&, const GroupKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const GroupKey& k) {
    return H::combine(std::move(h), k.parent, AV(k.a), AV(k.b), AV(k.c));
  }
};

// Rebuilds the resource-then-scope nesting: first appearance order, one entry per distinct
// (resource_attributes, resource_extra) and, inside it, per (scope name, version, extra).
template <typename Request, typename ResourceX, typename ScopeX>
class Grouper {
 public:
  explicit Grouper(Request* out) : out_(out) {}

  // The scope list that row `row` belongs to, parsing its resource and scope the first time.
  absl::StatusOr<ScopeX*> ScopeFor(size_t row, std::string_view resource_attributes,
                                   std::string_view resource_extra, std::string_view scope_name,
                                   std::string_view scope_version, std::string_view scope_extra) {
    auto [rit, new_resource] = resources_.try_emplace(
        GroupKey{0, resource_attributes, resource_extra, {}}, resource_list().size());
    if (new_resource) {
      ResourceX* r = resource_list().Add();
      if (!r->ParseFromArray(resource_extra.data(), static_cast<int>(resource_extra.size())) ||
          ScopeList(*r).size() > 0 || r->resource().attributes_size() > 0) {
        return RowError(row, "resource_extra", "malformed");
      }
      if (!resource_attributes.empty()) {
        if (auto s =
                DecodeAttributes(resource_attributes, r->mutable_resource()->mutable_attributes(),
                                 row, "resource_attributes");
            !s.ok()) {
          return s;
        }
      }
    }
    ResourceX* r = resource_list().Mutable(static_cast<int>(rit->second));
    auto [sit, new_scope] = scopes_.try_emplace(
        GroupKey{rit->second, scope_name, scope_version, scope_extra}, ScopeList(*r).size());
    if (new_scope) {
      ScopeX* s = MutableScopeList(r)->Add();
      if (!s->ParseFromArray(scope_extra.data(), static_cast<int>(scope_extra.size())) ||
          ItemCount(*s) > 0 || !s->scope().name().empty() ||
          (!scope_version.empty() && !s->scope().version().empty())) {
        return RowError(row, "scope_extra", "malformed");
      }
      if (!scope_name.empty()) s->mutable_scope()->set_name(scope_name.data(), scope_name.size());
      if (!scope_version.empty()) {
        s->mutable_scope()->set_version(scope_version.data(), scope_version.size());
      }
    }
    return MutableScopeList(r)->Mutable(static_cast<int>(sit->second));
  }

 private:
  auto& resource_list() {
    if constexpr (std::is_same_v<ResourceX, trace::ResourceSpans>) {
      return *out_->mutable_resource_spans();
    } else {
      return *out_->mutable_resource_logs();
    }
  }
  static const auto& ScopeList(const ResourceX& r) {
    if constexpr (std::is_same_v<ResourceX, trace::ResourceSpans>) {
      return r.scope_spans();
    } else {
      return r.scope_logs();
    }
  }
  static auto* MutableScopeList(ResourceX* r) {
    if constexpr (std::is_same_v<ResourceX, trace::ResourceSpans>) {
      return r->mutable_scope_spans();
    } else {
      return r->mutable_scope_logs();
    }
  }
  static int ItemCount(const ScopeX& s) {
    if constexpr (std::is_same_v<ScopeX, trace::ScopeSpans>) {
      return s.spans_size();
    } else {
      return s.log_records_size();
    }
  }

  Request* out_;
  absl::flat_hash_map<GroupKey, size_t> resources_;
  absl::flat_hash_map<GroupKey, size_t> scopes_;
};

// Narrowing for stored integers that came from 32-bit protobuf fields.
template <typename T>
bool Narrow(int64_t v, T* out) {
  if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
      v > static_cast<int64_t>(std::numeric_limits<T>::max())) {
    return false;
  }
  *out = static_cast<T>(v);
  return true;
}

}  // namespace

absl::StatusOr<size_t> AppendSpanRows(const TracesRequest& request, storage::ColumnBatch* out) {
  if (auto s = storage::SpansSchema().CheckBatch(*out); !s.ok()) return s;
  SpanColumns<ColumnBatch> c;
  if (auto s = c.Bind(*out); !s.ok()) return s;

  size_t n = 0;
  for (const auto& rs : request.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) n += ss.spans_size();
  }
  ReserveMore(n, c.start_time, c.duration, c.kind, c.status_code, c.flags, c.dropped_attributes,
              c.dropped_events, c.dropped_links, c.sampling_probability);

  AttributesWriter writer;
  std::string scratch, resource_attributes, resource_extra, scope_extra;
  for (const trace::ResourceSpans& rs : request.resource_spans()) {
    resource_attributes = EncodeAttributes(rs.resource().attributes(), writer, scratch);
    const std::string_view service = ServiceOf(rs.resource().attributes());
    EncodeResourceExtra(rs, &resource_extra);
    for (const trace::ScopeSpans& ss : rs.scope_spans()) {
      EncodeScopeExtra(ss, /*keep_version=*/false, &scope_extra);
      for (const trace::Span& span : ss.spans()) {
        c.service->push_back(service);
        c.name->push_back(span.name());
        const uint64_t start = span.start_time_unix_nano();
        const uint64_t end = span.end_time_unix_nano();
        // end - start as a non-negative int64 when it is one; otherwise 0, and the end time
        // goes to span_extra so it is not lost.
        const bool end_fits = end >= start && end - start <= static_cast<uint64_t>(INT64_MAX);
        c.start_time->push_back(std::bit_cast<int64_t>(start));
        c.duration->push_back(end_fits ? static_cast<int64_t>(end - start) : 0);
        c.trace_id->push_back(span.trace_id());
        c.span_id->push_back(span.span_id());
        c.parent_span_id->push_back(span.parent_span_id());
        c.trace_state->push_back(span.trace_state());
        c.kind->push_back(span.kind());
        c.status_code->push_back(span.status().code());
        c.status_message->push_back(span.status().message());
        c.flags->push_back(span.flags());
        c.scope_name->push_back(ss.scope().name());
        c.scope_version->push_back(ss.scope().version());
        c.attributes->push_back(EncodeAttributes(span.attributes(), writer, scratch));
        c.resource_attributes->push_back(resource_attributes);
        PushMessages(span.events(), c.events);
        PushMessages(span.links(), c.links);
        c.dropped_attributes->push_back(span.dropped_attributes_count());
        c.dropped_events->push_back(span.dropped_events_count());
        c.dropped_links->push_back(span.dropped_links_count());
        c.sampling_probability->push_back(1.0);
        c.resource_extra->push_back(resource_extra);
        c.scope_extra->push_back(scope_extra);
        if (span.has_status() && end_fits) {
          c.span_extra->push_back({});
        } else {
          char extra[9];
          extra[0] = static_cast<char>((span.has_status() ? 0 : kSpanNoStatus) |
                                       (end_fits ? 0 : kSpanEndStored));
          std::memcpy(extra + 1, &end, 8);  // little-endian hosts only, as storage/bits.h
          c.span_extra->push_back(std::string_view(extra, end_fits ? 1 : 9));
        }
      }
    }
  }
  return n;
}

absl::StatusOr<size_t> AppendLogRows(const LogsRequest& request, storage::ColumnBatch* out) {
  if (auto s = storage::LogsSchema().CheckBatch(*out); !s.ok()) return s;
  LogColumns<ColumnBatch> c;
  if (auto s = c.Bind(*out); !s.ok()) return s;

  size_t n = 0;
  for (const auto& rl : request.resource_logs()) {
    for (const auto& sl : rl.scope_logs()) n += sl.log_records_size();
  }
  ReserveMore(n, c.severity_number, c.time, c.observed_time, c.flags, c.dropped_attributes);

  AttributesWriter writer;
  std::string scratch, resource_attributes, resource_extra, scope_extra;
  for (const logs::ResourceLogs& rl : request.resource_logs()) {
    resource_attributes = EncodeAttributes(rl.resource().attributes(), writer, scratch);
    const std::string_view service = ServiceOf(rl.resource().attributes());
    EncodeResourceExtra(rl, &resource_extra);
    for (const logs::ScopeLogs& sl : rl.scope_logs()) {
      EncodeScopeExtra(sl, /*keep_version=*/true, &scope_extra);
      for (const logs::LogRecord& r : sl.log_records()) {
        c.service->push_back(service);
        c.severity_number->push_back(r.severity_number());
        c.severity_text->push_back(r.severity_text());
        c.time->push_back(std::bit_cast<int64_t>(r.time_unix_nano()));
        c.observed_time->push_back(std::bit_cast<int64_t>(r.observed_time_unix_nano()));
        if (!r.has_body()) {
          c.body->push_back({});
        } else if (const common::AnyValue& b = r.body(); b.has_string_value() &&
                                                         !b.string_value().empty() &&
                                                         b.string_value()[0] != kLogBodyTag) {
          c.body->push_back(b.string_value());
        } else {
          std::string& bytes = c.body->mutable_bytes();
          bytes.push_back(kLogBodyTag);
          AppendMessage(b, b.ByteSizeLong(), &bytes);
          c.body->mutable_offsets().push_back(bytes.size());
        }
        c.trace_id->push_back(r.trace_id());
        c.span_id->push_back(r.span_id());
        c.flags->push_back(r.flags());
        c.event_name->push_back(r.event_name());
        c.scope_name->push_back(sl.scope().name());
        c.attributes->push_back(EncodeAttributes(r.attributes(), writer, scratch));
        c.resource_attributes->push_back(resource_attributes);
        c.dropped_attributes->push_back(r.dropped_attributes_count());
        c.resource_extra->push_back(resource_extra);
        c.scope_extra->push_back(scope_extra);
      }
    }
  }
  return n;
}

absl::StatusOr<TracesRequest> SpanRowsToOtlp(const storage::ColumnBatch& rows) {
  if (auto s = rows.Validate(); !s.ok()) return s;
  SpanColumns<const ColumnBatch> c;
  if (auto s = c.Bind(rows); !s.ok()) return s;

  TracesRequest out;
  Grouper<TracesRequest, trace::ResourceSpans, trace::ScopeSpans> groups(&out);
  for (size_t i = 0; i < rows.rows(); ++i) {
    absl::StatusOr<trace::ScopeSpans*> scope =
        groups.ScopeFor(i, c.resource_attributes->at(i), c.resource_extra->at(i),
                        c.scope_name->at(i), c.scope_version->at(i), c.scope_extra->at(i));
    if (!scope.ok()) return scope.status();
    trace::Span* span = (*scope)->add_spans();

    const std::string_view extra = c.span_extra->at(i);
    uint8_t bits = 0;
    if (!extra.empty()) {
      bits = static_cast<uint8_t>(extra[0]);
      if ((bits & ~(kSpanNoStatus | kSpanEndStored)) != 0 ||
          extra.size() != ((bits & kSpanEndStored) ? 9u : 1u)) {
        return RowError(i, "span_extra", "malformed");
      }
    }
    const uint64_t start = std::bit_cast<uint64_t>((*c.start_time)[i]);
    uint64_t end = start + std::bit_cast<uint64_t>((*c.duration)[i]);
    if (bits & kSpanEndStored) std::memcpy(&end, extra.data() + 1, 8);

    int32_t kind, code;
    uint32_t flags, dropped_attributes, dropped_events, dropped_links;
    if (!Narrow((*c.kind)[i], &kind)) return RowError(i, "kind", "out of range");
    if (!Narrow((*c.status_code)[i], &code)) return RowError(i, "status_code", "out of range");
    if (!Narrow((*c.flags)[i], &flags)) return RowError(i, "flags", "out of range");
    if (!Narrow((*c.dropped_attributes)[i], &dropped_attributes)) {
      return RowError(i, "dropped_attributes", "out of range");
    }
    if (!Narrow((*c.dropped_events)[i], &dropped_events)) {
      return RowError(i, "dropped_events", "out of range");
    }
    if (!Narrow((*c.dropped_links)[i], &dropped_links)) {
      return RowError(i, "dropped_links", "out of range");
    }

    auto set = [](std::string* field, std::string_view v) { field->assign(v.data(), v.size()); };
    set(span->mutable_trace_id(), c.trace_id->at(i));
    set(span->mutable_span_id(), c.span_id->at(i));
    set(span->mutable_trace_state(), c.trace_state->at(i));
    set(span->mutable_parent_span_id(), c.parent_span_id->at(i));
    set(span->mutable_name(), c.name->at(i));
    span->set_kind(static_cast<trace::Span::SpanKind>(kind));
    span->set_start_time_unix_nano(start);
    span->set_end_time_unix_nano(end);
    if (auto s = DecodeAttributes(c.attributes->at(i), span->mutable_attributes(), i, "attributes");
        !s.ok()) {
      return s;
    }
    span->set_dropped_attributes_count(dropped_attributes);
    if (auto s = ParseMessages(c.events->at(i), span->mutable_events(), i, "events"); !s.ok()) {
      return s;
    }
    span->set_dropped_events_count(dropped_events);
    if (auto s = ParseMessages(c.links->at(i), span->mutable_links(), i, "links"); !s.ok()) {
      return s;
    }
    span->set_dropped_links_count(dropped_links);
    const std::string_view message = c.status_message->at(i);
    if (!(bits & kSpanNoStatus) || code != 0 || !message.empty()) {
      span->mutable_status()->set_code(static_cast<trace::Status::StatusCode>(code));
      set(span->mutable_status()->mutable_message(), message);
    }
    span->set_flags(flags);
  }
  return out;
}

absl::StatusOr<LogsRequest> LogRowsToOtlp(const storage::ColumnBatch& rows) {
  if (auto s = rows.Validate(); !s.ok()) return s;
  LogColumns<const ColumnBatch> c;
  if (auto s = c.Bind(rows); !s.ok()) return s;

  LogsRequest out;
  Grouper<LogsRequest, logs::ResourceLogs, logs::ScopeLogs> groups(&out);
  for (size_t i = 0; i < rows.rows(); ++i) {
    absl::StatusOr<logs::ScopeLogs*> scope =
        groups.ScopeFor(i, c.resource_attributes->at(i), c.resource_extra->at(i),
                        c.scope_name->at(i), {}, c.scope_extra->at(i));
    if (!scope.ok()) return scope.status();
    logs::LogRecord* r = (*scope)->add_log_records();

    int32_t severity;
    uint32_t flags, dropped_attributes;
    if (!Narrow((*c.severity_number)[i], &severity)) {
      return RowError(i, "severity_number", "out of range");
    }
    if (!Narrow((*c.flags)[i], &flags)) return RowError(i, "flags", "out of range");
    if (!Narrow((*c.dropped_attributes)[i], &dropped_attributes)) {
      return RowError(i, "dropped_attributes", "out of range");
    }

    auto set = [](std::string* field, std::string_view v) { field->assign(v.data(), v.size()); };
    r->set_time_unix_nano(std::bit_cast<uint64_t>((*c.time)[i]));
    r->set_observed_time_unix_nano(std::bit_cast<uint64_t>((*c.observed_time)[i]));
    r->set_severity_number(static_cast<logs::SeverityNumber>(severity));
    set(r->mutable_severity_text(), c.severity_text->at(i));
    if (const std::string_view body = c.body->at(i); !body.empty()) {
      if (auto s = DecodeLogBody(body, r->mutable_body()); !s.ok()) {
        return RowError(i, "body", s.status().message());
      }
    }
    if (auto s = DecodeAttributes(c.attributes->at(i), r->mutable_attributes(), i, "attributes");
        !s.ok()) {
      return s;
    }
    r->set_dropped_attributes_count(dropped_attributes);
    r->set_flags(flags);
    set(r->mutable_trace_id(), c.trace_id->at(i));
    set(r->mutable_span_id(), c.span_id->at(i));
    set(r->mutable_event_name(), c.event_name->at(i));
  }
  return out;
}

absl::StatusOr<bool> DecodeLogBody(std::string_view stored, common::AnyValue* body) {
  body->Clear();
  if (stored.empty()) return false;
  if (stored[0] != kLogBodyTag) {
    body->set_string_value(stored.data(), stored.size());
  } else if (!body->ParseFromArray(stored.data() + 1, static_cast<int>(stored.size() - 1))) {
    return absl::DataLossError("stored log body: the tagged AnyValue does not parse");
  }
  return true;
}

}  // namespace observex::writer
