// The remote-write 1.0 WriteRequest reader and writer: the wire layout pinned byte for byte,
// requests built field by field (unsorted labels, unknown fields, exemplars), round trips, the
// validation rules with their exact messages, and malformed bytes with field path and offset.
#include "metrics/remote_write.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/fingerprint.h"
#include "metrics/naming.h"
#include "query/series_source.h"

namespace observex::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Protobuf fields written by hand, independent of the code under test.
std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Tag(uint32_t field, int wire_type) { return Varint((field << 3) | wire_type); }
std::string Len(uint32_t field, const std::string& bytes) {
  return Tag(field, 2) + Varint(bytes.size()) + bytes;
}
std::string Double(uint32_t field, double v) {
  char buf[8];
  const uint64_t bits = std::bit_cast<uint64_t>(v);
  std::memcpy(buf, &bits, 8);
  return Tag(field, 1) + std::string(buf, 8);
}
std::string PbLabel(const std::string& name, const std::string& value) {
  return Len(1, Len(1, name) + Len(2, value));
}
std::string PbSample(double v, int64_t t) {
  return Len(2, Double(1, v) + Tag(2, 0) + Varint(static_cast<uint64_t>(t)));
}
std::string PbSeries(const std::string& labels_and_samples) { return Len(1, labels_and_samples); }

