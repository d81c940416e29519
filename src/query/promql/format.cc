#include "query/promql/format.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "query/labels.h"

namespace observex::query::promql {
namespace {

// Shortest round-trip decimal digits of a finite, non-zero |v|: v = 0.d1d2d3... * 10^dp.
struct Digits {
  std::string d;  // significant digits, no leading/trailing zeros
  int dp = 0;     // position of the decimal point relative to the digit string
};

Digits ShortestDigits(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), std::fabs(v), std::chars_format::scientific);
  std::string s(buf, res.ptr);
  size_t e = s.find('e');
  std::string mant = s.substr(0, e);
  int exp = std::atoi(s.c_str() + e + 1);
  Digits out;
  for (char c : mant) {
    if (c != '.') out.d += c;
  }
  while (out.d.size() > 1 && out.d.back() == '0') out.d.pop_back();
  out.dp = exp + 1;
  return out;
}

std::string FixedFromDigits(const Digits& dg) {
  std::string out;
  if (dg.dp <= 0) {
    out = "0.";
    out.append(-dg.dp, '0');
    out += dg.d;
  } else if (dg.dp >= static_cast<int>(dg.d.size())) {
    out = dg.d;
    out.append(dg.dp - dg.d.size(), '0');
  } else {
    out = dg.d.substr(0, dg.dp);
    out += '.';
    out += dg.d.substr(dg.dp);
  }
  return out;
}

std::string ExpFromDigits(const Digits& dg) {
  std::string out(1, dg.d[0]);
  if (dg.d.size() > 1) {
    out += '.';
    out += dg.d.substr(1);
  }
  int exp = dg.dp - 1;
  out += exp < 0 ? "e-" : "e+";
  int a = std::abs(exp);
  if (a < 10) out += '0';
  out += std::to_string(a);
  return out;
}

bool Special(double v, std::string* out) {
  if (std::isnan(v)) {
    *out = "NaN";
    return true;
  }
  if (std::isinf(v)) {
    *out = v > 0 ? "+Inf" : "-Inf";
    return true;
  }
  if (v == 0) {
    *out = std::signbit(v) ? "-0" : "0";
    return true;
  }
  return false;
}

struct Unit {
  std::string_view name;
  int64_t ms;
  int order;
};
constexpr Unit kUnits[] = {
    {"y", 365LL * 24 * 3600 * 1000, 1},
    {"w", 7LL * 24 * 3600 * 1000, 2},
    {"d", 24LL * 3600 * 1000, 3},
    {"h", 3600LL * 1000, 4},
    {"m", 60LL * 1000, 5},
    {"s", 1000, 6},
    {"ms", 1, 7},
};

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(std::string* out, uint32_t r) {
  if (r < 0x80) {
    *out += static_cast<char>(r);
  } else if (r < 0x800) {
    *out += static_cast<char>(0xc0 | (r >> 6));
    *out += static_cast<char>(0x80 | (r & 0x3f));
  } else if (r < 0x10000) {
    *out += static_cast<char>(0xe0 | (r >> 12));
    *out += static_cast<char>(0x80 | ((r >> 6) & 0x3f));
    *out += static_cast<char>(0x80 | (r & 0x3f));
  } else {
    *out += static_cast<char>(0xf0 | (r >> 18));
    *out += static_cast<char>(0x80 | ((r >> 12) & 0x3f));
    *out += static_cast<char>(0x80 | ((r >> 6) & 0x3f));
    *out += static_cast<char>(0x80 | (r & 0x3f));
  }
}

}  // namespace

std::string FormatFloat(double v) {
  std::string out;
  if (Special(v, &out)) return out;
  out = FixedFromDigits(ShortestDigits(v));
  return v < 0 ? "-" + out : out;
}

std::string FormatFloatG(double v) {
  std::string out;
  if (Special(v, &out)) return out;
  Digits dg = ShortestDigits(v);
  int exp = dg.dp - 1;
  out = (exp < -4 || exp >= 6) ? ExpFromDigits(dg) : FixedFromDigits(dg);
  return v < 0 ? "-" + out : out;
}

