// OTLP traces and logs survive the trip through storage rows exactly: every field, every
// attribute value kind, presence of optional messages, odd times; corrupted stored values are
// DataLoss and batches of the wrong shape InvalidArgument.
#include "writer/otlp_rows.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "otlp/otlp.h"
#include "storage/attributes.h"
#include "storage/schema.h"

namespace observex::writer {
namespace {

namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;
namespace logs = opentelemetry::proto::logs::v1;
using google::protobuf::RepeatedPtrField;
using storage::ColumnBatch;
using storage::LogsSchema;
using storage::SpansSchema;
using storage::StringColumn;
using KeyValues = RepeatedPtrField<common::KeyValue>;

std::string Diff(const google::protobuf::Message& want, const google::protobuf::Message& got) {
  std::string report;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&report);
  return d.Compare(want, got) ? std::string() : report;
}

std::string Id(size_t n, uint8_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 17);
  return s;
}

common::AnyValue* Add(KeyValues* kvs, const std::string& key) {
  common::KeyValue* kv = kvs->Add();
  kv->set_key(key);
  return kv->mutable_value();
}

// Every AnyValue kind, nested containers, and the edge cases of presence.
void AddEveryKind(KeyValues* kvs, const std::string& prefix) {
  Add(kvs, prefix + "string")->set_string_value("text with \"quotes\" and ü");
  Add(kvs, prefix + "empty_string")->set_string_value("");
  Add(kvs, prefix + "bool")->set_bool_value(true);
  Add(kvs, prefix + "false")->set_bool_value(false);
  Add(kvs, prefix + "int")->set_int_value(-42);
  Add(kvs, prefix + "int_min")->set_int_value(std::numeric_limits<int64_t>::min());
  Add(kvs, prefix + "double")->set_double_value(637.704);
  Add(kvs, prefix + "inf")->set_double_value(-std::numeric_limits<double>::infinity());
  Add(kvs, prefix + "bytes")->set_bytes_value(std::string("\0\xff\x01\x80", 4));
  common::ArrayValue* array = Add(kvs, prefix + "array")->mutable_array_value();
  array->add_values()->set_int_value(1);
  array->add_values()->set_string_value("two");
  common::ArrayValue* inner = array->add_values()->mutable_array_value();
  inner->add_values()->set_bool_value(false);
  inner->add_values()->set_bytes_value(std::string("\0", 1));
  Add(array->add_values()->mutable_kvlist_value()->mutable_values(), "k")->set_double_value(2.5);
  array->add_values();  // an element with no kind
  Add(kvs, prefix + "empty_array")->mutable_array_value();
  common::KeyValueList* list = Add(kvs, prefix + "kvlist")->mutable_kvlist_value();
  common::KeyValueList* nested = Add(list->mutable_values(), "nested")->mutable_kvlist_value();
  Add(nested->mutable_values(), "deep")->mutable_array_value()->add_values()->set_int_value(7);
  list->add_values()->set_key("no value inside");
  Add(kvs, prefix + "empty_kvlist")->mutable_kvlist_value();
  Add(kvs, prefix + "value_without_kind");
  kvs->Add()->set_key(prefix + "no_value");
  Add(kvs, prefix + "string")->set_string_value("a repeated key keeps both");
}

