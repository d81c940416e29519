#include "promql_script.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "query/memory_series_source.h"
#include "query/promql/format.h"
#include "query/promql/functions.h"
#include "query/promql/parser.h"
#include "query/promql/quantile.h"
#include "re2/re2.h"

namespace observex::query::promql::testing {
namespace {

constexpr double kEpsilon = 0.000001;

// ---------------------------------------------------------------------------------------------
// A source that serves floats from an InMemorySeriesSource and refuses any selection that
// touches data the engine cannot represent (native histograms, samples with start times).

class ScriptSource : public SeriesSource {
 public:
  void AddFloat(const Labels& l, int64_t t, double v) { (void)floats_.Add(l, t, v); }
  void AddUnsupported(const Labels& l, int64_t t, const std::string& reason) {
    (void)unsupported_[reason].Add(l, t, 0);
  }
  void Clear() {
    floats_.Clear();
    unsupported_.clear();
  }

  absl::StatusOr<std::unique_ptr<SeriesSet>> Select(const std::vector<LabelMatcher>& matchers,
                                                    int64_t mint, int64_t maxt) const override {
    for (const auto& [reason, src] : unsupported_) {
      auto set = src.Select(matchers, mint, maxt);
      if (!set.ok()) return set.status();
      if ((*set)->Next()) return absl::UnimplementedError(reason);
    }
    return floats_.Select(matchers, mint, maxt);
  }

