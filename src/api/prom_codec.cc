#include "api/prom_codec.h"

#include <charconv>
#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "query/labels.h"
#include "query/promql/ast.h"
#include "query/promql/format.h"

namespace observex::api::prom {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Go's strconv.ParseFloat(s, 64) for the forms clients send: optional sign, decimal digits
// with an optional fraction and exponent, "Inf"/"Infinity"/"NaN" in any case.
bool ParseGoFloat(std::string_view s, double* out) {
  if (s.empty()) return false;
  bool negative = false;
  std::string_view body = s;
  if (body.front() == '+' || body.front() == '-') {
    negative = body.front() == '-';
    body.remove_prefix(1);
  }
  const absl::string_view lower_view(body.data(), body.size());
  if (absl::EqualsIgnoreCase(lower_view, "inf") || absl::EqualsIgnoreCase(lower_view, "infinity")) {
    *out = negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
    return true;
  }
  if (absl::EqualsIgnoreCase(lower_view, "nan")) {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (body.empty() || !(absl::ascii_isdigit(body.front()) || body.front() == '.')) return false;
  double v = 0;
  auto [ptr, ec] =
      std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::general);
  if (ptr != body.data() + body.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    // Go returns ±Inf (or 0 for underflow) together with an error; treat it as unparsable.
    return false;
  }
  if (ec != std::errc()) return false;
  *out = negative ? -v : v;
  return true;
}

bool ParseDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!absl::ascii_isdigit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date.
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return kDays[m - 1];
}

// RFC 3339 as Go's time.RFC3339Nano layout parses it: four-digit year, 'T', optional
// fraction of up to nine digits, 'Z' or ±hh:mm.
bool ParseRfc3339(std::string_view s, int64_t* ms) {
  int year, month, day, hour, minute, second;
  if (!ParseDigits(s, 0, 4, &year) || s.size() < 20 || s[4] != '-' ||
      !ParseDigits(s, 5, 2, &month) || s[7] != '-' || !ParseDigits(s, 8, 2, &day) || s[10] != 'T' ||
      !ParseDigits(s, 11, 2, &hour) || s[13] != ':' || !ParseDigits(s, 14, 2, &minute) ||
      s[16] != ':' || !ParseDigits(s, 17, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return false;
  }
  size_t pos = 19;
  int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t digits = 0;
    int64_t scale = 100;
    while (pos < s.size() && absl::ascii_isdigit(s[pos])) {
      if (digits < 3) frac_ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return false;
  }
  int64_t offset_s = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!ParseDigits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ParseDigits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return false;
    }
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  const int64_t secs =
      DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  *ms = secs * 1000 + frac_ms;
  return true;
}

}  // namespace

