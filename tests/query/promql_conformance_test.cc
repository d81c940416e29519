// Runs Prometheus's own PromQL test scripts (conformance/promql/*.test) against our engine and
// reports, per file, how many evals pass, fail, or are refused as unsupported. A wrong answer
// anywhere fails the test; so does a required file whose pass count drops below its floor.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "gtest/gtest.h"
#include "promql_script.h"

namespace observex::query::promql::testing {
namespace {

namespace fs = std::filesystem;

// Classic-PromQL files: every eval must pass unless it needs native histograms or an
// experimental feature. Floors are the pass counts reached so far; raise them as they grow.
const std::map<std::string, int>& RequiredFloors() {
  static const auto* floors = new std::map<std::string, int>{
      {"aggregators.test", 124},        {"at_modifier.test", 78}, {"collision.test", 2},
      {"functions.test", 326},          {"histograms.test", 93},  {"literals.test", 25},
      {"name_label_dropping.test", 30}, {"operators.test", 142},  {"range_queries.test", 17},
      {"selectors.test", 31},           {"staleness.test", 17},   {"subquery.test", 32},
      {"trig_functions.test", 19},
  };
  return *floors;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(PromqlConformanceTest, PrometheusTestScripts) {
  fs::path dir = fs::path(OBX_CONFORMANCE_DIR) / "promql";
  if (!fs::is_directory(dir)) {
    GTEST_SKIP() << "conformance folder " << dir << " is absent; nothing to run";
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".test") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << "no .test files in " << dir;

  EngineOptions options;
  int total_pass = 0, total_fail = 0, total_unsupported = 0;
  std::ostringstream summary;
  for (const auto& path : files) {
    std::string name = path.filename().string();
    ScriptReport rep = RunScript(ReadFile(path), options);
    ASSERT_TRUE(rep.script_error.empty()) << name << ": " << rep.script_error;
    total_pass += rep.passed();
    total_fail += rep.failed();
    total_unsupported += rep.unsupported();
    summary << "  " << name << ": " << rep.passed() << " passed, " << rep.failed() << " failed, "
            << rep.unsupported() << " unsupported (of " << rep.evals.size() << ")\n";
    bool required = RequiredFloors().count(name) > 0;
    for (const auto& e : rep.evals) {
      if (e.outcome == Outcome::kFail) {
        ADD_FAILURE() << name << ":" << e.line << ": wrong answer for `" << e.expr
                      << "`: " << e.detail;
      }
      if (std::getenv("OBX_PROMQL_VERBOSE") != nullptr && e.outcome == Outcome::kUnsupported) {
        std::cout << "UNSUPPORTED " << name << ":" << e.line << " `" << e.expr << "`: " << e.detail
                  << "\n";
      }
    }
    if (required) {
      EXPECT_GE(rep.passed(), RequiredFloors().at(name)) << name << " fell below its floor";
    }
  }
  std::cout << "PromQL conformance per file:\n"
            << summary.str() << "  total: " << total_pass << " passed, " << total_fail
            << " failed, " << total_unsupported << " unsupported\n";
}

}  // namespace
}  // namespace observex::query::promql::testing