void FillSpan(trace::Span* s, uint8_t seed) {
  s->set_trace_id(Id(16, seed));
  s->set_span_id(Id(8, seed + 1));
  s->set_parent_span_id(Id(8, seed + 2));
  s->set_trace_state("vendor=a,ot=th:8");
  s->set_name("GET /cart");
  s->set_kind(trace::Span::SPAN_KIND_SERVER);
  s->set_start_time_unix_nano(1'700'000'000'123'456'789ULL);
  s->set_end_time_unix_nano(1'700'000'000'125'956'789ULL);
  AddEveryKind(s->mutable_attributes(), "span.");
  s->set_dropped_attributes_count(4);
  trace::Span::Event* e = s->add_events();
  e->set_time_unix_nano(1'700'000'000'124'000'000ULL);
  e->set_name("exception");
  AddEveryKind(e->mutable_attributes(), "event.");
  e->set_dropped_attributes_count(2);
  s->add_events()->set_name("bare");
  s->set_dropped_events_count(5);
  trace::Span::Link* l = s->add_links();
  l->set_trace_id(Id(16, seed + 3));
  l->set_span_id(Id(8, seed + 4));
  l->set_trace_state("k=v");
  Add(l->mutable_attributes(), "link.attr")->set_int_value(9);
  l->set_dropped_attributes_count(6);
  l->set_flags(0x301);
  s->add_links();  // an empty link
  s->set_dropped_links_count(7);
  s->mutable_status()->set_code(trace::Status::STATUS_CODE_ERROR);
  s->mutable_status()->set_message("boom");
  s->set_flags(0x101);
}

