// Fingerprints are stable (pinned values), follow the label set and not the construction order,
// and separate label sets that differ only in where the name/value boundary falls.
#include "metrics/fingerprint.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace observex::metrics {
namespace {

TEST(Fingerprint, PinnedValues) {
  // Storage may persist fingerprints: these values must never change (fingerprint v1).
  EXPECT_EQ(Hash64(""), 17622645311363874476ULL);
  EXPECT_EQ(Hash64("a"), 17092261376298446225ULL);
  EXPECT_EQ(Hash64("01234567"), 6243713026551689261ULL);
  EXPECT_EQ(Hash64("012345678"), 4368019233316944369ULL);
  EXPECT_EQ(Fingerprint(query::Labels({{"__name__", "up"}, {"job", "api"}})),
            16993719173657388916ULL);
}

TEST(Fingerprint, IsTheHashOfTheLabelsKey) {
  query::Labels l({{"__name__", "http_requests_total"}, {"job", "api"}, {"code", "200"}});
  EXPECT_EQ(Fingerprint(l), Hash64(l.Key()));
  std::string key;
  AppendLabelsKey(l, &key);
  EXPECT_EQ(key, l.Key());
}

TEST(Fingerprint, DependsOnTheSetNotTheOrder) {
  EXPECT_EQ(Fingerprint(query::Labels({{"b", "1"}, {"a", "2"}})),
            Fingerprint(query::Labels({{"a", "2"}, {"b", "1"}})));
  EXPECT_NE(Fingerprint(query::Labels({{"a", "1"}})), Fingerprint(query::Labels({{"a", "2"}})));
  // The separator keeps name and value apart.
  EXPECT_NE(Fingerprint(query::Labels({{"a", "bc"}})), Fingerprint(query::Labels({{"ab", "c"}})));
  EXPECT_NE(Fingerprint(query::Labels({{"a", "1"}, {"b", "2"}})),
            Fingerprint(query::Labels({{"a", "1b"}})));
}

TEST(Fingerprint, NoCollisionsAmongManySimilarSets) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 20000; ++i) {
    query::Labels l({{"__name__", "m"}, {"i", std::to_string(i)}, {"j", std::to_string(i % 7)}});
    EXPECT_TRUE(seen.insert(Fingerprint(l)).second) << i;
  }
  // Single-bit differences in any byte position change the hash.
  std::string base(23, 'x');
  for (size_t i = 0; i < base.size(); ++i) {
    std::string other = base;
    other[i] ^= 1;
    EXPECT_NE(Hash64(base), Hash64(other)) << i;
  }
  EXPECT_NE(Hash64(std::string(8, '\0')), Hash64(std::string(9, '\0')));  // length counts
}

}  // namespace
}  // namespace observex::metrics
