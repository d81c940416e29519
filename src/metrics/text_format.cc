#include "metrics/text_format.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "metrics/fingerprint.h"

namespace observex::metrics {
namespace {

// Prometheus's "normal NaN": a NaN written in text can never be read as a staleness marker.
constexpr uint64_t kNormalNaNBits = 0x7ff8000000000001ULL;

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsMetricNameStart(char c) { return IsAlpha(c) || c == '_' || c == ':'; }
bool IsMetricNameChar(char c) { return IsMetricNameStart(c) || IsDigit(c); }
bool IsLabelNameStart(char c) { return IsAlpha(c) || c == '_'; }
bool IsLabelNameChar(char c) { return IsLabelNameStart(c) || IsDigit(c); }
bool IsSpace(char c) { return c == ' ' || c == '\t'; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(absl::string_view(a.data(), a.size()),
                                absl::string_view(b.data(), b.size()));
}

std::string Quote(std::string_view s) { return query::QuoteGo(s); }

// A sample value as Prometheus reads one: a decimal number, NaN, +Inf, -Inf, Inf, Infinity
// (case-insensitive). No hexadecimal, no underscores.
bool ParseValue(std::string_view s, double* out) {
  std::string_view body = s;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (EqualsIgnoreCase(body, "inf") || EqualsIgnoreCase(body, "infinity")) {
    *out = negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
    return true;
  }
  if (EqualsIgnoreCase(s, "nan")) {
    *out = std::bit_cast<double>(kNormalNaNBits);
    return true;
  }
  if (body.empty() || !(IsDigit(body[0]) || body[0] == '.')) return false;
  double v = 0;
  auto [ptr, ec] =
      std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::general);
  if (ec != std::errc() || ptr != body.data() + body.size()) return false;
  *out = negative ? -v : v;
  return true;
}

// Integer milliseconds (Prometheus text).
bool ParseMillis(std::string_view s, int64_t* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty() || s[0] == '+') return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Seconds with an optional fraction (OpenMetrics), to milliseconds. Plain decimals are
// converted exactly (digits past the millisecond are cut, toward zero); an exponent form goes
// through a double.
bool ParseSecondsToMillis(std::string_view s, int64_t* out) {
  if (s.find_first_of("eE") != std::string_view::npos) {
    double v = 0;
    if (!ParseValue(s, &v) || !std::isfinite(v) || std::abs(v * 1000) >= 9.2e18) return false;
    *out = static_cast<int64_t>(v * 1000);
    return true;
  }
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  const size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() && frac.empty()) return false;
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1000 - 1;
  int64_t seconds = 0;
  for (char c : whole) {
    if (!IsDigit(c)) return false;
    if (seconds > (kMaxSeconds - (c - '0')) / 10) return false;
    seconds = seconds * 10 + (c - '0');
  }
  int64_t millis = 0;
  for (size_t i = 0; i < frac.size(); ++i) {
    if (!IsDigit(frac[i])) return false;
    if (i < 3) millis = millis * 10 + (frac[i] - '0');
  }
  for (size_t i = frac.size(); i < 3; ++i) millis *= 10;
  const int64_t total = seconds * 1000 + millis;
  *out = negative ? -total : total;
  return true;
}

// Suffixes a sample name may add to its family name, and the family types that allow each.
constexpr uint32_t Bit(MetadataType t) { return 1u << static_cast<unsigned>(t); }
struct Suffix {
  std::string_view text;
  uint32_t types;
};
constexpr Suffix kSuffixes[] = {
    {"_total", Bit(MetadataType::kCounter)},
    {"_created",
     Bit(MetadataType::kCounter) | Bit(MetadataType::kHistogram) | Bit(MetadataType::kSummary)},
    {"_bucket", Bit(MetadataType::kHistogram) | Bit(MetadataType::kGaugeHistogram)},
    {"_count", Bit(MetadataType::kHistogram) | Bit(MetadataType::kSummary)},
    {"_sum", Bit(MetadataType::kHistogram) | Bit(MetadataType::kSummary)},
    {"_gcount", Bit(MetadataType::kGaugeHistogram)},
    {"_gsum", Bit(MetadataType::kGaugeHistogram)},
    {"_info", Bit(MetadataType::kInfo)},
};
// OpenMetrics types whose samples all carry a suffix.
constexpr uint32_t kSuffixRequired = Bit(MetadataType::kCounter) | Bit(MetadataType::kHistogram) |
                                     Bit(MetadataType::kGaugeHistogram) | Bit(MetadataType::kInfo);