// ---- JsonWriter ----

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_items_.empty()) {
    if (has_items_.back()) out_ += ',';
    has_items_.back() = true;
  }
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_ += '{';
  has_items_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  out_ += '}';
  has_items_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_ += '[';
  has_items_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  out_ += ']';
  has_items_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendJsonString(&out_, key);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view value) {
  BeforeValue();
  AppendJsonString(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Timestamp(int64_t ms) {
  BeforeValue();
  AppendTimestamp(&out_, ms);
  return *this;
}

JsonWriter& JsonWriter::SampleValue(double value) {
  BeforeValue();
  out_ += '"';
  out_ += FormatSampleValue(value);
  out_ += '"';
  return *this;
}

JsonWriter& JsonWriter::Point(int64_t ms, double value) {
  return BeginArray().Timestamp(ms).SampleValue(value).EndArray();
}

JsonWriter& JsonWriter::ScalarPoint(int64_t ms, double value) {
  BeginArray();
  BeforeValue();
  out_ += query::promql::FormatFloat(static_cast<double>(ms) / 1000.0);
  BeforeValue();
  out_ += '"';
  out_ += query::promql::FormatFloat(value);
  out_ += '"';
  return EndArray();
}

JsonWriter& JsonWriter::StringPoint(int64_t ms, std::string_view value) {
  BeginArray();
  BeforeValue();
  out_ += query::promql::FormatFloat(static_cast<double>(ms) / 1000.0);
  String(value);
  return EndArray();
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  out_.append(json.data(), json.size());
  return *this;
}

JsonWriter& JsonWriter::StringArray(const std::vector<std::string>& values) {
  BeginArray();
  for (const auto& v : values) String(v);
  return EndArray();
}

// ---- formatting ----

void AppendJsonString(std::string* out, std::string_view s) {
  out->reserve(out->size() + s.size() + 2);
  *out += '"';
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          *out += "\\\"";
          break;
        case '\\':
          *out += "\\\\";
          break;
        case '\n':
          *out += "\\n";
          break;
        case '\r':
          *out += "\\r";
          break;
        case '\t':
          *out += "\\t";
          break;
        case '<':
        case '>':
        case '&':
          *out += "\\u00";
          *out += kHex[c >> 4];
          *out += kHex[c & 0xf];
          break;
        default:
          if (c < 0x20) {
            *out += "\\u00";
            *out += kHex[c >> 4];
            *out += kHex[c & 0xf];
          } else {
            *out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const int n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      *out += "\\ufffd";
      ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      *out += cp == 0x2028 ? "\\u2028" : "\\u2029";
    } else {
      out->append(s.data() + i, n);
    }
    i += n;
  }
  *out += '"';
}

void AppendTimestamp(std::string* out, int64_t ms) {
  uint64_t abs_ms = static_cast<uint64_t>(ms);
  if (ms < 0) {
    *out += '-';
    abs_ms = 0 - abs_ms;
  }
  absl::StrAppend(out, abs_ms / 1000);
  const uint64_t frac = abs_ms % 1000;
  if (frac != 0) {
    *out += '.';
    if (frac < 100) *out += '0';
    if (frac < 10) *out += '0';
    absl::StrAppend(out, frac);
  }
}

std::string FormatSampleValue(double v) {
  const double a = std::fabs(v);
  if (a != 0 && std::isfinite(a) && (a < 1e-6 || a >= 1e21)) {
    // Both bounds lie outside %g's fixed range, so this is always the exponent form.
    return query::promql::FormatFloatG(v);
  }
  return query::promql::FormatFloat(v);
}

// ---- parameters ----

absl::StatusOr<int64_t> ParseTimestamp(std::string_view s) {
  double f = 0;
  if (ParseGoFloat(s, &f)) {
    // Seconds beyond the engine's time range cannot be evaluated (and would overflow as ms).
    constexpr double kMaxSeconds = static_cast<double>(query::promql::kMaxTimestampMs / 1000 - 1);
    if (std::isfinite(f) && std::fabs(f) <= kMaxSeconds) {
      double whole = 0;
      const double frac = std::modf(f, &whole);
      return static_cast<int64_t>(whole) * 1000 + static_cast<int64_t>(std::round(frac * 1000));
    }
  } else {
    int64_t ms = 0;
    if (ParseRfc3339(s, &ms)) return ms;
    if (s == "-292273086-05-16T16:47:06Z") return kMinTimeMs;
    if (s == "292277025-08-18T07:12:54.999999999Z") return kMaxTimeMs;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot parse ", query::QuoteGo(s), " to a valid timestamp"));
}

absl::StatusOr<int64_t> ParseDurationMs(std::string_view s) {
  double f = 0;
  if (ParseGoFloat(s, &f)) {
    const double ns = f * 1e9;
    if (std::isnan(ns) || ns >= 9223372036854775807.0 || ns < -9223372036854775808.0) {
      if (std::isnan(ns)) {
        return absl::InvalidArgumentError(
            absl::StrCat("cannot parse ", query::QuoteGo(s), " to a valid duration"));
      }
      return absl::InvalidArgumentError(absl::StrCat("cannot parse ", query::QuoteGo(s),
                                                     " to a valid duration. It overflows int64"));
    }
    return static_cast<int64_t>(ns) / 1000000;
  }
  auto d = query::promql::ParseDuration(s);
  if (d.ok()) return *d;
  return absl::InvalidArgumentError(
      absl::StrCat("cannot parse ", query::QuoteGo(s), " to a valid duration"));
}

std::string AtoiError(std::string_view s, bool out_of_range) {
  return absl::StrCat("strconv.Atoi: parsing ", query::QuoteGo(s), ": ",
                      out_of_range ? "value out of range" : "invalid syntax");
}

absl::StatusOr<int64_t> ParseLimit(std::string_view s) {
  if (s.empty()) return 0;
  std::string_view digits = s;
  if (digits.front() == '+' || digits.front() == '-') digits.remove_prefix(1);
  if (digits.empty()) return absl::InvalidArgumentError(AtoiError(s, false));
  for (char c : digits) {
    if (!absl::ascii_isdigit(c)) return absl::InvalidArgumentError(AtoiError(s, false));
  }
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return absl::InvalidArgumentError(AtoiError(s, true));
  }
  if (ec != std::errc() || ptr != digits.data() + digits.size()) {
    return absl::InvalidArgumentError(AtoiError(s, false));
  }
  if (s.front() == '-' && v != 0) return absl::InvalidArgumentError("limit must be non-negative");
  return v;
}

std::string UnescapeLabelName(std::string_view name) {
  if (name.size() < 3 || name.substr(0, 3) != "U__") return std::string(name);
  std::string_view escaped = name.substr(3);
  std::string out;
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] != '_') {
      out += escaped[i];
      continue;
    }
    ++i;
    if (i >= escaped.size()) return std::string(name);
    if (escaped[i] == '_') {
      out += '_';
      continue;
    }
    uint32_t cp = 0;
    bool closed = false;
    for (int j = 0; i < escaped.size(); ++j, ++i) {
      if (j >= 6) return std::string(name);
      if (escaped[i] == '_') {
        closed = true;
        break;
      }
      const char c = absl::ascii_tolower(escaped[i]);
      cp *= 16;
      if (c >= '0' && c <= '9') {
        cp += c - '0';
      } else if (c >= 'a' && c <= 'f') {
        cp += c - 'a' + 10;
      } else {
        return std::string(name);
      }
    }
    if (!closed || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::string(name);
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  return out;
}

