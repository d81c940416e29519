// The official OTLP/JSON examples (read from the shared conformance folder, never copied into
// the repository) decode with nothing lost: specific fields are checked against what the
// files say, and the dump renderer's output covers every key and value of the input.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "otlp/otlp.h"
#include "rapidjson/document.h"
#include "test_messages.h"

namespace observex::otlp {
namespace {

using namespace observex::otlp::testing;

const std::string kDir = std::string(OBX_CONFORMANCE_DIR) + "/otlp/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Conformance : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::is_directory(kDir)) {
      GTEST_SKIP() << "OTLP conformance examples not found at " << kDir
                   << " (the shared conformance folder is absent)";
    }
  }

  DecodedRequest Load(const std::string& file, SignalType type) {
    input_ = ReadFile(kDir + file);
    EXPECT_FALSE(input_.empty()) << file;
    absl::StatusOr<DecodedRequest> d = Decode(type, Encoding::kJson, input_, Limits{});
    EXPECT_TRUE(d.ok()) << file << ": " << d.status();
    if (!d.ok()) return DecodedRequest{};
    // Re-serialised, the message decodes from protobuf to the same thing.
    absl::StatusOr<DecodedRequest> again =
        Decode(type, Encoding::kProtobuf, d->message->SerializeAsString(), Limits{});
    EXPECT_TRUE(again.ok()) << again.status();
    if (again.ok()) {
      EXPECT_EQ(Diff(*d->message, *again->message), "");
    }
    return std::move(*d);
  }

  std::vector<rapidjson::Document> Dump(const DecodedRequest& d) {
    std::vector<rapidjson::Document> out;
    absl::Status st =
        ForEachSignalJson(d.type, d.message->SerializeAsString(), [&](std::string_view json) {
          out.emplace_back();
          out.back().Parse(json.data(), json.size());
          EXPECT_FALSE(out.back().HasParseError()) << json;
        });
    EXPECT_TRUE(st.ok()) << st;
    return out;
  }

  std::string input_;
};

bool IsIdKey(std::string_view key) {
  return key == "traceId" || key == "spanId" || key == "parentSpanId";
}

// A value proto3 treats as absent (so the renderer may omit it).
bool IsDefault(const rapidjson::Value& v) {
  if (v.IsNull()) return true;
  if (v.IsBool()) return !v.GetBool();
  if (v.IsNumber()) return v.GetDouble() == 0;
  if (v.IsString()) {
    std::string_view s(v.GetString(), v.GetStringLength());
    return s.empty() || s == "0";
  }
  if (v.IsArray()) return v.Empty();
  return false;
}

// Every key and value of `in` appears in `out` (ids compared case-insensitively, numbers by
// value, int64 numbers may come back as strings); default values may be omitted.
void ExpectCovers(const rapidjson::Value& in, const rapidjson::Value& out, const std::string& path,
                  std::string_view key = "") {
  if (in.IsObject()) {
    ASSERT_TRUE(out.IsObject()) << path;
    for (auto it = in.MemberBegin(); it != in.MemberEnd(); ++it) {
      const std::string name(it->name.GetString(), it->name.GetStringLength());
      auto found = out.FindMember(it->name);
      if (found == out.MemberEnd()) {
        EXPECT_TRUE(IsDefault(it->value)) << path << "." << name << " is missing in the dump";
        continue;
      }
      ExpectCovers(it->value, found->value, path + "." + name, name);
    }
  } else if (in.IsArray()) {
    ASSERT_TRUE(out.IsArray()) << path;
    ASSERT_EQ(in.Size(), out.Size()) << path;
    for (rapidjson::SizeType i = 0; i < in.Size(); ++i) {
      ExpectCovers(in[i], out[i], absl::StrCat(path, "[", i, "]"), key);
    }
  } else if (in.IsString()) {
    ASSERT_TRUE(out.IsString()) << path;
    std::string a(in.GetString(), in.GetStringLength());
    std::string b(out.GetString(), out.GetStringLength());
    if (IsIdKey(key)) {
      a = absl::AsciiStrToLower(a);
      b = absl::AsciiStrToLower(b);
    }
    EXPECT_EQ(a, b) << path;
  } else if (in.IsNumber()) {
    if (out.IsString()) {
      ASSERT_TRUE(in.IsInt64() || in.IsUint64()) << path;
      EXPECT_EQ(in.IsInt64() ? absl::StrCat(in.GetInt64()) : absl::StrCat(in.GetUint64()),
                std::string(out.GetString(), out.GetStringLength()))
          << path;
    } else {
      ASSERT_TRUE(out.IsNumber()) << path;
      EXPECT_EQ(in.GetDouble(), out.GetDouble()) << path;
    }
  } else if (in.IsBool()) {
    ASSERT_TRUE(out.IsBool()) << path;
    EXPECT_EQ(in.GetBool(), out.GetBool()) << path;
  }
}