 private:
  InMemorySeriesSource floats_;
  std::map<std::string, InMemorySeriesSource> unsupported_;
};

constexpr char kNativeHistograms[] = "native histograms are not supported";
constexpr char kStartTimes[] = "sample start timestamps are not supported";

// ---------------------------------------------------------------------------------------------
// Series descriptions: metric{labels} followed by a value sequence.

struct SeqValue {
  enum Kind { kOmitted, kFloat, kHistogram } kind = kFloat;
  double f = 0;
};

struct SeriesDesc {
  Labels labels;
  std::vector<SeqValue> values;
};

bool IsNameChar(char c, bool first) {
  return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (!first && c >= '0' && c <= '9');
}

// Reads a quoted string starting at s[*i]; returns the unquoted value.
bool ReadQuoted(const std::string& s, size_t* i, std::string* out) {
  char q = s[*i];
  size_t j = *i + 1;
  while (j < s.size() && s[j] != q) {
    if (s[j] == '\\' && q != '`') ++j;
    ++j;
  }
  if (j >= s.size()) return false;
  auto v = UnquoteString(s.substr(*i, j - *i + 1));
  if (!v.ok()) return false;
  *out = *v;
  *i = j + 1;
  return true;
}

void SkipSpace(const std::string& s, size_t* i) {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t')) ++*i;
}

// Parses `metric{a="b", ...}` (either part optional); *i ends after the metric.
bool ParseMetric(const std::string& s, size_t* i, Labels* out, std::string* err) {
  std::vector<Label> labels;
  size_t p = *i;
  if (p < s.size() && IsNameChar(s[p], true)) {
    size_t st = p;
    while (p < s.size() && IsNameChar(s[p], false)) ++p;
    labels.push_back(Label{std::string(kMetricNameLabel), s.substr(st, p - st)});
  }
  if (p < s.size() && s[p] == '{') {
    ++p;
    while (true) {
      SkipSpace(s, &p);
      if (p < s.size() && s[p] == '}') {
        ++p;
        break;
      }
      std::string name;
      if (p < s.size() && (s[p] == '"' || s[p] == '\'' || s[p] == '`')) {
        if (!ReadQuoted(s, &p, &name)) {
          *err = "bad label name";
          return false;
        }
      } else {
        size_t st = p;
        while (p < s.size() && IsNameChar(s[p], p == st)) ++p;
        name = s.substr(st, p - st);
      }
      SkipSpace(s, &p);
      if (p < s.size() && (s[p] == ',' || s[p] == '}')) {
        labels.push_back(Label{std::string(kMetricNameLabel), name});  // {"metric"}
      } else {
        if (p >= s.size() || s[p] != '=') {
          *err = "expected '=' in label set";
          return false;
        }
        ++p;
        SkipSpace(s, &p);
        std::string value;
        if (p >= s.size() || !ReadQuoted(s, &p, &value)) {
          *err = "expected quoted label value";
          return false;
        }
        labels.push_back(Label{name, value});
      }
      SkipSpace(s, &p);
      if (p < s.size() && s[p] == ',') ++p;
    }
  }
  *i = p;
  *out = Labels(std::move(labels));
  return true;
}

// Go's strconv.ParseInt(s, 0, 64) || ParseFloat(s, 64) on a whole token.
bool ParseNumberToken(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long iv = std::strtoll(s.c_str(), &end, 0);
  if (end == s.c_str() + s.size() && errno == 0) {
    *out = static_cast<double>(iv);
    return true;
  }
  std::string lower = absl::AsciiStrToLower(s);
  if (lower.find('x') != std::string::npos && lower.find("0x") == std::string::npos) return false;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

// Reads a decimal number prefix (sign, digits, fraction, exponent, or Inf/NaN); returns the
// characters consumed or 0. Hex is not allowed in series values ("0x5" is zero repeated 5x).
size_t ReadNumberPrefix(const std::string& s, size_t i, double* out) {
  size_t p = i;
  if (p < s.size() && (s[p] == '+' || s[p] == '-')) ++p;
  std::string rest = absl::AsciiStrToLower(s.substr(p, 3));
  if (rest == "inf" || rest == "nan") {
    p += 3;
  } else {
    size_t digits = 0;
    while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p, ++digits;
    if (p < s.size() && s[p] == '.') {
      ++p;
      while (p < s.size() && std::isdigit(static_cast<unsigned char>(s[p]))) ++p, ++digits;
    }
    if (digits == 0) return 0;
    if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
      size_t q = p + 1;
      if (q < s.size() && (s[q] == '+' || s[q] == '-')) ++q;
      size_t d = q;
      while (q < s.size() && std::isdigit(static_cast<unsigned char>(s[q]))) ++q;
      if (q > d) p = q;
    }
  }
  *out = std::strtod(s.substr(i, p - i).c_str(), nullptr);
  return p - i;
}

bool ParseValues(const std::string& s, size_t i, std::vector<SeqValue>* out, std::string* err) {
  while (true) {
    SkipSpace(s, &i);
    if (i >= s.size()) return true;
    if (s.compare(i, 2, "{{") == 0) {
      // Native histogram; its inner syntax does not matter here, only how many samples.
      auto skip_hist = [&](size_t* p) -> bool {
        size_t close = s.find("}}", *p);
        if (close == std::string::npos) return false;
        *p = close + 2;
        return true;
      };
      if (!skip_hist(&i)) {
        *err = "unterminated histogram";
        return false;
      }
      size_t reps = 0;
      if (i < s.size() && (s[i] == '+' || s[i] == '-') && s.compare(i + 1, 2, "{{") == 0) {
        ++i;
        if (!skip_hist(&i)) {
          *err = "unterminated histogram";
          return false;
        }
      }
      if (i < s.size() && s[i] == 'x') {
        size_t j = i + 1;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        reps = std::stoul(s.substr(i + 1, j - i - 1)) + 1;
        i = j;
      }
      if (reps == 0) reps = 1;
      for (size_t k = 0; k < reps; ++k) out->push_back(SeqValue{SeqValue::kHistogram, 0});
      continue;
    }
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    std::string tok = s.substr(i, j - i);
    i = j;
    if (tok == "_") {
      out->push_back(SeqValue{SeqValue::kOmitted, 0});
      continue;
    }
    if (tok.rfind("_x", 0) == 0) {
      size_t n = std::stoul(tok.substr(2));
      for (size_t k = 0; k < n; ++k) out->push_back(SeqValue{SeqValue::kOmitted, 0});
      continue;
    }
    if (tok == "stale") {
      out->push_back(SeqValue{SeqValue::kFloat, StaleNaN()});
      continue;
    }
    double a = 0;
    size_t n = ReadNumberPrefix(tok, 0, &a);
    if (n == 0) {
      *err = "bad value " + tok;
      return false;
    }
    if (n == tok.size()) {
      out->push_back(SeqValue{SeqValue::kFloat, a});
      continue;
    }
    double step = 0;
    size_t p = n;
    if (tok[p] == '+' || tok[p] == '-') {
      bool neg = tok[p] == '-';
      ++p;
      size_t m = ReadNumberPrefix(tok, p, &step);
      if (m == 0) {
        *err = "bad value " + tok;
        return false;
      }
      if (neg) step = -step;
      p += m;
    }
    if (p >= tok.size() || tok[p] != 'x') {
      *err = "bad value " + tok;
      return false;
    }
    size_t times = std::stoul(tok.substr(p + 1));
    for (size_t k = 0; k <= times; ++k) {
      out->push_back(SeqValue{SeqValue::kFloat, a});
      a += step;
    }
  }
}

bool ParseSeriesLine(const std::string& line, SeriesDesc* out, std::string* err) {
  size_t i = 0;
  if (!ParseMetric(line, &i, &out->labels, err)) return false;
  return ParseValues(line, i, &out->values, err);
}

// ---------------------------------------------------------------------------------------------
// Commands.

struct ExpectLine {
  enum Kind { kOrdered, kFail, kWarn, kNoWarn, kInfo, kNoInfo } kind;
  std::optional<std::string> msg;
  std::shared_ptr<RE2> re;  // null: match anything (when msg is unset)
  bool Matches(const std::string& s) const {
    if (msg) return *msg == s;
    if (re) return RE2::PartialMatch(s, *re);
    return true;
  }
};

struct Expected {
  Labels labels;
  std::vector<SeqValue> values;
  int pos = 0;  // 1-based position among series lines
};

struct EvalCmd {
  int line = 0;
  std::string expr;
  bool is_range = false;
  int64_t start = 0, end = 0, step = 0, eval_time = 0;
  bool legacy_fail = false, legacy_warn = false, legacy_info = false, legacy_ordered = false;
  std::optional<std::string> fail_message;
  std::shared_ptr<RE2> fail_regexp;
  std::vector<ExpectLine> expects;
  bool expect_scalar = false;
  double scalar = 0;
  std::vector<Expected> series;
  std::optional<std::string> expected_string;
  bool range_vector = false;
  bool exclude_from_range = false;