// Three resources (with and without service.name, one absent), several scopes (absent, empty,
// same name with another version), spans with every field and the odd cases of time and status.
TracesRequest FullTraces() {
  TracesRequest req;
  trace::ResourceSpans* r0 = req.add_resource_spans();
  Add(r0->mutable_resource()->mutable_attributes(), "service.name")->set_string_value("checkout");
  AddEveryKind(r0->mutable_resource()->mutable_attributes(), "res.");
  r0->mutable_resource()->set_dropped_attributes_count(3);
  r0->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  {
    trace::ScopeSpans* a = r0->add_scope_spans();
    a->mutable_scope()->set_name("lib.a");
    a->mutable_scope()->set_version("1.2");
    AddEveryKind(a->mutable_scope()->mutable_attributes(), "scope.");
    a->mutable_scope()->set_dropped_attributes_count(1);
    a->set_schema_url("https://opentelemetry.io/schemas/1.20.0");
    FillSpan(a->add_spans(), 10);
    trace::Span* no_status = a->add_spans();  // no status message at all, ends before it starts
    no_status->set_name("backwards");
    no_status->set_start_time_unix_nano(100);
    no_status->set_end_time_unix_nano(50);
    trace::Span* odd = a->add_spans();  // empty status, enum values outside the enums
    odd->set_name("odd");
    odd->mutable_status();
    odd->set_kind(static_cast<trace::Span::SpanKind>(9));
    odd->set_start_time_unix_nano(0xF000'0000'0000'0000ULL);  // past int64: stored negative
    odd->set_end_time_unix_nano(0xF000'0000'0000'0001ULL);
    FillSpan(a->add_spans(), 40);
  }
  {
    trace::ScopeSpans* no_scope = r0->add_scope_spans();
    trace::Span* s = no_scope->add_spans();
    s->set_name("huge");
    s->set_start_time_unix_nano(0);
    s->set_end_time_unix_nano(std::numeric_limits<uint64_t>::max());  // more than int64 ns
    s->mutable_status()->set_code(static_cast<trace::Status::StatusCode>(7));
  }
  {
    trace::ScopeSpans* empty_scope = r0->add_scope_spans();
    empty_scope->mutable_scope();
    FillSpan(empty_scope->add_spans(), 70);
    trace::ScopeSpans* other_version = r0->add_scope_spans();
    other_version->mutable_scope()->set_name("lib.a");
    other_version->mutable_scope()->set_version("1.3");
    FillSpan(other_version->add_spans(), 90);
  }
  trace::ResourceSpans* r1 = req.add_resource_spans();  // no resource message
  FillSpan(r1->add_scope_spans()->add_spans(), 110);
  trace::ResourceSpans* r2 = req.add_resource_spans();  // service.name that is not a string
  Add(r2->mutable_resource()->mutable_attributes(), "service.name")->set_int_value(5);
  Add(r2->mutable_resource()->mutable_attributes(), "host.name")->set_string_value("h1");
  trace::ScopeSpans* s2 = r2->add_scope_spans();
  s2->mutable_scope()->set_name("lib.b");
  FillSpan(s2->add_spans(), 130);
  FillSpan(s2->add_spans(), 150);
  trace::ResourceSpans* r3 = req.add_resource_spans();  // r0's attributes, other extras
  *r3->mutable_resource()->mutable_attributes() = r0->resource().attributes();
  r3->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  FillSpan(r3->add_scope_spans()->add_spans(), 170);
  trace::ResourceSpans* r4 = req.add_resource_spans();  // present but empty
  r4->mutable_resource();
  FillSpan(r4->add_scope_spans()->add_spans(), 190);
  return req;
}

logs::LogRecord* AddRecord(logs::ScopeLogs* scope, uint8_t seed) {
  logs::LogRecord* r = scope->add_log_records();
  r->set_time_unix_nano(1'700'000'000'000'000'000ULL + seed);
  r->set_observed_time_unix_nano(1'700'000'000'500'000'000ULL + seed);
  r->set_severity_number(logs::SEVERITY_NUMBER_ERROR);
  r->set_severity_text("ERROR");
  AddEveryKind(r->mutable_attributes(), "log.");
  r->set_dropped_attributes_count(3);
  r->set_flags(1);
  r->set_trace_id(Id(16, seed));
  r->set_span_id(Id(8, seed + 1));
  r->set_event_name("app.event");
  return r;
}

LogsRequest FullLogs() {
  LogsRequest req;
  logs::ResourceLogs* r0 = req.add_resource_logs();
  Add(r0->mutable_resource()->mutable_attributes(), "service.name")->set_string_value("api");
  AddEveryKind(r0->mutable_resource()->mutable_attributes(), "res.");
  r0->mutable_resource()->set_dropped_attributes_count(2);
  r0->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  logs::ScopeLogs* a = r0->add_scope_logs();
  a->mutable_scope()->set_name("lib.log");
  a->mutable_scope()->set_version("2.0");
  AddEveryKind(a->mutable_scope()->mutable_attributes(), "scope.");
  a->mutable_scope()->set_dropped_attributes_count(8);
  a->set_schema_url("https://opentelemetry.io/schemas/1.20.0");
  AddRecord(a, 1)->mutable_body()->set_string_value("GET /cart 200");
  AddRecord(a, 2)->mutable_body()->set_int_value(42);
  AddEveryKind(AddRecord(a, 3)->mutable_body()->mutable_kvlist_value()->mutable_values(), "b.");
  AddRecord(a, 4);  // no body
  AddRecord(a, 5)->mutable_body()->set_string_value("");
  AddRecord(a, 6)->mutable_body();  // a body with no kind
  AddRecord(a, 7)->mutable_body()->set_bytes_value(std::string("\xff\0", 2));
  AddRecord(a, 8)->mutable_body()->set_double_value(0.5);
  AddRecord(a, 9)->mutable_body()->mutable_array_value()->add_values()->set_string_value("x");
  logs::ScopeLogs* same_name = r0->add_scope_logs();  // same name, other version
  same_name->mutable_scope()->set_name("lib.log");
  same_name->mutable_scope()->set_version("2.1");
  AddRecord(same_name, 10)->mutable_body()->set_string_value("other version");
  logs::ResourceLogs* r1 = req.add_resource_logs();  // no resource, no scope, bare record
  logs::LogRecord* bare = r1->add_scope_logs()->add_log_records();
  bare->set_severity_number(static_cast<logs::SeverityNumber>(99));
  bare->set_time_unix_nano(std::numeric_limits<uint64_t>::max());
  return req;
}

ColumnBatch SpanRows(const TracesRequest& req) {
  ColumnBatch b = SpansSchema().NewBatch();
  absl::StatusOr<size_t> n = AppendSpanRows(req, &b);
  EXPECT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(SpansSchema().CheckBatch(b).ok());
  return b;
}

ColumnBatch LogRows(const LogsRequest& req) {
  ColumnBatch b = LogsSchema().NewBatch();
  absl::StatusOr<size_t> n = AppendLogRows(req, &b);
  EXPECT_TRUE(n.ok()) << n.status();
  EXPECT_TRUE(LogsSchema().CheckBatch(b).ok());
  return b;
}

const StringColumn& Strings(const ColumnBatch& b, std::string_view name) {
  return std::get<StringColumn>(b.columns[b.IndexOf(name)]);
}
const std::vector<int64_t>& Ints(const ColumnBatch& b, std::string_view name) {
  return std::get<std::vector<int64_t>>(b.columns[b.IndexOf(name)]);
}

// `b` with row `row` of string column `name` replaced by `value`.
void SetString(ColumnBatch& b, std::string_view name, size_t row, std::string_view value) {
  const StringColumn& old = Strings(b, name);
  StringColumn fresh;
  for (size_t i = 0; i < old.size(); ++i) fresh.push_back(i == row ? value : old.at(i));
  b.columns[b.IndexOf(name)] = std::move(fresh);
}

ColumnBatch Reordered(const ColumnBatch& b, const std::vector<uint32_t>& rows) {
  ColumnBatch out;
  out.names = b.names;
  for (const auto& c : b.columns) {
    out.columns.push_back(storage::MakeColumn(storage::TypeOf(c)));
    storage::AppendRows(c, rows, out.columns.back());
  }
  return out;
}

TEST(SpanRows, RoundTripKeepsEveryField) {
  const TracesRequest req = FullTraces();
  ColumnBatch b = SpansSchema().NewBatch();
  absl::StatusOr<size_t> n = AppendSpanRows(req, &b);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 12u);
  EXPECT_EQ(b.rows(), 12u);
  absl::StatusOr<TracesRequest> back = SpanRowsToOtlp(b);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Diff(req, *back), "");
}

