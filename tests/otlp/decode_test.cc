// Decode: protobuf and OTLP/JSON into the same messages, validation, and error messages.
#include <cmath>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "otlp/otlp.h"
#include "test_messages.h"

namespace observex::otlp {
namespace {

using ::testing::HasSubstr;
using namespace observex::otlp::testing;

constexpr char kEveryValueKindJson[] = R"([
  {"key":"s","value":{"stringValue":"text"}},
  {"key":"b","value":{"boolValue":true}},
  {"key":"i","value":{"intValue":"-9007199254740993"}},
  {"key":"d","value":{"doubleValue":2.5}},
  {"key":"bytes","value":{"bytesValue":"AP8Q"}},
  {"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"x"},{"intValue":"7"}]}}},
  {"key":"map","value":{"kvlistValue":{"values":[
    {"key":"inner","value":{"stringValue":"v"}},
    {"key":"list","value":{"arrayValue":{"values":[{"boolValue":false}]}}}]}}}])";

std::string SampleTracesJson() {
  return std::string(R"({"resourceSpans":[{
    "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
    "schemaUrl":"https://opentelemetry.io/schemas/1.21.0",
    "scopeSpans":[{
      "scope":{"name":"lib","version":"1.2",
               "attributes":[{"key":"scope.attr","value":{"stringValue":"yes"}}]},
      "spans":[{
        "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "parentSpanId":"eee19b7ec3c1b173","name":"GET /cart","kind":2,
        "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
        "traceState":"k=v","flags":257,
        "attributes":)") +
         kEveryValueKindJson + R"(,
        "events":[{"name":"exception","timeUnixNano":"1544712660500000000",
                   "attributes":[{"key":"exception.message","value":{"stringValue":"boom"}}]}],
        "links":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",
                  "flags":1,"attributes":[{"key":"link.attr","value":{"stringValue":"l"}}]}],
        "status":{"code":2,"message":"failed"}},
       {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175",
        "name":"db","kind":3}]}]}]})";
}

constexpr char kSampleMetricsJson[] = R"({"resourceMetrics":[{
  "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
  "scopeMetrics":[{"scope":{"name":"meter"},"metrics":[
    {"name":"temperature","unit":"Cel","gauge":{"dataPoints":[
      {"timeUnixNano":"1000","asDouble":21.5,
       "attributes":[{"key":"room","value":{"stringValue":"a"}}]},
      {"timeUnixNano":"2000","asInt":"-3","exemplars":[
        {"timeUnixNano":"1999","asDouble":0.5,"traceId":"0102030405060708090a0b0c0d0e0f10",
         "spanId":"0102030405060708",
         "filteredAttributes":[{"key":"user","value":{"stringValue":"u1"}}]}]}]}},
    {"name":"requests","description":"count of requests","sum":{
      "aggregationTemporality":2,"isMonotonic":true,
      "dataPoints":[{"startTimeUnixNano":"1","timeUnixNano":"2","asInt":"42"}]}},
    {"name":"latency","histogram":{"aggregationTemporality":1,"dataPoints":[
      {"count":"3","sum":0.6,"bucketCounts":["1","2"],"explicitBounds":[0.25],
       "min":0.1,"max":0.3,"flags":0}]}},
    {"name":"sizes","exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[
      {"count":"5","sum":12,"scale":-2,"zeroCount":"1","zeroThreshold":1e-9,
       "positive":{"offset":-1,"bucketCounts":["3"]},
       "negative":{"offset":2,"bucketCounts":["1"]}}]}},
    {"name":"rpc","summary":{"dataPoints":[
      {"count":"10","sum":100,"quantileValues":[{"quantile":0.99,"value":20}]}]}}]}]}]})";

std::string SampleLogsJson() {
  return std::string(R"({"resourceLogs":[{
    "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
    "scopeLogs":[{"scope":{"name":"logger"},"logRecords":[
      {"timeUnixNano":"1544712660300000000","observedTimeUnixNano":"1544712660300000001",
       "severityNumber":10,"severityText":"Information",
       "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
       "body":{"stringValue":"hello"},"flags":1,"attributes":)") +
         kEveryValueKindJson + R"(},
      {"eventName":"browser.page_view",
       "body":{"kvlistValue":{"values":[{"key":"url","value":{"stringValue":"https://x/"}}]}}}
    ]}]}]})";
}

