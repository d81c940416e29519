#include "storage/part.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <span>
#include <string>

#include "absl/strings/match.h"
#include "storage/bits.h"
#include "storage/bloom.h"
#include "storage/manifest.h"
#include "test_util.h"
#include "wal/crc32c.h"

namespace observex::storage {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr int64_t kTenant = 7;
constexpr int32_t kDay = 19'700;  // 2023-12-09

PartWriteOptions Options(std::string name, uint32_t block_rows = 64) {
  PartWriteOptions o;
  o.tenant_id = kTenant;
  o.day = kDay;
  o.name = std::move(name);
  o.block_rows = block_rows;
  o.fsync = false;
  o.wal_range = WalRange{100, 4000};
  return o;
}

// Every column of every block, concatenated.
ColumnBatch ReadAll(const PartReader& part) {
  ColumnBatch out = part.schema().NewBatch();
  BlockReadContext ctx;
  for (size_t c = 0; c < out.columns.size(); ++c) {
    for (size_t b = 0; b < part.num_blocks(); ++b) {
      Column block;
      auto s = part.ReadBlock(static_cast<int>(c), b, ctx, &block);
      EXPECT_TRUE(s.ok()) << s;
      std::vector<uint32_t> all(RowCount(block));
      std::iota(all.begin(), all.end(), 0u);
      if (s.ok()) AppendRows(block, all, out.columns[c]);
    }
  }
  return out;
}

// The first error reading every block of every column, or OK.
absl::Status ReadEverything(const PartReader& part) {
  BlockReadContext ctx;
  for (size_t c = 0; c < part.manifest().columns.size(); ++c) {
    for (size_t b = 0; b < part.num_blocks(); ++b) {
      Column block;
      if (auto s = part.ReadBlock(static_cast<int>(c), b, ctx, &block); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// A write that fails on one of the column threads while the other is still writing (here:
// the file size limit, EFBIG, reached by the larger column files) fails the whole part with
// an error naming the file, joins both threads and leaves nothing in the day directory; the
// same rows then write and read back. Run in a child process, which alone has the limit.
TEST(Part, AColumnFailingOnOneThreadLeavesNoPart) {
  std::mt19937_64 rng(71);
  TempDir dir;
  const ColumnBatch rows = testing::RandomRows(LogsSchema(), rng, 20'000, kDay);
  const fs::path day_dir = DayDir(dir.path(), kTenant, Table::kLogs, kDay);
  PartWriteOptions options = Options("p1", 1024);
  options.threads = 2;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{64 << 10, 64 << 10};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(10);
    auto m = WritePart(dir.path(), LogsSchema(), rows, options);
    if (m.ok()) _exit(11);
    if (!absl::StrContains(m.status().message(), ".col")) _exit(12);
    std::error_code ec;
    if (!fs::is_empty(day_dir, ec) || ec) _exit(13);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  // 11: the part was written (the limit did not bite); 12: the error does not name a column
  // file; 13: something was left behind.
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto m = WritePart(dir.path(), LogsSchema(), rows, options);
  ASSERT_TRUE(m.ok()) << m.status();
  auto part = PartReader::Open(day_dir / "p1", LogsSchema(), kTenant);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_TRUE(testing::SameBatch(
      ReadAll(**part), testing::Permute(rows, testing::SortKeyOrder(LogsSchema(), rows))));
}

TEST(PartNames, DayDirectoriesAndPartNames) {
  EXPECT_EQ(DayDirName(0), "1970-01-01");
  EXPECT_EQ(DayDirName(-1), "1969-12-31");
  EXPECT_EQ(DayDirName(kDay), "2023-12-09");
  EXPECT_EQ(PartName(42), "p-00000000000000000042");
  EXPECT_EQ(DayDir("/d", 12, Table::kLogs, 0), fs::path("/d/12/logs/1970-01-01"));
  EXPECT_EQ(SpansSchema().DayOf(-1), -1);
  EXPECT_EQ(SpansSchema().DayOf(0), 0);
  EXPECT_EQ(SamplesSchema().DayOf(86'400'000), 1);
  EXPECT_EQ(SamplesSchema().DayOf(86'399'999), 0);
}

TEST(Part, EveryTableRoundTripsSortedByItsKey) {
  for (const TableSchema* schema : {&SpansSchema(), &LogsSchema(), &SamplesSchema()}) {
    for (size_t n : {size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{1000}}) {
      SCOPED_TRACE(std::string(TableName(schema->table)) + " n=" + std::to_string(n));
      std::mt19937_64 rng(n * 31 + static_cast<uint64_t>(schema->table));
      TempDir dir;
      const ColumnBatch rows = testing::RandomRows(*schema, rng, n, kDay);
      auto m = WritePart(dir.path(), *schema, rows, Options("p1"));
      ASSERT_TRUE(m.ok()) << m.status();
      EXPECT_EQ(m->rows, n);
      EXPECT_EQ(m->blocks.size(), (n + 63) / 64);

      const fs::path part_dir = DayDir(dir.path(), kTenant, schema->table, kDay) / "p1";
      auto part = PartReader::Open(part_dir, *schema, kTenant);
      ASSERT_TRUE(part.ok()) << part.status();
      EXPECT_EQ((*part)->manifest(), *m);
      const ColumnBatch expected = testing::Permute(rows, testing::SortKeyOrder(*schema, rows));
      EXPECT_TRUE(testing::SameBatch(ReadAll(**part), expected));
    }
  }
}

// Series of one target share their scrape times: the part stores each target's sequence once
// and the time blocks refer to slices of it, also where a block cuts a series.
TEST(Part, SeriesScrapedTogetherShareOneTimeSequence) {
  std::mt19937_64 rng(41);
  ColumnBatch rows = SamplesSchema().NewBatch();
  auto& ids = std::get<0>(rows.columns[0]);
  auto& times = std::get<0>(rows.columns[1]);
  auto& values = std::get<1>(rows.columns[2]);
  const int64_t day_start = int64_t{kDay} * 86'400'000;
  int64_t id = 0;
  for (int target = 0; target < 3; ++target) {
    std::vector<int64_t> scrapes;
    int64_t at = day_start + 1000 * target;
    for (int i = 0; i < 700; ++i) {
      at += i == 300 ? 30'000 : 15'000;
      scrapes.push_back(at + (rng() % 10 == 0 ? 1 : 0));
    }
    for (int s = 0; s < 10; ++s) {
      ++id;
      // The last series of a target misses its first scrapes: not shared.
      for (size_t i = s == 9 ? 5 : 0; i < scrapes.size(); ++i) {
        ids.push_back(id);
        times.push_back(scrapes[i]);
        values.push_back(static_cast<double>(rng() % 1000));
      }
    }
  }
  TempDir dir;
  auto m = WritePart(dir.path(), SamplesSchema(), rows, Options("p", 8192));
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->time_sequences.size(), 3u);
  for (const auto& seq : m->time_sequences) EXPECT_EQ(seq.values, 700u);
  const int time_col = SamplesSchema().time_column;
  // 20,700 timestamps in well under a byte each (the sequences live in the manifest).
  EXPECT_LT(m->columns[time_col].file_bytes, 600u) << m->columns[time_col].file_bytes;
  auto part = PartReader::Open(DayDir(dir.path(), kTenant, Table::kSamples, kDay) / "p",
                               SamplesSchema(), kTenant);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_EQ((*part)->manifest(), *m);
  const ColumnBatch expected = testing::Permute(rows, testing::SortKeyOrder(SamplesSchema(), rows));
  EXPECT_TRUE(testing::SameBatch(ReadAll(**part), expected));

  // Without shared times (every series its own scrape phase) nothing is shared.
  for (size_t i = 0; i < times.size(); ++i) times[i] += ids[i];
  auto m2 = WritePart(dir.path(), SamplesSchema(), rows, Options("p2", 8192));
  ASSERT_TRUE(m2.ok()) << m2.status();
  EXPECT_TRUE(m2->time_sequences.empty());
  auto part2 = PartReader::Open(DayDir(dir.path(), kTenant, Table::kSamples, kDay) / "p2",
                                SamplesSchema(), kTenant);
  ASSERT_TRUE(part2.ok()) << part2.status();
  EXPECT_TRUE(testing::SameBatch(
      ReadAll(**part2), testing::Permute(rows, testing::SortKeyOrder(SamplesSchema(), rows))));
}

TEST(Part, ManifestRecordsTheSparseIndexAndCounts) {
  std::mt19937_64 rng(11);
  TempDir dir;
  const TableSchema& schema = SpansSchema();
  const ColumnBatch rows = testing::RandomRows(schema, rng, 500, kDay);
  auto m = WritePart(dir.path(), schema, rows, Options("p1", 100));
  ASSERT_TRUE(m.ok()) << m.status();
  const ColumnBatch sorted = testing::Permute(rows, testing::SortKeyOrder(schema, rows));
  const auto& times = std::get<0>(sorted.columns[schema.time_column]);
  ASSERT_EQ(m->blocks.size(), 5u);
  for (size_t b = 0; b < 5; ++b) {
    const BlockMeta& blk = m->blocks[b];
    EXPECT_EQ(blk.rows, 100u);
    const auto first = times.begin() + static_cast<long>(b * 100);
    EXPECT_EQ(blk.min_time, *std::min_element(first, first + 100));
    EXPECT_EQ(blk.max_time, *std::max_element(first, first + 100));
    EXPECT_EQ(std::get<std::string>(blk.first_key[0]), std::get<2>(sorted.columns[0]).at(b * 100));
    EXPECT_EQ(std::get<std::string>(blk.last_key[1]),
              std::get<2>(sorted.columns[1]).at(b * 100 + 99));
    EXPECT_EQ(std::get<int64_t>(blk.first_key[2]), times[b * 100]);
  }
  EXPECT_EQ(m->wal_range, (WalRange{100, 4000}));
  EXPECT_EQ(m->tenant_id, kTenant);
  EXPECT_EQ(m->day, kDay);
  for (const auto& c : m->columns) {
    EXPECT_EQ(c.file_bytes, fs::file_size(DayDir(dir.path(), kTenant, Table::kSpans, kDay) / "p1" /
                                          ColumnFileName(c.name)))
        << c.name;
    EXPECT_GT(c.raw_bytes, 0u) << c.name;
  }
}

TEST(Part, DirectoryHoldsOneFilePerColumnAndNoTemporaryLeftovers) {
  std::mt19937_64 rng(12);
  TempDir dir;
  const TableSchema& schema = LogsSchema();
  auto m =
      WritePart(dir.path(), schema, testing::RandomRows(schema, rng, 10, kDay), Options("p-1"));
  ASSERT_TRUE(m.ok()) << m.status();
  const fs::path day_dir = dir.path() / "7" / "logs" / "2023-12-09";
  std::set<std::string> entries;
  for (const auto& e : fs::directory_iterator(day_dir)) entries.insert(e.path().filename());
  EXPECT_EQ(entries, std::set<std::string>{"p-1"});
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(day_dir / "p-1")) files.insert(e.path().filename());
  std::set<std::string> expected = {"MANIFEST", "trace_id.bloom"};
  for (const auto& c : schema.columns) expected.insert(c.name + ".col");
  EXPECT_EQ(files, expected);
}

TEST(Part, WritesWithFsyncToo) {
  std::mt19937_64 rng(13);
  TempDir dir;
  PartWriteOptions o = Options("synced");
  o.fsync = true;
  auto m = WritePart(dir.path(), SamplesSchema(),
                     testing::RandomRows(SamplesSchema(), rng, 50, kDay), o);
  ASSERT_TRUE(m.ok()) << m.status();
  auto part = PartReader::Open(DayDir(dir.path(), kTenant, Table::kSamples, kDay) / "synced",
                               SamplesSchema(), kTenant);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_TRUE(ReadEverything(**part).ok());
}

TEST(Part, RejectsBadInput) {
  std::mt19937_64 rng(14);
  TempDir dir;
  const TableSchema& schema = SpansSchema();
  ColumnBatch rows = testing::RandomRows(schema, rng, 10, kDay);

  EXPECT_EQ(WritePart(dir.path(), schema, schema.NewBatch(), Options("empty")).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (const std::string& bad :
       std::vector<std::string>{"", ".hidden", "a/b", "x y", "..", std::string(201, 'a')}) {
    EXPECT_EQ(WritePart(dir.path(), schema, rows, Options(bad)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  PartWriteOptions wrong_day = Options("day");
  wrong_day.day = kDay + 1;
  auto s = WritePart(dir.path(), schema, rows, wrong_day).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "outside day")) << s;
  PartWriteOptions no_tenant = Options("t");
  no_tenant.tenant_id = 0;
  EXPECT_EQ(WritePart(dir.path(), schema, rows, no_tenant).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Another table's batch.
  EXPECT_EQ(WritePart(dir.path(), SamplesSchema(), rows, Options("x")).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Unequal column lengths.
  ColumnBatch ragged = rows;
  std::get<0>(ragged.columns[schema.time_column]).push_back(0);
  EXPECT_EQ(WritePart(dir.path(), schema, ragged, Options("r")).status().code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(WritePart(dir.path(), schema, rows, Options("once")).ok());
  EXPECT_EQ(WritePart(dir.path(), schema, rows, Options("once")).status().code(),
            absl::StatusCode::kAlreadyExists);
  // Nothing but the one good part was left behind.
  std::set<std::string> entries;
  for (const auto& e : fs::directory_iterator(DayDir(dir.path(), kTenant, Table::kSpans, kDay))) {
    entries.insert(e.path().filename());
  }
  EXPECT_EQ(entries, std::set<std::string>{"once"});
}

// Every file of a part directory, by name.
std::map<std::string, std::string> PartFiles(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    files[e.path().filename()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

// A seal passes the head's chunks as they lie: the part must be byte for byte the one the
// concatenated rows give, ties of the sort key included (they keep their input order).
TEST(Part, ChunksWriteTheSamePartAsTheirConcatenation) {
  for (const TableSchema* schema : {&SpansSchema(), &LogsSchema(), &SamplesSchema()}) {
    SCOPED_TRACE(std::string(TableName(schema->table)));
    std::mt19937_64 rng(90 + static_cast<uint64_t>(schema->table));
    // Two sets of rows with the same keys and different payloads: every key occurs twice.
    ColumnBatch rows = testing::RandomRows(*schema, rng, 700, kDay);
    ColumnBatch twin = testing::RandomRows(*schema, rng, 700, kDay);
    for (int k : schema->sort_key) twin.columns[k] = rows.columns[k];
    if (schema->table == Table::kSamples) {
      // Negative and extreme series ids sort before and after the others.
      auto& ids = std::get<0>(rows.columns[0]);
      ids[3] = -5;
      ids[4] = INT64_MIN;
      ids[5] = INT64_MAX;
      ids[6] = -1;
    }
    std::vector<uint32_t> all(twin.rows());
    std::iota(all.begin(), all.end(), 0u);
    for (size_t c = 0; c < rows.columns.size(); ++c) {
      AppendRows(twin.columns[c], all, rows.columns[c]);
    }
    // Chunks of random sizes, some empty.
    std::vector<ColumnBatch> chunks;
    for (uint32_t begin = 0; begin < rows.rows();) {
      const uint32_t len = std::min<uint32_t>(static_cast<uint32_t>(rows.rows()) - begin,
                                              static_cast<uint32_t>(rng() % 150));
      std::vector<uint32_t> idx(len);
      std::iota(idx.begin(), idx.end(), begin);
      ColumnBatch chunk = schema->NewBatch();
      for (size_t c = 0; c < chunk.columns.size(); ++c) {
        AppendRows(rows.columns[c], idx, chunk.columns[c]);
      }
      chunks.push_back(std::move(chunk));
      begin += len;
    }
    ASSERT_GT(chunks.size(), 5u);
    std::vector<const ColumnBatch*> ptrs;
    for (const ColumnBatch& c : chunks) ptrs.push_back(&c);

    TempDir dir;
    PartWriteOptions whole = Options("whole");
    PartWriteOptions chunked = Options("chunked");
    whole.created_unix_nanos = chunked.created_unix_nanos = 1'700'000'000'000'000'000;
    chunked.threads = 3;  // the files do not depend on who writes them
    auto a = WritePart(dir.path(), *schema, rows, whole);
    ASSERT_TRUE(a.ok()) << a.status();
    auto b = WritePart(dir.path(), *schema, std::span<const ColumnBatch* const>(ptrs), chunked);
    ASSERT_TRUE(b.ok()) << b.status();
    b->part_name = a->part_name;
    EXPECT_EQ(*a, *b);
    const fs::path day_dir = DayDir(dir.path(), kTenant, schema->table, kDay);
    const auto whole_files = PartFiles(day_dir / "whole");
    const auto chunked_files = PartFiles(day_dir / "chunked");
    ASSERT_EQ(whole_files.size(), chunked_files.size());
    for (const auto& [name, bytes] : whole_files) {
      if (name == kManifestFileName) continue;  // names the part
      ASSERT_TRUE(chunked_files.contains(name)) << name;
      EXPECT_TRUE(bytes == chunked_files.at(name)) << name << " differs";
    }
    // And the rows read back are the stable sort of the concatenation.
    auto part = PartReader::Open(day_dir / "chunked", *schema, kTenant);
    ASSERT_TRUE(part.ok()) << part.status();
    EXPECT_TRUE(testing::SameBatch(ReadAll(**part),
                                   testing::Permute(rows, testing::SortKeyOrder(*schema, rows))));
  }
}

TEST(Part, ChunksAreCheckedOneByOne) {
  std::mt19937_64 rng(15);
  TempDir dir;
  const TableSchema& schema = LogsSchema();
  const ColumnBatch good = testing::RandomRows(schema, rng, 10, kDay);
  ColumnBatch late = testing::RandomRows(schema, rng, 10, kDay);
  std::get<0>(late.columns[schema.time_column])[4] =
      static_cast<int64_t>(kDay + 1) * schema.time_units_per_day();
  std::vector<const ColumnBatch*> chunks = {&good, &late};
  auto s =
      WritePart(dir.path(), schema, std::span<const ColumnBatch* const>(chunks), Options("late"))
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  // Row numbers count across chunks.
  EXPECT_TRUE(absl::StrContains(s.message(), "row 14 has time")) << s;

  const ColumnBatch other = testing::RandomRows(SamplesSchema(), rng, 10, kDay);
  chunks = {&good, &other};
  EXPECT_EQ(
      WritePart(dir.path(), schema, std::span<const ColumnBatch* const>(chunks), Options("other"))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  const ColumnBatch empty = schema.NewBatch();
  chunks = {&empty, &empty};
  EXPECT_EQ(
      WritePart(dir.path(), schema, std::span<const ColumnBatch* const>(chunks), Options("empty"))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  chunks = {};
  EXPECT_EQ(
      WritePart(dir.path(), schema, std::span<const ColumnBatch* const>(chunks), Options("none"))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(DayDir(dir.path(), kTenant, schema.table, kDay) / "late"));
}

TEST(Part, RemoveTemporaryPartsDeletesInterruptedWrites) {
  TempDir dir;
  const fs::path day = DayDir(dir.path(), kTenant, Table::kSpans, kDay);
  fs::create_directories(day / ".tmp-p-3");
  testing::WriteBytes(day / ".tmp-p-3" / "name.col", "half");
  fs::create_directories(day / "p-2");
  ASSERT_TRUE(RemoveTemporaryParts(day).ok());
  EXPECT_FALSE(fs::exists(day / ".tmp-p-3"));
  EXPECT_TRUE(fs::exists(day / "p-2"));
}

TEST(Part, OpenChecksTenantAndTable) {
  std::mt19937_64 rng(15);
  TempDir dir;
  ASSERT_TRUE(WritePart(dir.path(), LogsSchema(), testing::RandomRows(LogsSchema(), rng, 5, kDay),
                        Options("p"))
                  .ok());
  const fs::path p = DayDir(dir.path(), kTenant, Table::kLogs, kDay) / "p";
  EXPECT_EQ(PartReader::Open(p, LogsSchema(), kTenant + 1).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(PartReader::Open(p, SpansSchema(), kTenant).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(PartReader::Open(dir.path() / "nope", LogsSchema(), kTenant).status().code(),
            absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------------
// corruption

class PartCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(16);
    rows_ = testing::RandomRows(SpansSchema(), rng, 300, kDay);
    auto m = WritePart(dir_.path(), SpansSchema(), rows_, Options("p", 50));
    ASSERT_TRUE(m.ok()) << m.status();
    part_dir_ = DayDir(dir_.path(), kTenant, Table::kSpans, kDay) / "p";
  }
  TempDir dir_;
  ColumnBatch rows_;
  fs::path part_dir_;
};

TEST_F(PartCorruption, FlippedManifestBytesAreDataLossNamingTheManifest) {
  const fs::path file = part_dir_ / kManifestFileName;
  const std::string good = testing::ReadBytes(file);
  // Every byte of the fixed prefix, the start of the body and the checksum, then a sample.
  std::vector<size_t> positions;
  for (size_t i = 0; i < std::min<size_t>(96, good.size()); ++i) positions.push_back(i);
  for (size_t i = good.size() - 8; i < good.size(); ++i) positions.push_back(i);
  std::mt19937_64 rng(20);
  for (int i = 0; i < 200; ++i) positions.push_back(rng() % good.size());
  for (size_t i : positions) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
    testing::WriteBytes(file, bad);
    auto part = PartReader::Open(part_dir_, SpansSchema(), kTenant);
    ASSERT_EQ(part.status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
    ASSERT_TRUE(absl::StrContains(part.status().message(), file.string())) << part.status();
  }
  testing::WriteBytes(file, good.substr(0, good.size() - 1));
  EXPECT_EQ(PartReader::Open(part_dir_, SpansSchema(), kTenant).status().code(),
            absl::StatusCode::kDataLoss);
  testing::WriteBytes(file, good);
  EXPECT_TRUE(PartReader::Open(part_dir_, SpansSchema(), kTenant).ok());
}

TEST_F(PartCorruption, FlippedColumnBytesAreDataLossNamingTheColumnFile) {
  std::mt19937_64 rng(17);
  for (const auto& spec : SpansSchema().columns) {
    const fs::path file = part_dir_ / ColumnFileName(spec.name);
    const std::string good = testing::ReadBytes(file);
    for (int trial = 0; trial < 8; ++trial) {
      // Headers, payloads, first and last bytes.
      const size_t at = trial == 0 ? 0 : trial == 1 ? good.size() - 1 : rng() % good.size();
      testing::FlipByte(file, at, static_cast<uint8_t>(1 + rng() % 255));
      auto part = PartReader::Open(part_dir_, SpansSchema(), kTenant);
      ASSERT_TRUE(part.ok()) << "the manifest is intact: " << part.status();
      const absl::Status s = ReadEverything(**part);
      ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << spec.name << " byte " << at;
      ASSERT_TRUE(absl::StrContains(s.message(), file.string())) << s;
      testing::WriteBytes(file, good);
    }
  }
}

TEST_F(PartCorruption, TruncatedOrMissingColumnFileIsReported) {
  const fs::path file = part_dir_ / ColumnFileName("name");
  const std::string good = testing::ReadBytes(file);
  testing::WriteBytes(file, good.substr(0, good.size() - 3));
  auto part = PartReader::Open(part_dir_, SpansSchema(), kTenant);
  ASSERT_TRUE(part.ok());
  absl::Status s = ReadEverything(**part);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), file.string())) << s;
  fs::remove(file);
  part = PartReader::Open(part_dir_, SpansSchema(), kTenant);
  ASSERT_TRUE(part.ok());
  s = ReadEverything(**part);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), file.string())) << s;
}

TEST_F(PartCorruption, FlippedBloomFilterIsDataLoss) {
  const fs::path file = part_dir_ / BloomFileName("trace_id");
  testing::FlipByte(file, 20);
  auto part = PartReader::Open(part_dir_, SpansSchema(), kTenant);
  ASSERT_TRUE(part.ok());
  auto r = (*part)->MayContain("x");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(r.status().message(), file.string())) << r.status();
}

// ---------------------------------------------------------------------------------------
// bloom

TEST(Bloom, NoFalseNegativesAndFewFalsePositives) {
  std::mt19937_64 rng(18);
  BloomFilter f(5000);
  std::vector<std::string> keys;
  for (int i = 0; i < 5000; ++i) keys.push_back(testing::RandomBytes(rng, 16));
  for (const auto& k : keys) f.Add(k);
  auto parsed = BloomFilter::Parse(f.Serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (const auto& k : keys) ASSERT_TRUE(parsed->MayContain(k));
  int fp = 0;
  for (int i = 0; i < 20000; ++i) fp += parsed->MayContain(testing::RandomBytes(rng, 16));
  EXPECT_LT(fp, 20000 * 3 / 100) << "false-positive rate above 3 %";
  EXPECT_FALSE(BloomFilter(0).MayContain("anything"));
}

TEST(Bloom, ParseRejectsDamage) {
  BloomFilter f(10);
  f.Add("a");
  const std::string good = f.Serialize();
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    EXPECT_EQ(BloomFilter::Parse(bad).status().code(), absl::StatusCode::kDataLoss) << i;
  }
  EXPECT_EQ(BloomFilter::Parse(good.substr(0, 10)).status().code(), absl::StatusCode::kDataLoss);
}

TEST(Part, BloomFilterKnowsEveryTraceIdOfThePart) {
  std::mt19937_64 rng(19);
  TempDir dir;
  const ColumnBatch rows = testing::RandomRows(SpansSchema(), rng, 400, kDay);
  ASSERT_TRUE(WritePart(dir.path(), SpansSchema(), rows, Options("p")).ok());
  auto part = PartReader::Open(DayDir(dir.path(), kTenant, Table::kSpans, kDay) / "p",
                               SpansSchema(), kTenant);
  ASSERT_TRUE(part.ok());
  const auto& ids = std::get<2>(rows.columns[SpansSchema().IndexOf("trace_id")]);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto r = (*part)->MayContain(ids.at(i));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(*r);
  }
  auto samples = PartReader::Open(DayDir(dir.path(), kTenant, Table::kSpans, kDay) / "p",
                                  SpansSchema(), kTenant);
  int hits = 0;
  for (int i = 0; i < 1000; ++i) hits += *(*samples)->MayContain(testing::RandomBytes(rng, 16));
  EXPECT_LT(hits, 50);
}

// ---------------------------------------------------------------------------------------
// manifest codec

TEST(Manifest, RoundTripsAndRejectsTrailingGarbage) {
  Manifest m;
  m.table = Table::kLogs;
  m.tenant_id = 99;
  m.day = -3;
  m.part_name = "p-1";
  m.level = 2;
  m.created_unix_nanos = 123;
  m.wal_range = WalRange{5, 9};
  m.rows = 3;
  m.min_time = -10;
  m.max_time = 10;
  m.block_rows = 2;
  m.columns = {{"service", ColumnType::kString, 10, 20, 30}, {"time", ColumnType::kInt64, 1, 2, 3}};
  m.sort_key = {0, 1};
  m.time_column = 1;
  m.bloom_column = -1;
  BlockMeta b1{2, -10, 0, {std::string("a"), int64_t{-10}}, {std::string("b"), int64_t{0}}, {}};
  b1.columns = {{0, 5, 6, Encoding::kDictionary, Compression::kZstd},
                {0, 1, 1, Encoding::kDelta, Compression::kNone}};
  BlockMeta b2 = b1;
  b2.rows = 1;
  // Offsets are not stored: a column's blocks follow each other, each after its header.
  b2.columns[0].offset = kBlockHeaderBytes + 5;
  b2.columns[1].offset = kBlockHeaderBytes + 1;
  m.blocks = {b1, b2};
  m.time_sequences = {MakeSharedSequence(std::vector<int64_t>{1, 2, 3, 5}),
                      MakeSharedSequence(std::vector<int64_t>{-7})};
  const std::string bytes = EncodeManifest(m);
  auto back = DecodeManifest(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, m);
  EXPECT_EQ(DecodeManifest(bytes + "x").status().code(), absl::StatusCode::kDataLoss);
  m.rows = 4;  // blocks hold 3
  EXPECT_EQ(DecodeManifest(EncodeManifest(m)).status().code(), absl::StatusCode::kDataLoss);
}

// The manifest with its body stored uncompressed (compression byte 0), which readers accept,
// so damage tests reach the parser rather than only the decompressor.
std::string UncompressedManifest(const std::string& encoded) {
  constexpr size_t kPrefix = 17;
  const uint32_t raw_len = bits::LoadFixed32(encoded.data() + 13);
  std::string raw(raw_len, '\0');
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), encoded.data() + kPrefix,
                                   encoded.size() - kPrefix - 4);
  EXPECT_EQ(n, raw_len);
  std::string out = encoded.substr(0, kPrefix) + raw;
  out[12] = 0;
  std::memcpy(out.data() + 8, &raw_len, 4);
  const uint32_t crc = wal::crc32c::Value(out.data(), out.size());
  out.append(reinterpret_cast<const char*>(&crc), 4);
  return out;
}

TEST(Manifest, RejectsOtherFormatVersionsByName) {
  std::mt19937_64 rng(3);
  TempDir dir;
  const ColumnBatch rows = testing::RandomRows(SpansSchema(), rng, 50, kDay);
  auto m = WritePart(dir.path(), SpansSchema(), rows, Options("p", 40));
  ASSERT_TRUE(m.ok());
  // The manifest as another version would write it (version field and crc32c rewritten).
  const auto with_version = [&](uint32_t version) {
    std::string bytes = EncodeManifest(*m);
    std::memcpy(bytes.data() + 4, &version, 4);
    const uint32_t crc = wal::crc32c::Value(bytes.data(), bytes.size() - 4);
    std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
    return bytes;
  };
  auto d = DecodeManifest(with_version(3));
  ASSERT_EQ(d.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(d.status().message().find("format version 3"), std::string_view::npos) << d.status();
  EXPECT_NE(d.status().message().find("reads versions 4 to 6"), std::string_view::npos)
      << d.status();
  // A newer version than this build writes is refused the same way.
  auto newer = DecodeManifest(with_version(7));
  ASSERT_EQ(newer.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(newer.status().message().find("format version 7"), std::string_view::npos)
      << newer.status();
  // Stored uncompressed, the same manifest reads back; compressed, it is smaller.
  const std::string good = EncodeManifest(*m);
  const std::string plain = UncompressedManifest(good);
  auto back = DecodeManifest(plain);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, *m);
  EXPECT_LT(good.size(), plain.size());
}

// Damage the checksum cannot see (it is recomputed): the parser alone must refuse it
// without reading out of bounds (ASan) or allocating from a corrupt count.
TEST(Manifest, ParserSurvivesDamageBehindAValidChecksum) {
  std::mt19937_64 rng(21);
  TempDir dir;
  const ColumnBatch rows = testing::RandomRows(SpansSchema(), rng, 200, kDay);
  auto m = WritePart(dir.path(), SpansSchema(), rows, Options("p", 40));
  ASSERT_TRUE(m.ok());
  m->time_sequences = {MakeSharedSequence(std::vector<int64_t>{10, 20, 30, 40, 50, 61})};
  const std::string compressed = EncodeManifest(*m);
  const std::string plain = UncompressedManifest(compressed);
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    // Mostly the parser behind an uncompressed body; some damage to the compressed one.
    std::string bad = i % 8 == 0 ? compressed : plain;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const size_t at = 12 + rng() % (bad.size() - 16);  // compression byte, lengths, body
      bad[at] = static_cast<char>(rng());
    }
    if (rng() % 4 == 0) {  // cut the body short and fix the lengths too
      const size_t cut = rng() % (bad.size() - 21);
      bad.erase(17 + cut, bad.size() - 21 - cut);
      const uint32_t body = static_cast<uint32_t>(bad.size() - 21);
      std::memcpy(bad.data() + 8, &body, 4);
      if (bad[12] == 0) std::memcpy(bad.data() + 13, &body, 4);
    }
    const uint32_t crc = wal::crc32c::Value(bad.data(), bad.size() - 4);
    std::memcpy(bad.data() + bad.size() - 4, &crc, 4);
    auto d = DecodeManifest(bad);
    if (!d.ok()) {
      ASSERT_EQ(d.status().code(), absl::StatusCode::kDataLoss) << d.status();
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 500);
}

}  // namespace
}  // namespace observex::storage