TEST(SpanRows, ColumnsHoldQueryableValues) {
  const TracesRequest req = FullTraces();
  const ColumnBatch b = SpanRows(req);
  // Row order is request order: r0 (lib.a x4, no scope, empty scope, lib.a 1.3), r1, r2 x2, ...
  EXPECT_EQ(Strings(b, "service").at(0), "checkout");
  EXPECT_EQ(Strings(b, "service").at(7), "");  // no resource
  EXPECT_EQ(Strings(b, "service").at(8), "");  // service.name is an int
  EXPECT_EQ(Strings(b, "name").at(0), "GET /cart");
  EXPECT_EQ(Ints(b, "start_time")[0], 1'700'000'000'123'456'789LL);
  EXPECT_EQ(Ints(b, "duration")[0], 2'500'000);
  EXPECT_EQ(Ints(b, "duration")[1], 0);  // ends before it starts: clamped
  EXPECT_EQ(Ints(b, "duration")[2], 1);
  EXPECT_EQ(Ints(b, "duration")[4], 0);  // longer than int64 ns: clamped
  EXPECT_EQ(Strings(b, "trace_id").at(0), Id(16, 10));
  EXPECT_EQ(Strings(b, "span_id").at(0), Id(8, 11));
  EXPECT_EQ(Strings(b, "parent_span_id").at(0), Id(8, 12));
  EXPECT_EQ(Strings(b, "trace_state").at(0), "vendor=a,ot=th:8");
  EXPECT_EQ(Ints(b, "kind")[0], 2);
  EXPECT_EQ(Ints(b, "kind")[2], 9);
  EXPECT_EQ(Ints(b, "status_code")[0], 2);
  EXPECT_EQ(Strings(b, "status_message").at(0), "boom");
  EXPECT_EQ(Ints(b, "flags")[0], 0x101);
  EXPECT_EQ(Strings(b, "scope_name").at(0), "lib.a");
  EXPECT_EQ(Strings(b, "scope_version").at(0), "1.2");
  EXPECT_EQ(Ints(b, "dropped_attributes")[0], 4);
  EXPECT_EQ(Ints(b, "dropped_events")[0], 5);
  EXPECT_EQ(Ints(b, "dropped_links")[0], 7);
  EXPECT_EQ(std::get<std::vector<double>>(b.columns[b.IndexOf("sampling_probability")])[0], 1.0);
  // The usual span (status present, exact duration) costs nothing in span_extra.
  EXPECT_EQ(Strings(b, "span_extra").at(0), "");
  EXPECT_NE(Strings(b, "span_extra").at(1), "");
  EXPECT_EQ(Strings(b, "events").at(1), "");

  // Attribute maps are storage/attributes.h maps that scans can search.
  auto found = storage::FindAttribute(Strings(b, "attributes").at(0), "span.int");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ(storage::AttributeText(**found), "-42");
  found = storage::FindAttribute(Strings(b, "resource_attributes").at(0), "service.name");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->type, storage::AttributeType::kString);
  EXPECT_EQ((*found)->bytes, "checkout");
  found = storage::FindAttribute(Strings(b, "attributes").at(0), "span.array");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->type, storage::AttributeType::kArray);
  common::AnyValue array;
  ASSERT_TRUE(array.ParseFromArray((*found)->bytes.data(), (*found)->bytes.size()));
  EXPECT_EQ(array.array_value().values_size(), 5);
}