DecodedRequest MustDecode(SignalType type, Encoding encoding, std::string_view body,
                          const Limits& limits = Limits{}) {
  absl::StatusOr<DecodedRequest> r = Decode(type, encoding, body, limits);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return DecodedRequest{};
  return std::move(*r);
}

std::string DecodeError(SignalType type, Encoding encoding, std::string_view body,
                        const Limits& limits = Limits{}) {
  absl::StatusOr<DecodedRequest> r = Decode(type, encoding, body, limits);
  if (r.ok()) return "(decoded without error)";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  return std::string(r.status().message());
}

// ---- content types ----

TEST(ContentType, AcceptsProtobufAndJsonIgnoringCaseAndParameters) {
  EXPECT_EQ(*EncodingForContentType("application/x-protobuf"), Encoding::kProtobuf);
  EXPECT_EQ(*EncodingForContentType("application/protobuf"), Encoding::kProtobuf);
  EXPECT_EQ(*EncodingForContentType("Application/X-Protobuf; charset=binary"), Encoding::kProtobuf);
  EXPECT_EQ(*EncodingForContentType("application/json"), Encoding::kJson);
  EXPECT_EQ(*EncodingForContentType(" APPLICATION/JSON ; charset=utf-8"), Encoding::kJson);
  EXPECT_EQ(ContentTypeFor(Encoding::kProtobuf), "application/x-protobuf");
  EXPECT_EQ(ContentTypeFor(Encoding::kJson), "application/json");
}

TEST(ContentType, RejectsOthersNamingTheAcceptedTypes) {
  for (std::string_view ct : {"text/plain", "", "application/jsonx", "application/grpc"}) {
    absl::StatusOr<Encoding> e = EncodingForContentType(ct);
    ASSERT_FALSE(e.ok()) << ct;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(EncodingForContentType("text/plain").status().message(),
            "unsupported Content-Type 'text/plain'; use application/x-protobuf or "
            "application/json");
  const std::string hostile = "x\n" + std::string(500, 'a');
  const std::string msg(EncodingForContentType(hostile).status().message());
  EXPECT_THAT(msg, HasSubstr("unsupported Content-Type 'x\\naaa"));
  EXPECT_LT(msg.size(), 200u);
}

// ---- protobuf ----

TEST(DecodeProtobuf, TracesRoundTripAndCount) {
  TraceRequest in = SampleTraces();
  DecodedRequest d = MustDecode(SignalType::kTraces, Encoding::kProtobuf, in.SerializeAsString());
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.type, SignalType::kTraces);
  EXPECT_EQ(d.signal_count, 2u);
  EXPECT_EQ(Diff(in, *d.message), "");
}

TEST(DecodeProtobuf, MetricsCountEveryKindOfDataPoint) {
  MetricsRequest in = SampleMetrics();
  DecodedRequest d = MustDecode(SignalType::kMetrics, Encoding::kProtobuf, in.SerializeAsString());
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.signal_count, 6u);  // gauge 2 + sum + histogram + exponential + summary
  EXPECT_EQ(Diff(in, *d.message), "");
}

TEST(DecodeProtobuf, LogsRoundTripAndCount) {
  LogsRequest in = SampleLogs();
  DecodedRequest d = MustDecode(SignalType::kLogs, Encoding::kProtobuf, in.SerializeAsString());
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.signal_count, 2u);
  EXPECT_EQ(Diff(in, *d.message), "");
}

TEST(DecodeProtobuf, EmptyBodyIsAnEmptyRequest) {
  DecodedRequest d = MustDecode(SignalType::kTraces, Encoding::kProtobuf, "");
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.signal_count, 0u);
}

TEST(DecodeProtobuf, MalformedBytesAreRejected) {
  EXPECT_THAT(DecodeError(SignalType::kTraces, Encoding::kProtobuf, "\xff\xff\xff\xff"),
              HasSubstr("malformed protobuf ExportTraceServiceRequest"));
  EXPECT_THAT(DecodeError(SignalType::kMetrics, Encoding::kProtobuf, "\x0a\x10\x01"),
              HasSubstr("malformed protobuf ExportMetricsServiceRequest"));
  EXPECT_THAT(DecodeError(SignalType::kLogs, Encoding::kProtobuf, "\x0f"),
              HasSubstr("malformed protobuf ExportLogsServiceRequest"));
}

