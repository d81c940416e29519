// ApplyLimits: attribute counts, key/value byte limits (UTF-8 safe), nested values, and the
// untouched fast path.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "otlp/internal.h"
#include "otlp/otlp.h"
#include "test_messages.h"

namespace observex::otlp {
namespace {

using namespace observex::otlp::testing;

DecodedRequest Wrap(SignalType type, const google::protobuf::Message& m) {
  absl::StatusOr<DecodedRequest> d =
      Decode(type, Encoding::kProtobuf, m.SerializeAsString(), Limits{});
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? std::move(*d) : DecodedRequest{};
}

trace::Span& FirstSpan(DecodedRequest& d) {
  return *static_cast<TraceRequest&>(*d.message)
              .mutable_resource_spans(0)
              ->mutable_scope_spans(0)
              ->mutable_spans(0);
}

TEST(ApplyLimits, NothingExceedsMeansNothingChanges) {
  for (SignalType type : {SignalType::kTraces, SignalType::kMetrics, SignalType::kLogs}) {
    std::string wire = type == SignalType::kTraces    ? SampleTraces().SerializeAsString()
                       : type == SignalType::kMetrics ? SampleMetrics().SerializeAsString()
                                                      : SampleLogs().SerializeAsString();
    absl::StatusOr<DecodedRequest> d = Decode(type, Encoding::kProtobuf, wire, Limits{});
    ASSERT_TRUE(d.ok()) << d.status();
    LimitReport report = ApplyLimits(Limits{}, *d);
    EXPECT_EQ(report.truncated_values, 0u);
    EXPECT_EQ(report.dropped_attributes, 0u);
    EXPECT_EQ(report.items_affected, 0u);
    EXPECT_EQ(d->message->SerializeAsString(), wire);
  }
}

TEST(ApplyLimits, TenThousandAttributesOnOneSpanKeepTheFirst128) {
  TraceRequest in = SampleTraces();
  trace::Span* span = in.mutable_resource_spans(0)->mutable_scope_spans(0)->mutable_spans(1);
  span->set_dropped_attributes_count(3);
  for (int i = 0; i < 10000; ++i) {
    AddString(span->mutable_attributes(), "k" + std::to_string(i), "v");
  }
  DecodedRequest d = Wrap(SignalType::kTraces, in);
  ASSERT_NE(d.message, nullptr);
  LimitReport report = ApplyLimits(Limits{}, d);
  const trace::Span& out =
      static_cast<TraceRequest&>(*d.message).resource_spans(0).scope_spans(0).spans(1);
  ASSERT_EQ(out.attributes_size(), 128);
  EXPECT_EQ(out.attributes(0).key(), "k0");
  EXPECT_EQ(out.attributes(127).key(), "k127");
  EXPECT_EQ(out.dropped_attributes_count(), 3u + 9872u);
  EXPECT_EQ(report.dropped_attributes, 9872u);
  EXPECT_EQ(report.truncated_values, 0u);
  EXPECT_EQ(report.items_affected, 1u);
  // The other span kept its 7 attributes.
  EXPECT_EQ(static_cast<TraceRequest&>(*d.message)
                .resource_spans(0)
                .scope_spans(0)
                .spans(0)
                .attributes_size(),
            7);
}

TEST(ApplyLimits, CountLimitAppliesToEveryItemKind) {
  Limits limits;
  limits.max_attributes = 1;
  DecodedRequest t = Wrap(SignalType::kTraces, SampleTraces());
  LimitReport rt = ApplyLimits(limits, t);
  const auto& tr = static_cast<TraceRequest&>(*t.message);
  EXPECT_EQ(tr.resource_spans(0).scope_spans(0).spans(0).attributes_size(), 1);
  EXPECT_EQ(tr.resource_spans(0).scope_spans(0).spans(0).dropped_attributes_count(), 6u);
  EXPECT_EQ(rt.dropped_attributes, 6u);
  EXPECT_EQ(rt.items_affected, 1u);

  MetricsRequest m = SampleMetrics();
  auto* point = m.mutable_resource_metrics(0)
                    ->mutable_scope_metrics(0)
                    ->mutable_metrics(1)
                    ->mutable_sum()
                    ->mutable_data_points(0);
  AddString(point->mutable_attributes(), "a", "1");
  AddString(point->mutable_attributes(), "b", "2");
  auto* scope = m.mutable_resource_metrics(0)->mutable_scope_metrics(0)->mutable_scope();
  AddString(scope->mutable_attributes(), "a", "1");
  AddString(scope->mutable_attributes(), "b", "2");
  AddString(scope->mutable_attributes(), "c", "3");
  DecodedRequest dm = Wrap(SignalType::kMetrics, m);
  LimitReport rm = ApplyLimits(limits, dm);
  const auto& sm = static_cast<MetricsRequest&>(*dm.message).resource_metrics(0).scope_metrics(0);
  EXPECT_EQ(sm.metrics(1).sum().data_points(0).attributes_size(), 1);
  EXPECT_EQ(sm.scope().attributes_size(), 1);
  EXPECT_EQ(sm.scope().dropped_attributes_count(), 2u);
  EXPECT_EQ(rm.dropped_attributes, 3u);
  EXPECT_EQ(rm.items_affected, 2u);

  LogsRequest l = SampleLogs();
  AddString(l.mutable_resource_logs(0)->mutable_resource()->mutable_attributes(), "x", "y");
  DecodedRequest dl = Wrap(SignalType::kLogs, l);
  LimitReport rl = ApplyLimits(limits, dl);
  const auto& lr = static_cast<LogsRequest&>(*dl.message).resource_logs(0);
  EXPECT_EQ(lr.resource().attributes_size(), 1);
  EXPECT_EQ(lr.resource().dropped_attributes_count(), 1u);
  EXPECT_EQ(lr.scope_logs(0).log_records(0).attributes_size(), 1);
  EXPECT_EQ(lr.scope_logs(0).log_records(0).dropped_attributes_count(), 6u);
  EXPECT_EQ(rl.dropped_attributes, 7u);
  EXPECT_EQ(rl.items_affected, 2u);
}

TEST(ApplyLimits, EventsAndLinksAreLimitedToo) {
  Limits limits;
  limits.max_attributes = 0;
  DecodedRequest d = Wrap(SignalType::kTraces, SampleTraces());
  ApplyLimits(limits, d);
  const trace::Span& s = FirstSpan(d);
  EXPECT_EQ(s.events(0).attributes_size(), 0);
  EXPECT_EQ(s.events(0).dropped_attributes_count(), 1u);
  EXPECT_EQ(s.links(0).attributes_size(), 0);
  EXPECT_EQ(s.links(0).dropped_attributes_count(), 1u);
}

TEST(ApplyLimits, DroppedCountSaturates) {
  TraceRequest in = SampleTraces();
  in.mutable_resource_spans(0)
      ->mutable_scope_spans(0)
      ->mutable_spans(0)
      ->set_dropped_attributes_count(UINT32_MAX - 1);
  DecodedRequest d = Wrap(SignalType::kTraces, in);
  Limits limits;
  limits.max_attributes = 2;
  ApplyLimits(limits, d);
  EXPECT_EQ(FirstSpan(d).dropped_attributes_count(), UINT32_MAX);
}

TEST(ApplyLimits, LongKeysAndValuesAreCutOnCodePointBoundaries) {
  Limits limits;
  limits.max_attribute_key_bytes = 5;
  limits.max_attribute_value_bytes = 7;
  TraceRequest in;
  trace::Span* span = in.add_resource_spans()->add_scope_spans()->add_spans();
  // "ééé": 2-byte code points; a 5-byte cut would split the third one.
  AddString(span->mutable_attributes(), "\xc3\xa9\xc3\xa9\xc3\xa9", "ok");
  // "ab€€": 'a','b', then 3-byte euros; 7 bytes would end inside the second euro.
  AddString(span->mutable_attributes(), "k1", "ab\xe2\x82\xac\xe2\x82\xac");
  // Two 4-byte emoji: the cut at 7 keeps only the first.
  AddString(span->mutable_attributes(), "k2", "\xf0\x9f\x98\x80\xf0\x9f\x98\x80");
  // Exactly at the limit: untouched.
  AddString(span->mutable_attributes(), "k3", "1234567");
  common::KeyValue* b = span->add_attributes();
  b->set_key("k4");
  b->mutable_value()->set_bytes_value(std::string(10, '\xff'));  // bytes cut at the byte limit
  DecodedRequest d = Wrap(SignalType::kTraces, in);
  LimitReport report = ApplyLimits(limits, d);
  const trace::Span& out = FirstSpan(d);
  ASSERT_EQ(out.attributes_size(), 5);
  EXPECT_EQ(out.attributes(0).key(), "\xc3\xa9\xc3\xa9");
  EXPECT_EQ(out.attributes(1).value().string_value(), "ab\xe2\x82\xac");
  EXPECT_EQ(out.attributes(2).value().string_value(), "\xf0\x9f\x98\x80");
  EXPECT_EQ(out.attributes(3).value().string_value(), "1234567");
  EXPECT_EQ(out.attributes(4).value().bytes_value(), std::string(7, '\xff'));
  EXPECT_EQ(report.truncated_values, 4u);
  EXPECT_EQ(report.dropped_attributes, 0u);
  EXPECT_EQ(report.items_affected, 1u);
  for (const auto& kv : out.attributes()) {
    EXPECT_TRUE(internal::IsValidUtf8(kv.key())) << kv.key();
    EXPECT_TRUE(internal::IsValidUtf8(kv.value().string_value()));
  }
  // The result still passes protobuf's own UTF-8 check.
  EXPECT_TRUE(
      Decode(SignalType::kTraces, Encoding::kProtobuf, d.message->SerializeAsString(), Limits{})
          .ok());
}

TEST(ApplyLimits, NestedArraysAndKvlistsAreCutRecursively) {
  Limits limits;
  limits.max_attribute_key_bytes = 3;
  limits.max_attribute_value_bytes = 4;
  LogsRequest in;
  auto* rec = in.add_resource_logs()->add_scope_logs()->add_log_records();
  AddString(rec->mutable_body()->mutable_kvlist_value()->mutable_values(), "url", "https://x/");
  common::KeyValue* kv = rec->add_attributes();
  kv->set_key("map");
  auto* inner = kv->mutable_value()->mutable_kvlist_value()->add_values();
  inner->set_key("longkey");
  auto* arr = inner->mutable_value()->mutable_array_value();
  arr->add_values()->set_string_value("abcdefgh");
  arr->add_values()->set_int_value(123456789);
  DecodedRequest d = Wrap(SignalType::kLogs, in);
  LimitReport report = ApplyLimits(limits, d);
  const auto& out =
      static_cast<LogsRequest&>(*d.message).resource_logs(0).scope_logs(0).log_records(0);
  const auto& got = out.attributes(0).value().kvlist_value().values(0);
  EXPECT_EQ(got.key(), "lon");
  EXPECT_EQ(got.value().array_value().values(0).string_value(), "abcd");
  EXPECT_EQ(got.value().array_value().values(1).int_value(), 123456789);
  // The log body is not an attribute and is left whole.
  EXPECT_EQ(out.body().kvlist_value().values(0).value().string_value(), "https://x/");
  EXPECT_EQ(report.truncated_values, 2u);
  EXPECT_EQ(report.items_affected, 1u);
}

TEST(Utf8, ValidatorRejectsMalformedSequences) {
  EXPECT_TRUE(internal::IsValidUtf8(""));
  EXPECT_TRUE(internal::IsValidUtf8("plain ascii text longer than eight bytes"));
  EXPECT_TRUE(internal::IsValidUtf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  EXPECT_FALSE(internal::IsValidUtf8("\xc3"));              // truncated
  EXPECT_FALSE(internal::IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(internal::IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(internal::IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(internal::IsValidUtf8("abcdefgh\x80"));      // stray continuation
}

}  // namespace
}  // namespace observex::otlp
