#include "query/labels.h"

#include <algorithm>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "re2/re2.h"

namespace observex::query {
namespace {

bool IsMetadataLabel(std::string_view name) {
  return name == kMetricNameLabel || name == "__type__" || name == "__unit__";
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

const std::vector<Label>& Labels::Empty() {
  static const auto* empty = new std::vector<Label>();
  return *empty;
}

std::vector<Label>& Labels::Mutable() {
  auto copy = labels_ ? std::make_shared<std::vector<Label>>(*labels_)
                      : std::make_shared<std::vector<Label>>();
  std::vector<Label>& ref = *copy;
  labels_ = std::move(copy);
  return ref;
}

Labels::Labels(std::vector<Label> labels) {
  std::stable_sort(labels.begin(), labels.end(),
                   [](const Label& a, const Label& b) { return a.name < b.name; });
  std::vector<Label> out;
  out.reserve(labels.size());
  for (auto& l : labels) {
    if (!out.empty() && out.back().name == l.name) {
      out.back() = std::move(l);
    } else {
      out.push_back(std::move(l));
    }
  }
  out.erase(std::remove_if(out.begin(), out.end(), [](const Label& l) { return l.value.empty(); }),
            out.end());
  if (!out.empty()) labels_ = std::make_shared<const std::vector<Label>>(std::move(out));
}

Labels::Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::vector<Label> v;
  v.reserve(labels.size());
  for (const auto& [n, val] : labels) v.push_back(Label{std::string(n), std::string(val)});
  *this = Labels(std::move(v));
}

std::string_view Labels::Get(std::string_view name) const {
  const auto& l = items();
  auto it = std::lower_bound(l.begin(), l.end(), name,
                             [](const Label& x, std::string_view n) { return x.name < n; });
  if (it != l.end() && it->name == name) return it->value;
  return {};
}

bool Labels::Has(std::string_view name) const { return !Get(name).empty(); }

void Labels::Set(std::string_view name, std::string_view value) {
  const auto& cur = items();
  auto pos = std::lower_bound(cur.begin(), cur.end(), name,
                              [](const Label& x, std::string_view n) { return x.name < n; });
  bool exists = pos != cur.end() && pos->name == name;
  if (!exists && value.empty()) return;
  if (exists && pos->value == value) return;
  size_t idx = static_cast<size_t>(pos - cur.begin());
  std::vector<Label>& l = Mutable();
  if (exists) {
    if (value.empty()) {
      l.erase(l.begin() + idx);
    } else {
      l[idx].value = std::string(value);
    }
  } else {
    l.insert(l.begin() + idx, Label{std::string(name), std::string(value)});
  }
  if (l.empty()) labels_.reset();
}

void Labels::Del(std::string_view name) { Set(name, ""); }

void Labels::Keep(const std::vector<std::string>& names) {
  bool drop_any = false;
  for (const auto& x : items()) {
    if (std::find(names.begin(), names.end(), x.name) == names.end()) drop_any = true;
  }
  if (!drop_any) return;
  std::vector<Label>& l = Mutable();
  l.erase(std::remove_if(l.begin(), l.end(),
                         [&](const Label& x) {
                           return std::find(names.begin(), names.end(), x.name) == names.end();
                         }),
          l.end());
  if (l.empty()) labels_.reset();
}

void Labels::DropMetricName() {
  bool any = false;
  for (const auto& x : items()) any = any || IsMetadataLabel(x.name);
  if (!any) return;
  std::vector<Label>& l = Mutable();
  l.erase(
      std::remove_if(l.begin(), l.end(), [](const Label& x) { return IsMetadataLabel(x.name); }),
      l.end());
  if (l.empty()) labels_.reset();
}

std::string Labels::String() const {
  const auto& l = items();
  std::string out = "{";
  for (size_t i = 0; i < l.size(); ++i) {
    if (i > 0) out += ", ";
    if (IsLegacyLabelName(l[i].name)) {
      out += l[i].name;
    } else {
      out += QuoteGo(l[i].name);
    }
    out += '=';
    out += QuoteGo(l[i].value);
  }
  out += '}';
  return out;
}

std::string Labels::Key() const {
  std::string key;
  for (const auto& l : items()) {
    key += l.name;
    key += '\xff';
    key += l.value;
    key += '\xff';
  }
  return key;
}

std::string Labels::KeyFor(const std::vector<std::string>& names, bool on) const {
  std::string key;
  for (const auto& l : items()) {
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
    int n = DecodeUtf8(s, i, &r);
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
    int n = DecodeUtf8(s, i, &r);
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