  bool Ordered() const {
    if (legacy_ordered) return true;
    for (const auto& e : expects) {
      if (e.kind == ExpectLine::kOrdered) return true;
    }
    return false;
  }
  bool Fails() const {
    if (legacy_fail) return true;
    for (const auto& e : expects) {
      if (e.kind == ExpectLine::kFail) return true;
    }
    return false;
  }
};

struct LoadCmd {
  int64_t interval = 0;
  bool with_nhcb = false;
  std::vector<SeriesDesc> series;
  std::vector<bool> has_start_times;
};

struct Command {
  enum Kind { kLoad, kClear, kEval } kind;
  LoadCmd load;
  EvalCmd eval;
};

std::string Trim(std::string s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

absl::StatusOr<int64_t> Dur(const std::string& s) { return ParseDuration(Trim(s)); }

absl::Status ParseLoad(const std::vector<std::string>& lines, size_t* i, Command* cmd) {
  static const RE2 kLoad("load(?:_(with_nhcb))?\\s+(.+?)");
  std::string nhcb, step;
  if (!RE2::FullMatch(lines[*i], kLoad, &nhcb, &step)) {
    return absl::InvalidArgumentError("invalid load command");
  }
  cmd->kind = Command::kLoad;
  auto interval = Dur(step);
  if (!interval.ok()) return interval.status();
  cmd->load.interval = *interval;
  cmd->load.with_nhcb = nhcb == "with_nhcb";
  bool pending_st = false;
  while (*i + 1 < lines.size() && !lines[*i + 1].empty()) {
    ++*i;
    const std::string& l = lines[*i];
    size_t sp = l.find_first_of(" \t");
    if (sp != std::string::npos && sp >= 3 && l.compare(sp - 3, 3, "@st") == 0) {
      pending_st = true;  // start times of the next series
      continue;
    }
    SeriesDesc d;
    std::string err;
    if (!ParseSeriesLine(l, &d, &err)) {
      return absl::InvalidArgumentError(absl::StrCat("line ", *i + 1, ": ", err));
    }
    cmd->load.series.push_back(std::move(d));
    cmd->load.has_start_times.push_back(pending_st);
    pending_st = false;
  }
  return absl::OkStatus();
}

absl::Status ParseEval(const std::vector<std::string>& lines, size_t* i, Command* cmd) {
  static const RE2 kInstant(
      "eval(?:_(fail|warn|ordered|info))?\\s+instant\\s+(?:at\\s+(.+?))?\\s+(.+)");
  static const RE2 kRange(
      "eval(?:_(fail|warn|info))?\\s+range\\s+from\\s+(.+)\\s+to\\s+(.+)\\s+step\\s+(.+?)\\s+(.+)");
  static const RE2 kExpect(
      "expect\\s+(ordered|fail|warn|no_warn|info|no_info)(?:\\s+(regex|msg):(.+))?");
  static const RE2 kRangeVector(
      "expect range vector\\s+from\\s+(.+)\\s+to\\s+(.+)\\s+step\\s+(.+)");
  cmd->kind = Command::kEval;
  EvalCmd& ev = cmd->eval;
  ev.line = static_cast<int>(*i) + 1;
  std::string mod, at, from, to, step;
  const std::string& header = lines[*i];
  if (RE2::FullMatch(header, kInstant, &mod, &at, &ev.expr)) {
    auto t = Dur(at);
    if (!t.ok()) return t.status();
    ev.start = ev.eval_time = *t;
  } else if (RE2::FullMatch(header, kRange, &mod, &from, &to, &step, &ev.expr)) {
    ev.is_range = true;
    auto f = Dur(from), t = Dur(to), s = Dur(step);
    if (!f.ok() || !t.ok() || !s.ok()) return absl::InvalidArgumentError("bad range times");
    ev.start = *f;
    ev.end = *t;
    ev.step = *s;
  } else {
    return absl::InvalidArgumentError("invalid eval command: " + header);
  }
  ev.legacy_fail = mod == "fail";
  ev.legacy_warn = mod == "warn";
  ev.legacy_info = mod == "info";
  ev.legacy_ordered = mod == "ordered";
  int pos = 0;
  while (*i + 1 < lines.size() && !lines[*i + 1].empty()) {
    ++*i;
    const std::string& l = lines[*i];
    if (ev.legacy_fail && l.rfind("expected_fail_message", 0) == 0) {
      ev.fail_message = Trim(l.substr(strlen("expected_fail_message")));
      break;
    }
    if (ev.legacy_fail && l.rfind("expected_fail_regexp", 0) == 0) {
      ev.fail_regexp = std::make_shared<RE2>(Trim(l.substr(strlen("expected_fail_regexp"))));
      break;
    }
    if (l.rfind("expect range vector", 0) == 0) {
      std::string a, b, c;
      if (!RE2::FullMatch(l, kRangeVector, &a, &b, &c)) {
        return absl::InvalidArgumentError("bad expect range vector line");
      }
      auto fa = Dur(a), fb = Dur(b), fc = Dur(c);
      if (!fa.ok() || !fb.ok() || !fc.ok()) return absl::InvalidArgumentError("bad range vector");
      ev.range_vector = true;
      ev.start = *fa;
      ev.end = *fb;
      ev.step = *fc;
      ev.eval_time = *fb;
      ev.exclude_from_range = true;
      continue;
    }
    if (l.rfind("expect string", 0) == 0) {
      std::string rest = l == "expect string" ? "" : l.substr(strlen("expect string "));
      auto v = UnquoteString(rest);
      if (rest.empty() || !v.ok() || rest[0] == '\'') {
        return absl::InvalidArgumentError("bad expect string line");
      }
      ev.expected_string = *v;
      ev.exclude_from_range = true;
      continue;
    }
    if (l.substr(0, l.find(' ')) == "expect") {
      std::string kind, how, text;
      if (!RE2::FullMatch(Trim(l), kExpect, &kind, &how, &text)) {
        return absl::InvalidArgumentError("invalid expect statement: " + l);
      }
      ExpectLine e;
      static const std::map<std::string, ExpectLine::Kind> kKinds = {
          {"ordered", ExpectLine::kOrdered}, {"fail", ExpectLine::kFail},
          {"warn", ExpectLine::kWarn},       {"no_warn", ExpectLine::kNoWarn},
          {"info", ExpectLine::kInfo},       {"no_info", ExpectLine::kNoInfo}};
      e.kind = kKinds.at(kind);
      if (how == "msg") {
        e.msg = Trim(text);
      } else if (how == "regex") {
        e.re = std::make_shared<RE2>(Trim(text));
        if (!e.re->ok()) return absl::InvalidArgumentError("bad regex in expect line");
      }
      ev.expects.push_back(std::move(e));
      continue;
    }
    double num;
    if (ParseNumberToken(l, &num)) {
      ev.expect_scalar = true;
      ev.scalar = num;
      break;
    }
    SeriesDesc d;
    std::string err;
    if (!ParseSeriesLine(l, &d, &err)) {
      return absl::InvalidArgumentError(absl::StrCat("line ", *i + 1, ": ", err));
    }
    if (d.values.size() > 1 && !ev.is_range && !ev.range_vector) {
      return absl::InvalidArgumentError("multiple values in instant evaluation");
    }
    Expected x;
    x.labels = std::move(d.labels);
    x.values = std::move(d.values);
    x.pos = ++pos;
    // A later line for the same labels replaces an earlier one.
    auto it = std::find_if(ev.series.begin(), ev.series.end(),
                           [&](const Expected& e) { return e.labels == x.labels; });
    if (it != ev.series.end()) {
      *it = std::move(x);
    } else {
      ev.series.push_back(std::move(x));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Command>> ParseScript(const std::string& script) {
  std::vector<std::string> lines = absl::StrSplit(script, '\n');
  for (auto& l : lines) {
    l = Trim(l);
    if (!l.empty() && l[0] == '#') l.clear();
  }
  std::vector<Command> cmds;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    std::string word = absl::AsciiStrToLower(lines[i].substr(0, lines[i].find_first_of(" \t")));
    Command cmd;
    if (word == "clear") {
      cmd.kind = Command::kClear;
    } else if (word.rfind("load", 0) == 0) {
      auto st = ParseLoad(lines, &i, &cmd);
      if (!st.ok()) return st;
    } else if (word.rfind("eval", 0) == 0) {
      auto st = ParseEval(lines, &i, &cmd);
      if (!st.ok()) return st;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("line ", i + 1, ": invalid command"));
    }
    cmds.push_back(std::move(cmd));
  }
  return cmds;
}

// ---------------------------------------------------------------------------------------------
// Execution.

void ApplyLoad(const LoadCmd& load, ScriptSource* src) {
  // Within one load command the last line for a series wins.
  std::map<std::string, size_t> last;
  for (size_t i = 0; i < load.series.size(); ++i) last[load.series[i].labels.Key()] = i;
  for (const auto& [key, idx] : last) {
    const SeriesDesc& d = load.series[idx];
    for (size_t k = 0; k < d.values.size(); ++k) {
      int64_t t = static_cast<int64_t>(k) * load.interval;
      const SeqValue& v = d.values[k];
      if (v.kind == SeqValue::kOmitted) continue;
      if (load.has_start_times[idx]) src->AddUnsupported(d.labels, t, kStartTimes);
      if (v.kind == SeqValue::kHistogram) {
        src->AddUnsupported(d.labels, t, kNativeHistograms);
      } else {
        src->AddFloat(d.labels, t, v.f);
      }
    }
    if (!load.with_nhcb) continue;
    // load_with_nhcb also creates a native histogram with custom buckets per classic one.
    std::string name(d.labels.Get(kMetricNameLabel));
    std::string base;
    for (std::string_view suffix : {"_bucket", "_count", "_sum"}) {
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        base = name.substr(0, name.size() - suffix.size());
      }
    }
    if (base.empty()) continue;
    Labels h = d.labels;
    h.Del(kBucketLabel);
    h.Set(kMetricNameLabel, base);
    for (size_t k = 0; k < d.values.size(); ++k) {
      if (d.values[k].kind != SeqValue::kFloat) continue;
      src->AddUnsupported(h, static_cast<int64_t>(k) * load.interval, kNativeHistograms);
    }
  }
}

std::string FormatValue(double v) { return FormatFloat(v); }

bool IsUnsupported(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnimplemented ||
         s.message().find("not supported") != std::string_view::npos;
}

struct Run {
  bool unsupported = false;
  std::string unsupported_msg;
};

// Returns "" when the error matches the expectations of a failing eval.
std::string CheckExpectedFailure(const EvalCmd& ev, const std::string& err) {
  if (ev.fail_message && *ev.fail_message != err) {
    return absl::StrCat("expected error \"", *ev.fail_message, "\", got: ", err);
  }
  if (ev.fail_regexp && !RE2::PartialMatch(err, *ev.fail_regexp)) {
    return absl::StrCat("expected error matching ", ev.fail_regexp->pattern(), ", got: ", err);
  }
  for (const auto& e : ev.expects) {
    if (e.kind == ExpectLine::kFail && !e.Matches(err)) {
      return absl::StrCat("expected error matching \"",
                          e.msg ? *e.msg : (e.re ? e.re->pattern() : ""), "\", got: ", err);
    }
  }
  return "";
}

std::string CheckAnnotations(const EvalCmd& ev, const QueryResult& r) {
  std::vector<std::string> warns = r.Warnings();
  std::vector<std::string> infos = r.Infos();
  if (ev.legacy_warn && warns.empty()) return "expected warnings but got none";
  if (ev.legacy_info && infos.empty()) return "expected info annotations but got none";
  auto check = [&](ExpectLine::Kind kind, const std::vector<std::string>& actual,
                   const char* what) -> std::string {
    std::vector<const ExpectLine*> exp;
    for (const auto& e : ev.expects) {
      if (e.kind == kind) exp.push_back(&e);
    }
    if (exp.empty()) return "";
    if (actual.empty()) return absl::StrCat("expected ", what, " annotations but none were found");
    for (const auto* e : exp) {
      bool found = std::any_of(actual.begin(), actual.end(),
                               [&](const std::string& a) { return e->Matches(a); });
      if (!found) {
        return absl::StrCat("expected ", what, " annotation ",
                            e->msg ? *e->msg : (e->re ? e->re->pattern() : ""),
                            " not found; got: ", absl::StrJoin(actual, " | "));
      }
    }
    for (const auto& a : actual) {
      bool found =
          std::any_of(exp.begin(), exp.end(), [&](const ExpectLine* e) { return e->Matches(a); });
      if (!found) return absl::StrCat("unexpected ", what, " annotation: ", a);
    }
    return "";
  };
  std::string err = check(ExpectLine::kWarn, warns, "warn");
  if (!err.empty()) return err;
  err = check(ExpectLine::kInfo, infos, "info");
  if (!err.empty()) return err;
  for (const auto& e : ev.expects) {
    if (e.kind == ExpectLine::kNoWarn && !warns.empty()) {
      return "unexpected warning annotations: " + absl::StrJoin(warns, " | ");
    }
    if (e.kind == ExpectLine::kNoInfo && !infos.empty()) {
      return "unexpected info annotations: " + absl::StrJoin(infos, " | ");
    }
  }
  return "";
}

const Expected* FindExpected(const EvalCmd& ev, const Labels& l) {
  for (const auto& e : ev.series) {
    if (e.labels == l) return &e;
  }
  return nullptr;
}

// Compares a matrix result (range query, or range vector from an instant query).
std::string CompareMatrix(const EvalCmd& ev, const QueryResult& r) {
  if (ev.Ordered()) return "expected ordered result, but query returned a matrix";
  if (ev.expect_scalar) return "expected scalar result, but got matrix";
  for (size_t i = 1; i < r.series.size(); ++i) {
    if (CompareLabels(r.series[i - 1].labels, r.series[i].labels) > 0) {
      return "matrix results should always be sorted by labels";
    }
  }
  std::vector<bool> seen(ev.series.size(), false);
  for (const auto& s : r.series) {
    const Expected* exp = FindExpected(ev, s.labels);
    if (exp == nullptr) {
      return absl::StrCat("unexpected metric ", s.labels.String(), " in result");
    }
    seen[exp - ev.series.data()] = true;
    std::vector<ResultPoint> want;
    for (size_t i = 0; i < exp->values.size(); ++i) {
      int64_t t = ev.start + static_cast<int64_t>(i) * ev.step;
      if (t > ev.end) return "expected more points than the query range can return";
      if (exp->values[i].kind == SeqValue::kHistogram) return "expected a histogram";
      if (exp->values[i].kind == SeqValue::kOmitted) continue;
      want.push_back(ResultPoint{t, exp->values[i].f});
    }
    if (want.size() != s.points.size()) {
      std::string got;
      for (const auto& p : s.points) absl::StrAppend(&got, " ", FormatValue(p.value), "@", p.t_ms);
      return absl::StrCat("expected ", want.size(), " points for ", s.labels.String(), ", got ",
                          s.points.size(), ":", got);
    }
    for (size_t i = 0; i < want.size(); ++i) {
      if (want[i].t_ms != s.points[i].t_ms) {
        return absl::StrCat("point ", i, " of ", s.labels.String(), " has timestamp ",
                            s.points[i].t_ms, ", expected ", want[i].t_ms);
      }
      if (!internal::AlmostEqual(s.points[i].value, want[i].value, kEpsilon)) {
        return absl::StrCat("point ", i, " (t=", want[i].t_ms, ") of ", s.labels.String(), " is ",
                            FormatValue(s.points[i].value), ", expected ",
                            FormatValue(want[i].value));
      }
    }
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i])
      return absl::StrCat("expected metric ", ev.series[i].labels.String(), " not found");
  }
  return "";
}

std::string CompareVector(const EvalCmd& ev, const std::vector<ResultSeries>& got) {
  if (ev.expect_scalar) return "expected scalar result, but got vector";
  std::vector<bool> seen(ev.series.size(), false);
  for (size_t pos = 0; pos < got.size(); ++pos) {
    const auto& s = got[pos];
    const Expected* exp = FindExpected(ev, s.labels);
    double v = s.points.empty() ? 0 : s.points[0].value;
    if (exp == nullptr) {
      return absl::StrCat("unexpected metric ", s.labels.String(), " in result, has value ",
                          FormatValue(v));
    }
    if (ev.Ordered() && exp->pos != static_cast<int>(pos) + 1) {
      return absl::StrCat("expected metric ", s.labels.String(), " at position ", exp->pos,
                          " but was at ", pos + 1);
    }
    if (exp->values.empty() || exp->values[0].kind == SeqValue::kHistogram) {
      return "expected a histogram or no value for " + s.labels.String();
    }
    if (!internal::AlmostEqual(exp->values[0].f, v, kEpsilon)) {
      return absl::StrCat("expected ", FormatValue(exp->values[0].f), " for ", s.labels.String(),
                          " but got ", FormatValue(v));
    }
    seen[exp - ev.series.data()] = true;
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i])
      return absl::StrCat("expected metric ", ev.series[i].labels.String(), " not found");
  }
  return "";
}