// Traces and logs: the n-th signal of the dump is the n-th item of the input, in order.
void ExpectDumpCoversItems(const rapidjson::Document& input, const char* resource_key,
                           const char* scope_key, const char* items_key, const char* signal_key,
                           const std::vector<rapidjson::Document>& dump) {
  size_t n = 0;
  for (const auto& r : input[resource_key].GetArray()) {
    for (const auto& s : r[scope_key].GetArray()) {
      for (const auto& item : s[items_key].GetArray()) {
        ASSERT_LT(n, dump.size());
        const rapidjson::Document& d = dump[n++];
        ExpectCovers(r["resource"], d["resource"], "resource");
        ExpectCovers(s["scope"], d["scope"], "scope");
        ExpectCovers(item, d[signal_key], signal_key);
      }
    }
  }
  EXPECT_EQ(n, dump.size());
}

TEST_F(Conformance, TraceExample) {
  DecodedRequest d = Load("trace.json", SignalType::kTraces);
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.signal_count, 1u);
  const auto& r = static_cast<const TraceRequest&>(*d.message);
  const auto& scope = r.resource_spans(0).scope_spans(0).scope();
  EXPECT_EQ(scope.name(), "my.library");
  ASSERT_EQ(scope.attributes_size(), 1);
  EXPECT_EQ(scope.attributes(0).key(), "my.scope.attribute");
  EXPECT_EQ(scope.attributes(0).value().string_value(), "some scope attribute");
  const trace::Span& span = r.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(span.trace_id(), Hex("5b8efff798038103d269b633813fc60c"));
  EXPECT_EQ(span.span_id(), Hex("eee19b7ec3c1b174"));
  EXPECT_EQ(span.parent_span_id(), Hex("eee19b7ec3c1b173"));
  EXPECT_EQ(span.kind(), trace::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(span.start_time_unix_nano(), 1544712660000000000ull);
  EXPECT_EQ(span.end_time_unix_nano(), 1544712661000000000ull);
  EXPECT_EQ(span.attributes(0).value().string_value(), "some value");

  rapidjson::Document input;
  input.Parse(input_.c_str());
  ExpectDumpCoversItems(input, "resourceSpans", "scopeSpans", "spans", "span", Dump(d));
}

TEST_F(Conformance, LogsExample) {
  DecodedRequest d = Load("logs.json", SignalType::kLogs);
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.signal_count, 1u);
  const auto& rec =
      static_cast<const LogsRequest&>(*d.message).resource_logs(0).scope_logs(0).log_records(0);
  EXPECT_EQ(rec.severity_number(), logs::SEVERITY_NUMBER_INFO2);
  EXPECT_EQ(rec.body().string_value(), "Example log record");
  ASSERT_EQ(rec.attributes_size(), 6);
  EXPECT_EQ(rec.attributes(1).value().value_case(), common::AnyValue::kBoolValue);
  EXPECT_EQ(rec.attributes(2).value().int_value(), 10);
  EXPECT_EQ(rec.attributes(3).value().double_value(), 637.704);
  EXPECT_EQ(rec.attributes(4).value().array_value().values(1).string_value(), "values");
  EXPECT_EQ(rec.attributes(5).value().kvlist_value().values(0).key(), "some.map.key");

  rapidjson::Document input;
  input.Parse(input_.c_str());
  ExpectDumpCoversItems(input, "resourceLogs", "scopeLogs", "logRecords", "logRecord", Dump(d));
}