TEST(DecodeProtobuf, TruncatedBodyNamesTheField) {
  std::string wire = SampleTraces().SerializeAsString();
  wire.resize(wire.size() - 10);
  const std::string msg = DecodeError(SignalType::kTraces, Encoding::kProtobuf, wire);
  EXPECT_THAT(msg, HasSubstr("malformed protobuf ExportTraceServiceRequest: "));
  EXPECT_THAT(msg, HasSubstr("truncated"));
}

TEST(DecodeProtobuf, InvalidUtf8InAStringIsRejectedWithItsPath) {
  TraceRequest in = SampleTraces();
  in.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1)->set_name("ok");
  std::string wire = in.SerializeAsString();
  // Overwrite the 2-byte name "ok" in place with an invalid sequence of the same length.
  const size_t at = wire.find(std::string("\x2a\x02ok", 4));
  ASSERT_NE(at, std::string::npos);
  wire[at + 2] = '\xc3';
  wire[at + 3] = '\x28';
  const std::string msg = DecodeError(SignalType::kTraces, Encoding::kProtobuf, wire);
  EXPECT_THAT(msg, HasSubstr("malformed protobuf ExportTraceServiceRequest: "
                             "resourceSpans[0].scopeSpans[0].spans[1].name: invalid UTF-8"));
}

TEST(DecodeProtobuf, WrongIdLengthsAreRejectedWithTheirPaths) {
  {
    TraceRequest in = SampleTraces();
    in.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1)->set_trace_id("abcde");
    EXPECT_EQ(DecodeError(SignalType::kTraces, Encoding::kProtobuf, in.SerializeAsString()),
              "resourceSpans[0].scopeSpans[0].spans[1].traceId: must be 16 bytes (32 hex digits), "
              "got 5");
  }
  {
    TraceRequest in = SampleTraces();
    in.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->set_span_id("123");
    EXPECT_THAT(DecodeError(SignalType::kTraces, Encoding::kProtobuf, in.SerializeAsString()),
                HasSubstr("spans[0].spanId: must be 8 bytes (16 hex digits), got 3"));
  }
  {
    TraceRequest in = SampleTraces();
    in.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0)->set_parent_span_id(
        std::string(9, 'x'));
    EXPECT_THAT(DecodeError(SignalType::kTraces, Encoding::kProtobuf, in.SerializeAsString()),
                HasSubstr("spans[0].parentSpanId: must be 8 bytes"));
  }
  {
    TraceRequest in = SampleTraces();
    in.mutable_resource_spans(0)
        ->mutable_scope_spans(0)
        ->mutable_spans(0)
        ->mutable_links(0)
        ->set_trace_id("short");
    EXPECT_THAT(DecodeError(SignalType::kTraces, Encoding::kProtobuf, in.SerializeAsString()),
                HasSubstr("resourceSpans[0].scopeSpans[0].spans[0].links[0].traceId: must be 16"));
  }
  {
    LogsRequest in = SampleLogs();
    in.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(0)->set_span_id("1");
    EXPECT_THAT(DecodeError(SignalType::kLogs, Encoding::kProtobuf, in.SerializeAsString()),
                HasSubstr("resourceLogs[0].scopeLogs[0].logRecords[0].spanId: must be 8 bytes"));
  }
  {
    MetricsRequest in = SampleMetrics();
    in.mutable_resource_metrics(0)
        ->mutable_scope_metrics(0)
        ->mutable_metrics(0)
        ->mutable_gauge()
        ->mutable_data_points(1)
        ->mutable_exemplars(0)
        ->set_trace_id("xyz");
    EXPECT_THAT(DecodeError(SignalType::kMetrics, Encoding::kProtobuf, in.SerializeAsString()),
                HasSubstr("resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[1]."
                          "exemplars[0].traceId: must be 16 bytes"));
  }
}

TEST(DecodeProtobuf, EmptyIdsAreAccepted) {
  TraceRequest in = SampleTraces();
  auto* span = in.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(0);
  span->clear_trace_id();
  span->clear_span_id();
  span->clear_parent_span_id();
  EXPECT_EQ(
      MustDecode(SignalType::kTraces, Encoding::kProtobuf, in.SerializeAsString()).signal_count,
      2u);
}