std::string AllowedSuffixes(MetadataType type) {
  std::string out;
  for (const Suffix& s : kSuffixes) {
    if (!(s.types & Bit(type))) continue;
    if (!out.empty()) out += ", ";
    out += s.text;
  }
  return out;
}

bool ParseTypeWord(std::string_view word, TextFormat format, MetadataType* type) {
  struct Word {
    std::string_view text;
    MetadataType type;
  };
  static constexpr Word kPrometheus[] = {{"counter", MetadataType::kCounter},
                                         {"gauge", MetadataType::kGauge},
                                         {"histogram", MetadataType::kHistogram},
                                         {"summary", MetadataType::kSummary},
                                         {"untyped", MetadataType::kUnknown}};
  static constexpr Word kOpenMetrics[] = {
      {"counter", MetadataType::kCounter},     {"gauge", MetadataType::kGauge},
      {"histogram", MetadataType::kHistogram}, {"gaugehistogram", MetadataType::kGaugeHistogram},
      {"summary", MetadataType::kSummary},     {"info", MetadataType::kInfo},
      {"stateset", MetadataType::kStateset},   {"unknown", MetadataType::kUnknown}};
  if (format == TextFormat::kPrometheus) {
    for (const Word& w : kPrometheus) {
      if (EqualsIgnoreCase(word, w.text)) {
        *type = w.type;
        return true;
      }
    }
    return false;
  }
  for (const Word& w : kOpenMetrics) {
    if (word == w.text) {
      *type = w.type;
      return true;
    }
  }
  return false;
}

class Parser {
 public:
  Parser(std::string_view text, const TextParseOptions& options)
      : text_(text), options_(options), om_(options.format == TextFormat::kOpenMetrics) {}

