// EncodeResponse in both encodings, and ForEachSignalJson for every signal type.
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "otlp/otlp.h"
#include "rapidjson/document.h"
#include "test_messages.h"

namespace observex::otlp {
namespace {

using ::testing::HasSubstr;
using namespace observex::otlp::testing;

TEST(EncodeResponse, ProtobufWithoutPartialSuccessIsEmpty) {
  for (SignalType t : {SignalType::kTraces, SignalType::kMetrics, SignalType::kLogs}) {
    EXPECT_EQ(EncodeResponse(t, Encoding::kProtobuf, 0, ""), "");
  }
}

TEST(EncodeResponse, ProtobufPartialSuccessPerSignal) {
  {
    opentelemetry::proto::collector::trace::v1::ExportTraceServiceResponse r;
    ASSERT_TRUE(r.ParseFromString(
        EncodeResponse(SignalType::kTraces, Encoding::kProtobuf, 2, "2 spans had no name")));
    ASSERT_TRUE(r.has_partial_success());
    EXPECT_EQ(r.partial_success().rejected_spans(), 2);
    EXPECT_EQ(r.partial_success().error_message(), "2 spans had no name");
  }
  {
    opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceResponse r;
    ASSERT_TRUE(
        r.ParseFromString(EncodeResponse(SignalType::kMetrics, Encoding::kProtobuf, 5, "x")));
    EXPECT_EQ(r.partial_success().rejected_data_points(), 5);
  }
  {
    opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse r;
    ASSERT_TRUE(
        r.ParseFromString(EncodeResponse(SignalType::kLogs, Encoding::kProtobuf, 0, "warning")));
    ASSERT_TRUE(r.has_partial_success());
    EXPECT_EQ(r.partial_success().rejected_log_records(), 0);
    EXPECT_EQ(r.partial_success().error_message(), "warning");
  }
}

TEST(EncodeResponse, Json) {
  EXPECT_EQ(EncodeResponse(SignalType::kTraces, Encoding::kJson, 0, ""), "{}");
  EXPECT_EQ(EncodeResponse(SignalType::kTraces, Encoding::kJson, 2, "bad \"ids\""),
            R"({"partialSuccess":{"rejectedSpans":"2","errorMessage":"bad \"ids\""}})");
  EXPECT_EQ(EncodeResponse(SignalType::kMetrics, Encoding::kJson, 7, "m"),
            R"({"partialSuccess":{"rejectedDataPoints":"7","errorMessage":"m"}})");
  EXPECT_EQ(EncodeResponse(SignalType::kLogs, Encoding::kJson, 1, ""),
            R"({"partialSuccess":{"rejectedLogRecords":"1"}})");
  EXPECT_EQ(EncodeResponse(SignalType::kLogs, Encoding::kJson, 0, "just a warning"),
            R"({"partialSuccess":{"errorMessage":"just a warning"}})");
  // Invalid UTF-8 in a message must not make the response unparseable.
  rapidjson::Document doc;
  const std::string bad = EncodeResponse(SignalType::kLogs, Encoding::kJson, 1, "\xff\xfe");
  doc.Parse(bad.c_str());
  EXPECT_FALSE(doc.HasParseError()) << bad;
}