TEST(DecodeProtobuf, AllZeroTraceIdOnASpanIsRejected) {
  TraceRequest in = SampleTraces();
  in.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1)->set_trace_id(
      std::string(16, '\0'));
  EXPECT_THAT(DecodeError(SignalType::kTraces, Encoding::kProtobuf, in.SerializeAsString()),
              HasSubstr("resourceSpans[0].scopeSpans[0].spans[1].traceId: must not be all zeros"));
}

common::AnyValue Nested(int levels) {
  common::AnyValue v;
  v.set_string_value("leaf");
  for (int i = 0; i < levels; ++i) {
    common::AnyValue outer;
    if (i % 2 == 0) {
      *outer.mutable_array_value()->add_values() = v;
    } else {
      common::KeyValue* kv = outer.mutable_kvlist_value()->add_values();
      kv->set_key("k");
      *kv->mutable_value() = v;
    }
    v = outer;
  }
  return v;
}

TEST(DecodeProtobuf, NestingAtTheLimitIsAcceptedAndDeeperRejected) {
  Limits limits;
  limits.max_nesting_depth = 5;
  LogsRequest in = SampleLogs();
  auto* rec = in.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(1);
  *rec->mutable_body() = Nested(5);
  MustDecode(SignalType::kLogs, Encoding::kProtobuf, in.SerializeAsString(), limits);
  *rec->mutable_body() = Nested(6);
  EXPECT_EQ(DecodeError(SignalType::kLogs, Encoding::kProtobuf, in.SerializeAsString(), limits),
            "resourceLogs[0].scopeLogs[0].logRecords[1].body: AnyValue nesting deeper than 5 "
            "levels of arrays/kvlists");
  rec->clear_body();
  common::KeyValue* kv = rec->add_attributes();
  kv->set_key("deep");
  *kv->mutable_value() = Nested(6);
  EXPECT_THAT(DecodeError(SignalType::kLogs, Encoding::kProtobuf, in.SerializeAsString(), limits),
              HasSubstr("logRecords[1].attributes[0].value: AnyValue nesting deeper than 5"));
}

TEST(DecodeProtobuf, NestingBeyondProtobufRecursionLimitIsExplained) {
  LogsRequest in = SampleLogs();
  *in.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(1)->mutable_body() =
      Nested(60);
  EXPECT_THAT(DecodeError(SignalType::kLogs, Encoding::kProtobuf, in.SerializeAsString()),
              HasSubstr("nested deeper than 100 levels"));
}

TEST(DecodeProtobuf, DeprecatedInstrumentationLibraryListsAreRefused) {
  TraceRequest in = SampleTraces();
  // Field 1000 of ResourceSpans holds InstrumentationLibrarySpans; set it by reflection so the
  // test does not use the deprecated accessors.
  auto* rs = in.mutable_resource_spans(0);
  const auto* f = rs->GetDescriptor()->FindFieldByNumber(1000);
  ASSERT_NE(f, nullptr);
  rs->GetReflection()->AddMessage(rs, f);
  EXPECT_THAT(DecodeError(SignalType::kTraces, Encoding::kProtobuf, in.SerializeAsString()),
              HasSubstr("resourceSpans[0].instrumentationLibrarySpans: deprecated field is not "
                        "supported; send scopeSpans instead"));
}

// ---- JSON ----

TEST(DecodeJson, TracesEveryValueKindMatchesProtobuf) {
  DecodedRequest d = MustDecode(SignalType::kTraces, Encoding::kJson, SampleTracesJson());
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.signal_count, 2u);
  EXPECT_EQ(Diff(SampleTraces(), *d.message), "");
}

TEST(DecodeJson, MetricsEveryKindMatchesProtobuf) {
  DecodedRequest d = MustDecode(SignalType::kMetrics, Encoding::kJson, kSampleMetricsJson);
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.signal_count, 6u);
  EXPECT_EQ(Diff(SampleMetrics(), *d.message), "");
}

TEST(DecodeJson, LogsMatchProtobuf) {
  DecodedRequest d = MustDecode(SignalType::kLogs, Encoding::kJson, SampleLogsJson());
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.signal_count, 2u);
  EXPECT_EQ(Diff(SampleLogs(), *d.message), "");
}