std::string FormatOpenMetricsFloat(double v) {
  if (v == 0) return "0.0";
  std::string s = FormatFloatG(v);
  if (std::isnan(v) || std::isinf(v)) return s;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string FormatDuration(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  for (const Unit& u : kUnits) {
    bool exact_only = u.name == "y" || u.name == "w";
    if (exact_only && ms % u.ms != 0) continue;
    int64_t v = ms / u.ms;
    if (v > 0) {
      absl::StrAppend(&out, v, std::string(u.name));
      ms -= v * u.ms;
    }
  }
  return out;
}

absl::StatusOr<int64_t> ParseDuration(std::string_view s) {
  if (s == "0") return 0;
  if (s.empty()) return absl::InvalidArgumentError("empty duration string");
  const std::string orig(s);
  auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat("not a valid duration string: ", QuoteGo(orig)));
  };
  // Prometheus keeps durations in nanoseconds; overflow limits follow from that.
  constexpr int64_t kMaxNs = std::numeric_limits<int64_t>::max();
  int64_t total_ms = 0;
  __int128 total_ns = 0;
  int last_order = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == 0) return invalid();
    __int128 v = 0;
    for (size_t k = 0; k < i; ++k) {
      v = v * 10 + (s[k] - '0');
      if (v > static_cast<__int128>(kMaxNs)) return invalid();
    }
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !(s[j] >= '0' && s[j] <= '9')) ++j;
    if (j == 0) return invalid();
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    const Unit* u = nullptr;
    for (const Unit& cand : kUnits) {
      if (cand.name == unit) u = &cand;
    }
    if (u == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown unit ", QuoteGo(unit), " in duration ", QuoteGo(orig)));
    }
    if (u->order <= last_order) return invalid();
    last_order = u->order;
    __int128 unit_ns = static_cast<__int128>(u->ms) * 1000000;
    if (v > static_cast<__int128>(kMaxNs) / unit_ns) {
      return absl::InvalidArgumentError("duration out of range");
    }
    total_ns += v * unit_ns;
    if (total_ns > static_cast<__int128>(kMaxNs)) {
      return absl::InvalidArgumentError("duration out of range");
    }
    total_ms += static_cast<int64_t>(v) * u->ms;
  }
  return total_ms;
}

absl::StatusOr<std::string> UnquoteString(std::string_view s) {
  auto syntax = [] { return absl::InvalidArgumentError("invalid syntax"); };
  if (s.size() < 2) return syntax();
  char quote = s.front();
  if (quote != s.back()) return syntax();
  s = s.substr(1, s.size() - 2);
  if (quote == '`') {
    if (s.find('`') != std::string_view::npos) return syntax();
    return std::string(s);
  }
  if (quote != '"' && quote != '\'') return syntax();
  if (s.find('\n') != std::string_view::npos) return syntax();
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == quote) return syntax();
    if (c != '\\') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) return syntax();
    char e = s[i + 1];
    i += 2;
    switch (e) {
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
      case '"':
        if (e != quote) return syntax();
        out += e;
        break;
      case 'x':
      case 'u':
      case 'U': {
        int n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
        if (i + n > s.size()) return syntax();
        uint32_t v = 0;
        for (int k = 0; k < n; ++k) {
          int h = HexVal(s[i + k]);
          if (h < 0) return syntax();
          v = (v << 4) | static_cast<uint32_t>(h);
        }
        i += n;
        if (e == 'x') {
          out += static_cast<char>(v);
        } else {
          if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) return syntax();
          AppendUtf8(&out, v);
        }
        break;
      }
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7': {
        if (i + 2 > s.size()) return syntax();
        uint32_t v = static_cast<uint32_t>(e - '0');
        for (int k = 0; k < 2; ++k) {
          char d = s[i + k];
          if (d < '0' || d > '7') return syntax();
          v = (v << 3) | static_cast<uint32_t>(d - '0');
        }
        if (v > 255) return syntax();
        i += 2;
        out += static_cast<char>(v);
        break;
      }
      default:
        return syntax();
    }
  }
  return out;
}

std::string PositionString(std::string_view query, int pos) {
  if (query.empty()) return "unknown position";
  if (pos < 0 || pos > static_cast<int>(query.size())) return "invalid position";
  int line = 1;
  int last_break = -1;
  for (int i = 0; i < pos; ++i) {
    if (query[i] == '\n') {
      last_break = i;
      ++line;
    }
  }
  return absl::StrCat(line, ":", pos - last_break);
}

}  // namespace observex::query::promql