// ---- errors ----

std::string_view ErrorTypeName(ErrorType type) {
  switch (type) {
    case ErrorType::kBadData:
      return "bad_data";
    case ErrorType::kExecution:
      return "execution";
    case ErrorType::kTimeout:
      return "timeout";
    case ErrorType::kCanceled:
      return "canceled";
    case ErrorType::kInternal:
      return "internal";
    case ErrorType::kNotFound:
      return "not_found";
    case ErrorType::kUnavailable:
      return "unavailable";
    case ErrorType::kUnauthorized:
      return "unauthorized";
  }
  return "internal";
}

int HttpStatusFor(ErrorType type) {
  switch (type) {
    case ErrorType::kBadData:
      return 400;
    case ErrorType::kExecution:
      return 422;
    case ErrorType::kTimeout:
    case ErrorType::kCanceled:
    case ErrorType::kUnavailable:
      return 503;
    case ErrorType::kInternal:
      return 500;
    case ErrorType::kNotFound:
      return 404;
    case ErrorType::kUnauthorized:
      return 401;
  }
  return 500;
}

ErrorType ErrorTypeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return ErrorType::kExecution;
    case absl::StatusCode::kDeadlineExceeded:
      return ErrorType::kTimeout;
    case absl::StatusCode::kCancelled:
      return ErrorType::kCanceled;
    case absl::StatusCode::kUnavailable:
      return ErrorType::kUnavailable;
    case absl::StatusCode::kNotFound:
      return ErrorType::kNotFound;
    case absl::StatusCode::kUnauthenticated:
      return ErrorType::kUnauthorized;
    default:
      return ErrorType::kInternal;
  }
}

std::string ErrorBody(ErrorType type, std::string_view message) {
  JsonWriter w;
  w.BeginObject()
      .Key("status")
      .String("error")
      .Key("errorType")
      .String(ErrorTypeName(type))
      .Key("error")
      .String(message)
      .EndObject();
  return w.Release();
}

}  // namespace observex::api::prom