TraceRequest OneSpan() {
  TraceRequest r;
  trace::Span* s = r.add_resource_spans()->add_scope_spans()->add_spans();
  s->set_trace_id(Hex("5b8efff798038103d269b633813fc60c"));
  s->set_span_id(Hex("eee19b7ec3c1b174"));
  s->set_name("n");
  s->set_kind(trace::Span::SPAN_KIND_SERVER);
  s->set_start_time_unix_nano(1544712660000000000ull);
  s->set_end_time_unix_nano(18446744073709551615ull);
  return r;
}

TEST(DecodeJson, SnakeCaseKeysAndNumbersForInt64AndEnumNames) {
  const char* body = R"({"resource_spans":[{"scope_spans":[{"spans":[{
      "trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"EEE19b7ec3c1b174","name":"n",
      "kind":"SPAN_KIND_SERVER","start_time_unix_nano":1544712660000000000,
      "end_time_unix_nano":18446744073709551615}]}]}]})";
  DecodedRequest d = MustDecode(SignalType::kTraces, Encoding::kJson, body);
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(Diff(OneSpan(), *d.message), "");
}

TEST(DecodeJson, Int64AsStringAndEnumAsNumber) {
  const char* body = R"({"resourceSpans":[{"scopeSpans":[{"spans":[{
      "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"n",
      "kind":2,"startTimeUnixNano":"1544712660000000000",
      "endTimeUnixNano":"18446744073709551615"}]}]}]})";
  DecodedRequest d = MustDecode(SignalType::kTraces, Encoding::kJson, body);
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(Diff(OneSpan(), *d.message), "");
}

TEST(DecodeJson, IntegersInExponentFormAreAccepted) {
  const char* body = R"({"resourceSpans":[{"scopeSpans":[{"spans":[{
      "startTimeUnixNano":1.5e18,"droppedAttributesCount":3.0}]}]}]})";
  DecodedRequest d = MustDecode(SignalType::kTraces, Encoding::kJson, body);
  ASSERT_NE(d.message, nullptr);
  const auto& span =
      static_cast<const TraceRequest&>(*d.message).resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(span.start_time_unix_nano(), 1500000000000000000ull);
  EXPECT_EQ(span.dropped_attributes_count(), 3u);
}

TEST(DecodeJson, Base64BytesValuesInEitherAlphabetWithOrWithoutPadding) {
  const char* body = R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[
      {"key":"a","value":{"bytesValue":"AP8Q"}},
      {"key":"b","value":{"bytesValue":"+/8="}},
      {"key":"c","value":{"bytesValue":"-_8"}},
      {"key":"d","value":{"bytesValue":""}}]}]}]}]})";
  DecodedRequest d = MustDecode(SignalType::kLogs, Encoding::kJson, body);
  ASSERT_NE(d.message, nullptr);
  const auto& attrs = static_cast<const LogsRequest&>(*d.message)
                          .resource_logs(0)
                          .scope_logs(0)
                          .log_records(0)
                          .attributes();
  ASSERT_EQ(attrs.size(), 4);
  EXPECT_EQ(attrs[0].value().bytes_value(), std::string("\x00\xff\x10", 3));
  EXPECT_EQ(attrs[1].value().bytes_value(), "\xfb\xff");
  EXPECT_EQ(attrs[2].value().bytes_value(), "\xfb\xff");
  EXPECT_EQ(attrs[3].value().value_case(), common::AnyValue::kBytesValue);
  EXPECT_EQ(attrs[3].value().bytes_value(), "");
}

TEST(DecodeJson, NonFiniteDoublesAsStrings) {
  const char* body = R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g",
      "gauge":{"dataPoints":[{"asDouble":"NaN"},{"asDouble":"Infinity"},{"asDouble":"-Infinity"},
                             {"asDouble":"1.25"},{"asDouble":-0.0}]}}]}]}]})";
  DecodedRequest d = MustDecode(SignalType::kMetrics, Encoding::kJson, body);
  ASSERT_NE(d.message, nullptr);
  const auto& points = static_cast<const MetricsRequest&>(*d.message)
                           .resource_metrics(0)
                           .scope_metrics(0)
                           .metrics(0)
                           .gauge()
                           .data_points();
  ASSERT_EQ(points.size(), 5);
  EXPECT_TRUE(std::isnan(points[0].as_double()));
  EXPECT_EQ(points[1].as_double(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(points[2].as_double(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(points[3].as_double(), 1.25);
  EXPECT_EQ(points[4].value_case(), metrics::NumberDataPoint::kAsDouble);
}

TEST(DecodeJson, NullMeansAbsentAndUnknownFieldsAreIgnored) {
  const char* body = R"({"resourceSpans":[{"resource":null,"futureField":{"deep":[1,{"x":[]}]},
      "scopeSpans":[{"scope":null,"spans":[{
        "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"n",
        "kind":2,"startTimeUnixNano":"1544712660000000000",
        "endTimeUnixNano":"18446744073709551615","parentSpanId":null,"status":null,
        "attributes":null,"unknownNumber":12,"unknownString":"x","unknownNull":null}]}]}],
      "topLevelUnknown":true})";
  DecodedRequest d = MustDecode(SignalType::kTraces, Encoding::kJson, body);
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(Diff(OneSpan(), *d.message), "");
}

