#include "query/labels.h"

#include <algorithm>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

namespace observex::query {
namespace {

bool IsMetadataLabel(std::string_view name) {
  return name == kMetricNameLabel || name == "__type__" || name == "__unit__";
}

// Decodes one UTF-8 rune at s[i]; returns its length, or 0 for an invalid sequence.
int DecodeRune(std::string_view s, size_t i, uint32_t* rune) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) {
    *rune = c;
    return 1;
  }
  int len;
  uint32_t r;
  if ((c & 0xe0) == 0xc0) {
    len = 2;
    r = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3;
    r = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4;
    r = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (int k = 1; k < len; ++k) {
    unsigned char cc = byte(i + k);
    if ((cc & 0xc0) != 0x80) return 0;
    r = (r << 6) | (cc & 0x3f);
  }
  // Reject overlong forms, surrogates and out-of-range code points.
  if ((len == 2 && r < 0x80) || (len == 3 && r < 0x800) || (len == 4 && r < 0x10000) ||
      r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) {
    return 0;
  }
  *rune = r;
  return len;
}

// Approximation of Go's unicode.IsPrint for non-ASCII runes: spaces other than U+0020,
// format and control characters, private use and specials are not printable.
bool IsPrintRune(uint32_t r) {
  if (r < 0x20 || r == 0x7f) return false;
  if (r < 0x7f) return true;
  if (r < 0xa1 || r == 0xad) return false;
  if (r == 0x1680 || (r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f) ||
      (r >= 0x205f && r <= 0x206f) || r == 0x3000 || r == 0xfeff || (r >= 0xe000 && r <= 0xf8ff) ||
      (r >= 0xfff0 && r <= 0xfffb) || r == 0xfffe || r == 0xffff || r >= 0xf0000) {
    return false;
  }
  return true;
}

void AppendHex(std::string* out, const char* prefix, uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%0*x", digits, v);
  out->append(prefix);
  out->append(buf);
}

}  // namespace

Labels::Labels(std::vector<Label> labels) {
  std::stable_sort(labels.begin(), labels.end(),
                   [](const Label& a, const Label& b) { return a.name < b.name; });
  for (auto& l : labels) {
    if (!labels_.empty() && labels_.back().name == l.name) {
      labels_.back() = std::move(l);
    } else {
      labels_.push_back(std::move(l));
    }
  }
  labels_.erase(std::remove_if(labels_.begin(), labels_.end(),
                               [](const Label& l) { return l.value.empty(); }),
                labels_.end());
}

Labels::Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::vector<Label> v;
  v.reserve(labels.size());
  for (const auto& [n, val] : labels) v.push_back(Label{std::string(n), std::string(val)});
  *this = Labels(std::move(v));
}

std::string_view Labels::Get(std::string_view name) const {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) return it->value;
  return {};
}

bool Labels::Has(std::string_view name) const { return !Get(name).empty(); }

void Labels::Set(std::string_view name, std::string_view value) {
  auto it = std::lower_bound(labels_.begin(), labels_.end(), name,
                             [](const Label& l, std::string_view n) { return l.name < n; });
  if (it != labels_.end() && it->name == name) {
    if (value.empty()) {
      labels_.erase(it);
    } else {
      it->value = std::string(value);
    }
    return;
  }
  if (value.empty()) return;
  labels_.insert(it, Label{std::string(name), std::string(value)});
}

void Labels::Del(std::string_view name) { Set(name, ""); }

void Labels::Keep(const std::vector<std::string>& names) {
  labels_.erase(std::remove_if(labels_.begin(), labels_.end(),
                               [&](const Label& l) {
                                 return std::find(names.begin(), names.end(), l.name) ==
                                        names.end();
                               }),
                labels_.end());
}

void Labels::DropMetricName() {
  labels_.erase(std::remove_if(labels_.begin(), labels_.end(),
                               [](const Label& l) { return IsMetadataLabel(l.name); }),
                labels_.end());
}

