// Runner for Prometheus's PromQL test scripts (the promqltest language: load, clear,
// eval instant/range with expect lines and expected series), executed against our engine over
// the in-memory series source. Every eval ends in one of three outcomes:
//   pass        - every query of the eval met all expectations;
//   unsupported - the engine refused a query with a "not supported" error (native
//                 histograms, sample start times, experimental features), whatever was expected;
//   fail        - anything else: a wrong value, missing/extra series, wrong annotations, an
//                 unexpected error or a missing expected error.
// Like Prometheus's runner, instant evals are re-run with @ added to every selector at several
// times, and once as a range query (checking the middle step).
#pragma once

#include <string>
#include <vector>

#include "query/promql/engine.h"

namespace observex::query::promql::testing {

enum class Outcome { kPass, kUnsupported, kFail };

struct EvalReport {
  int line = 0;
  std::string expr;
  Outcome outcome = Outcome::kPass;
  std::string detail;  // why it failed or was unsupported
};

struct ScriptReport {
  std::vector<EvalReport> evals;
  std::string script_error;  // the script itself could not be read
  int passed() const;
  int unsupported() const;
  int failed() const;
};

ScriptReport RunScript(const std::string& script, const EngineOptions& options);

}  // namespace observex::query::promql::testing