std::string CompareResult(const EvalCmd& ev, const QueryResult& r) {
  switch (r.type) {
    case ValueType::kMatrix:
      return CompareMatrix(ev, r);
    case ValueType::kVector:
      return CompareVector(ev, r.series);
    case ValueType::kScalar:
      if (!ev.expect_scalar) return "expected vector or matrix result, but got scalar";
      if (!internal::AlmostEqual(ev.scalar, r.scalar.value, kEpsilon)) {
        return absl::StrCat("expected scalar ", FormatValue(ev.scalar), " but got ",
                            FormatValue(r.scalar.value));
      }
      return "";
    case ValueType::kString:
      if (!ev.expected_string || *ev.expected_string != r.string_value) {
        return absl::StrCat("expected string \"", ev.expected_string.value_or(""), "\" but got \"",
                            r.string_value, "\"");
      }
      return "";
    default:
      return "unexpected result type";
  }
}

// Adds @ <t> to every selector and top-level subquery that has none (selectors inside a
// subquery that has one keep theirs); empty when a function makes the query depend on the
// evaluation time anyway.
std::string WithAtModifiers(const std::string& expr, int64_t t) {
  auto parsed = ParseExpr(expr);
  if (!parsed.ok()) return "";
  bool unsafe = false;
  Walk(parsed->get(), [&](Expr* n, const std::vector<Expr*>& parents) {
    for (const Expr* p : parents) {
      if (p->kind == NodeKind::kSubquery &&
          static_cast<const SubqueryExpr*>(p)->at != AtKind::kNone) {
        return;
      }
    }
    switch (n->kind) {
      case NodeKind::kVectorSelector: {
        auto* vs = static_cast<VectorSelector*>(n);
        if (vs->at != AtKind::kTimestamp) {
          vs->at = AtKind::kTimestamp;
          vs->at_ms = t;
        }
        break;
      }
      case NodeKind::kMatrixSelector: {
        auto* vs = static_cast<MatrixSelector*>(n)->vs.get();
        if (vs->at != AtKind::kTimestamp) {
          vs->at = AtKind::kTimestamp;
          vs->at_ms = t;
        }
        break;
      }
      case NodeKind::kSubquery: {
        auto* sq = static_cast<SubqueryExpr*>(n);
        if (sq->at != AtKind::kTimestamp) {
          sq->at = AtKind::kTimestamp;
          sq->at_ms = t;
        }
        break;
      }
      case NodeKind::kCall:
        if (IsAtModifierUnsafeFunction(static_cast<Call*>(n)->func->name)) unsafe = true;
        break;
      default:
        break;
    }
  });
  if (unsafe) return "";
  return (*parsed)->String();
}

