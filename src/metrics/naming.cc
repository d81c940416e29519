#include "metrics/naming.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/utf8.h"
#include "opentelemetry/proto/common/v1/common.pb.h"

namespace observex::metrics {
namespace {

namespace otel = opentelemetry::proto::common::v1;

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  uint32_t code_point;
  return static_cast<size_t>(DecodeUtf8(s, i, &code_point));
}

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool IsMetricNameChar(char c) { return IsAsciiAlnum(c) || c == ':'; }

// Calls `visit(ch, valid)` once per UTF-8 character of `s` (an invalid byte counts as one
// character); `ch` is the ASCII byte, or 0 for anything else.
template <typename F>
void ForEachChar(std::string_view s, F visit) {
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 1) {
      visit(s[i]);
      ++i;
    } else {
      visit('\0');
      i += n == 0 ? 1 : n;
    }
  }
}

// Words of `s` split at every character outside [a-zA-Z0-9:].
std::vector<std::string> MetricNameWords(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  ForEachChar(s, [&](char c) {
    if (c != '\0' && IsMetricNameChar(c)) {
      cur += c;
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  });
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

std::string_view TrimSpace(std::string_view s) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view MainUnitWord(std::string_view u) {
  static const auto* kUnits = new std::map<std::string_view, std::string_view>{
      // time
      {"d", "days"},
      {"h", "hours"},
      {"min", "minutes"},
      {"s", "seconds"},
      {"ms", "milliseconds"},
      {"us", "microseconds"},
      {"ns", "nanoseconds"},
      // bytes
      {"By", "bytes"},
      {"KiBy", "kibibytes"},
      {"MiBy", "mebibytes"},
      {"GiBy", "gibibytes"},
      {"TiBy", "tibibytes"},
      {"KBy", "kilobytes"},
      {"MBy", "megabytes"},
      {"GBy", "gigabytes"},
      {"TBy", "terabytes"},
      // SI
      {"m", "meters"},
      {"V", "volts"},
      {"A", "amperes"},
      {"J", "joules"},
      {"W", "watts"},
      {"g", "grams"},
      // other
      {"Cel", "celsius"},
      {"Hz", "hertz"},
      {"1", ""},
      {"%", "percent"},
  };
  auto it = kUnits->find(u);
  return it == kUnits->end() ? u : it->second;
}

std::string_view PerUnitWord(std::string_view u) {
  static const auto* kUnits = new std::map<std::string_view, std::string_view>{
      {"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
      {"w", "week"},   {"mo", "month"}, {"y", "year"},
  };
  auto it = kUnits->find(u);
  return it == kUnits->end() ? u : it->second;
}

// Replaces characters outside [a-zA-Z0-9:] with `_`, collapses runs of `_` and trims `_` at
// both ends, so the result is a valid run of metric-name words (or "").
std::string CleanUnitPart(std::string_view s) {
  std::string out;
  bool pending_underscore = false;
  ForEachChar(s, [&](char c) {
    if (c != '\0' && IsMetricNameChar(c)) {
      if (pending_underscore && !out.empty()) out += '_';
      pending_underscore = false;
      out += c;
    } else {
      pending_underscore = true;
    }
  });
  return out;
}

// The unit split into its main part ("bytes") and its "per" part ("per_second"), each cleaned;
// a part written as a curly-brace annotation ("{request}") is dropped.
std::pair<std::string, std::string> UnitParts(std::string_view unit) {
  std::string_view main_raw = unit;
  std::string_view per_raw;
  bool has_per = false;
  if (size_t slash = unit.find('/'); slash != std::string_view::npos) {
    main_raw = unit.substr(0, slash);
    per_raw = unit.substr(slash + 1);
    has_per = true;
  }
  std::string main_part;
  main_raw = TrimSpace(main_raw);
  if (!main_raw.empty() && main_raw.find_first_of("{}") == std::string_view::npos) {
    main_part = CleanUnitPart(MainUnitWord(main_raw));
  }
  std::string per_part;
  per_raw = TrimSpace(per_raw);
  if (has_per && !per_raw.empty() && per_raw.find_first_of("{}") == std::string_view::npos) {
    std::string per_word = CleanUnitPart(PerUnitWord(per_raw));
    if (!per_word.empty()) per_part = "per_" + per_word;
  }
  return {std::move(main_part), std::move(per_part)};
}

std::vector<std::string> SplitUnderscore(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('_', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// True when `needle` occurs in `words` as a contiguous run of words.
bool ContainsRun(const std::vector<std::string>& words, const std::vector<std::string>& needle) {
  if (needle.empty() || needle.size() > words.size()) return false;
  return std::search(words.begin(), words.end(), needle.begin(), needle.end()) != words.end();
}

void MoveWordToEnd(std::vector<std::string>* words, const std::string& word) {
  words->erase(std::remove(words->begin(), words->end(), word), words->end());
  words->push_back(word);
}

std::string FormatShortest(double v, std::chars_format format) {
  char buf[512];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, format);
  if (ec != std::errc()) return "NaN";  // cannot happen with this buffer size
  return std::string(buf, end);
}

// JavaScript's Number#toString, which Go's JSON encoder and the OTLP collector use for
// doubles: fixed notation from 1e-6 up to 1e21, exponent form outside.
std::string FormatNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  double a = std::fabs(v);
  if (a != 0 && (a < 1e-6 || a >= 1e21)) {
    std::string s = FormatShortest(v, std::chars_format::scientific);
    // "1e-07" -> "1e-7"
    size_t n = s.size();
    if (n >= 4 && s[n - 4] == 'e' && s[n - 3] == '-' && s[n - 2] == '0') s.erase(n - 2, 1);
    return s;
  }
  return FormatShortest(v, std::chars_format::fixed);
}

void AppendJsonString(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out->append("\\ufffd");
      ++i;
      continue;
    }
    if (n > 1) {
      std::string_view seq = s.substr(i, n);
      if (seq == "\u2028" || seq == "\u2029") {
        out->append(seq == "\u2028" ? "\\u2028" : "\\u2029");
      } else {
        out->append(seq);
      }
      i += n;
      continue;
    }
    unsigned char c = static_cast<unsigned char>(s[i++]);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        // Other control characters as \u00XX; <, > and & stay as they are, as in the OTLP
        // collector's rendering (which turns HTML escaping off).
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendJson(const otel::AnyValue& v, std::string* out) {
  switch (v.value_case()) {
    case otel::AnyValue::kStringValue:
      AppendJsonString(v.string_value(), out);
      return;
    case otel::AnyValue::kBoolValue:
      out->append(v.bool_value() ? "true" : "false");
      return;
    case otel::AnyValue::kIntValue:
      out->append(std::to_string(v.int_value()));
      return;
    case otel::AnyValue::kDoubleValue: {
      double d = v.double_value();
      if (std::isfinite(d)) {
        out->append(FormatNumber(d));
      } else {
        AppendJsonString(FormatNumber(d), out);  // JSON has no NaN or infinity
      }
      return;
    }
    case otel::AnyValue::kBytesValue:
      AppendJsonString(absl::Base64Escape(v.bytes_value()), out);
      return;
    case otel::AnyValue::kArrayValue: {
      out->push_back('[');
      bool first = true;
      for (const otel::AnyValue& e : v.array_value().values()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJson(e, out);
      }
      out->push_back(']');
      return;
    }
    case otel::AnyValue::kKvlistValue: {
      // Sorted keys, the last duplicate winning: what encoding a map gives.
      std::map<std::string_view, const otel::AnyValue*> sorted;
      for (const otel::KeyValue& kv : v.kvlist_value().values()) sorted[kv.key()] = &kv.value();
      out->push_back('{');
      bool first = true;
      for (const auto& [k, e] : sorted) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(k, out);
        out->push_back(':');
        AppendJson(*e, out);
      }
      out->push_back('}');
      return;
    }
    case otel::AnyValue::VALUE_NOT_SET:
      break;
  }
  out->append("null");
}

}  // namespace

std::string NormalizeMetricName(std::string_view name, std::string_view unit, OtlpKind kind) {
  std::vector<std::string> words = MetricNameWords(name);
  // Suffixes alone do not make a name ("" with unit "s" is not "seconds").
  if (words.empty()) return "";
  auto [main_unit, per_unit] = UnitParts(unit);
  // A unit already spelled out in the name is not repeated ("duration_seconds" + "s").
  if (!main_unit.empty() && !ContainsRun(words, SplitUnderscore(main_unit))) {
    for (auto& w : SplitUnderscore(main_unit)) words.push_back(std::move(w));
  }
  if (!per_unit.empty() && !ContainsRun(words, SplitUnderscore(per_unit))) {
    for (auto& w : SplitUnderscore(per_unit)) words.push_back(std::move(w));
  }
  if (kind == OtlpKind::kMonotonicSum) MoveWordToEnd(&words, "total");
  // Unit "1" on a gauge is a ratio; on other kinds it is usually a count of things, so no
  // suffix is added there.
  if (unit == "1" && kind == OtlpKind::kGauge) MoveWordToEnd(&words, "ratio");
  std::string out;
  if (IsAsciiDigit(words.front().front())) out += '_';
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += '_';
    out += words[i];
  }
  return out;
}