std::string Hex(const std::string& s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string ValueText(double v) {
  if (query::IsStaleNaN(v)) return "stale";
  return FormatLabelFloat(v);
}

// `{labels} @t value` per sample, in batch order.
std::vector<std::string> Render(const PromBatch& b) {
  std::vector<std::string> out;
  for (const Series& s : b.metrics.series) {
    for (const query::SamplePoint& p : s.samples) {
      out.push_back(s.labels.String() + " @" + std::to_string(p.t_ms) + " " + ValueText(p.value));
    }
  }
  return out;
}

PromBatch ParseOrDie(const std::string& bytes) {
  auto b = ParseWriteRequest(bytes);
  if (!b.ok()) {
    ADD_FAILURE() << b.status();
    return {};
  }
  return std::move(*b);
}

Series MakeSeries(query::Labels labels, std::vector<query::SamplePoint> samples) {
  Series s;
  s.fingerprint = Fingerprint(labels);
  s.labels = std::move(labels);
  s.samples = std::move(samples);
  return s;
}

TEST(RemoteWrite, EncodingIsTheProtobufWireFormat) {
  std::vector<Series> series{MakeSeries({{"__name__", "up"}}, {{1000, 1.0}})};
  // timeseries { labels { name: "__name__" value: "up" } samples { value: 1 timestamp: 1000 } }
  EXPECT_EQ(Hex(EncodeWriteRequest(series, {})),
            "0a1e"  // timeseries, 30 bytes
            "0a0e"
            "0a085f5f6e616d655f5f"
            "12027570"  // labels
            "120c"
            "09000000000000f03f"
            "10e807");  // samples
  EXPECT_EQ(EncodeWriteRequest(series, {}),
            PbSeries(PbLabel("__name__", "up") + PbSample(1.0, 1000)));
  // metadata { type: COUNTER metric_family_name: "x" help: "h" unit: "s" }
  EXPECT_EQ(Hex(EncodeWriteRequest({}, {{"x", MetadataType::kCounter, "h", "s"}})),
            "1a0b"
            "0801"
            "120178"
            "220168"
            "2a0173");
}

TEST(RemoteWrite, ParsesFieldsInAnyOrderSortsLabelsAndSkipsUnknownFields) {
  const std::string exemplar = Len(3, PbLabel("trace_id", "abc") + Double(2, 1.5));
  std::string ts = PbSample(2.5, 2000) + PbLabel("job", "api") + exemplar +
                   PbLabel("__name__", "http_requests_total") + Tag(15, 0) + Varint(7) +
                   PbSample(3.5, 3000) + Tag(14, 5) + std::string(4, 'x') +
                   PbLabel("instance", "a:1");
  std::string req = PbSeries(ts) + Tag(2, 2) + Varint(3) + "old" + Tag(9, 1) + std::string(8, 'y');
  PromBatch b = ParseOrDie(req);
  EXPECT_THAT(
      Render(b),
      ElementsAre(R"({__name__="http_requests_total", instance="a:1", job="api"} @2000 2.5)",
                  R"({__name__="http_requests_total", instance="a:1", job="api"} @3000 3.5)"));
  ASSERT_EQ(b.metrics.series.size(), 1u);
  EXPECT_EQ(b.metrics.series[0].fingerprint, Fingerprint(b.metrics.series[0].labels));
  EXPECT_EQ(b.stats.series_read, 1u);
  EXPECT_EQ(b.stats.samples_read, 2u);
  EXPECT_EQ(b.stats.rejected(), 0u);
  EXPECT_EQ(b.stats.first_rejection, "");
}

TEST(RemoteWrite, RoundTripKeepsEveryValueBitForBit) {
  const double stale = query::StaleNaN();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Series> series{MakeSeries({{"__name__", "a"}, {"path", "/x\"y\n"}, {"ü", "ß"}},
                                        {{-5000, -0.0},
                                         {0, nan},
                                         {1, stale},
                                         {2, inf},
                                         {3, -inf},
                                         {std::numeric_limits<int64_t>::max(), 1e-300}}),
                             MakeSeries({{"__name__", "b"}}, {{1700000000000, 42}})};
  std::vector<FamilyMetadata> metadata{{"a", MetadataType::kGauge, "help \"me\"", ""},
                                       {"b", MetadataType::kStateset, "", "bytes"}};
  PromBatch b = ParseOrDie(EncodeWriteRequest(series, metadata));
  ASSERT_EQ(b.metrics.series.size(), 2u);
  for (size_t i = 0; i < series.size(); ++i) {
    EXPECT_EQ(b.metrics.series[i].labels, series[i].labels);
    EXPECT_EQ(b.metrics.series[i].fingerprint, series[i].fingerprint);
    ASSERT_EQ(b.metrics.series[i].samples.size(), series[i].samples.size());
    for (size_t j = 0; j < series[i].samples.size(); ++j) {
      EXPECT_EQ(b.metrics.series[i].samples[j].t_ms, series[i].samples[j].t_ms);
      EXPECT_EQ(std::bit_cast<uint64_t>(b.metrics.series[i].samples[j].value),
                std::bit_cast<uint64_t>(series[i].samples[j].value))
          << i << "/" << j;
    }
  }
  EXPECT_EQ(b.metadata, metadata);
  // A stateset has no MetricType; the gauge does.
  ASSERT_EQ(b.metrics.families.size(), 1u);
  EXPECT_EQ(b.metrics.families[0].name, "a");
  EXPECT_EQ(b.metrics.families[0].type, MetricType::kGauge);
  EXPECT_EQ(b.metrics.families[0].help, "help \"me\"");
  // And the bytes are stable: parsing and encoding again gives the same request.
  EXPECT_EQ(EncodeWriteRequest(b), EncodeWriteRequest(series, metadata));
}

TEST(RemoteWrite, EmptyRequestAndMetadataOnlyRequestsAreValid) {
  PromBatch empty = ParseOrDie("");
  EXPECT_THAT(empty.metrics.series, IsEmpty());
  EXPECT_THAT(empty.metadata, IsEmpty());
  std::string md = Len(3, Tag(1, 0) + Varint(1) + Len(2, "requests_total") + Len(4, "Requests."));
  md += Len(3, Tag(1, 0) + Varint(99) + Len(2, "odd") + Len(5, "seconds"));  // unknown enum
  md += Len(3, Len(2, "requests_total") + Len(4, "second description"));     // repeat: first wins
  md += Len(3, Len(4, "no name"));                                           // refused
  md += Len(3, Tag(1, 0) + Varint(5) + Len(2, "latency"));
  PromBatch b = ParseOrDie(md);
  EXPECT_THAT(b.metadata,
              ElementsAre(FamilyMetadata{"requests_total", MetadataType::kCounter, "Requests.", ""},
                          FamilyMetadata{"odd", MetadataType::kUnknown, "", "seconds"},
                          FamilyMetadata{"latency", MetadataType::kSummary, "", ""}));
  EXPECT_EQ(b.stats.rejected_metadata, 1u);
  ASSERT_EQ(b.metrics.families.size(), 2u);
  EXPECT_EQ(b.metrics.families[0].name, "latency");
  EXPECT_EQ(b.metrics.families[0].type, MetricType::kSummary);
  EXPECT_EQ(b.metrics.families[1].name, "requests_total");
  EXPECT_EQ(b.metrics.families[1].type, MetricType::kCounter);
  EXPECT_EQ(MetadataTypeName(MetadataType::kGaugeHistogram), "gaugehistogram");
  EXPECT_EQ(MetadataTypeName(static_cast<MetadataType>(42)), "unknown");
}

TEST(RemoteWrite, InvalidSeriesAreLeftOutCountedAndNamed) {
  struct Case {
    std::string labels;
    std::string why;
  };
  const std::vector<Case> cases = {
      {PbLabel("job", "a"), R"(timeseries[0] {job="a"}: missing metric name (label __name__))"},
      {PbLabel("__name__", "") + PbLabel("job", "a"),
       R"(timeseries[0] {__name__="", job="a"}: missing metric name (label __name__))"},
      {PbLabel("__name__", "x") + PbLabel("job", "a") + PbLabel("job", "b"),
       R"(timeseries[0] {__name__="x", job="a", job="b"}: duplicate label name "job")"},
      {PbLabel("__name__", "x") + PbLabel("", "a"),
       R"(timeseries[0] {""="a", __name__="x"}: empty label name)"},
      {PbLabel("__name__", "x") + PbLabel("bad\xff", "a"),
       R"(timeseries[0] {__name__="x", "bad\xff"="a"}: label name "bad\xff" is not valid UTF-8)"},
      {PbLabel("__name__", "x") + PbLabel("v", "\xc3"),
       R"(timeseries[0] {__name__="x", v="\xc3"}: value of label "v" is not valid UTF-8)"},
  };
  for (const Case& c : cases) {
    std::string req = PbSeries(c.labels + PbSample(1, 10) + PbSample(2, 20)) +
                      PbSeries(PbLabel("__name__", "ok") + PbSample(3, 30));
    PromBatch b = ParseOrDie(req);
    EXPECT_EQ(b.stats.first_rejection, c.why);
    EXPECT_EQ(b.stats.rejected_series, 1u);
    EXPECT_EQ(b.stats.rejected_samples, 2u);
    EXPECT_EQ(b.stats.rejected(), 2u);
    EXPECT_EQ(b.stats.samples_read, 3u);
    EXPECT_THAT(Render(b), ElementsAre(R"({__name__="ok"} @30 3)"));
  }
}

TEST(RemoteWrite, UtfEightNamesAndEmptyValuesFollowPrometheusThree) {
  PromBatch b = ParseOrDie(PbSeries(PbLabel("__name__", "http.requests") + PbLabel("k8s.pod", "p") +
                                    PbLabel("empty", "") + PbSample(1, 5)));
  EXPECT_THAT(Render(b), ElementsAre(R"({__name__="http.requests", "k8s.pod"="p"} @5 1)"));
  EXPECT_EQ(b.stats.rejected(), 0u);
}

TEST(RemoteWrite, OutOfOrderAndConflictingSamplesAreDroppedAsPrometheusDoes) {
  const std::string up = PbLabel("__name__", "up");
  std::string req = PbSeries(up + PbSample(1, 2000) + PbSample(1, 2000) + PbSample(5, 1000) +
                             PbSample(2, 2000) + PbSample(3, 3000));
  PromBatch b = ParseOrDie(req);
  EXPECT_THAT(Render(b), ElementsAre(R"({__name__="up"} @2000 1)", R"({__name__="up"} @3000 3)"));
  EXPECT_EQ(b.stats.duplicate_samples, 1u);
  EXPECT_EQ(b.stats.rejected_samples, 2u);
  EXPECT_EQ(b.stats.first_rejection,
            R"(timeseries[0] {__name__="up"}: out of order sample: timestamp 1000 is before the )"
            "series' previous sample at 2000");

  PromBatch dup = ParseOrDie(PbSeries(up + PbSample(1, 2000) + PbSample(2, 2000)));
  EXPECT_EQ(dup.stats.first_rejection,
            R"(timeseries[0] {__name__="up"}: duplicate sample for timestamp 2000 with a )"
            "different value");

  // A label set sent twice is one series; the second part continues it in request order.
  std::string twice = PbSeries(up + PbLabel("a", "1") + PbSample(1, 1000)) +
                      PbSeries(PbLabel("__name__", "other") + PbSample(9, 1000)) +
                      PbSeries(PbLabel("a", "1") + up + PbSample(2, 2000) + PbSample(0, 500));
  PromBatch t = ParseOrDie(twice);
  EXPECT_THAT(Render(t),
              ElementsAre(R"({__name__="up", a="1"} @1000 1)", R"({__name__="up", a="1"} @2000 2)",
                          R"({__name__="other"} @1000 9)"));
  EXPECT_EQ(t.stats.first_rejection,
            R"(timeseries[2] {__name__="up", a="1"}: out of order sample: timestamp 500 is )"
            "before the series' previous sample at 2000");
}

TEST(RemoteWrite, NativeHistogramsAreRefusedNamingTheFeature) {
  const std::string histogram = Len(4, Tag(1, 0) + Varint(10) + Tag(4, 0) + Varint(3));
  std::string req = PbSeries(PbLabel("__name__", "latency") + histogram + histogram) +
                    PbSeries(PbLabel("__name__", "mixed") + histogram + PbSample(7, 70)) +
                    PbSeries(PbLabel("__name__", "plain") + PbSample(8, 80));
  PromBatch b = ParseOrDie(req);
  EXPECT_THAT(Render(b), ElementsAre(R"({__name__="mixed"} @70 7)", R"({__name__="plain"} @80 8)"));
  EXPECT_EQ(b.stats.histogram_points, 3u);
  EXPECT_EQ(b.stats.rejected(), 3u);
  EXPECT_EQ(b.stats.first_rejection,
            R"(timeseries[0] {__name__="latency"}: native histograms are not supported (2 )"
            "histogram sample(s) refused)");
}

TEST(RemoteWrite, LongSeriesAreCutInMessages) {
  std::string big(1000, 'v');
  PromBatch b = ParseOrDie(PbSeries(PbLabel("job", big) + PbLabel("zone", "z") + PbSample(1, 1)));
  EXPECT_LT(b.stats.first_rejection.size(), 300u);
  EXPECT_THAT(b.stats.first_rejection, HasSubstr(R"(vvv..., ...}: missing metric name)"));
}

TEST(RemoteWrite, MalformedBytesNameTheFieldAndOffset) {
  struct Case {
    std::string bytes;
    std::string error;
  };
  const std::string ok_label = PbLabel("__name__", "x");
  const std::vector<Case> cases = {
      {"\x0a", "invalid WriteRequest at byte 1: truncated varint"},
      {"\x0a\x05\x0a",
       "invalid WriteRequest at byte 2: length 5 runs past the end of the "
       "enclosing message (1 bytes left)"},
      {"\x08\x01",
       "invalid WriteRequest at byte 1: field 1 (timeseries) has wire type varint, "
       "expected length-delimited"},
      {std::string("\x00\x01", 2), "invalid WriteRequest at byte 1: invalid field number 0"},
      {"\x0b",
       "invalid WriteRequest at byte 1: field 1 uses the group wire type, which is not "
       "valid in a WriteRequest"},
      {"\x0f", "invalid WriteRequest at byte 1: invalid wire type 7"},
      {PbSeries(ok_label + Len(2, Tag(1, 0) + Varint(1))),
       "invalid WriteRequest at byte 20 (timeseries[0].samples[0]): field 1 (value) has wire "
       "type varint, expected 64-bit"},
      {PbSeries(ok_label + Len(2, Tag(1, 1) + "abc")),
       "invalid WriteRequest at byte 20 (timeseries[0].samples[0]): truncated 64-bit value"},
      {PbSeries(ok_label + Len(1, Tag(1, 0))),
       "invalid WriteRequest at byte 20 (timeseries[0].labels[1]): field 1 (name) has wire "
       "type varint, expected length-delimited"},
      {PbSeries(Tag(4, 0) + Varint(1)),
       "invalid WriteRequest at byte 3 (timeseries[0]): field 4 (histograms) has wire type "
       "varint, expected length-delimited"},
      {std::string("\x0a\x0b\x12\x09\x10\xff\xff\xff\xff\xff\xff\xff\xff", 13),
       "invalid WriteRequest at byte 13 (timeseries[0].samples[0]): truncated varint"},
      {std::string("\x0a\x0d\x12\x0b\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 15),
       "invalid WriteRequest at byte 15 (timeseries[0].samples[0]): varint longer than 64 bits"},
      {Len(3, Tag(1, 2) + Varint(0)),
       "invalid WriteRequest at byte 3 (metadata[0]): field 1 (type) has wire type "
       "length-delimited, expected varint"},
  };
  for (const Case& c : cases) {
    auto b = ParseWriteRequest(c.bytes);
    ASSERT_FALSE(b.ok()) << Hex(c.bytes);
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(b.status().message(), c.error) << Hex(c.bytes);
  }
}

TEST(RemoteWrite, NegativeTimestampsUseTenByteVarints) {
  std::vector<Series> series{MakeSeries({{"__name__", "x"}}, {{-1, 1}})};
  const std::string bytes = EncodeWriteRequest(series, {});
  EXPECT_THAT(Hex(bytes), HasSubstr("10ffffffffffffffffff01"));
  PromBatch b = ParseOrDie(bytes);
  EXPECT_THAT(Render(b), ElementsAre(R"({__name__="x"} @-1 1)"));
}

TEST(RemoteWrite, DescribeSeriesQuotesLikePrometheus) {
  EXPECT_EQ(DescribeSeries({{"__name__", "up"}, {"a.b", "x\"y"}}),
            R"({__name__="up", "a.b"="x\"y"})");
  EXPECT_EQ(DescribeSeries({}), "{}");
}

}  // namespace
}  // namespace observex::metrics