TEST_F(Conformance, EventsExample) {
  DecodedRequest d = Load("events.json", SignalType::kLogs);
  ASSERT_NE(d.message, nullptr);
  const auto& rec =
      static_cast<const LogsRequest&>(*d.message).resource_logs(0).scope_logs(0).log_records(0);
  EXPECT_EQ(rec.event_name(), "browser.page_view");
  const auto& body = rec.body().kvlist_value();
  ASSERT_EQ(body.values_size(), 4);
  EXPECT_EQ(body.values(0).key(), "type");
  // "intValue": "0" is a set oneof member, not an absent value.
  EXPECT_EQ(body.values(0).value().value_case(), common::AnyValue::kIntValue);
  EXPECT_EQ(body.values(0).value().int_value(), 0);

  std::vector<rapidjson::Document> dump = Dump(d);
  ASSERT_EQ(dump.size(), 1u);
  EXPECT_STREQ(dump[0]["logRecord"]["eventName"].GetString(), "browser.page_view");
  EXPECT_STREQ(
      dump[0]["logRecord"]["body"]["kvlistValue"]["values"][0]["value"]["intValue"].GetString(),
      "0");
  rapidjson::Document input;
  input.Parse(input_.c_str());
  ExpectDumpCoversItems(input, "resourceLogs", "scopeLogs", "logRecords", "logRecord", dump);
}

TEST_F(Conformance, MetricsExample) {
  DecodedRequest d = Load("metrics.json", SignalType::kMetrics);
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.signal_count, 4u);
  const auto& sm =
      static_cast<const MetricsRequest&>(*d.message).resource_metrics(0).scope_metrics(0);
  ASSERT_EQ(sm.metrics_size(), 4);
  EXPECT_EQ(sm.metrics(0).sum().aggregation_temporality(), metrics::AGGREGATION_TEMPORALITY_DELTA);
  EXPECT_TRUE(sm.metrics(0).sum().is_monotonic());
  EXPECT_EQ(sm.metrics(0).sum().data_points(0).as_double(), 5);
  EXPECT_EQ(sm.metrics(1).gauge().data_points(0).as_double(), 10);
  const auto& h = sm.metrics(2).histogram().data_points(0);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_THAT(h.bucket_counts(), ::testing::ElementsAre(1, 1));
  EXPECT_THAT(h.explicit_bounds(), ::testing::ElementsAre(1.0));
  EXPECT_TRUE(h.has_min());
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 2);
  const auto& e = sm.metrics(3).exponential_histogram().data_points(0);
  EXPECT_EQ(e.zero_count(), 1u);
  EXPECT_EQ(e.zero_threshold(), 0);
  EXPECT_EQ(e.positive().offset(), 1);
  EXPECT_THAT(e.positive().bucket_counts(), ::testing::ElementsAre(0, 2));
  EXPECT_EQ(e.max(), 5);

  rapidjson::Document input;
  input.Parse(input_.c_str());
  std::vector<rapidjson::Document> dump = Dump(d);
  size_t n = 0;
  const auto& rm = input["resourceMetrics"][0];
  for (const auto& metric : rm["scopeMetrics"][0]["metrics"].GetArray()) {
    for (const char* kind : {"gauge", "sum", "histogram", "exponentialHistogram", "summary"}) {
      if (!metric.HasMember(kind)) continue;
      for (const auto& point : metric[kind]["dataPoints"].GetArray()) {
        ASSERT_LT(n, dump.size());
        const rapidjson::Value& out = dump[n++]["metric"];
        const std::string path = absl::StrCat("metric ", metric["name"].GetString());
        EXPECT_STREQ(out["name"].GetString(), metric["name"].GetString());
        EXPECT_STREQ(out["unit"].GetString(), metric["unit"].GetString());
        EXPECT_STREQ(out["description"].GetString(), metric["description"].GetString());
        const std::string type = std::string(kind) == "exponentialHistogram"
                                     ? "exponential_histogram"
                                     : std::string(kind);
        EXPECT_EQ(out["type"].GetString(), type);
        for (const char* k : {"aggregationTemporality", "isMonotonic"}) {
          if (metric[kind].HasMember(k)) ExpectCovers(metric[kind][k], out[k], path + "." + k);
        }
        ExpectCovers(point, out["point"], path + ".point");
        ExpectCovers(rm["resource"], dump[n - 1]["resource"], "resource");
      }
    }
  }
  EXPECT_EQ(n, dump.size());
  EXPECT_EQ(n, 4u);
}

}  // namespace
}  // namespace observex::otlp