class Executor {
 public:
  explicit Executor(const EngineOptions& options) : engine_(options) {}

  EvalReport Execute(const EvalCmd& ev) {
    EvalReport rep;
    rep.line = ev.line;
    rep.expr = ev.expr;
    std::string err = ev.is_range ? RunRange(ev) : RunInstant(ev);
    if (!unsupported_.empty()) {
      rep.outcome = Outcome::kUnsupported;
      rep.detail = unsupported_;
    } else if (!err.empty()) {
      rep.outcome = Outcome::kFail;
      rep.detail = err;
    }
    unsupported_.clear();
    return rep;
  }

  ScriptSource& source() { return source_; }

 private:
  // Records an unsupported-feature error; returns true if `s` was one.
  bool NoteUnsupported(const absl::Status& s) {
    if (!IsUnsupported(s)) return false;
    if (unsupported_.empty()) unsupported_ = std::string(s.message());
    return true;
  }

  std::string RunRange(const EvalCmd& ev) {
    auto r = engine_.RangeQuery(source_, ev.expr, ev.start, ev.end, ev.step);
    if (!r.ok()) {
      NoteUnsupported(r.status());
      if (ev.Fails()) return CheckExpectedFailure(ev, std::string(r.status().message()));
      return "error evaluating query: " + std::string(r.status().message());
    }
    if (ev.Fails()) return "expected error evaluating query but got none";
    std::string err = CheckAnnotations(ev, *r);
    if (!err.empty()) return err;
    return CompareResult(ev, *r);
  }

