// Name normalisation, unit names, label name sanitising and value rendering, case by case.
#include "metrics/naming.h"

#include <cmath>
#include <limits>
#include <string>

#include "gtest/gtest.h"
#include "opentelemetry/proto/common/v1/common.pb.h"

namespace observex::metrics {
namespace {

namespace pbc = opentelemetry::proto::common::v1;

struct NameCase {
  std::string name;
  std::string unit;
  OtlpKind kind;
  std::string want;
};

TEST(NormalizeMetricName, Table) {
  const NameCase cases[] = {
      // `.` and other invalid characters separate words.
      {"http.server.duration", "ms", OtlpKind::kHistogram, "http_server_duration_milliseconds"},
      {"system.memory.usage", "By", OtlpKind::kGauge, "system_memory_usage_bytes"},
      {"a-b c/d", "", OtlpKind::kGauge, "a_b_c_d"},
      {"metric__with__multiple__underscores", "unit__multiple__underscores", OtlpKind::kGauge,
       "metric_with_multiple_underscores_unit_multiple_underscores"},
      {"_leading.and.trailing_", "", OtlpKind::kGauge, "leading_and_trailing"},
      {"a:b.c", "", OtlpKind::kGauge, "a:b_c"},  // colons are valid in metric names
      {"requêsts", "", OtlpKind::kMonotonicSum, "requ_sts_total"},
      // Unit suffixes.
      {"process.cpu.time", "s", OtlpKind::kMonotonicSum, "process_cpu_time_seconds_total"},
      {"temp", "Cel", OtlpKind::kGauge, "temp_celsius"},
      {"load", "%", OtlpKind::kGauge, "load_percent"},
      {"mem", "MiBy", OtlpKind::kGauge, "mem_mebibytes"},
      {"x", "foo", OtlpKind::kGauge, "x_foo"},  // unknown units are kept
      {"custom_metric", "unit@with#special/chars", OtlpKind::kGauge,
       "custom_metric_unit_with_special_per_chars"},
      // `/` becomes _per_.
      {"network.io", "By/s", OtlpKind::kGauge, "network_io_bytes_per_second"},
      {"speed", "m/s", OtlpKind::kGauge, "speed_meters_per_second"},
      {"metric", " By / s ", OtlpKind::kGauge, "metric_bytes_per_second"},
      {"rate", "1/s", OtlpKind::kMonotonicSum, "rate_per_second_total"},
      {"events", "{event}/h", OtlpKind::kGauge, "events_per_hour"},
      {"x", "/", OtlpKind::kGauge, "x"},
      {"x", "s/", OtlpKind::kGauge, "x_seconds"},
      // Curly-brace annotations are dropped.
      {"http.requests", "{requests}", OtlpKind::kMonotonicSum, "http_requests_total"},
      {"queue.depth", "{item}", OtlpKind::kGauge, "queue_depth"},
      // `_ratio` for gauges with unit "1" only.
      {"cpu.utilization", "1", OtlpKind::kGauge, "cpu_utilization_ratio"},
      {"items", "1", OtlpKind::kMonotonicSum, "items_total"},
      {"queue.size", "1", OtlpKind::kNonMonotonicSum, "queue_size"},
      {"latency", "1", OtlpKind::kHistogram, "latency"},
      // `_total` for counters only, and only once, always last.
      {"requests", "", OtlpKind::kMonotonicSum, "requests_total"},
      {"requests", "", OtlpKind::kNonMonotonicSum, "requests"},
      {"requests", "", OtlpKind::kGauge, "requests"},
      {"requests_total", "", OtlpKind::kMonotonicSum, "requests_total"},
      {"total.requests", "", OtlpKind::kMonotonicSum, "requests_total"},
      {"foo.total", "s", OtlpKind::kMonotonicSum, "foo_seconds_total"},
      // No duplicate suffixes.
      {"duration_seconds", "s", OtlpKind::kHistogram, "duration_seconds"},
      {"cpu_seconds_total", "s", OtlpKind::kMonotonicSum, "cpu_seconds_total"},
      {"cpu_usage_ratio", "1", OtlpKind::kGauge, "cpu_usage_ratio"},
      {"ratio.cpu", "1", OtlpKind::kGauge, "cpu_ratio"},
      {"throughput.bytes_per_second", "By/s", OtlpKind::kGauge, "throughput_bytes_per_second"},
      // Leading digit.
      {"123.requests", "", OtlpKind::kMonotonicSum, "_123_requests_total"},
      // Nothing usable: the metric cannot be named.
      {"", "s", OtlpKind::kGauge, ""},
      {"...", "1", OtlpKind::kGauge, ""},
      {"日本", "", OtlpKind::kGauge, ""},
      {"\xff\xfe", "", OtlpKind::kGauge, ""},
  };
  for (const NameCase& c : cases) {
    EXPECT_EQ(NormalizeMetricName(c.name, c.unit, c.kind), c.want)
        << "name=" << c.name << " unit=" << c.unit << " kind=" << static_cast<int>(c.kind);
  }
}

TEST(PrometheusUnit, Table) {
  const std::pair<std::string, std::string> cases[] = {
      {"ms", "milliseconds"},
      {"s", "seconds"},
      {"By", "bytes"},
      {"By/s", "bytes_per_second"},
      {"1", ""},
      {"", ""},
      {"{request}", ""},
      {"{packet}/s", "per_second"},
      {"m/s", "meters_per_second"},
      {"foo.bar", "foo_bar"},
      {"req/mo", "req_per_month"},
      {"%", "percent"},
  };
  for (const auto& [unit, want] : cases) EXPECT_EQ(PrometheusUnit(unit), want) << unit;
}

TEST(SanitizeLabelName, Table) {
  const std::pair<std::string, std::string> cases[] = {
      {"http.method", "http_method"},
      {"valid_Name1", "valid_Name1"},
      {"a..b", "a__b"},  // one `_` per character; runs are kept (Prometheus's default)
      {"a-b c", "a_b_c"},
      {"123invalid", "key_123invalid"},
      {"_private", "key_private"},
      {".x", "key_x"},
      {"__reserved__", "key__reserved__"},  // attributes never make reserved names
      {"__name__", "key__name__"},
      {"ü", "key_"},  // a two-byte character is one `_`
      {"aü", "a_"},
      {"a\xff", "a_"},  // an invalid byte too
      {"", ""},
  };
  for (const auto& [key, want] : cases) EXPECT_EQ(SanitizeLabelName(key), want) << key;
}

TEST(FormatLabelFloat, ShortestFixedNotation) {
  EXPECT_EQ(FormatLabelFloat(0.005), "0.005");
  EXPECT_EQ(FormatLabelFloat(1), "1");
  EXPECT_EQ(FormatLabelFloat(2.5), "2.5");
  EXPECT_EQ(FormatLabelFloat(-10), "-10");
  EXPECT_EQ(FormatLabelFloat(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatLabelFloat(1e21), "1000000000000000000000");
  EXPECT_EQ(FormatLabelFloat(1e-7), "0.0000001");
  EXPECT_EQ(FormatLabelFloat(std::sqrt(2.0)), "1.4142135623730951");
  EXPECT_EQ(FormatLabelFloat(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatLabelFloat(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatLabelFloat(std::nan("")), "NaN");
  EXPECT_EQ(FormatLabelFloat(-0.0), "0");
  // The largest and smallest doubles still fit.
  EXPECT_EQ(FormatLabelFloat(std::numeric_limits<double>::max()).size(), 309u);
  EXPECT_EQ(FormatLabelFloat(std::numeric_limits<double>::denorm_min()).substr(0, 6), "0.0000");
}

TEST(AttributeValueString, EveryKind) {
  pbc::AnyValue v;
  EXPECT_EQ(AttributeValueString(v), "");  // empty value
  v.set_string_value("GET");
  EXPECT_EQ(AttributeValueString(v), "GET");
  v.set_string_value("a\xff");
  EXPECT_EQ(AttributeValueString(v), "a\xef\xbf\xbd");
  v.set_bool_value(true);
  EXPECT_EQ(AttributeValueString(v), "true");
  v.set_int_value(-5);
  EXPECT_EQ(AttributeValueString(v), "-5");
  v.set_double_value(1.5);
  EXPECT_EQ(AttributeValueString(v), "1.5");
  v.set_double_value(100);
  EXPECT_EQ(AttributeValueString(v), "100");
  v.set_double_value(1e-7);
  EXPECT_EQ(AttributeValueString(v), "1e-7");
  v.set_double_value(1.5e21);
  EXPECT_EQ(AttributeValueString(v), "1.5e+21");
  v.set_double_value(std::nan(""));
  EXPECT_EQ(AttributeValueString(v), "NaN");
  v.set_bytes_value(std::string("\x01\x02", 2));
  EXPECT_EQ(AttributeValueString(v), "AQI=");

  pbc::AnyValue arr;
  arr.mutable_array_value()->add_values()->set_int_value(1);
  arr.mutable_array_value()->add_values()->set_string_value("a\"b");
  arr.mutable_array_value()->add_values()->set_bool_value(false);
  arr.mutable_array_value()->add_values()->set_double_value(0.25);
  arr.mutable_array_value()->add_values();  // empty -> null
  EXPECT_EQ(AttributeValueString(arr), R"([1,"a\"b",false,0.25,null])");

  pbc::AnyValue kv;
  auto* b = kv.mutable_kvlist_value()->add_values();
  b->set_key("b");
  b->mutable_value()->set_int_value(1);
  auto* a = kv.mutable_kvlist_value()->add_values();
  a->set_key("a");
  a->mutable_value()->set_string_value("x<y\n\x01");
  auto* b2 = kv.mutable_kvlist_value()->add_values();
  b2->set_key("b");
  b2->mutable_value()->set_int_value(2);  // the last duplicate wins
  EXPECT_EQ(AttributeValueString(kv), R"({"a":"x<y\n\u0001","b":2})");
}

TEST(ToValidUtf8, ReplacesInvalidSequences) {
  EXPECT_EQ(ToValidUtf8("plain"), "plain");
  EXPECT_EQ(ToValidUtf8("ü日本"), "ü日本");
  EXPECT_EQ(ToValidUtf8("a\xff"
                        "b"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(ToValidUtf8("\xc3"), "\xef\xbf\xbd");  // truncated sequence
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  EXPECT_EQ(ToValidUtf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");                  // overlong
}

}  // namespace
}  // namespace observex::metrics