TEST(DecodeJson, AnyValueOneofNullMemberIsIgnored) {
  const char* body = R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{
      "body":{"stringValue":null,"intValue":"5"}}]}]}]})";
  DecodedRequest d = MustDecode(SignalType::kLogs, Encoding::kJson, body);
  ASSERT_NE(d.message, nullptr);
  const auto& rec =
      static_cast<const LogsRequest&>(*d.message).resource_logs(0).scope_logs(0).log_records(0);
  EXPECT_EQ(rec.body().value_case(), common::AnyValue::kIntValue);
  EXPECT_EQ(rec.body().int_value(), 5);
}

TEST(DecodeJson, EmptyObjectIsAnEmptyRequest) {
  DecodedRequest d = MustDecode(SignalType::kMetrics, Encoding::kJson, "{}");
  ASSERT_NE(d.message, nullptr);
  EXPECT_EQ(d.signal_count, 0u);
}

TEST(DecodeJson, JsonFromDecodeEqualsProtobufReencoding) {
  DecodedRequest j = MustDecode(SignalType::kMetrics, Encoding::kJson, kSampleMetricsJson);
  ASSERT_NE(j.message, nullptr);
  DecodedRequest p =
      MustDecode(SignalType::kMetrics, Encoding::kProtobuf, j.message->SerializeAsString());
  ASSERT_NE(p.message, nullptr);
  EXPECT_EQ(Diff(*j.message, *p.message), "");
}

struct BadJson {
  const char* name;
  SignalType type;
  const char* body;
  const char* expected;  // substring of the error message
  friend void PrintTo(const BadJson& c, std::ostream* os) { *os << c.name; }
};

class DecodeJsonRejects : public ::testing::TestWithParam<BadJson> {};