  std::string RunInstant(const EvalCmd& ev) {
    std::vector<std::pair<std::string, int64_t>> queries = {{ev.expr, ev.eval_time}};
    std::string with_at = WithAtModifiers(ev.expr, ev.eval_time);
    if (!with_at.empty()) {
      int64_t ts = ev.eval_time;
      std::vector<int64_t> times = {-10 * ts, 0, ts / 5, ts, 10 * ts};
      if (ts == 0) times = {-1000, 0, 1000};
      for (int64_t t : times) queries.emplace_back(with_at, t);
    }
    for (const auto& [q, t] : queries) {
      std::string err = RunOneInstant(ev, q, t);
      if (!err.empty()) return absl::StrCat(err, " [query: ", q, " at ", t, "]");
    }
    return "";
  }

  std::string RunOneInstant(const EvalCmd& ev, const std::string& q, int64_t t) {
    auto r = engine_.InstantQuery(source_, q, t);
    if (!r.ok()) {
      NoteUnsupported(r.status());
      if (ev.Fails()) return CheckExpectedFailure(ev, std::string(r.status().message()));
      return "error evaluating query: " + std::string(r.status().message());
    }
    if (ev.Fails()) return "expected error evaluating query but got none";
    std::string err = CheckAnnotations(ev, *r);
    if (!err.empty()) return err;
    err = CompareResult(ev, *r);
    if (!err.empty()) return err;
    if (ev.exclude_from_range) return "";
    static const RE2 kContextFuncs("(start|end|range|step)\\(\\)");
    if (RE2::PartialMatch(q, kContextFuncs)) return "";
    auto rr = engine_.RangeQuery(source_, q, t - 60000, t + 60000, 60000);
    if (!rr.ok()) {
      NoteUnsupported(rr.status());
      return "error evaluating query in range mode: " + std::string(rr.status().message());
    }
    if (ev.Ordered()) return "";
    for (size_t i = 1; i < rr->series.size(); ++i) {
      if (CompareLabels(rr->series[i - 1].labels, rr->series[i].labels) > 0) {
        return "range mode: matrix results should always be sorted by labels";
      }
    }
    std::vector<ResultSeries> vec;
    for (const auto& s : rr->series) {
      for (const auto& p : s.points) {
        if (p.t_ms == t) {
          vec.push_back(ResultSeries{s.labels, {p}});
          break;
        }
      }
    }
    if (r->type == ValueType::kScalar) {
      if (vec.empty()) return "range mode: no point at the evaluation time";
      QueryResult sr;
      sr.type = ValueType::kScalar;
      sr.scalar = vec[0].points[0];
      err = CompareResult(ev, sr);
    } else {
      err = CompareVector(ev, vec);
    }
    if (!err.empty()) return "range mode: " + err;
    return "";
  }