TEST(SpanRows, DoublesKeepTheirBits) {
  TracesRequest req;
  trace::Span* s = req.add_resource_spans()->add_scope_spans()->add_spans();
  const double nan = std::bit_cast<double>(0x7ff8'0000'dead'beefULL);
  Add(s->mutable_attributes(), "nan")->set_double_value(nan);
  Add(s->mutable_attributes(), "negative_zero")->set_double_value(-0.0);
  absl::StatusOr<TracesRequest> back = SpanRowsToOtlp(SpanRows(req));
  ASSERT_TRUE(back.ok()) << back.status();
  const auto& attrs = back->resource_spans(0).scope_spans(0).spans(0).attributes();
  ASSERT_EQ(attrs.size(), 2);
  EXPECT_EQ(std::bit_cast<uint64_t>(attrs[0].value().double_value()), 0x7ff8'0000'dead'beefULL);
  EXPECT_TRUE(std::signbit(attrs[1].value().double_value()));
}

// Rows come back from a scan sorted by (service, name, start_time), not in request order.
TEST(SpanRows, AnyRowOrderRegroupsByResourceAndScope) {
  TracesRequest req;
  for (int r = 0; r < 2; ++r) {
    trace::ResourceSpans* rs = req.add_resource_spans();
    Add(rs->mutable_resource()->mutable_attributes(), "service.name")
        ->set_string_value("svc" + std::to_string(r));
    for (int s = 0; s < 2; ++s) {
      trace::ScopeSpans* ss = rs->add_scope_spans();
      ss->mutable_scope()->set_name("scope" + std::to_string(s));
      for (int i = 0; i < 3; ++i)
        FillSpan(ss->add_spans(), static_cast<uint8_t>(r * 60 + s * 20 + i));
    }
  }
  const ColumnBatch b = SpanRows(req);
  std::vector<uint32_t> reversed(b.rows());
  std::iota(reversed.rbegin(), reversed.rend(), 0u);
  absl::StatusOr<TracesRequest> back = SpanRowsToOtlp(Reordered(b, reversed));
  ASSERT_TRUE(back.ok()) << back.status();

  // Expected: every list reversed (first appearance order of resources and scopes, row order
  // of spans).
  TracesRequest want = req;
  auto reverse = [](auto* list) {
    for (int i = 0, j = list->size() - 1; i < j; ++i, --j) list->SwapElements(i, j);
  };
  reverse(want.mutable_resource_spans());
  for (auto& rs : *want.mutable_resource_spans()) {
    reverse(rs.mutable_scope_spans());
    for (auto& ss : *rs.mutable_scope_spans()) reverse(ss.mutable_spans());
  }
  EXPECT_EQ(Diff(want, *back), "");
}

TEST(SpanRows, ColumnsAreFoundByName) {
  const TracesRequest req = FullTraces();
  const ColumnBatch b = SpanRows(req);
  ColumnBatch projected;
  for (size_t i = b.num_columns(); i-- > 0;) {
    projected.names.push_back(b.names[i]);
    projected.columns.push_back(b.columns[i]);
  }
  projected.names.push_back("unrelated");
  projected.columns.push_back(std::vector<int64_t>(b.rows(), 0));
  absl::StatusOr<TracesRequest> back = SpanRowsToOtlp(projected);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Diff(req, *back), "");
}

// Rows do not record request boundaries: the same resource and scope sent twice come back as
// one, their spans in row order.
TEST(SpanRows, IdenticalResourcesAndScopesMerge) {
  const TracesRequest req = FullTraces();
  ColumnBatch b = SpanRows(req);
  absl::StatusOr<size_t> n = AppendSpanRows(req, &b);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(b.rows(), 2 * *n);
  absl::StatusOr<TracesRequest> back = SpanRowsToOtlp(b);
  ASSERT_TRUE(back.ok()) << back.status();
  TracesRequest want = req;
  for (auto& rs : *want.mutable_resource_spans()) {
    for (auto& ss : *rs.mutable_scope_spans()) {
      const int count = ss.spans_size();
      for (int i = 0; i < count; ++i) *ss.add_spans() = ss.spans(i);
    }
  }
  EXPECT_EQ(Diff(want, *back), "");
}

TEST(SpanRows, EmptyInputs) {
  ColumnBatch b = SpansSchema().NewBatch();
  TracesRequest req;
  req.add_resource_spans()->add_scope_spans();  // a scope without spans leaves no row
  absl::StatusOr<size_t> n = AppendSpanRows(req, &b);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
  absl::StatusOr<TracesRequest> back = SpanRowsToOtlp(b);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->resource_spans_size(), 0);
}

