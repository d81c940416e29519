#include "storage/rans.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace observex::storage::rans {
namespace {

uint32_t Sum(const std::vector<uint32_t>& v) { return std::accumulate(v.begin(), v.end(), 0u); }

TEST(Rans, FrequenciesSumToTheScaleAndKeepEveryPresentSymbol) {
  std::mt19937_64 rng(1);
  std::vector<std::vector<uint32_t>> cases = {
      {1},
      {0, 5, 0},
      {1000000, 1, 1, 1},
      std::vector<uint32_t>(kMaxSymbols, 1),
      std::vector<uint32_t>(kMaxSymbols, 0xffffffffu),
  };
  // One dominant symbol and 255 seen once: rounding up the rare ones overshoots the scale.
  cases.push_back(std::vector<uint32_t>(kMaxSymbols, 1));
  cases.back()[7] = 50000;
  for (int i = 0; i < 200; ++i) {
    std::vector<uint32_t> c(1 + rng() % kMaxSymbols);
    for (auto& x : c) x = rng() % 3 == 0 ? 0 : static_cast<uint32_t>(rng() % (1 + rng() % 100000));
    c[rng() % c.size()] += 1;
    cases.push_back(c);
  }
  for (const auto& counts : cases) {
    const std::vector<uint32_t> f = NormalizeFrequencies(counts);
    ASSERT_EQ(f.size(), counts.size());
    EXPECT_EQ(Sum(f), kScale);
    for (size_t i = 0; i < counts.size(); ++i) {
      EXPECT_EQ(f[i] > 0, counts[i] > 0) << "symbol " << i << " of " << counts.size();
    }
  }
}

// Symbols drawn from `weights`, coded and decoded back.
void RoundTrip(const std::vector<double>& weights, size_t n, std::mt19937_64& rng) {
  std::discrete_distribution<int> pick(weights.begin(), weights.end());
  std::vector<uint8_t> symbols(n);
  std::vector<uint32_t> counts(weights.size(), 0);
  for (auto& s : symbols) ++counts[s = static_cast<uint8_t>(pick(rng))];
  const std::vector<uint32_t> freqs = NormalizeFrequencies(counts);
  std::string coded;
  Encode(symbols, freqs, &coded);
  Decoder d;
  ASSERT_TRUE(d.Init(freqs).ok());
  ASSERT_TRUE(d.Start(coded.data(), coded.data() + coded.size()).ok());
  // In chunks of random sizes, odd ones included, as the states alternate across calls.
  std::vector<uint8_t> back(n);
  for (size_t at = 0; at < n;) {
    const size_t chunk = std::min<size_t>(n - at, 1 + rng() % 70);
    d.Decode(back.data() + at, chunk);
    at += chunk;
  }
  ASSERT_EQ(back, symbols) << n << " symbols";
  EXPECT_TRUE(d.Finish().ok()) << d.Finish();
  // The stream is as long as the model says, give or take the states, their word counts and a
  // word each.
  const double bits = CodedBits(counts, freqs);
  EXPECT_LE(static_cast<double>(coded.size()), bits / 8 + 6 * kStates) << n << " symbols";
}

TEST(Rans, SymbolsRoundTripUnderTheirOwnFrequencies) {
  std::mt19937_64 rng(2);
  RoundTrip({1}, 1000, rng);
  RoundTrip({1, 1}, 1, rng);
  RoundTrip({1000, 1}, 5000, rng);
  for (int round = 0; round < 100; ++round) {
    std::vector<double> w(1 + rng() % kMaxSymbols);
    for (auto& x : w) x = std::pow(static_cast<double>(rng() % 1000), 2) + (rng() % 4 == 0);
    w[0] += 1;
    RoundTrip(w, 1 + rng() % 10000, rng);
  }
}

TEST(Rans, DamagedStreamsAreFoundAtTheEnd) {
  std::mt19937_64 rng(3);
  std::vector<uint8_t> symbols(3000);
  std::vector<uint32_t> counts(20, 0);
  for (auto& s : symbols) ++counts[s = static_cast<uint8_t>(rng() % 7 + rng() % 13)];
  const std::vector<uint32_t> freqs = NormalizeFrequencies(counts);
  std::string coded;
  Encode(symbols, freqs, &coded);
  const auto decode_all = [&](const std::string& bytes) {
    Decoder d;
    EXPECT_TRUE(d.Init(freqs).ok());
    if (auto s = d.Start(bytes.data(), bytes.data() + bytes.size()); !s.ok()) return s;
    std::vector<uint8_t> back(symbols.size());
    d.Decode(back.data(), back.size());
    return d.Finish();
  };
  ASSERT_TRUE(decode_all(coded).ok());
  EXPECT_EQ(decode_all(coded.substr(0, coded.size() - 1)).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(decode_all(coded + "x").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(decode_all(coded.substr(0, 3)).code(), absl::StatusCode::kDataLoss);
  std::string flipped = coded;
  flipped[coded.size() / 2] ^= 0x10;
  EXPECT_EQ(decode_all(flipped).code(), absl::StatusCode::kDataLoss);
  std::string low_state = coded;
  low_state[2] = 0;  // first state below kLow
  low_state[3] = 0;
  EXPECT_EQ(decode_all(low_state).code(), absl::StatusCode::kDataLoss);
}

TEST(Rans, TablesThatDoNotSumToTheScaleAreRefused) {
  Decoder d;
  EXPECT_EQ(d.Init(std::vector<uint32_t>{kScale - 1}).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(d.Init(std::vector<uint32_t>{kScale, 1}).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(d.Init(std::vector<uint32_t>{}).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(d.Init(std::vector<uint32_t>(kMaxSymbols + 1, 1)).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(d.Init(std::vector<uint32_t>{0, kScale, 0}).ok());
}

}  // namespace
}  // namespace observex::storage::rans
