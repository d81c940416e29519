#include "app/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace observex::app {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("obx-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    unsetenv("OBSERVE_X_API_ADDR");
    unsetenv("OBSERVE_X_MEMORY_BUDGET");
    unsetenv("OBSERVE_X_WAL_FSYNC");
    std::filesystem::remove_all(dir_);
  }
  std::string WriteYaml(const std::string& text) {
    auto p = dir_ / "c.yaml";
    std::ofstream(p) << text;
    return p.string();
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigTest, DefaultsMatchTheDocumentedOnes) {
  auto c = LoadConfig("", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_dir, "./data");
  EXPECT_EQ(c->otlp_http_addr, "127.0.0.1:4318");
  EXPECT_EQ(c->otlp_grpc_addr, "127.0.0.1:4317");
  EXPECT_EQ(c->api_addr, "127.0.0.1:8080");
  EXPECT_EQ(c->memory_budget, 1ull << 30);
  EXPECT_EQ(c->ingest_queue_signals, 65536u);
  EXPECT_DOUBLE_EQ(c->ingest_tenant_share, 0.5);
  EXPECT_EQ(c->max_body_bytes, 20ull << 20);
  EXPECT_EQ(c->wal_group_commit_us, 5000u);
  EXPECT_TRUE(c->wal_fsync);
}

TEST_F(ConfigTest, FlagBeatsEnvBeatsFile) {
  const std::string file =
      WriteYaml("api_addr: 127.0.0.1:1111\nmemory_budget: 256MiB\ndata_dir: /tmp/from-file\n");
  setenv("OBSERVE_X_API_ADDR", "127.0.0.1:2222", 1);
  setenv("OBSERVE_X_MEMORY_BUDGET", "512MiB", 1);
  auto c = LoadConfig(file, {{"memory_budget", "2GiB"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_dir, "/tmp/from-file");  // file only
  EXPECT_EQ(c->api_addr, "127.0.0.1:2222");  // env over file
  EXPECT_EQ(c->memory_budget, 2ull << 30);   // flag over env
}

TEST_F(ConfigTest, BadValuesNameTheSetting) {
  auto c = LoadConfig("", {{"ingest_tenant_share", "1.5"}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("ingest_tenant_share"), std::string::npos);
  EXPECT_NE(c.status().message().find("--ingest-tenant-share"), std::string::npos);

  setenv("OBSERVE_X_WAL_FSYNC", "maybe", 1);
  c = LoadConfig("", {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("OBSERVE_X_WAL_FSYNC"), std::string::npos);
  unsetenv("OBSERVE_X_WAL_FSYNC");

  c = LoadConfig(WriteYaml("no_such_setting: 1\n"), {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("unknown setting 'no_such_setting'"), std::string::npos);

  c = LoadConfig(WriteYaml("- a\n- b\n"), {});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("mapping"), std::string::npos);

  c = LoadConfig((dir_ / "missing.yaml").string(), {});
  EXPECT_FALSE(c.ok());

  c = LoadConfig("", {{"memory_budget", "1MiB"}});
  EXPECT_FALSE(c.ok());
}

// By default a head is sealed once it holds back a quarter of the WAL's bound (at most
// 1 GiB), so an idle head cannot keep a small WAL full; a value set explicitly is kept.
TEST_F(ConfigTest, HeadWalLagFollowsTheWalBoundUnlessSet) {
  auto c = LoadConfig("", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->storage_head_wal_lag_bytes, 0u);
  EXPECT_EQ(c->storage_head_wal_lag(), 1ull << 30);  // the 4 GiB default bound
  c = LoadConfig("", {{"wal_max_uncheckpointed_bytes", "64MiB"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->storage_head_wal_lag(), 16ull << 20);
  c = LoadConfig("", {{"wal_max_uncheckpointed_bytes", "64GiB"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->storage_head_wal_lag(), 1ull << 30);
  c = LoadConfig(
      "", {{"wal_max_uncheckpointed_bytes", "64MiB"}, {"storage_head_wal_lag_bytes", "1GiB"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->storage_head_wal_lag(), 1ull << 30);
}

TEST(ParseBytesTest, Units) {
  EXPECT_EQ(*ParseBytes("1GiB"), 1ull << 30);
  EXPECT_EQ(*ParseBytes("512MiB"), 512ull << 20);
  EXPECT_EQ(*ParseBytes("64kib"), 64ull << 10);
  EXPECT_EQ(*ParseBytes("1000"), 1000u);
  EXPECT_EQ(*ParseBytes("2GB"), 2'000'000'000u);
  EXPECT_EQ(*ParseBytes("1.5KiB"), 1536u);
  EXPECT_FALSE(ParseBytes("lots").ok());
  EXPECT_FALSE(ParseBytes("-1MiB").ok());
  EXPECT_FALSE(ParseBytes("").ok());
}

TEST(SettingsReferenceTest, EverySettingHasFlagEnvAndHelp) {
  auto ref = SettingsReference();
  ASSERT_GE(ref.size(), 15u);
  for (const auto& s : ref) {
    EXPECT_EQ(s.flag.rfind("--", 0), 0u) << s.key;
    EXPECT_EQ(s.env.rfind("OBSERVE_X_", 0), 0u) << s.key;
    EXPECT_FALSE(s.help.empty()) << s.key;
    EXPECT_FALSE(s.default_value.empty()) << s.key;
  }
}

}  // namespace
}  // namespace observex::app

namespace observex::app {
namespace {

TEST(StorageSettingsTest, DurationsListsAndBytes) {
  EXPECT_EQ(*ParseDurationSeconds("15d"), 15u * 86'400);
  EXPECT_EQ(*ParseDurationSeconds("12h"), 12u * 3'600);
  EXPECT_EQ(*ParseDurationSeconds("10m"), 600u);
  EXPECT_EQ(*ParseDurationSeconds("30s"), 30u);
  EXPECT_EQ(*ParseDurationSeconds("2w"), 14u * 86'400);
  EXPECT_EQ(*ParseDurationSeconds("90"), 90u);
  EXPECT_FALSE(ParseDurationSeconds("").ok());
  EXPECT_FALSE(ParseDurationSeconds("15x").ok());
  EXPECT_FALSE(ParseDurationSeconds("-1d").ok());
  ServerConfig c;
  EXPECT_TRUE(ApplySetting(c, "retention", "30d").ok());
  EXPECT_EQ(c.retention_seconds, 30u * 86'400);
  auto bad = ApplySetting(c, "retention", "forever");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(std::string(bad.message()).find("retention"), std::string::npos);
  EXPECT_TRUE(
      ApplySetting(c, "promote_resource_attributes", " k8s.namespace.name, ,cloud.region").ok());
  EXPECT_EQ(c.promote_resource_attributes,
            (std::vector<std::string>{"k8s.namespace.name", "cloud.region"}));
  EXPECT_TRUE(ApplySetting(c, "max_disk_bytes", "10GiB").ok());
  EXPECT_EQ(c.max_disk_bytes, 10ull << 30);
}

}  // namespace
}  // namespace observex::app