std::vector<rapidjson::Document> Dump(SignalType type, const google::protobuf::Message& m) {
  std::vector<rapidjson::Document> out;
  absl::Status st = ForEachSignalJson(type, m.SerializeAsString(), [&](std::string_view json) {
    EXPECT_EQ(json.find('\n'), std::string_view::npos) << "compact, one line";
    out.emplace_back();
    out.back().Parse(json.data(), json.size());
    EXPECT_FALSE(out.back().HasParseError()) << json;
  });
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

TEST(ForEachSignalJson, SpansCarryResourceScopeAndOtlpJsonFields) {
  std::vector<rapidjson::Document> dump = Dump(SignalType::kTraces, SampleTraces());
  ASSERT_EQ(dump.size(), 2u);
  const rapidjson::Document& d = dump[0];
  EXPECT_STREQ(d["resource"]["attributes"][0]["key"].GetString(), "service.name");
  EXPECT_STREQ(d["resource"]["attributes"][0]["value"]["stringValue"].GetString(), "checkout");
  EXPECT_STREQ(d["scope"]["name"].GetString(), "lib");
  EXPECT_STREQ(d["scope"]["version"].GetString(), "1.2");
  EXPECT_STREQ(d["scope"]["attributes"][0]["value"]["stringValue"].GetString(), "yes");
  const rapidjson::Value& s = d["span"];
  EXPECT_STREQ(s["traceId"].GetString(), "5b8efff798038103d269b633813fc60c");
  EXPECT_STREQ(s["spanId"].GetString(), "eee19b7ec3c1b174");
  EXPECT_STREQ(s["parentSpanId"].GetString(), "eee19b7ec3c1b173");
  EXPECT_STREQ(s["name"].GetString(), "GET /cart");
  EXPECT_EQ(s["kind"].GetInt(), 2);
  EXPECT_STREQ(s["startTimeUnixNano"].GetString(), "1544712660000000000");
  EXPECT_EQ(s["flags"].GetUint(), 0x101u);
  const rapidjson::Value& attrs = s["attributes"];
  ASSERT_EQ(attrs.Size(), 7u);
  EXPECT_STREQ(attrs[0]["value"]["stringValue"].GetString(), "text");
  EXPECT_TRUE(attrs[1]["value"]["boolValue"].GetBool());
  EXPECT_STREQ(attrs[2]["value"]["intValue"].GetString(), "-9007199254740993");
  EXPECT_EQ(attrs[3]["value"]["doubleValue"].GetDouble(), 2.5);
  EXPECT_STREQ(attrs[4]["value"]["bytesValue"].GetString(), "AP8Q");
  EXPECT_STREQ(attrs[5]["value"]["arrayValue"]["values"][1]["intValue"].GetString(), "7");
  EXPECT_FALSE(
      attrs[6]["value"]["kvlistValue"]["values"][1]["value"]["arrayValue"]["values"][0]["boolValue"]
          .GetBool());
  EXPECT_STREQ(s["events"][0]["name"].GetString(), "exception");
  EXPECT_STREQ(s["links"][0]["traceId"].GetString(), "0102030405060708090a0b0c0d0e0f10");
  EXPECT_EQ(s["status"]["code"].GetInt(), 2);
  EXPECT_STREQ(s["status"]["message"].GetString(), "failed");
  // The second span has no parent and no attributes: default fields are omitted.
  EXPECT_FALSE(dump[1]["span"].HasMember("parentSpanId"));
  EXPECT_FALSE(dump[1]["span"].HasMember("attributes"));
  EXPECT_STREQ(dump[1]["span"]["name"].GetString(), "db");
}

TEST(ForEachSignalJson, OneObjectPerMetricPointWithItsKind) {
  std::vector<rapidjson::Document> dump = Dump(SignalType::kMetrics, SampleMetrics());
  ASSERT_EQ(dump.size(), 6u);
  std::vector<std::string> types;
  for (const auto& d : dump) types.push_back(d["metric"]["type"].GetString());
  EXPECT_THAT(types, ::testing::ElementsAre("gauge", "gauge", "sum", "histogram",
                                            "exponential_histogram", "summary"));
  EXPECT_STREQ(dump[0]["metric"]["name"].GetString(), "temperature");
  EXPECT_STREQ(dump[0]["metric"]["unit"].GetString(), "Cel");
  EXPECT_EQ(dump[0]["metric"]["point"]["asDouble"].GetDouble(), 21.5);
  EXPECT_FALSE(dump[0]["metric"].HasMember("aggregationTemporality"));
  EXPECT_STREQ(dump[1]["metric"]["point"]["asInt"].GetString(), "-3");
  EXPECT_STREQ(dump[1]["metric"]["point"]["exemplars"][0]["spanId"].GetString(),
               "0102030405060708");
  EXPECT_EQ(dump[2]["metric"]["aggregationTemporality"].GetInt(), 2);
  EXPECT_TRUE(dump[2]["metric"]["isMonotonic"].GetBool());
  EXPECT_STREQ(dump[2]["metric"]["description"].GetString(), "count of requests");
  EXPECT_STREQ(dump[3]["metric"]["point"]["bucketCounts"][1].GetString(), "2");
  EXPECT_EQ(dump[3]["metric"]["point"]["explicitBounds"][0].GetDouble(), 0.25);
  EXPECT_EQ(dump[3]["metric"]["point"]["min"].GetDouble(), 0.1);
  EXPECT_EQ(dump[4]["metric"]["point"]["scale"].GetInt(), -2);
  EXPECT_EQ(dump[4]["metric"]["point"]["zeroThreshold"].GetDouble(), 1e-9);
  EXPECT_EQ(dump[4]["metric"]["point"]["positive"]["offset"].GetInt(), -1);
  EXPECT_EQ(dump[5]["metric"]["point"]["quantileValues"][0]["quantile"].GetDouble(), 0.99);
}

TEST(ForEachSignalJson, LogRecords) {
  std::vector<rapidjson::Document> dump = Dump(SignalType::kLogs, SampleLogs());
  ASSERT_EQ(dump.size(), 2u);
  const rapidjson::Value& r = dump[0]["logRecord"];
  EXPECT_STREQ(r["body"]["stringValue"].GetString(), "hello");
  EXPECT_EQ(r["severityNumber"].GetInt(), 10);
  EXPECT_STREQ(r["traceId"].GetString(), "5b8efff798038103d269b633813fc60c");
  EXPECT_STREQ(r["observedTimeUnixNano"].GetString(), "1544712660300000001");
  EXPECT_STREQ(dump[1]["logRecord"]["eventName"].GetString(), "browser.page_view");
  EXPECT_STREQ(dump[1]["scope"]["name"].GetString(), "logger");
}

TEST(ForEachSignalJson, NonFiniteDoublesAndEmptyResourceAndScope) {
  MetricsRequest m;
  auto* metric = m.add_resource_metrics()->add_scope_metrics()->add_metrics();
  metric->set_name("g");
  metric->mutable_gauge()->add_data_points()->set_as_double(std::nan(""));
  metric->mutable_gauge()->add_data_points()->set_as_double(-INFINITY);
  metric->mutable_gauge()->add_data_points()->set_as_double(0);
  std::vector<rapidjson::Document> dump = Dump(SignalType::kMetrics, m);
  ASSERT_EQ(dump.size(), 3u);
  EXPECT_TRUE(dump[0]["resource"].IsObject());
  EXPECT_TRUE(dump[0]["scope"].IsObject());
  EXPECT_STREQ(dump[0]["metric"]["point"]["asDouble"].GetString(), "NaN");
  EXPECT_STREQ(dump[1]["metric"]["point"]["asDouble"].GetString(), "-Infinity");
  // A oneof member at its default value is still data and is written.
  EXPECT_EQ(dump[2]["metric"]["point"]["asDouble"].GetDouble(), 0.0);
}

TEST(ForEachSignalJson, RenderedJsonDecodesBackToTheSameSignal) {
  const TraceRequest in = SampleTraces();
  std::vector<std::string> lines;
  ASSERT_TRUE(
      ForEachSignalJson(SignalType::kTraces, in.SerializeAsString(), [&](std::string_view json) {
        lines.emplace_back(json);
      }).ok());
  ASSERT_EQ(lines.size(), 2u);
  // Wrap the span back into a request and decode it with our own JSON decoder.
  const std::string body = R"({"resourceSpans":[{"scopeSpans":[{"spans":[)" +
                           lines[0].substr(lines[0].find("\"span\":") + 7,
                                           lines[0].size() - lines[0].find("\"span\":") - 8) +
                           "]}]}]}";
  absl::StatusOr<DecodedRequest> back = Decode(SignalType::kTraces, Encoding::kJson, body, {});
  ASSERT_TRUE(back.ok()) << back.status() << "\n" << body;
  EXPECT_EQ(Diff(in.resource_spans(0).scope_spans(0).spans(0),
                 static_cast<const TraceRequest&>(*back->message)
                     .resource_spans(0)
                     .scope_spans(0)
                     .spans(0)),
            "");
}

TEST(ForEachSignalJson, MalformedInputIsInvalidArgument) {
  int calls = 0;
  absl::Status st =
      ForEachSignalJson(SignalType::kLogs, "\x0a\x05\x01", [&](std::string_view) { ++calls; });
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("malformed protobuf ExportLogsServiceRequest"));
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace observex::otlp