std::string PrometheusUnit(std::string_view unit) {
  auto [main_unit, per_unit] = UnitParts(unit);
  if (main_unit.empty()) return per_unit;
  if (per_unit.empty()) return main_unit;
  return main_unit + "_" + per_unit;
}

std::string SanitizeLabelName(std::string_view key) {
  if (key.empty()) return "";
  std::string out;
  out.reserve(key.size() + 4);
  ForEachChar(key, [&](char c) { out += (c != '\0' && IsAsciiAlnum(c)) ? c : '_'; });
  if (IsAsciiDigit(out.front())) {
    out.insert(0, "key_");
  } else if (out.front() == '_') {
    out.insert(0, "key");
  }
  return out;
}

std::string AttributeValueString(const otel::AnyValue& value) {
  switch (value.value_case()) {
    case otel::AnyValue::kStringValue:
      return ToValidUtf8(value.string_value());
    case otel::AnyValue::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case otel::AnyValue::kIntValue:
      return std::to_string(value.int_value());
    case otel::AnyValue::kDoubleValue:
      return FormatNumber(value.double_value());
    case otel::AnyValue::kBytesValue:
      return absl::Base64Escape(value.bytes_value());
    case otel::AnyValue::kArrayValue:
    case otel::AnyValue::kKvlistValue: {
      std::string out;
      AppendJson(value, &out);
      return out;
    }
    case otel::AnyValue::VALUE_NOT_SET:
      break;
  }
  return "";
}

std::string FormatLabelFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return "0";
  return FormatShortest(v, std::chars_format::fixed);
}

std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out.append("\xef\xbf\xbd");
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace observex::metrics
