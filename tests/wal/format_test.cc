#include "wal/format.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "wal/crc32c.h"

namespace observex::wal::format {
namespace {

TEST(SegmentNameTest, RoundTrips) {
  for (Lsn base : {Lsn{0}, Lsn{4096}, Lsn{123456789012345}, UINT64_MAX}) {
    const std::string name = SegmentFileName(base);
    EXPECT_EQ(name.size(), 24u) << name;
    EXPECT_EQ(ParseSegmentFileName(name), base) << name;
  }
  EXPECT_EQ(SegmentFileName(4096), "00000000000000004096.wal");
}

TEST(SegmentNameTest, RejectsOtherNames) {
  for (const char* name :
       {"4096.wal", "0000000000000000004096.wal", "0000000000000000409x.wal",
        "00000000000000004096.wa", "00000000000000004096.log", "99999999999999999999.wal",
        "CHECKPOINT", "LOCK", "", "00000000000000004096.wal.tmp"}) {
    EXPECT_FALSE(ParseSegmentFileName(name).has_value()) << name;
  }
}

TEST(EntryHeaderTest, LayoutIsLittleEndianWithCrcOverTimestampAndPayload) {
  const std::string payload = "hello";
  const int64_t ts = 0x0102030405060708;
  const uint32_t crc = EntryCrc(ts, payload);
  char h[kEntryHeaderBytes];
  EncodeEntryHeader(h, static_cast<uint32_t>(payload.size()), crc, ts);
  const std::string bytes(h, sizeof(h));
  EXPECT_EQ(bytes.substr(0, 4), std::string("\x1E\xC7\xD5\xA3", 4));
  EXPECT_EQ(bytes.substr(4, 4), std::string("\x05\x00\x00\x00", 4));
  EXPECT_EQ(bytes.substr(12, 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  const std::string covered = bytes.substr(12, 8) + payload;
  EXPECT_EQ(crc, crc32c::Value(covered.data(), covered.size()));
  EXPECT_NE(EntryCrc(ts + 1, payload), crc);
}

class CheckpointFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/obx_wal_ckpt_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(CheckpointFileTest, AbsentThenWrittenThenReplaced) {
  auto none = ReadCheckpointFile(dir_);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(WriteCheckpointFile(dir_, 12345, /*sync=*/true).ok());
  auto got = ReadCheckpointFile(dir_);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->value(), 12345u);
  ASSERT_TRUE(WriteCheckpointFile(dir_, 99999, /*sync=*/false).ok());
  EXPECT_EQ(ReadCheckpointFile(dir_)->value(), 99999u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / kCheckpointTmpFileName));
}

TEST_F(CheckpointFileTest, CorruptFileIsDataLoss) {
  ASSERT_TRUE(WriteCheckpointFile(dir_, 777, false).ok());
  const auto path = dir_ / kCheckpointFileName;
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char b = 0x55;
  ASSERT_EQ(::pwrite(fd, &b, 1, 9), 1);
  ::close(fd);
  auto got = ReadCheckpointFile(dir_);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();

  std::filesystem::resize_file(path, 7);
  EXPECT_EQ(ReadCheckpointFile(dir_).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace observex::wal::format