TEST(SpanRows, WrongBatchShapeIsInvalidArgument) {
  const TracesRequest req = FullTraces();
  ColumnBatch logs = LogsSchema().NewBatch();
  EXPECT_EQ(AppendSpanRows(req, &logs).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(logs.rows(), 0u);

  ColumnBatch missing = SpansSchema().NewBatch();
  missing.names.pop_back();
  missing.columns.pop_back();
  EXPECT_EQ(AppendSpanRows(req, &missing).status().code(), absl::StatusCode::kInvalidArgument);

  ColumnBatch mistyped = SpansSchema().NewBatch();
  mistyped.columns[mistyped.IndexOf("kind")] = std::vector<double>();
  EXPECT_EQ(AppendSpanRows(req, &mistyped).status().code(), absl::StatusCode::kInvalidArgument);

  // Reading needs every column, by name, with its type.
  ColumnBatch rows = SpanRows(req);
  ColumnBatch no_events = rows;
  const int events = no_events.IndexOf("events");
  no_events.names.erase(no_events.names.begin() + events);
  no_events.columns.erase(no_events.columns.begin() + events);
  absl::Status s = SpanRowsToOtlp(no_events).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("events"), absl::string_view::npos) << s;
  EXPECT_EQ(SpanRowsToOtlp(LogRows(FullLogs())).status().code(),
            absl::StatusCode::kInvalidArgument);

  ColumnBatch ragged = rows;
  std::get<std::vector<int64_t>>(ragged.columns[ragged.IndexOf("kind")]).pop_back();
  EXPECT_EQ(SpanRowsToOtlp(ragged).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SpanRows, CorruptStoredValuesAreDataLoss) {
  const ColumnBatch rows = SpanRows(FullTraces());
  struct Case {
    const char* column;
    std::string value;
  };
  const std::vector<Case> cases = {
      {"events", std::string("\x05\x0a", 2)},         // length beyond the value
      {"events", std::string("\x02\xff\xff", 3)},     // bytes that are no Event
      {"events", std::string("\x80", 1)},             // truncated length varint
      {"links", std::string("\x03\x0a\x10\x01", 4)},  // field 1 longer than the message
      {"attributes", std::string("\x02\x01k", 3)},    // truncated map
      {"attributes", std::string("\x01\x01k\x06\x02\xff\xff", 7)},  // array bytes no AnyValue
      {"resource_attributes", std::string("\x01", 1)},              // count without pairs
      {"resource_extra", std::string("\xff\xff", 2)},
      {"resource_extra", std::string("\x12\x00", 2)},        // holds a scope list
      {"scope_extra", std::string("\x0a\x03\x0a\x01x", 5)},  // holds the scope name
      {"span_extra", std::string("\x04", 1)},                // unknown bit
      {"span_extra", std::string("\x02\x01", 2)},            // end time cut short
  };
  for (const Case& c : cases) {
    ColumnBatch bad = rows;
    SetString(bad, c.column, 0, c.value);
    absl::Status s = SpanRowsToOtlp(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << c.column << ": " << s;
    EXPECT_NE(s.message().find(c.column), absl::string_view::npos) << s;
  }
  for (const char* column : {"kind", "status_code", "flags", "dropped_events"}) {
    ColumnBatch bad = rows;
    std::get<std::vector<int64_t>>(bad.columns[bad.IndexOf(column)])[3] = int64_t{1} << 40;
    absl::Status s = SpanRowsToOtlp(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << column << ": " << s;
    EXPECT_NE(s.message().find("row 3"), absl::string_view::npos) << s;
  }
}

TEST(LogRows, RoundTripKeepsEveryField) {
  const LogsRequest req = FullLogs();
  ColumnBatch b = LogsSchema().NewBatch();
  absl::StatusOr<size_t> n = AppendLogRows(req, &b);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 11u);
  absl::StatusOr<LogsRequest> back = LogRowsToOtlp(b);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Diff(req, *back), "");
}

TEST(LogRows, ColumnsHoldQueryableValues) {
  const ColumnBatch b = LogRows(FullLogs());
  EXPECT_EQ(Strings(b, "service").at(0), "api");
  EXPECT_EQ(Strings(b, "service").at(10), "");
  EXPECT_EQ(Ints(b, "severity_number")[0], 17);
  EXPECT_EQ(Strings(b, "severity_text").at(0), "ERROR");
  EXPECT_EQ(Ints(b, "time")[0], 1'700'000'000'000'000'001LL);
  EXPECT_EQ(Ints(b, "observed_time")[0], 1'700'000'000'500'000'001LL);
  EXPECT_EQ(Ints(b, "time")[10], -1);  // 2^64 - 1 ns, bit for bit
  EXPECT_EQ(Strings(b, "trace_id").at(0), Id(16, 1));
  EXPECT_EQ(Ints(b, "flags")[0], 1);
  EXPECT_EQ(Strings(b, "event_name").at(0), "app.event");
  EXPECT_EQ(Strings(b, "scope_name").at(0), "lib.log");
  EXPECT_EQ(Ints(b, "dropped_attributes")[0], 3);

  // String bodies are their text; the rest is tagged.
  const StringColumn& body = Strings(b, "body");
  EXPECT_EQ(body.at(0), "GET /cart 200");
  EXPECT_EQ(body.at(1), std::string("\xff\x18\x2a", 3));  // int 42
  EXPECT_EQ(body.at(3), "");                              // no body
  EXPECT_EQ(body.at(4), std::string("\xff\x0a\x00", 3));  // "" is not "no body"
  EXPECT_EQ(body.at(5), "\xff");                          // a body of no kind
  for (size_t i = 0; i < body.size(); ++i) {
    common::AnyValue v;
    absl::StatusOr<bool> present = DecodeLogBody(body.at(i), &v);
    ASSERT_TRUE(present.ok()) << i << ": " << present.status();
    EXPECT_EQ(*present, i != 3 && i != 10) << i;
  }
  common::AnyValue v;
  ASSERT_TRUE(DecodeLogBody(body.at(2), &v).ok());
  EXPECT_EQ(v.kvlist_value().values(0).key(), "b.string");
}

TEST(LogRows, AnyRowOrderRegroups) {
  const LogsRequest req = FullLogs();
  const ColumnBatch b = LogRows(req);
  std::vector<uint32_t> order(b.rows());
  std::iota(order.begin(), order.end(), 0u);
  std::rotate(order.begin(), order.begin() + 9, order.end());  // rows 9, 10, 0, 1, ... 8
  absl::StatusOr<LogsRequest> back = LogRowsToOtlp(Reordered(b, order));
  ASSERT_TRUE(back.ok()) << back.status();
  // Row 9 (the first now) is the second scope of the first resource: that scope comes first.
  LogsRequest want = req;
  want.mutable_resource_logs(0)->mutable_scope_logs()->SwapElements(0, 1);
  EXPECT_EQ(Diff(want, *back), "");
}

TEST(LogRows, WrongBatchShapeIsInvalidArgument) {
  ColumnBatch spans = SpansSchema().NewBatch();
  EXPECT_EQ(AppendLogRows(FullLogs(), &spans).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spans.rows(), 0u);
  ColumnBatch extra = LogsSchema().NewBatch();
  extra.names.push_back("more");
  extra.columns.push_back(std::vector<int64_t>());
  EXPECT_EQ(AppendLogRows(FullLogs(), &extra).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LogRowsToOtlp(SpanRows(FullTraces())).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LogRows, CorruptStoredValuesAreDataLoss) {
  const ColumnBatch rows = LogRows(FullLogs());
  for (const auto& [column, value] : std::vector<std::pair<const char*, std::string>>{
           {"body", std::string("\xff\x0a\x05x", 4)},        // string longer than the value
           {"attributes", std::string("\x01\x01k\x09", 4)},  // unknown value type
           {"scope_extra", std::string("\x0a", 1)},
           {"resource_extra", std::string("\x0a\x04\x0a\x02\x0a\x00", 6)},  // has attributes
       }) {
    ColumnBatch bad = rows;
    SetString(bad, column, 2, value);
    absl::Status s = LogRowsToOtlp(bad).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << column << ": " << s;
    EXPECT_NE(s.message().find(column), absl::string_view::npos) << s;
  }
  common::AnyValue v;
  EXPECT_EQ(DecodeLogBody(std::string("\xff\x22", 2), &v).status().code(),
            absl::StatusCode::kDataLoss);
}

// The official OTLP/JSON examples, decoded by our codec, go through rows and back unchanged.
class Examples : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_directory(kDir)) {
      GTEST_SKIP() << "OTLP example files not found at " << kDir
                   << " (the shared conformance folder is absent)";
    }
  }
  otlp::DecodedRequest Load(const std::string& file, SignalType type) {
    std::ifstream in(kDir + file, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_FALSE(ss.str().empty()) << file;
    absl::StatusOr<otlp::DecodedRequest> d =
        otlp::Decode(type, otlp::Encoding::kJson, ss.str(), otlp::Limits{});
    EXPECT_TRUE(d.ok()) << file << ": " << d.status();
    return d.ok() ? std::move(*d) : otlp::DecodedRequest{};
  }
  const std::string kDir = std::string(OBX_CONFORMANCE_DIR) + "/otlp/";
};

TEST_F(Examples, TracesRoundTrip) {
  otlp::DecodedRequest d = Load("trace.json", SignalType::kTraces);
  ASSERT_NE(d.message, nullptr);
  const auto& req = static_cast<const TracesRequest&>(*d.message);
  ColumnBatch b = SpanRows(req);
  EXPECT_EQ(b.rows(), 1u);
  EXPECT_EQ(Strings(b, "service").at(0), "my.service");
  absl::StatusOr<TracesRequest> back = SpanRowsToOtlp(b);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Diff(req, *back), "");
}

TEST_F(Examples, LogsAndEventsRoundTrip) {
  for (const char* file : {"logs.json", "events.json"}) {
    otlp::DecodedRequest d = Load(file, SignalType::kLogs);
    ASSERT_NE(d.message, nullptr) << file;
    const auto& req = static_cast<const LogsRequest&>(*d.message);
    ColumnBatch b = LogRows(req);
    EXPECT_EQ(b.rows(), 1u) << file;
    absl::StatusOr<LogsRequest> back = LogRowsToOtlp(b);
    ASSERT_TRUE(back.ok()) << file << ": " << back.status();
    EXPECT_EQ(Diff(req, *back), "") << file;
  }
}

}  // namespace
}  // namespace observex::writer
