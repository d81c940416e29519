#include "app/storage_metrics.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "prometheus/registry.h"
#include "query/labels.h"
#include "storage/schema.h"
#include "storage/store.h"
#include "testing/temp_dir.h"
#include "wal/wal.h"
#include "writer/storage_writer.h"

namespace observex::app {
namespace {

// The value of `name`{result=...} (a counter) or of `name` (a gauge without labels); -1 when
// absent.
double Value(const prometheus::Registry& registry, const std::string& name,
             const std::string& result = "") {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      if (result.empty()) return m.gauge.value;
      for (const auto& l : m.label) {
        if (l.name == "result" && l.value == result) return m.counter.value;
      }
    }
  }
  return -1;
}

// The block cache's look-ups reach /metrics as counters that grow by what happened since the
// last scrape (the store counts from its start), and its bytes as a gauge.
TEST(StorageMetrics, BlockCacheLookupsArePublishedAsTheyGrow) {
  testing::TempDir dir;
  storage::StoreOptions so;
  so.dir = dir.path() / "store";
  so.background = false;
  so.retention = absl::InfiniteDuration();
  so.head.fsync = false;
  auto store = storage::OpenEmbeddedStore(so);
  ASSERT_TRUE(store.ok()) << store.status();
  wal::WalOptions wo;
  wo.dir = dir.path() / "wal";
  wo.fsync = false;
  wo.preallocate = false;
  auto wal = wal::Wal::Open(wo);
  ASSERT_TRUE(wal.ok()) << wal.status();
  writer::StorageWriter writer(wal->get(), store->get(), {});

  // Three series of 100 samples 15 s apart, written as a part.
  std::vector<query::Labels> labels;
  for (int i = 0; i < 3; ++i) {
    labels.push_back(query::Labels({{"__name__", "m"}, {"instance", "i" + std::to_string(i)}}));
  }
  std::vector<const query::Labels*> ptrs;
  for (const auto& l : labels) ptrs.push_back(&l);
  auto ids = (*store)->ResolveSeries(1, ptrs);
  ASSERT_TRUE(ids.ok()) << ids.status();
  const int64_t t0 = int64_t{20'000} * 86'400'000;
  storage::ColumnBatch rows = storage::SamplesSchema().NewBatch();
  for (int64_t id : *ids) {
    for (int k = 0; k < 100; ++k) {
      std::get<0>(rows.columns[0]).push_back(id);
      std::get<0>(rows.columns[1]).push_back(t0 + k * 15'000);
      std::get<1>(rows.columns[2]).push_back(k);
    }
  }
  ASSERT_TRUE((*store)->Append(1, storage::Table::kSamples, rows, 1).ok());
  ASSERT_TRUE((*store)->Flush().ok());

  auto source = (*store)->Series(storage::TenantScope(tenant::AuthResult{1, "t", 1}));
  auto matcher = query::LabelMatcher::Create(query::LabelMatcher::Type::kEqual, "__name__", "m");
  ASSERT_TRUE(matcher.ok());
  const auto read = [&] {
    auto set = source->Select({*matcher}, t0 + 600'000, t0 + 900'000);
    ASSERT_TRUE(set.ok()) << set.status();
    int series = 0;
    while ((*set)->Next()) ++series;
    EXPECT_EQ(series, 3);
  };

  prometheus::Registry registry;
  StorageMetrics metrics(registry);
  metrics.Publish(**store, **wal, writer);
  EXPECT_EQ(Value(registry, "observex_storage_block_cache_lookups_total", "hit"), 0);
  EXPECT_EQ(Value(registry, "observex_storage_block_cache_lookups_total", "miss"), 0);

  for (int round = 0; round < 3; ++round) {
    ASSERT_NO_FATAL_FAILURE(read());
    ASSERT_NO_FATAL_FAILURE(read());
    metrics.Publish(**store, **wal, writer);
    const storage::StoreStats s = (*store)->stats();
    EXPECT_GT(s.block_cache_misses, 0u);
    EXPECT_GT(s.block_cache_hits, 0u);
    EXPECT_EQ(Value(registry, "observex_storage_block_cache_lookups_total", "hit"),
              static_cast<double>(s.block_cache_hits))
        << "round " << round;
    EXPECT_EQ(Value(registry, "observex_storage_block_cache_lookups_total", "miss"),
              static_cast<double>(s.block_cache_misses))
        << "round " << round;
    EXPECT_EQ(Value(registry, "observex_storage_block_cache_bytes"),
              static_cast<double>(s.block_cache_bytes));
  }
}

}  // namespace
}  // namespace observex::app
