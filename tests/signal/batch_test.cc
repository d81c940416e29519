#include "signal/batch.h"

#include "gtest/gtest.h"

namespace observex {
namespace {

TEST(BatchRecordTest, RoundTrips) {
  BatchHeader h;
  h.tenant_id = 42;
  h.tenant_name = "acme";
  h.type = SignalType::kLogs;
  h.ingested_at_unix_nanos = 1'700'000'000'123'456'789;
  h.observex_version = "0.1.0";
  h.signal_count = 3;
  h.truncated_values = 2;
  h.dropped_attributes = 1;
  std::string rec = EncodeBatchRecord(h, std::string("\x0a\x01\x00", 3));
  auto view = DecodeBatchRecord(rec);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->header.tenant_id, 42);
  EXPECT_EQ(view->header.tenant_name, "acme");
  EXPECT_EQ(view->header.type, SignalType::kLogs);
  EXPECT_EQ(view->header.ingested_at_unix_nanos, 1'700'000'000'123'456'789);
  EXPECT_EQ(view->header.observex_version, "0.1.0");
  EXPECT_EQ(view->header.signal_count, 3u);
  EXPECT_EQ(view->header.truncated_values, 2u);
  EXPECT_EQ(view->header.dropped_attributes, 1u);
  EXPECT_EQ(view->request, std::string_view("\x0a\x01\x00", 3));
}

TEST(BatchRecordTest, RejectsTruncatedAndUnknown) {
  BatchHeader h;
  h.tenant_name = "t";
  std::string rec = EncodeBatchRecord(h, "");
  for (size_t n = 0; n + 1 < rec.size(); ++n) {
    EXPECT_FALSE(DecodeBatchRecord(std::string_view(rec).substr(0, n)).ok()) << n;
  }
  std::string bad = rec;
  bad[0] = 9;
  EXPECT_EQ(DecodeBatchRecord(bad).status().code(), absl::StatusCode::kDataLoss);
  bad = rec;
  bad[1] = 7;
  EXPECT_FALSE(DecodeBatchRecord(bad).ok());
}

TEST(SignalTypeTest, Names) {
  EXPECT_EQ(SignalTypeName(SignalType::kMetrics), "metrics");
  EXPECT_EQ(*ParseSignalType("traces"), SignalType::kTraces);
  EXPECT_FALSE(ParseSignalType("spans").ok());
}

}  // namespace
}  // namespace observex
