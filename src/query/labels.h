// Label sets and label matchers shared by every query language and by the storage that
// serves them. A Labels value is a set of (name, value) pairs kept sorted by name with unique
// names; an empty value never appears in a set (setting a label to "" removes it), which is
// the Prometheus data model. Copies share one immutable array (copy-on-write), so passing label
// sets around per sample is cheap. LabelMatcher holds one of the four
// PromQL matcher kinds; regular expressions are RE2 and always fully anchored, so matching is
// linear in the input. All types are values: safe to copy and to read from many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}

namespace observex::query {

inline constexpr std::string_view kMetricNameLabel = "__name__";
inline constexpr std::string_view kBucketLabel = "le";

struct Label {
  std::string name;
  std::string value;
  friend bool operator==(const Label& a, const Label& b) {
    return a.name == b.name && a.value == b.value;
  }
};

class Labels {
 public:
  Labels() = default;
  // Sorts by name; for duplicate names the last one wins; empty values are dropped.
  explicit Labels(std::vector<Label> labels);
  Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels);

  const std::vector<Label>& items() const { return labels_ ? *labels_ : Empty(); }
  bool empty() const { return items().empty(); }
  size_t size() const { return items().size(); }

  // Value of `name`, or "" when absent.
  std::string_view Get(std::string_view name) const;
  bool Has(std::string_view name) const;

  // Setting an empty value deletes the label.
  void Set(std::string_view name, std::string_view value);
  void Del(std::string_view name);
  // Keeps only the listed names.
  void Keep(const std::vector<std::string>& names);
  // Removes __name__ and the other metadata labels (__type__, __unit__).
  void DropMetricName();

  // Prometheus's text form: {a="1", b="2"}; names that are not legacy identifiers and all
  // values are quoted like Go's strconv.Quote.
  std::string String() const;
  // Unambiguous byte key for hashing and equality (names and values separated by 0xff).
  std::string Key() const;
  // Key of only the listed names (on) or of all but the listed names (!on).
  std::string KeyFor(const std::vector<std::string>& names, bool on) const;

  // Identity of the shared label array: copies of one Labels value return the same id, so it
  // can key caches; different ids may still hold equal labels.
  const void* id() const { return labels_.get(); }

  friend bool operator==(const Labels& a, const Labels& b) {
    return a.labels_ == b.labels_ || a.items() == b.items();
  }
  friend bool operator!=(const Labels& a, const Labels& b) { return !(a == b); }

 private:
  static const std::vector<Label>& Empty();
  // A private copy of the array for mutation.
  std::vector<Label>& Mutable();
  std::shared_ptr<const std::vector<Label>> labels_;
};

// Lexicographic over (name, value) pairs; a prefix sorts first. Same order as Prometheus.
int CompareLabels(const Labels& a, const Labels& b);

// True for [a-zA-Z_][a-zA-Z0-9_]* (names that need no quoting).
bool IsLegacyLabelName(std::string_view name);
// Prometheus 3 accepts any non-empty valid UTF-8 label name.
bool IsValidLabelName(std::string_view name);
bool IsValidUtf8(std::string_view s);

// Go's strconv.Quote: double quotes, escapes for quotes, backslashes, control characters,
// non-printable runes and invalid UTF-8 bytes (\xNN).
std::string QuoteGo(std::string_view s);

class LabelMatcher {
 public:
  enum class Type { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch };

  // Compiles regular expressions as ^(?s:value)$; fails on an invalid pattern.
  static absl::StatusOr<LabelMatcher> Create(Type type, std::string name, std::string value);

  Type type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& value() const { return value_; }
  // Matches a label value; an absent label is matched as "".
  bool Matches(std::string_view value) const;
  // e.g. job=~"api.*" (name quoted when it is not a legacy identifier).
  std::string String() const;

 private:
  LabelMatcher(Type type, std::string name, std::string value)
      : type_(type), name_(std::move(name)), value_(std::move(value)) {}
  Type type_;
  std::string name_;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;
};

std::string_view MatchTypeString(LabelMatcher::Type type);

// True when `labels` satisfies every matcher.
bool MatchesAll(const std::vector<LabelMatcher>& matchers, const Labels& labels);

}  // namespace observex::query