std::string Labels::String() const {
  std::string out = "{";
  for (size_t i = 0; i < labels_.size(); ++i) {
    if (i > 0) out += ", ";
    if (IsLegacyLabelName(labels_[i].name)) {
      out += labels_[i].name;
    } else {
      out += QuoteGo(labels_[i].name);
    }
    out += '=';
    out += QuoteGo(labels_[i].value);
  }
  out += '}';
  return out;
}

std::string Labels::Key() const {
  std::string key;
  for (const auto& l : labels_) {
    key += l.name;
    key += '\xff';
    key += l.value;
    key += '\xff';
  }
  return key;
}

std::string Labels::KeyFor(const std::vector<std::string>& names, bool on) const {
  std::string key;
  for (const auto& l : labels_) {
    bool listed = std::find(names.begin(), names.end(), l.name) != names.end();
    if (listed != on) continue;
    key += l.name;
    key += '\xff';
    key += l.value;
    key += '\xff';
  }
  return key;
}

int CompareLabels(const Labels& a, const Labels& b) {
  const auto& x = a.items();
  const auto& y = b.items();
  size_t n = std::min(x.size(), y.size());
  for (size_t i = 0; i < n; ++i) {
    if (x[i].name != y[i].name) return x[i].name < y[i].name ? -1 : 1;
    if (x[i].value != y[i].value) return x[i].value < y[i].value ? -1 : 1;
  }
  if (x.size() == y.size()) return 0;
  return x.size() < y.size() ? -1 : 1;
}

bool IsLegacyLabelName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t r;
    int n = DecodeRune(s, i, &r);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) { return !name.empty() && IsValidUtf8(name); }

std::string QuoteGo(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    uint32_t r;
    int n = DecodeRune(s, i, &r);
    if (n == 0) {
      AppendHex(&out, "\\x", static_cast<unsigned char>(s[i]), 2);
      ++i;
      continue;
    }
    i += n;
    switch (r) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\v':
        out += "\\v";
        continue;
      default:
        break;
    }
    if (IsPrintRune(r)) {
      out.append(s.substr(i - n, n));
    } else if (r < 0x80) {
      AppendHex(&out, "\\x", r, 2);
    } else if (r < 0x10000) {
      AppendHex(&out, "\\u", r, 4);
    } else {
      AppendHex(&out, "\\U", r, 8);
    }
  }
  out += '"';
  return out;
}

absl::StatusOr<LabelMatcher> LabelMatcher::Create(Type type, std::string name, std::string value) {
  LabelMatcher m(type, std::move(name), std::move(value));
  if (type == Type::kRegexMatch || type == Type::kRegexNoMatch) {
    RE2::Options opts;
    opts.set_log_errors(false);
    opts.set_dot_nl(true);
    auto re = std::make_shared<RE2>("^(?:" + m.value_ + ")$", opts);
    if (!re->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("error parsing regexp: ", re->error(), ": `", m.value_, "`"));
    }
    m.re_ = std::move(re);
  }
  return m;
}

bool LabelMatcher::Matches(std::string_view value) const {
  switch (type_) {
    case Type::kEqual:
      return value == value_;
    case Type::kNotEqual:
      return value != value_;
    case Type::kRegexMatch:
      return RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re_);
    case Type::kRegexNoMatch:
      return !RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re_);
  }
  return false;
}

std::string_view MatchTypeString(LabelMatcher::Type type) {
  switch (type) {
    case LabelMatcher::Type::kEqual:
      return "=";
    case LabelMatcher::Type::kNotEqual:
      return "!=";
    case LabelMatcher::Type::kRegexMatch:
      return "=~";
    case LabelMatcher::Type::kRegexNoMatch:
      return "!~";
  }
  return "?";
}

std::string LabelMatcher::String() const {
  std::string out = IsLegacyLabelName(name_) ? name_ : QuoteGo(name_);
  out += MatchTypeString(type_);
  out += QuoteGo(value_);
  return out;
}

bool MatchesAll(const std::vector<LabelMatcher>& matchers, const Labels& labels) {
  for (const auto& m : matchers) {
    if (!m.Matches(labels.Get(m.name()))) return false;
  }
  return true;
}

}  // namespace observex::query
