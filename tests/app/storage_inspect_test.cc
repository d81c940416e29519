// `observex storage inspect` over parts written by storage::WritePart and by the embedded
// store: the numbers it prints are the manifests' and the file system's, its JSON parses, it
// reports damage instead of crashing, and it changes no byte on disk.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "app/commands.h"
#include "rapidjson/document.h"
#include "storage/part.h"
#include "storage/series_index.h"
#include "storage/store.h"
#include "storage/test_util.h"

namespace observex::app {
namespace {

namespace fs = std::filesystem;
using storage::Table;
using storage::testing::FlipByte;
using storage::testing::RandomRows;
using storage::testing::ReadBytes;
using storage::testing::TempDir;
using storage::testing::WriteBytes;

constexpr int32_t kDay = 19'800;  // 2024-03-18
constexpr int64_t kTenant = 7;

class StorageInspectTest : public ::testing::Test {
 protected:
  fs::path data() const { return tmp_.path() / "data"; }
  fs::path root() const { return data() / "storage"; }
  fs::path cold() const { return tmp_.path() / "cold"; }

  // Writes a part of `n` random rows and returns its manifest.
  storage::Manifest Write(const fs::path& root, int64_t tenant, Table table,
                          const std::string& name, size_t n, std::optional<storage::WalRange> wal,
                          uint32_t level = 0) {
    const storage::TableSchema& schema = storage::SchemaFor(table);
    storage::PartWriteOptions o;
    o.tenant_id = tenant;
    o.day = kDay;
    o.name = name;
    o.wal_range = wal;
    o.level = level;
    o.block_rows = 64;
    o.fsync = false;
    auto m = storage::WritePart(root, schema, RandomRows(schema, rng_, n, kDay), o);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : storage::Manifest{};
  }

  fs::path PartDir(const fs::path& root, int64_t tenant, Table table, const std::string& name) {
    return storage::DayDir(root, tenant, table, kDay) / name;
  }

  struct Run {
    absl::StatusOr<StorageInspectSummary> summary;
    std::string out;
    std::string progress;
  };
  Run Inspect(StorageInspectOptions o) {
    if (o.data_dir.empty()) o.data_dir = data().string();
    std::ostringstream out, progress;
    Run r{InspectStorage(o, out, progress), out.str(), progress.str()};
    return r;
  }
  // Runs with --json and parses the document.
  rapidjson::Document InspectJson(StorageInspectOptions o = {}) {
    o.json = true;
    Run r = Inspect(o);
    EXPECT_TRUE(r.summary.ok()) << r.summary.status();
    rapidjson::Document doc;
    doc.Parse(r.out.c_str());
    EXPECT_FALSE(doc.HasParseError()) << "offset " << doc.GetErrorOffset() << ": " << r.out;
    EXPECT_TRUE(doc.IsObject());
    return doc;
  }

  static const rapidjson::Value* FindPart(const rapidjson::Document& doc, const std::string& name,
                                          const std::string& tier = "hot") {
    for (const auto& p : doc["parts"].GetArray()) {
      if (p["part"].GetString() == name && p["tier"].GetString() == tier) return &p;
    }
    return nullptr;
  }
  static const rapidjson::Value* FindTable(const rapidjson::Document& doc, int64_t tenant,
                                           const std::string& table) {
    for (const auto& t : doc["tables"].GetArray()) {
      if (t["tenant"].GetInt64() == tenant && t["table"].GetString() == table) return &t;
    }
    return nullptr;
  }

  static uint64_t FilesBytes(const fs::path& dir) {
    uint64_t n = 0;
    for (const auto& e : fs::directory_iterator(dir)) n += e.file_size();
    return n;
  }

  // Every file under the temporary directory with its bytes.
  std::map<std::string, std::string> Snapshot() const {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(tmp_.path())) {
      files[e.path().string()] = e.is_regular_file() ? ReadBytes(e.path()) : "<dir>";
    }
    return files;
  }

