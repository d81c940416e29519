#include "storage/block_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace observex::storage {
namespace {

std::shared_ptr<const std::string> Block(size_t bytes, char fill) {
  return std::make_shared<const std::string>(bytes, fill);
}

TEST(BlockCache, HitsReturnTheBlockKeptAndCountHitsAndMisses) {
  BlockCache cache(1 << 20);
  const BlockCache::Key a{1, 2, 3};
  EXPECT_EQ(cache.Lookup(a), nullptr);
  cache.Insert(a, Block(100, 'a'));
  auto hit = cache.Lookup(a);
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(*hit, std::string(100, 'a'));
  // Another part, column or block is another key.
  EXPECT_EQ(cache.Lookup({2, 2, 3}), nullptr);
  EXPECT_EQ(cache.Lookup({1, 3, 3}), nullptr);
  EXPECT_EQ(cache.Lookup({1, 2, 4}), nullptr);
  const auto st = cache.stats();
  EXPECT_EQ(st.hits, 1u);
  EXPECT_EQ(st.misses, 4u);
  EXPECT_EQ(st.entries, 1u);
  EXPECT_EQ(st.bytes, 100 + BlockCache::kEntryOverheadBytes);
}

TEST(BlockCache, StaysWithinItsBoundEvictingTheLeastRecentlyUsed) {
  const size_t entry = 1000 + BlockCache::kEntryOverheadBytes;
  BlockCache cache(10 * entry);
  for (uint32_t b = 0; b < 10; ++b) cache.Insert({7, 0, b}, Block(1000, 'x'));
  EXPECT_EQ(cache.stats().entries, 10u);
  // Block 0 is used again: block 1 is now the least recently used and goes first.
  ASSERT_NE(cache.Lookup({7, 0, 0}), nullptr);
  cache.Insert({7, 0, 10}, Block(1000, 'y'));
  EXPECT_NE(cache.Lookup({7, 0, 0}), nullptr);
  EXPECT_EQ(cache.Lookup({7, 0, 1}), nullptr);
  EXPECT_NE(cache.Lookup({7, 0, 10}), nullptr);
  for (uint32_t b = 11; b < 100; ++b) {
    cache.Insert({7, 0, b}, Block(1000, 'z'));
    ASSERT_LE(cache.stats().bytes, 10 * entry);
  }
  EXPECT_EQ(cache.stats().entries, 10u);
  EXPECT_EQ(cache.stats().evictions, 90u);
  // A block evicted while a reader holds it stays valid for that reader.
  auto held = cache.Lookup({7, 0, 99});
  ASSERT_NE(held, nullptr);
  for (uint32_t b = 100; b < 120; ++b) cache.Insert({7, 0, b}, Block(1000, 'w'));
  EXPECT_EQ(cache.Lookup({7, 0, 99}), nullptr);
  EXPECT_EQ(*held, std::string(1000, 'z'));
}

TEST(BlockCache, ABlockOverAnEighthOfTheBoundIsNotKept) {
  BlockCache cache(8000);
  cache.Insert({1, 0, 0}, Block(1000 - BlockCache::kEntryOverheadBytes + 1, 'a'));
  EXPECT_EQ(cache.Lookup({1, 0, 0}), nullptr);
  cache.Insert({1, 0, 1}, Block(1000 - BlockCache::kEntryOverheadBytes, 'a'));
  EXPECT_NE(cache.Lookup({1, 0, 1}), nullptr);
}

TEST(BlockCache, TheFirstOfTwoInsertsOfAKeyStays) {
  BlockCache cache(1 << 20);
  cache.Insert({1, 0, 0}, Block(10, 'a'));
  cache.Insert({1, 0, 0}, Block(20, 'b'));
  EXPECT_EQ(*cache.Lookup({1, 0, 0}), std::string(10, 'a'));
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.stats().bytes, 10 + BlockCache::kEntryOverheadBytes);
}

// Readers on several threads looking up and inserting the same keys see only whole blocks
// with the content of their key, and the bound holds throughout. Most look-ups go to 32 hot
// keys (they stay cached: far fewer distinct keys come between two uses of one than the 64
// the cache holds), one in eight to 150 others (which keep evicting).
TEST(BlockCache, ConcurrentReadersSeeWholeBlocks) {
  const size_t bound = 64 * (256 + BlockCache::kEntryOverheadBytes);
  BlockCache cache(bound);
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint32_t i = 0; i < 20'000; ++i) {
        const uint32_t b = i % 8 == 0 ? 32 + (i * 13 + static_cast<uint32_t>(t)) % 150
                                      : (i * 7 + static_cast<uint32_t>(t)) % 32;
        const char want = static_cast<char>('a' + b % 26);
        if (auto hit = cache.Lookup({1, 0, b})) {
          bad[t] += *hit != std::string(256, want);
        } else {
          cache.Insert({1, 0, b}, Block(256, want));
        }
        bad[t] += cache.stats().bytes > bound;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
  const auto st = cache.stats();
  EXPECT_EQ(st.hits + st.misses, 80'000u);
  EXPECT_GT(st.hits, 40'000u);
  EXPECT_GT(st.evictions, 0u);
}

}  // namespace
}  // namespace observex::storage