  absl::StatusOr<PromBatch> Run() {
    size_t start = 0;
    while (start < text_.size()) {
      size_t end = text_.find('\n', start);
      const bool last = end == std::string_view::npos;
      if (last) end = text_.size();
      ++line_no_;
      line_ = text_.substr(start, end - start);
      if (!line_.empty() && line_.back() == '\r') line_.remove_suffix(1);
      pos_ = 0;
      absl::Status st = Line();
      if (!st.ok()) return st;
      start = end + 1;
      if (last) {
        end_line_ = line_no_;
        end_col_ = line_.size() + 1;
      }
    }
    if (text_.empty() || text_.back() == '\n') {
      end_line_ = line_no_ + 1;
      end_col_ = 1;
    }
    if (om_ && !eof_line_) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", end_line_, ", column ", end_col_,
                       ": expected \"# EOF\" (OpenMetrics text ends with it), found the end of "
                       "the input"));
    }
    return Finish();
  }

 private:
  struct Family {
    bool typed = false;
    MetadataType type = MetadataType::kUnknown;
    size_t type_line = 0;
    bool has_help = false;
    bool has_unit = false;
    std::string help;
    std::string unit;
  };
  struct Pending {
    int64_t t_ms;
    double value;
    size_t line;
  };
  struct Accumulator {
    query::Labels labels;
    std::vector<Pending> samples;
  };

  absl::Status Error(size_t col, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_no_, ", column ", col + 1, ": ", std::string(what)));
  }

  bool AtEnd() const { return pos_ >= line_.size(); }
  char Peek() const { return AtEnd() ? '\0' : line_[pos_]; }
  void SkipSpaces() {
    while (!AtEnd() && IsSpace(line_[pos_])) ++pos_;
  }

  // What stands at the cursor, for messages: a word, or one character.
  std::string Found() const {
    if (AtEnd()) return "the end of the line";
    size_t n = 0;
    auto word_char = [](char c) { return IsMetricNameChar(c) || c == '.' || c == '+' || c == '-'; };
    while (pos_ + n < line_.size() && n < 32 && word_char(line_[pos_ + n])) ++n;
    if (n == 0) {
      uint32_t cp = 0;
      n = static_cast<size_t>(std::max(1, DecodeUtf8(line_, pos_, &cp)));
    }
    return Quote(line_.substr(pos_, n));
  }

  // A run of non-space characters.
  std::string_view Token() {
    const size_t start = pos_;
    while (!AtEnd() && !IsSpace(line_[pos_])) ++pos_;
    return line_.substr(start, pos_ - start);
  }

  std::string_view MetricName() {
    const size_t start = pos_;
    if (AtEnd() || !IsMetricNameStart(line_[pos_])) return {};
    while (!AtEnd() && IsMetricNameChar(line_[pos_])) ++pos_;
    return line_.substr(start, pos_ - start);
  }

  absl::Status Line() {
    SkipSpaces();
    if (eof_line_ && !AtEnd()) {
      return Error(pos_, absl::StrCat("unexpected content after \"# EOF\" (line ", eof_line_, ")"));
    }
    if (AtEnd()) return absl::OkStatus();
    if (Peek() == '#') return Comment();
    return Sample();
  }

  absl::Status Comment() {
    ++pos_;                                         // '#'
    if (!IsSpace(Peek())) return absl::OkStatus();  // "#..." is a plain comment
    SkipSpaces();
    std::string_view word = Token();
    if (word == "HELP") return Help();
    if (word == "TYPE") return Type();
    if (om_ && word == "UNIT") return Unit();
    if (om_ && word == "EOF") {
      SkipSpaces();
      if (!AtEnd())
        return Error(pos_,
                     absl::StrCat("expected the end of the line after \"# EOF\", found ", Found()));
      eof_line_ = line_no_;
      return absl::OkStatus();
    }
    return absl::OkStatus();  // any other comment
  }

  // The metric name after HELP/TYPE/UNIT, preceded by at least one space.
  absl::Status MetadataName(std::string_view keyword, std::string_view* name,
                            size_t* name_col = nullptr) {
    const size_t before = pos_;
    SkipSpaces();
    const size_t col = pos_;
    if (name_col != nullptr) *name_col = col;
    *name = pos_ > before ? MetricName() : std::string_view();
    if (name->empty()) {
      pos_ = col;
      return Error(col, absl::StrCat("expected a metric name after ", std::string(keyword),
                                     ", found ", Found()));
    }
    if (!AtEnd() && !IsSpace(Peek())) {
      return Error(pos_, absl::StrCat("expected a space after the metric name ", Quote(*name),
                                      ", found ", Found()));
    }
    return absl::OkStatus();
  }

  Family& FamilyNamed(std::string_view name) {
    auto [it, inserted] = families_.try_emplace(std::string(name));
    if (inserted) family_order_.emplace_back(name);
    return it->second;
  }

  absl::Status Help() {
    std::string_view name;
    if (absl::Status st = MetadataName("HELP", &name); !st.ok()) return st;
    SkipSpaces();
    std::string help;
    for (; !AtEnd(); ++pos_) {
      const char c = line_[pos_];
      if (c == '\\' && pos_ + 1 < line_.size()) {
        const char e = line_[pos_ + 1];
        if (e == '\\' || e == 'n' || (om_ && e == '"')) {
          help += e == 'n' ? '\n' : e;
          ++pos_;
          continue;
        }
      }
      help += c;
    }
    if (!IsValidUtf8(help))
      return Error(0, absl::StrCat("HELP text of ", Quote(name), " is not valid UTF-8"));
    Family& f = FamilyNamed(name);
    if (!f.has_help) {
      f.has_help = true;
      f.help = std::move(help);
    }
    return absl::OkStatus();
  }

  absl::Status Type() {
    std::string_view name;
    size_t name_col = 0;
    if (absl::Status st = MetadataName("TYPE", &name, &name_col); !st.ok()) return st;
    SkipSpaces();
    const size_t type_col = pos_;
    std::string_view word = Token();
    MetadataType type;
    if (!ParseTypeWord(word, options_.format, &type)) {
      pos_ = type_col;
      return Error(type_col,
                   absl::StrCat("expected a metric type (",
                                om_ ? "counter, gauge, histogram, gaugehistogram, summary, info, "
                                      "stateset or unknown"
                                    : "counter, gauge, histogram, summary or untyped",
                                "), found ", word.empty() ? "the end of the line" : Quote(word)));
    }
    SkipSpaces();
    if (!AtEnd()) {
      return Error(pos_, absl::StrCat("expected the end of the line after the metric type, found ",
                                      Found()));
    }
    Family& f = FamilyNamed(name);
    if (f.typed) {
      if (f.type != type) {
        return Error(type_col,
                     absl::StrCat("TYPE ", std::string(word), " for metric ", Quote(name),
                                  " conflicts with TYPE ", std::string(MetadataTypeName(f.type)),
                                  " at line ", f.type_line));
      }
      return absl::OkStatus();
    }
    // A type declared after the family's samples would retype what was already read.
    bool seen = sample_names_.contains(ToAbsl(name));
    for (const Suffix& s : kSuffixes) {
      if ((s.types & Bit(type)) &&
          sample_names_.contains(std::string(name) + std::string(s.text))) {
        seen = true;
      }
    }
    if (seen) {
      return Error(name_col, absl::StrCat("TYPE line for metric ", Quote(name),
                                          " comes after its samples; declare it before them"));
    }
    f.typed = true;
    f.type = type;
    f.type_line = line_no_;
    return absl::OkStatus();
  }

  absl::Status Unit() {
    std::string_view name;
    if (absl::Status st = MetadataName("UNIT", &name); !st.ok()) return st;
    SkipSpaces();
    const size_t unit_col = pos_;
    std::string_view unit = Token();
    SkipSpaces();
    if (!AtEnd()) {
      return Error(pos_,
                   absl::StrCat("expected the end of the line after the unit, found ", Found()));
    }
    if (!unit.empty() && !absl::EndsWith(absl::string_view(name.data(), name.size()),
                                         absl::StrCat("_", std::string(unit)))) {
      return Error(unit_col, absl::StrCat("unit ", Quote(unit),
                                          " is not the suffix of the metric name ", Quote(name),
                                          " (expected a name ending in _", std::string(unit), ")"));
    }
    Family& f = FamilyNamed(name);
    if (!f.has_unit) {
      f.has_unit = true;
      f.unit = std::string(unit);
    }
    return absl::OkStatus();
  }

  absl::Status LabelValue(std::string_view label, std::string* out) {
    for (;;) {
      if (AtEnd()) {
        return Error(pos_, absl::StrCat("unterminated value of label ", Quote(label),
                                        ": expected a closing '\"', found the end of the line"));
      }
      const char c = line_[pos_];
      if (c == '"') {
        ++pos_;
        break;
      }
      if (c == '\\') {
        const char e = pos_ + 1 < line_.size() ? line_[pos_ + 1] : '\0';
        if (e == '\\' || e == '"' || e == 'n') {
          *out += e == 'n' ? '\n' : e;
          pos_ += 2;
          continue;
        }
        return Error(
            pos_,
            absl::StrCat("invalid escape sequence ", Quote(line_.substr(pos_, e ? 2 : 1)),
                         " in the value of label ", Quote(label), " (use \\\\, \\\" or \\n)"));
      }
      *out += c;
      ++pos_;
    }
    if (!IsValidUtf8(*out)) {
      return Error(pos_ - 1, absl::StrCat("value of label ", Quote(label), " is not valid UTF-8"));
    }
    return absl::OkStatus();
  }

  // After '{': label pairs up to and including '}'.
  absl::Status Labels(std::vector<query::Label>* labels) {
    for (;;) {
      SkipSpaces();
      if (Peek() == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      const size_t name_col = pos_;
      if (AtEnd() || !IsLabelNameStart(Peek())) {
        return Error(pos_, absl::StrCat("expected a label name or '}', found ", Found()));
      }
      while (!AtEnd() && IsLabelNameChar(line_[pos_])) ++pos_;
      std::string name(line_.substr(name_col, pos_ - name_col));
      SkipSpaces();
      if (Peek() != '=') {
        return Error(
            pos_, absl::StrCat("expected '=' after label name ", Quote(name), ", found ", Found()));
      }
      ++pos_;
      SkipSpaces();
      if (Peek() != '"') {
        return Error(pos_, absl::StrCat("expected '\"' to open the value of label ", Quote(name),
                                        ", found ", Found()));
      }
      ++pos_;
      std::string value;
      if (absl::Status st = LabelValue(name, &value); !st.ok()) return st;
      if (name == query::kMetricNameLabel) {
        return Error(name_col,
                     "label name \"__name__\" is reserved: the metric name is written "
                     "before '{'");
      }
      for (const query::Label& l : *labels) {
        if (l.name == name)
          return Error(name_col, absl::StrCat("duplicate label name ", Quote(name)));
      }
      labels->push_back({std::move(name), std::move(value)});
      SkipSpaces();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      return Error(pos_, absl::StrCat("expected ',' or '}' after the value of label ",
                                      Quote(labels->back().name), ", found ", Found()));
    }
  }

  absl::Status Value(double* v) {
    const size_t col = pos_;
    std::string_view token = Token();
    if (!ParseValue(token, v)) {
      pos_ = col;
      return Error(col,
                   absl::StrCat("expected a sample value (a number, NaN, +Inf or -Inf), found ",
                                token.empty() ? "the end of the line" : Quote(token)));
    }
    return absl::OkStatus();
  }

  absl::Status Timestamp(int64_t* t) {
    const size_t col = pos_;
    std::string_view token = Token();
    const bool ok = om_ ? ParseSecondsToMillis(token, t) : ParseMillis(token, t);
    if (!ok) {
      pos_ = col;
      return Error(col, absl::StrCat(om_ ? "expected a timestamp in seconds since the epoch (e.g. "
                                           "1700000000.123)"
                                         : "expected a timestamp in milliseconds since the epoch "
                                           "(an integer)",
                                     ", found ", Quote(token)));
    }
    return absl::OkStatus();
  }

  // OpenMetrics: " # {labels} value [timestamp]" after a sample; checked, then ignored.
  absl::Status Exemplar() {
    ++pos_;  // '#'
    if (!IsSpace(Peek())) {
      return Error(pos_,
                   absl::StrCat("expected a space after '#' before the exemplar, found ", Found()));
    }
    SkipSpaces();
    if (Peek() != '{') {
      return Error(pos_,
                   absl::StrCat("expected '{' to open the exemplar's labels, found ", Found()));
    }
    ++pos_;
    std::vector<query::Label> labels;
    if (absl::Status st = Labels(&labels); !st.ok()) return st;
    SkipSpaces();
    double v = 0;
    if (absl::Status st = Value(&v); !st.ok()) return st;
    SkipSpaces();
    if (!AtEnd()) {
      int64_t t = 0;
      if (absl::Status st = Timestamp(&t); !st.ok()) return st;
      SkipSpaces();
      if (!AtEnd()) {
        return Error(
            pos_, absl::StrCat("expected the end of the line after the exemplar, found ", Found()));
      }
    }
    return absl::OkStatus();
  }

  const query::Label* FindLabel(const std::vector<query::Label>& labels, std::string_view name) {
    for (const query::Label& l : labels) {
      if (l.name == name) return &l;
    }
    return nullptr;
  }

  // Checks a sample against its family's declaration (when there is one).
  absl::Status CheckFamily(std::string_view name, const std::vector<query::Label>& labels,
                           size_t col) {
    sample_names_.insert(std::string(name));
    const Family* family = nullptr;
    std::string_view suffix;
    std::string_view family_name = name;
    if (auto it = families_.find(ToAbsl(name)); it != families_.end() && it->second.typed) {
      family = &it->second;
    } else {
      for (const Suffix& s : kSuffixes) {
        if (!absl::EndsWith(absl::string_view(name.data(), name.size()),
                            absl::string_view(s.text.data(), s.text.size()))) {
          continue;
        }
        std::string_view base = name.substr(0, name.size() - s.text.size());
        auto f = families_.find(ToAbsl(base));
        if (f != families_.end() && f->second.typed && (s.types & Bit(f->second.type))) {
          family = &f->second;
          suffix = s.text;
          family_name = base;
          break;
        }
      }
    }
    if (family == nullptr) return absl::OkStatus();
    const std::string type_name(MetadataTypeName(family->type));
    if (suffix.empty() && om_ && (kSuffixRequired & Bit(family->type))) {
      return Error(col,
                   absl::StrCat("sample ", Quote(name), " of ", type_name, " ", Quote(family_name),
                                " needs one of the suffixes ", AllowedSuffixes(family->type)));
    }
    std::string_view needed;
    if (suffix == "_bucket") needed = query::kBucketLabel;
    if (suffix.empty() && family->type == MetadataType::kSummary) needed = "quantile";
    if (!needed.empty()) {
      const query::Label* l = FindLabel(labels, needed);
      double v = 0;
      if (l == nullptr) {
        return Error(col, absl::StrCat(type_name, " sample ", Quote(name), " needs a label ",
                                       std::string(needed)));
      }
      if (!ParseValue(l->value, &v)) {
        return Error(col, absl::StrCat("label ", std::string(needed), "=", Quote(l->value), " of ",
                                       type_name, " sample ", Quote(name), " is not a number"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Sample() {
    const size_t col = pos_;
    std::string_view name = MetricName();
    if (name.empty()) return Error(pos_, absl::StrCat("expected a metric name, found ", Found()));
    std::vector<query::Label> labels;
    labels.push_back({std::string(query::kMetricNameLabel), std::string(name)});
    size_t before = pos_;
    SkipSpaces();
    if (Peek() == '{') {
      ++pos_;
      if (absl::Status st = Labels(&labels); !st.ok()) return st;
      before = pos_;
      SkipSpaces();
      if (pos_ == before && !AtEnd()) {
        return Error(pos_, absl::StrCat("expected a space after the labels, found ", Found()));
      }
    } else if (pos_ == before && !AtEnd()) {
      return Error(pos_, absl::StrCat("expected '{' or a space after the metric name ", Quote(name),
                                      ", found ", Found()));
    }
    if (AtEnd()) return Error(pos_, "expected a sample value, found the end of the line");
    double value = 0;
    if (absl::Status st = Value(&value); !st.ok()) return st;
    int64_t t = options_.default_timestamp_ms;
    SkipSpaces();
    if (!AtEnd() && !(om_ && Peek() == '#')) {
      if (absl::Status st = Timestamp(&t); !st.ok()) return st;
      SkipSpaces();
    }
    if (!AtEnd()) {
      if (om_ && Peek() == '#') {
        if (absl::Status st = Exemplar(); !st.ok()) return st;
      } else {
        return Error(pos_, absl::StrCat("expected the end of the line after the timestamp, found ",
                                        Found()));
      }
    }
    if (absl::Status st = CheckFamily(name, labels, col); !st.ok()) return st;
    query::Labels set(std::move(labels));
    auto [it, inserted] = series_index_.try_emplace(set.Key(), series_.size());
    if (inserted) series_.push_back({std::move(set), {}});
    series_[it->second].samples.push_back({t, value, line_no_});
    ++samples_read_;
    return absl::OkStatus();
  }

  absl::StatusOr<PromBatch> Finish() {
    PromBatch out;
    out.stats.series_read = series_.size();
    out.stats.samples_read = samples_read_;
    out.metrics.series.reserve(series_.size());
    for (Accumulator& acc : series_) {
      std::stable_sort(acc.samples.begin(), acc.samples.end(),
                       [](const Pending& a, const Pending& b) { return a.t_ms < b.t_ms; });
      Series& s = out.metrics.series.emplace_back();
      s.samples.reserve(acc.samples.size());
      const Pending* kept = nullptr;
      for (const Pending& p : acc.samples) {
        if (kept != nullptr && kept->t_ms == p.t_ms) {
          if (std::bit_cast<uint64_t>(kept->value) == std::bit_cast<uint64_t>(p.value)) {
            ++out.stats.duplicate_samples;
            continue;
          }
          const size_t first = std::min(kept->line, p.line);
          const size_t second = std::max(kept->line, p.line);
          return absl::InvalidArgumentError(absl::StrCat(
              "line ", second, ", column 1: series ", DescribeSeries(acc.labels.items()),
              " has two different values for timestamp ", p.t_ms, " (the other at line ", first,
              ")"));
        }
        s.samples.push_back({p.t_ms, p.value});
        kept = &p;
      }
      s.fingerprint = Fingerprint(acc.labels);
      s.labels = std::move(acc.labels);
    }
    for (const std::string& name : family_order_) {
      const Family& f = families_.at(name);
      out.metadata.push_back(
          FamilyMetadata{name, f.typed ? f.type : MetadataType::kUnknown, f.help, f.unit});
    }
    out.metrics.families = FamiliesFromMetadata(out.metadata);
    out.metrics.stats.data_points = samples_read_;
    return out;
  }

  std::string_view text_;
  const TextParseOptions& options_;
  const bool om_;
  std::string_view line_;
  size_t pos_ = 0;
  size_t line_no_ = 0;
  size_t end_line_ = 1;
  size_t end_col_ = 1;
  size_t eof_line_ = 0;
  uint64_t samples_read_ = 0;
  absl::flat_hash_map<std::string, Family> families_;
  std::vector<std::string> family_order_;
  absl::flat_hash_set<std::string> sample_names_;
  absl::flat_hash_map<std::string, size_t> series_index_;
  std::vector<Accumulator> series_;
};

}  // namespace

TextFormat TextFormatForContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && IsSpace(media.front())) media.remove_prefix(1);
  while (!media.empty() && IsSpace(media.back())) media.remove_suffix(1);
  return EqualsIgnoreCase(media, "application/openmetrics-text") ? TextFormat::kOpenMetrics
                                                                 : TextFormat::kPrometheus;
}

absl::StatusOr<PromBatch> ParseText(std::string_view text, const TextParseOptions& options) {
  return Parser(text, options).Run();
}

}  // namespace observex::metrics
