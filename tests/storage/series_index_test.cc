// The series index log (storage/series_index.h): batches and snapshots round-trip, damage
// cuts a batch whole, logs of single-entry records are still read and get compacted, a
// leftover snapshot file is ignored, and pending entries are bounded and written at close.
#include "storage/series_index.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "storage/bits.h"
#include "test_util.h"
#include "wal/crc32c.h"

namespace observex::storage {
namespace {

namespace fs = std::filesystem;
using testing::ReadBytes;
using testing::TempDir;
using testing::WriteBytes;

constexpr int32_t kDay = 19700;

query::Labels Target(int target, int series) {
  return query::Labels({{"__name__", "http_requests_total"},
                        {"code", std::to_string(200 + series % 5)},
                        {"instance", "10.0.0." + std::to_string(target) + ":9100"},
                        {"job", target % 2 ? "api" : "db"},
                        {"route", "/v1/items/" + std::to_string(series / 5)}});
}

std::vector<int64_t> ResolveAll(SeriesIndex& index, const std::vector<query::Labels>& sets) {
  std::vector<const query::Labels*> ptrs;
  for (const auto& l : sets) ptrs.push_back(&l);
  auto ids = index.Resolve(ptrs);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int64_t>{};
}

// A record as logs held them before batches: u32 length | u32 crc32c(type + body) | type | body.
std::string OldRecord(uint8_t type, const std::string& body) {
  std::string rec;
  bits::PutFixed32(&rec, static_cast<uint32_t>(body.size()));
  bits::PutFixed32(&rec,
                   wal::crc32c::Extend(wal::crc32c::Value(&type, 1), body.data(), body.size()));
  rec.push_back(static_cast<char>(type));
  return rec + body;
}

void PutStr(std::string* out, const std::string& s) {
  bits::PutVarint(out, s.size());
  out->append(s);
}

TEST(SeriesIndexLog, ManySyncsRoundTripThroughSnapshots) {
  TempDir dir;
  const fs::path path = dir.path() / "series.log";
  std::vector<query::Labels> all;
  size_t raw_label_bytes = 0;
  {
    auto index = SeriesIndex::Open(path, true);
    ASSERT_TRUE(index.ok()) << index.status();
    uint64_t largest = 0;
    bool shrank = false;
    for (int target = 0; target < 120; ++target) {
      std::vector<query::Labels> sets;
      for (int s = 0; s < 60; ++s) sets.push_back(Target(target, s));
      for (const auto& l : sets) {
        for (const auto& item : l.items()) raw_label_bytes += item.name.size() + item.value.size();
      }
      const auto ids = ResolveAll(**index, sets);
      ASSERT_EQ(ids.size(), sets.size());
      EXPECT_EQ(ids.front(), static_cast<int64_t>(all.size()) + 1);
      all.insert(all.end(), sets.begin(), sets.end());
      ASSERT_TRUE((*index)->NoteDay(ids, kDay + target % 3).ok());
      ASSERT_TRUE((*index)
                      ->UpdateMetadata({{"http_requests_total", "counter",
                                         "Requests, try " + std::to_string(target), ""}})
                      .ok());
      ASSERT_TRUE((*index)->Sync().ok());
      const uint64_t size = fs::file_size(path);
      shrank |= size < largest;
      largest = std::max(largest, size);
    }
    EXPECT_TRUE(shrank) << "the log was never replaced by a smaller snapshot";
    EXPECT_FALSE(fs::exists(path.string() + ".snapshot-tmp"));
  }
  EXPECT_LT(fs::file_size(path), raw_label_bytes / 10) << "labels are stored compressed";

  auto counted = SeriesIndex::CountSeries(path);
  ASSERT_TRUE(counted.ok()) << counted.status();
  EXPECT_EQ(*counted, all.size());
  auto index = SeriesIndex::Open(path, true);
  ASSERT_TRUE(index.ok()) << index.status();
  ASSERT_EQ((*index)->size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ((*index)->LabelsOf(static_cast<int64_t>(i) + 1), all[i]) << i;
  }
  // Days came back: target t's series have samples on kDay + t % 3 only.
  auto name = *query::LabelMatcher::Create(query::LabelMatcher::Type::kEqual, "__name__",
                                           "http_requests_total");
  EXPECT_EQ((*index)->Match({name}, kDay, kDay).size(), 40u * 60u);
  EXPECT_EQ((*index)->Match({name}, kDay, kDay + 2).size(), all.size());
  EXPECT_TRUE((*index)->Match({name}, kDay + 3, kDay + 9).empty());
  auto md = (*index)->Metadata("http_requests_total");
  ASSERT_EQ(md.size(), 1u);
  EXPECT_EQ(md[0].help, "Requests, try 119") << "the latest metadata wins";
  // Known labels keep their ids; a new set gets the next one.
  EXPECT_EQ(ResolveAll(**index, {all[77]}), std::vector<int64_t>{78});
  EXPECT_EQ(ResolveAll(**index, {Target(999, 0)}),
            std::vector<int64_t>{static_cast<int64_t>(all.size()) + 1});
}

TEST(SeriesIndexLog, DamagedBatchIsCutWhole) {
  TempDir dir;
  const fs::path path = dir.path() / "series.log";
  uint64_t first_batch_end = 0;
  {
    auto index = SeriesIndex::Open(path, false);
    ASSERT_TRUE(index.ok());
    std::vector<query::Labels> a, b;
    for (int s = 0; s < 10; ++s) a.push_back(Target(1, s));
    for (int s = 0; s < 10; ++s) b.push_back(Target(2, s));
    ResolveAll(**index, a);
    ASSERT_TRUE((*index)->Sync().ok());
    first_batch_end = fs::file_size(path);
    ResolveAll(**index, b);
    ASSERT_TRUE((*index)->Sync().ok());
  }
  const uint64_t whole = fs::file_size(path);
  ASSERT_GT(whole, first_batch_end);
  testing::FlipByte(path, first_batch_end + (whole - first_batch_end) / 2);
  auto counted = SeriesIndex::CountSeries(path);
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(*counted, 10u) << "none of the damaged batch's series counts";
  auto index = SeriesIndex::Open(path, false);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ((*index)->size(), 10u);
  EXPECT_EQ(fs::file_size(path), first_batch_end) << "the damaged batch was cut";
  EXPECT_EQ(ResolveAll(**index, {Target(3, 0)}), std::vector<int64_t>{11});
}

TEST(SeriesIndexLog, SingleEntryRecordsAreReadAndCompacted) {
  TempDir dir;
  const fs::path path = dir.path() / "series.log";
  std::string log;
  std::vector<query::Labels> all;
  for (int i = 0; i < 2000; ++i) {
    all.push_back(Target(i / 60, i % 60));
    std::string body;
    bits::PutVarint(&body, static_cast<uint64_t>(i) + 1);
    bits::PutVarint(&body, all.back().size());
    for (const auto& l : all.back().items()) {
      PutStr(&body, l.name);
      PutStr(&body, l.value);
    }
    log += OldRecord(1, body);
    std::string day;
    bits::PutVarint(&day, static_cast<uint64_t>(i) + 1);
    bits::PutVarint(&day, bits::ZigZag(kDay));
    log += OldRecord(2, day);
  }
  std::string md;
  for (const char* s : {"http_requests_total", "counter", "Requests.", ""}) PutStr(&md, s);
  log += OldRecord(3, md);
  // An old record naming an id that does not exist ends the good part.
  std::string bad_day;
  bits::PutVarint(&bad_day, 5000);
  bits::PutVarint(&bad_day, bits::ZigZag(kDay));
  log += OldRecord(2, bad_day);
  WriteBytes(path, log);

  auto counted = SeriesIndex::CountSeries(path);
  ASSERT_TRUE(counted.ok());
  EXPECT_EQ(*counted, all.size());
  {
    auto index = SeriesIndex::Open(path, true);
    ASSERT_TRUE(index.ok()) << index.status();
    ASSERT_EQ((*index)->size(), all.size());
    EXPECT_EQ((*index)->LabelsOf(1234), all[1233]);
    all.push_back(Target(500, 0));
    EXPECT_EQ(ResolveAll(**index, {all.back()}), std::vector<int64_t>{2001});
    ASSERT_TRUE((*index)->Sync().ok());
  }
  EXPECT_LT(fs::file_size(path), log.size() / 20) << "replaced by a compressed snapshot";
  auto index = SeriesIndex::Open(path, true);
  ASSERT_TRUE(index.ok());
  ASSERT_EQ((*index)->size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ((*index)->LabelsOf(static_cast<int64_t>(i) + 1), all[i]) << i;
  }
  auto name = *query::LabelMatcher::Create(query::LabelMatcher::Type::kEqual, "__name__",
                                           "http_requests_total");
  EXPECT_EQ((*index)->Match({name}, kDay, kDay).size(), 2000u);
  ASSERT_EQ((*index)->Metadata("").size(), 1u);
}

TEST(SeriesIndexLog, LeftoverSnapshotFileIsIgnored) {
  TempDir dir;
  const fs::path path = dir.path() / "series.log";
  {
    auto index = SeriesIndex::Open(path, true);
    ASSERT_TRUE(index.ok());
    ResolveAll(**index, {Target(1, 1), Target(1, 2)});
    ASSERT_TRUE((*index)->Sync().ok());
  }
  // A crash between writing a snapshot and renaming it leaves the file; the log is intact.
  const fs::path tmp = path.string() + ".snapshot-tmp";
  WriteBytes(tmp, "half a snapshot");
  auto index = SeriesIndex::Open(path, true);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ((*index)->size(), 2u);
  EXPECT_FALSE(fs::exists(tmp));
}

TEST(SeriesIndexLog, PendingEntriesAreBoundedAndWrittenAtClose) {
  TempDir dir;
  const fs::path path = dir.path() / "series.log";
  {
    auto index = SeriesIndex::Open(path, false);
    ASSERT_TRUE(index.ok());
    ResolveAll(**index, {Target(1, 1)});
    EXPECT_EQ(fs::file_size(path), 0u) << "nothing is written before Sync";
    // Labels that share nothing with their neighbours pass the bound on pending bytes.
    std::vector<query::Labels> big;
    for (int i = 0; i < 600; ++i) {
      big.push_back(query::Labels(
          {{"__name__", "m" + std::to_string(i)}, {"blob", std::string(2048, 'a' + i % 26)}}));
    }
    ResolveAll(**index, big);
    EXPECT_GT(fs::file_size(path), 0u) << "more than kMaxPendingBytes waited for Sync";
    ResolveAll(**index, {Target(1, 2)});
    const query::Labels empty;
    const query::Labels* p = &empty;
    EXPECT_TRUE(absl::IsInvalidArgument((*index)->Resolve({&p, 1}).status()));
  }
  auto index = SeriesIndex::Open(path, false);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ((*index)->size(), 602u) << "the last entries were written at close";
  EXPECT_EQ((*index)->LabelsOf(602), Target(1, 2));
}

}  // namespace
}  // namespace observex::storage