TEST_P(DecodeJsonRejects, WithAClearMessage) {
  const BadJson& c = GetParam();
  EXPECT_THAT(DecodeError(c.type, Encoding::kJson, c.body), HasSubstr(c.expected));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecodeJsonRejects,
    ::testing::Values(
        BadJson{"RootArray", SignalType::kTraces, "[]",
                "expected the JSON body to be an object (ExportTraceServiceRequest), got array"},
        BadJson{"RootString", SignalType::kLogs, R"("x")", "got string"},
        BadJson{"Truncated", SignalType::kTraces, R"({"resourceSpans":[{"scopeSpans":[)",
                "invalid JSON body: "},
        BadJson{"Empty", SignalType::kTraces, "", "invalid JSON body: "},
        BadJson{"TrailingGarbage", SignalType::kTraces, "{} x", "invalid JSON body: "},
        BadJson{"InvalidUtf8", SignalType::kLogs,
                "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"severityText\":"
                "\"\xc3\x28\"}]}]}]}",
                "invalid JSON body: "},
        BadJson{"BoolForTime", SignalType::kTraces,
                R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":true}]}]}]})",
                "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: expected an integer "
                "or a string of digits, got bool"},
        BadJson{
            "WordForTime", SignalType::kTraces,
            R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"endTimeUnixNano":"soon"}]}]}]})",
            R"(spans[0].endTimeUnixNano: expected an integer or a string of digits, got "soon")"},
        BadJson{
            "FractionForInt", SignalType::kLogs,
            R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"intValue":1.5}}]}]}]})",
            "logRecords[0].body.intValue: expected an integer or a string of digits, got number"},
        BadJson{"NegativeUnsigned", SignalType::kTraces,
                R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"droppedLinksCount":-1}]}]}]})",
                "spans[0].droppedLinksCount: -1 is out of range for uint32"},
        BadJson{"Uint32Overflow", SignalType::kTraces,
                R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"flags":"4294967296"}]}]}]})",
                "spans[0].flags: \"4294967296\" is out of range for uint32"},
        BadJson{"StringForArray", SignalType::kTraces, R"({"resourceSpans":[{"scopeSpans":"x"}]})",
                "resourceSpans[0].scopeSpans: expected an array, got string"},
        BadJson{"ArrayForObject", SignalType::kTraces, R"({"resourceSpans":[{"resource":[]}]})",
                "resourceSpans[0].resource: expected an object, got array"},
        BadJson{"NumberForString", SignalType::kTraces,
                R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"name":5}]}]}]})",
                "spans[0].name: expected a string, got number"},
        BadJson{
            "StringForBool", SignalType::kMetrics,
            R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"isMonotonic":"true"}}]}]}]})",
            "metrics[0].sum.isMonotonic: expected true or false, got string"},
        BadJson{
            "WordForDouble", SignalType::kMetrics,
            R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"asDouble":"inf"}]}}]}]}]})",
            "dataPoints[0].asDouble: expected a number or one of the strings"},
        BadJson{"NullInArray", SignalType::kTraces, R"({"resourceSpans":[null]})",
                "resourceSpans[0]: expected a value, got null"},
        BadJson{
            "BadHexDigit", SignalType::kTraces,
            R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc6zz"}]}]}]})",
            "spans[0].traceId: expected a hex string, got \"5b8efff798038103d269b633813fc6zz\" "
            "(invalid digit at position 30)"},
        BadJson{"Base64Id", SignalType::kTraces,
                R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"7uGbfsPBsXQ="}]}]}]})",
                "spans[0].spanId: expected a hex string, got \"7uGbfsPBsXQ=\" (invalid digit at "
                "position 1); OTLP/JSON ids are hex, not base64"},
        BadJson{"OddHex", SignalType::kTraces,
                R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"abc"}]}]}]})",
                "spans[0].spanId: expected an even number of hex digits, got 3"},
        BadJson{"ShortTraceId", SignalType::kTraces,
                R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405"}]}]}]})",
                "resourceSpans[0].scopeSpans[0].spans[0].traceId: must be 16 bytes (32 hex "
                "digits), got 5"},
        BadJson{
            "LongSpanId", SignalType::kLogs,
            R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"spanId":"010203040506070809"}]}]}]})",
            "logRecords[0].spanId: must be 8 bytes (16 hex digits), got 9"},
        BadJson{
            "ZeroTraceId", SignalType::kTraces,
            R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"00000000000000000000000000000000"}]}]}]})",
            "spans[0].traceId: must not be all zeros"},
        BadJson{
            "BadBase64", SignalType::kLogs,
            R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"bytesValue":"!!"}}]}]}]})",
            "logRecords[0].body.bytesValue: expected a base64 string, got \"!!\""},
        BadJson{"UnknownEnumName", SignalType::kTraces,
                R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_SIDEWAYS"}]}]}]})",
                "spans[0].kind: unknown SpanKind value \"SPAN_KIND_SIDEWAYS\""},
        BadJson{"BoolForEnum", SignalType::kLogs,
                R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":false}]}]}]})",
                "logRecords[0].severityNumber: expected an enum name or number (SeverityNumber), "
                "got bool"},
        BadJson{
            "TwoOneofMembers", SignalType::kLogs,
            R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a","intValue":"1"}}]}]}]})",
            "logRecords[0].body.intValue: only one field of 'value' may be set, and "
            "'stringValue' is set already"},
        BadJson{"DeprecatedList", SignalType::kMetrics,
                R"({"resourceMetrics":[{"instrumentationLibraryMetrics":[{"metrics":[]}]}]})",
                "resourceMetrics[0].instrumentationLibraryMetrics: deprecated field"}),
    [](const ::testing::TestParamInfo<BadJson>& info) { return std::string(info.param.name); });

std::string NestedJson(int levels) {
  std::string v = R"({"stringValue":"leaf"})";
  for (int i = 0; i < levels; ++i) {
    v = (i % 2 == 0) ? R"({"arrayValue":{"values":[)" + v + "]}}"
                     : R"({"kvlistValue":{"values":[{"key":"k","value":)" + v + "}]}}";
  }
  return v;
}

