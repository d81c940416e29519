// The serialized attribute map stored in the `attributes` and `resource_attributes` columns:
// a sequence of (key, typed value) pairs in the writer's order. Scans look keys up without
// building a map, and compare values by their string form (AttributeText), so a predicate
// `http.status_code = "500"` matches the integer 500. Arrays and key-value lists are stored
// as opaque bytes chosen by the writer of the table (their text is those bytes).
// Layout (docs/part-format.md): varint count, then per pair varint key length, key, u8 type,
// value; the empty string is the empty map. Pure functions and value types; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace observex::storage {

// On-disk ids: never renumber.
enum class AttributeType : uint8_t {
  kString = 1,
  kBool = 2,
  kInt = 3,
  kDouble = 4,
  kBytes = 5,
  kArray = 6,   // opaque bytes
  kKvList = 7,  // opaque bytes
};

// A decoded value; `bytes` views into the serialized map.
struct AttributeValue {
  AttributeType type = AttributeType::kString;
  std::string_view bytes;  // kString, kBytes, kArray, kKvList
  int64_t int_value = 0;
  double double_value = 0;
  bool bool_value = false;
};

// The form predicates compare: strings and opaque values as they are, booleans as
// "true"/"false", integers in decimal, doubles in the shortest form that reads back exactly.
std::string AttributeText(const AttributeValue& value);

class AttributesWriter {
 public:
  void AddString(std::string_view key, std::string_view value);
  void AddBool(std::string_view key, bool value);
  void AddInt(std::string_view key, int64_t value);
  void AddDouble(std::string_view key, double value);
  void AddBytes(std::string_view key, std::string_view value);
  void AddOpaque(std::string_view key, AttributeType type, std::string_view encoded);

  size_t size() const { return count_; }
  // The serialized map; the writer is empty afterwards.
  std::string Finish();

 private:
  void Key(std::string_view key, AttributeType type);
  size_t count_ = 0;
  std::string body_;
};

// Calls fn for each pair in order until it returns false. DataLoss when malformed.
absl::Status ForEachAttribute(
    std::string_view serialized,
    absl::FunctionRef<bool(std::string_view key, const AttributeValue& value)> fn);

// The first value stored under `key`, nullopt when absent. DataLoss when malformed.
absl::StatusOr<std::optional<AttributeValue>> FindAttribute(std::string_view serialized,
                                                            std::string_view key);

}  // namespace observex::storage