  Engine engine_;
  ScriptSource source_;
  std::string unsupported_;
};

}  // namespace

int ScriptReport::passed() const {
  return static_cast<int>(std::count_if(
      evals.begin(), evals.end(), [](const EvalReport& e) { return e.outcome == Outcome::kPass; }));
}
int ScriptReport::unsupported() const {
  return static_cast<int>(std::count_if(evals.begin(), evals.end(), [](const EvalReport& e) {
    return e.outcome == Outcome::kUnsupported;
  }));
}
int ScriptReport::failed() const {
  return static_cast<int>(std::count_if(
      evals.begin(), evals.end(), [](const EvalReport& e) { return e.outcome == Outcome::kFail; }));
}

ScriptReport RunScript(const std::string& script, const EngineOptions& options) {
  ScriptReport report;
  auto cmds = ParseScript(script);
  if (!cmds.ok()) {
    report.script_error = std::string(cmds.status().message());
    return report;
  }
  Executor exec(options);
  for (const Command& c : *cmds) {
    switch (c.kind) {
      case Command::kClear:
        exec.source().Clear();
        break;
      case Command::kLoad:
        ApplyLoad(c.load, &exec.source());
        break;
      case Command::kEval:
        report.evals.push_back(exec.Execute(c.eval));
        break;
    }
  }
  return report;
}

}  // namespace observex::query::promql::testing