  TempDir tmp_;
  std::mt19937_64 rng_{42};
};

TEST_F(StorageInspectTest, PartsAndColumnBytesMatchTheManifests) {
  const storage::Manifest a =
      Write(root(), kTenant, Table::kSpans, "p-00000000000000000001", 300, {{10, 19}});
  const storage::Manifest b =
      Write(root(), kTenant, Table::kSpans, "p-00000000000000000002", 150, {{20, 25}});
  const storage::Manifest logs =
      Write(root(), kTenant, Table::kLogs, "p-00000000000000000001", 200, std::nullopt);

  rapidjson::Document doc = InspectJson();
  ASSERT_EQ(doc["parts"].Size(), 3u);
  EXPECT_EQ(doc["damaged"].Size(), 0u);
  EXPECT_EQ(doc["quarantined"].Size(), 0u);

  const auto* pa = FindPart(doc, "p-00000000000000000001");
  ASSERT_NE(pa, nullptr);
  EXPECT_STREQ((*pa)["table"].GetString(), "spans");
  EXPECT_EQ((*pa)["tenant"].GetInt64(), kTenant);
  EXPECT_STREQ((*pa)["day"].GetString(), "2024-03-18");
  EXPECT_EQ((*pa)["rows"].GetUint64(), 300u);
  EXPECT_EQ((*pa)["level"].GetUint(), 0u);
  EXPECT_EQ((*pa)["wal_first_lsn"].GetUint64(), 10u);
  EXPECT_EQ((*pa)["wal_last_lsn"].GetUint64(), 19u);
  EXPECT_EQ((*pa)["bytes"].GetUint64(),
            FilesBytes(PartDir(root(), kTenant, Table::kSpans, "p-00000000000000000001")));
  EXPECT_EQ((*pa)["min_time_unix_nano"].GetInt64(), a.min_time);
  EXPECT_EQ((*pa)["max_time_unix_nano"].GetInt64(), a.max_time);
  EXPECT_EQ(std::string((*pa)["min_time"].GetString()).substr(0, 11), "2024-03-18T");
  EXPECT_TRUE((*pa)["superseded_by"].IsNull());

  const auto* spans = FindTable(doc, kTenant, "spans");
  ASSERT_NE(spans, nullptr);
  EXPECT_EQ((*spans)["parts"].GetUint64(), 2u);
  EXPECT_EQ((*spans)["rows"].GetUint64(), 450u);
  const auto& cols = (*spans)["columns"];
  ASSERT_EQ(cols.Size(), a.columns.size());
  uint64_t plain = 0;
  for (size_t i = 0; i < a.columns.size(); ++i) {
    SCOPED_TRACE(a.columns[i].name);
    EXPECT_EQ(cols[i]["name"].GetString(), a.columns[i].name);
    EXPECT_EQ(cols[i]["file_bytes"].GetUint64(), a.columns[i].file_bytes + b.columns[i].file_bytes);
    EXPECT_EQ(cols[i]["raw_bytes"].GetUint64(), a.columns[i].raw_bytes + b.columns[i].raw_bytes);
    EXPECT_EQ(cols[i]["plain_bytes"].GetUint64(),
              a.columns[i].plain_bytes + b.columns[i].plain_bytes);
    EXPECT_DOUBLE_EQ(cols[i]["bytes_per_row"].GetDouble(),
                     static_cast<double>(a.columns[i].file_bytes + b.columns[i].file_bytes) / 450);
    plain += a.columns[i].plain_bytes + b.columns[i].plain_bytes;
  }
  EXPECT_EQ((*spans)["plain_bytes"].GetUint64(), plain);
  EXPECT_EQ((*spans)["bloom_bytes"].GetUint64(), a.bloom_bytes + b.bloom_bytes);
  const uint64_t disk =
      FilesBytes(PartDir(root(), kTenant, Table::kSpans, "p-00000000000000000001")) +
      FilesBytes(PartDir(root(), kTenant, Table::kSpans, "p-00000000000000000002"));
  EXPECT_EQ((*spans)["bytes"].GetUint64(), disk);
  EXPECT_DOUBLE_EQ((*spans)["compression_ratio"].GetDouble(),
                   static_cast<double>(plain) / static_cast<double>(disk));

  const auto* log_table = FindTable(doc, kTenant, "logs");
  ASSERT_NE(log_table, nullptr);
  EXPECT_EQ((*log_table)["rows"].GetUint64(), logs.rows);
  for (const auto& p : doc["parts"].GetArray()) {
    if (std::string(p["table"].GetString()) == "logs") {
      EXPECT_TRUE(p["wal_first_lsn"].IsNull());
    }
  }
}

TEST_F(StorageInspectTest, TextListsEveryPartAndTheTotals) {
  Write(root(), kTenant, Table::kSpans, "p-00000000000000000001", 100, {{3, 4}});
  Write(root(), kTenant, Table::kSamples, "p-00000000000000000001", 500, {{5, 9}});
  Run r = Inspect({});
  ASSERT_TRUE(r.summary.ok()) << r.summary.status();
  EXPECT_EQ(r.summary->parts, 2u);
  EXPECT_NE(r.out.find("2 parts, 0 damaged, 0 quarantined"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Tenant 7, spans: 1 parts, 100 rows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Tenant 7, samples: 1 parts, 500 rows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bytes per sample: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3-4"), std::string::npos) << r.out;  // WAL LSN range
  EXPECT_NE(r.out.find("2024-03-18 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("series_id"), std::string::npos) << r.out;
  EXPECT_TRUE(r.progress.empty()) << r.progress;
}

TEST_F(StorageInspectTest, CountsSeriesWithoutTouchingTheLog) {
  Write(root(), kTenant, Table::kSamples, "p-00000000000000000001", 100, {{1, 1}});
  const fs::path log = root() / std::to_string(kTenant) / storage::kSeriesLogFileName;
  {
    auto index = storage::SeriesIndex::Open(log, false);
    ASSERT_TRUE(index.ok()) << index.status();
    std::vector<query::Labels> sets;
    for (int i = 0; i < 5; ++i) {
      const std::string job = "j" + std::to_string(i);
      sets.push_back(query::Labels{{"__name__", "up"}, {"job", job}});
    }
    std::vector<const query::Labels*> ptrs;
    for (const auto& l : sets) ptrs.push_back(&l);
    ASSERT_TRUE((*index)->Resolve(ptrs).ok());
    ASSERT_TRUE((*index)->NoteDay(std::vector<int64_t>{1, 2}, kDay).ok());
    ASSERT_TRUE((*index)->Sync().ok());
  }
  // A torn record at the end, as a crash mid-append leaves it: counted up to it, not cut.
  WriteBytes(log, ReadBytes(log) + std::string("\x30\x00\x00\x00\x01\x02", 6));
  const auto before = Snapshot();

  auto n = storage::SeriesIndex::CountSeries(log);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 5u);
  rapidjson::Document doc = InspectJson();
  const auto* samples = FindTable(doc, kTenant, "samples");
  ASSERT_NE(samples, nullptr);
  EXPECT_EQ((*samples)["series"].GetUint64(), 5u);
  EXPECT_EQ(Snapshot(), before);

  EXPECT_TRUE(absl::IsNotFound(storage::SeriesIndex::CountSeries(root() / "nope.log").status()));

  // The count is what the server would load, for a torn tail and for damage inside the log.
  const std::string whole = ReadBytes(log);
  for (size_t flip : {size_t{0}, whole.size() / 2, whole.size() - 8}) {
    SCOPED_TRACE(flip);
    const fs::path copy = tmp_.path() / ("copy-" + std::to_string(flip) + ".log");
    WriteBytes(copy, whole);
    FlipByte(copy, flip);
    auto counted = storage::SeriesIndex::CountSeries(copy);
    ASSERT_TRUE(counted.ok()) << counted.status();
    auto loaded = storage::SeriesIndex::Open(copy, false);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(*counted, (*loaded)->size());
    if (flip == 0) {
      EXPECT_EQ(*counted, 0u);
    }
  }
}

TEST_F(StorageInspectTest, FlippedManifestByteIsReportedAsDamaged) {
  Write(root(), kTenant, Table::kSpans, "p-00000000000000000001", 100, {{1, 2}});
  Write(root(), kTenant, Table::kSpans, "p-00000000000000000002", 100, {{3, 4}});
  const fs::path bad = PartDir(root(), kTenant, Table::kSpans, "p-00000000000000000002");
  FlipByte(bad / storage::kManifestFileName,
           ReadBytes(bad / storage::kManifestFileName).size() / 2);
  const auto before = Snapshot();

  Run r = Inspect({});
  ASSERT_TRUE(r.summary.ok()) << r.summary.status();
  EXPECT_EQ(r.summary->parts, 1u);
  EXPECT_EQ(r.summary->damaged, 1u);
  EXPECT_NE(r.out.find("Damaged parts in service (1)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find((bad / "MANIFEST").string()), std::string::npos) << r.out;

  rapidjson::Document doc = InspectJson();
  ASSERT_EQ(doc["damaged"].Size(), 1u);
  EXPECT_STREQ(doc["damaged"][0]["part"].GetString(), "p-00000000000000000002");
  EXPECT_NE(std::string(doc["damaged"][0]["reason"].GetString()).find("MANIFEST"),
            std::string::npos);
  EXPECT_EQ(doc["parts"].Size(), 1u);
  EXPECT_EQ((*FindTable(doc, kTenant, "spans"))["rows"].GetUint64(), 100u);
  EXPECT_EQ(Snapshot(), before);  // nothing quarantined, renamed or rewritten
}

TEST_F(StorageInspectTest, TruncatedColumnFileIsReportedAsDamaged) {
  Write(root(), kTenant, Table::kLogs, "p-00000000000000000001", 100, {{1, 2}});
  const fs::path col =
      PartDir(root(), kTenant, Table::kLogs, "p-00000000000000000001") / "body.col";
  const std::string bytes = ReadBytes(col);
  WriteBytes(col, bytes.substr(0, bytes.size() - 1));
  rapidjson::Document doc = InspectJson();
  ASSERT_EQ(doc["damaged"].Size(), 1u);
  EXPECT_NE(std::string(doc["damaged"][0]["reason"].GetString()).find("body.col"),
            std::string::npos)
      << doc["damaged"][0]["reason"].GetString();
  EXPECT_EQ(doc["parts"].Size(), 0u);
}

TEST_F(StorageInspectTest, QuarantinedPartsShowWhy) {
  Write(root(), kTenant, Table::kSpans, "p-00000000000000000001", 100, {{1, 2}});
  Write(root(), kTenant, Table::kSpans, "p-00000000000000000002", 100, {{3, 4}});
  const fs::path bad = PartDir(root(), kTenant, Table::kSpans, "p-00000000000000000002");
  FlipByte(bad / storage::kManifestFileName, 10);
  // A second part damaged in a column block, which only reading the block finds: quarantined
  // here by hand, as a scan would.
  Write(root(), kTenant, Table::kLogs, "p-00000000000000000003", 100, {{5, 6}});
  const fs::path q = root() / "quarantine" / std::to_string(kTenant) / "logs" / "2024-03-18";
  fs::create_directories(q);
  fs::rename(PartDir(root(), kTenant, Table::kLogs, "p-00000000000000000003"),
             q / "p-00000000000000000003");
  FlipByte(q / "p-00000000000000000003" / "service.col", storage::kBlockHeaderBytes + 1);
  {
    // The store quarantines the part with the bad manifest when it opens the directory.
    storage::StoreOptions o;
    o.dir = root();
    o.background = false;
    o.head.fsync = false;
    auto store = storage::OpenEmbeddedStore(o);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->stats().quarantined_parts, 1u);
    (*store)->Close();
  }
  Run r = Inspect({});
  ASSERT_TRUE(r.summary.ok()) << r.summary.status();
  EXPECT_EQ(r.summary->parts, 1u);
  EXPECT_EQ(r.summary->damaged, 0u);
  EXPECT_EQ(r.summary->quarantined, 2u);
  EXPECT_NE(r.out.find("Quarantined parts"), std::string::npos) << r.out;

  rapidjson::Document doc = InspectJson();
  ASSERT_EQ(doc["quarantined"].Size(), 2u);
  // Sorted by tenant, then table (spans, logs, samples).
  const auto& spans_q = doc["quarantined"][0];
  const auto& logs_q = doc["quarantined"][1];
  EXPECT_STREQ(spans_q["table"].GetString(), "spans");
  EXPECT_STREQ(spans_q["part"].GetString(), "p-00000000000000000002");
  EXPECT_NE(std::string(spans_q["reason"].GetString()).find("MANIFEST"), std::string::npos)
      << spans_q["reason"].GetString();
  EXPECT_STREQ(logs_q["table"].GetString(), "logs");
  EXPECT_NE(std::string(logs_q["reason"].GetString()).find("service.col"), std::string::npos)
      << logs_q["reason"].GetString();
  EXPECT_NE(std::string(logs_q["reason"].GetString()).find("crc32c"), std::string::npos)
      << logs_q["reason"].GetString();
  EXPECT_GT(logs_q["bytes"].GetUint64(), 0u);
}

TEST_F(StorageInspectTest, ColdTierAndSupersededParts) {
  fs::create_directories(cold());
  Write(cold(), kTenant, Table::kSpans, "p-00000000000000000001", 100, {{1, 2}});
  // The same part still in the hot tier (a cold move between copy and delete).
  Write(root(), kTenant, Table::kSpans, "p-00000000000000000001", 100, {{1, 2}});
  // Merge inputs next to their merged part.
  Write(root(), kTenant, Table::kSpans, "p-00000000000000000002", 50, {{3, 4}});
  Write(root(), kTenant, Table::kSpans, "p-00000000000000000003", 50, {{5, 6}});
  Write(root(), kTenant, Table::kSpans, "p-00000000000000000004", 100, {{3, 6}}, 1);

  StorageInspectOptions o;
  o.cold_dir = cold().string();
  rapidjson::Document doc = InspectJson(o);
  ASSERT_EQ(doc["parts"].Size(), 5u);
  const auto* c = FindPart(doc, "p-00000000000000000001", "cold");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE((*c)["superseded_by"].IsNull());
  const auto* h = FindPart(doc, "p-00000000000000000001", "hot");
  ASSERT_NE(h, nullptr);
  EXPECT_TRUE((*h)["superseded_by"].IsString());
  for (const char* input : {"p-00000000000000000002", "p-00000000000000000003"}) {
    const auto* p = FindPart(doc, input);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE((*p)["superseded_by"].IsString()) << input;
    EXPECT_NE(std::string((*p)["superseded_by"].GetString()).find("p-00000000000000000004"),
              std::string::npos);
  }
  const auto* spans = FindTable(doc, kTenant, "spans");
  ASSERT_NE(spans, nullptr);
  EXPECT_EQ((*spans)["parts"].GetUint64(), 2u);  // the cold part and the merged one
  EXPECT_EQ((*spans)["rows"].GetUint64(), 200u);

  Run text = Inspect(o);
  ASSERT_TRUE(text.summary.ok());
  EXPECT_NE(text.out.find("superseded by merged part p-00000000000000000004"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("superseded by its cold copy"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Tenant 7, spans: 2 parts, 200 rows"), std::string::npos) << text.out;

  // Without --cold-dir the cold part is not seen and the hot copy counts.
  rapidjson::Document hot_only = InspectJson();
  EXPECT_EQ(hot_only["parts"].Size(), 4u);
  EXPECT_EQ((*FindTable(hot_only, kTenant, "spans"))["rows"].GetUint64(), 200u);
}

TEST_F(StorageInspectTest, FiltersByTenantAndTable) {
  Write(root(), kTenant, Table::kSpans, "p-00000000000000000001", 10, {{1, 1}});
  Write(root(), kTenant, Table::kLogs, "p-00000000000000000001", 10, {{1, 1}});
  Write(root(), 8, Table::kSpans, "p-00000000000000000001", 10, {{1, 1}});

  StorageInspectOptions o;
  o.tenant = "8";
  rapidjson::Document t8 = InspectJson(o);
  ASSERT_EQ(t8["parts"].Size(), 1u);
  EXPECT_EQ(t8["parts"][0]["tenant"].GetInt64(), 8);

  o.tenant = "";
  o.table = "logs";
  rapidjson::Document logs = InspectJson(o);
  ASSERT_EQ(logs["parts"].Size(), 1u);
  EXPECT_STREQ(logs["parts"][0]["table"].GetString(), "logs");
  ASSERT_EQ(logs["tables"].Size(), 1u);

  o.tenant = "9";
  o.table = "";
  rapidjson::Document none = InspectJson(o);
  EXPECT_EQ(none["parts"].Size(), 0u);
  EXPECT_EQ(none["tables"].Size(), 0u);
}

TEST_F(StorageInspectTest, PartsFromTheEmbeddedStore) {
  storage::StoreOptions so;
  so.dir = root();
  so.background = false;
  so.head.fsync = false;
  so.retention = absl::InfiniteDuration();
  auto store = storage::OpenEmbeddedStore(so);
  ASSERT_TRUE(store.ok()) << store.status();
  for (uint64_t lsn = 1; lsn <= 3; ++lsn) {
    ASSERT_TRUE(
        (*store)
            ->Append(kTenant, Table::kLogs, RandomRows(storage::LogsSchema(), rng_, 200, kDay), lsn)
            .ok());
    ASSERT_TRUE((*store)->Flush().ok());
  }
  const std::vector<storage::PartInfo> parts = (*store)->Parts();
  ASSERT_EQ(parts.size(), 3u);

  // While the store is open: inspect reads beside it.
  rapidjson::Document doc = InspectJson();
  ASSERT_EQ(doc["parts"].Size(), parts.size());
  for (const storage::PartInfo& info : parts) {
    const auto* p = FindPart(doc, info.name);
    ASSERT_NE(p, nullptr) << info.name;
    EXPECT_EQ((*p)["rows"].GetUint64(), info.rows);
    // The store counts column and Bloom files; inspect adds the manifest.
    EXPECT_GT((*p)["bytes"].GetUint64(), info.bytes);
    EXPECT_EQ((*p)["bytes"].GetUint64(), FilesBytes(info.dir));
  }
  EXPECT_EQ((*FindTable(doc, kTenant, "logs"))["rows"].GetUint64(), 600u);
  (*store)->Close();
}

TEST_F(StorageInspectTest, ProgressWhenThereAreManyParts) {
  for (uint64_t i = 1; i <= 3; ++i) {
    Write(root(), kTenant, Table::kSamples, storage::PartName(i), 10, {{i, i}});
  }
  StorageInspectOptions o;
  o.progress_above_parts = 2;
  Run r = Inspect(o);
  ASSERT_TRUE(r.summary.ok());
  EXPECT_NE(r.progress.find("3 / 3 parts read"), std::string::npos) << r.progress;
}

TEST_F(StorageInspectTest, ClearErrorsForBadArguments) {
  StorageInspectOptions o;
  o.data_dir = (tmp_.path() / "missing").string();
  Run r = Inspect(o);
  ASSERT_FALSE(r.summary.ok());
  EXPECT_TRUE(absl::IsNotFound(r.summary.status()));
  EXPECT_NE(r.summary.status().message().find("missing"), std::string::npos) << r.summary.status();

  fs::create_directories(data());  // a data directory the server never stored into
  r = Inspect({});
  ASSERT_FALSE(r.summary.ok());
  EXPECT_TRUE(absl::IsNotFound(r.summary.status()));
  EXPECT_NE(r.summary.status().message().find("no storage directory"), std::string::npos)
      << r.summary.status();
  EXPECT_FALSE(fs::exists(root()));  // and it did not create one

  fs::create_directories(root());
  o = {};
  o.cold_dir = (tmp_.path() / "no-cold").string();
  r = Inspect(o);
  ASSERT_FALSE(r.summary.ok());
  EXPECT_NE(r.summary.status().message().find("no-cold"), std::string::npos);

  o = {};
  o.tenant = "acme";
  r = Inspect(o);
  ASSERT_FALSE(r.summary.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(r.summary.status()));
  EXPECT_NE(r.summary.status().message().find("acme"), std::string::npos);

  o = {};
  o.table = "metrics";
  r = Inspect(o);
  ASSERT_FALSE(r.summary.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(r.summary.status()));
  EXPECT_NE(r.summary.status().message().find("metrics"), std::string::npos);

  // An empty storage directory is not an error.
  r = Inspect({});
  ASSERT_TRUE(r.summary.ok()) << r.summary.status();
  EXPECT_EQ(r.summary->parts, 0u);
  EXPECT_NE(r.out.find("0 parts"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace observex::app