TEST(DecodeJson, NestingAtTheLimitIsAcceptedAndDeeperRejected) {
  Limits limits;
  limits.max_nesting_depth = 4;
  auto body = [](int levels) {
    return R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityText":"x"},{"body":)" +
           NestedJson(levels) + "}]}]}]}";
  };
  MustDecode(SignalType::kLogs, Encoding::kJson, body(4), limits);
  EXPECT_EQ(DecodeError(SignalType::kLogs, Encoding::kJson, body(5), limits),
            "resourceLogs[0].scopeLogs[0].logRecords[1].body: AnyValue nesting deeper than 4 "
            "levels of arrays/kvlists");
}

TEST(DecodeJson, HostileNestingStopsAtTheLimit) {
  // 10,000 levels: far past the limit; must fail cleanly, not exhaust the stack.
  const std::string body = R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[)"
                           R"({"key":"a","value":)" +
                           NestedJson(10000) + "}]}]}]}]}";
  const std::string msg = DecodeError(SignalType::kLogs, Encoding::kJson, body);
  // simdjson's own depth limit (1024) or ours, whichever trips first: both say so clearly.
  EXPECT_TRUE(msg.find("too deep") != std::string::npos ||
              msg.find("nesting deeper than") != std::string::npos)
      << msg;
  const std::string shallower = R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[)"
                                R"({"key":"a","value":)" +
                                NestedJson(100) + "}]}]}]}]}";
  EXPECT_EQ(DecodeError(SignalType::kLogs, Encoding::kJson, shallower),
            "resourceLogs[0].scopeLogs[0].logRecords[0].attributes[0].value: AnyValue nesting "
            "deeper than 32 levels of arrays/kvlists");
}

TEST(Decode, UnknownSignalTypeIsRejected) {
  absl::StatusOr<DecodedRequest> r =
      Decode(static_cast<SignalType>(9), Encoding::kProtobuf, "", Limits{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace observex::otlp

namespace observex::otlp {
namespace {

using namespace observex::otlp::testing;

TEST(DecodedRequestOwnership, ArenaMessagesAreFreedOnResetAndMoveAssignment) {
  const std::string traces = SampleTraces().SerializeAsString();
  absl::StatusOr<DecodedRequest> a = Decode(SignalType::kTraces, Encoding::kProtobuf, traces, {});
  absl::StatusOr<DecodedRequest> b =
      Decode(SignalType::kLogs, Encoding::kProtobuf, SampleLogs().SerializeAsString(), {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->message->GetArena(), nullptr);
  // Replacing a's message frees its arena (LeakSanitizer in CI reports it otherwise).
  *a = std::move(*b);
  EXPECT_EQ(a->type, SignalType::kLogs);
  EXPECT_EQ(a->message->GetDescriptor()->name(), "ExportLogsServiceRequest");
  EXPECT_EQ(Diff(SampleLogs(), *a->message), "");
  a->message.reset();
  EXPECT_EQ(a->message, nullptr);
  // The emptied pointer can take a heap message afterwards.
  a->message = std::make_unique<LogsRequest>(SampleLogs());
  EXPECT_EQ(a->message->GetArena(), nullptr);
}

TEST(DecodedRequestOwnership, HeapMessagesCanBeAssignedAndAreLimited) {
  DecodedRequest r;
  r.type = SignalType::kTraces;
  r.message = std::make_unique<TraceRequest>(SampleTraces());  // no arena: deleted on the heap
  Limits limits;
  limits.max_attributes = 2;
  LimitReport report = ApplyLimits(limits, r);
  EXPECT_EQ(report.dropped_attributes, 5u);
  EXPECT_EQ(static_cast<TraceRequest&>(*r.message)
                .resource_spans(0)
                .scope_spans(0)
                .spans(0)
                .attributes_size(),
            2);
}

TEST(DecodedRequestOwnership, MismatchedMessageTypeIsLeftAlone) {
  DecodedRequest r;
  r.type = SignalType::kMetrics;
  r.message = std::make_unique<TraceRequest>(SampleTraces());
  Limits limits;
  limits.max_attributes = 0;
  LimitReport report = ApplyLimits(limits, r);
  EXPECT_EQ(report.dropped_attributes, 0u);
  EXPECT_EQ(Diff(SampleTraces(), *r.message), "");
}

}  // namespace
}  // namespace observex::otlp
