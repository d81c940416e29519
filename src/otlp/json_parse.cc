// OTLP/JSON -> protobuf. One reflection-driven walker covers every message type, so a field
// added to the protos is understood without code here. Differences from plain proto3 JSON that
// OTLP prescribes: trace/span ids are hex, not base64; unknown fields are ignored.
#include <charconv>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/internal.h"
#include "simdjson.h"

namespace observex::otlp::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using simdjson::dom::element;
using simdjson::dom::element_type;

// Keys accepted for each field: the lowerCamelCase JSON name and the original snake_case name.
class FieldTable {
 public:
  explicit FieldTable(const Descriptor* d) {
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      entries_.emplace_back(f->json_name(), f);
      if (f->name() != f->json_name()) entries_.emplace_back(f->name(), f);
    }
  }
  const FieldDescriptor* Find(std::string_view key) const {
    for (const auto& [name, f] : entries_) {
      if (name == key) return f;
    }
    return nullptr;
  }

 private:
  std::vector<std::pair<std::string_view, const FieldDescriptor*>> entries_;
};

class FieldTables {
 public:
  FieldTables() {
    Add(opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest::descriptor());
    Add(opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest::descriptor());
    Add(opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest::descriptor());
  }
  const FieldTable& For(const Descriptor* d) const { return tables_.at(d); }

 private:
  void Add(const Descriptor* d) {
    if (!tables_.try_emplace(d, d).second) return;
    for (int i = 0; i < d->field_count(); ++i) {
      if (const Descriptor* sub = d->field(i)->message_type()) Add(sub);
    }
  }
  absl::flat_hash_map<const Descriptor*, FieldTable> tables_;
};

const FieldTables& Tables() {
  static const FieldTables tables;  // built once (thread-safe static init), then read-only
  return tables;
}

std::string_view TypeName(element v) {
  switch (v.type()) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "number";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "bool";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

// A short, escaped excerpt of a client string for error messages.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 40;
  const size_t n = Utf8SafePrefix(s, kMax);
  return absl::StrCat("\"", absl::CHexEscape(absl::string_view(s.data(), n)),
                      n < s.size() ? "...\"" : "\"");
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

template <typename T>
const char* IntTypeName() {
  if constexpr (std::is_same_v<T, int32_t>) return "int32";
  if constexpr (std::is_same_v<T, uint32_t>) return "uint32";
  if constexpr (std::is_same_v<T, int64_t>) return "int64";
  return "uint64";
}

class JsonReader {
 public:
  explicit JsonReader(const Limits& limits) : limits_(limits) {}

  absl::Status ReadMessage(simdjson::dom::object object, Message& msg) {
    const FieldTable& table = Tables().For(msg.GetDescriptor());
    const Reflection* refl = msg.GetReflection();
    for (simdjson::dom::key_value_pair field : object) {
      const FieldDescriptor* f = table.Find(field.key);
      if (f == nullptr || field.value.is_null()) continue;  // unknown: ignored; null: absent
      path_.Push(JsonName(f));
      if (f->is_repeated()) {
        simdjson::dom::array array;
        if (field.value.get_array().get(array) != simdjson::SUCCESS) {
          return TypeError("an array", field.value);
        }
        refl->ClearField(&msg, f);  // a repeated key overrides an earlier one, like scalars
        int64_t i = 0;
        for (element item : array) {
          path_.SetIndex(i++);
          if (auto st = ReadValue(item, msg, f, true); !st.ok()) return st;
        }
      } else {
        if (const auto* oneof = f->real_containing_oneof(); oneof != nullptr) {
          const FieldDescriptor* set = refl->GetOneofFieldDescriptor(msg, oneof);
          if (set != nullptr && set != f) {
            return PathError(
                path_, absl::StrCat("only one field of '", oneof->name(), "' may be set, and '",
                                    set->json_name(), "' is set already"));
          }
        }
        if (auto st = ReadValue(field.value, msg, f, false); !st.ok()) return st;
      }
      path_.Pop();
    }
    return absl::OkStatus();
  }

 private:
  absl::Status TypeError(std::string_view expected, element v) const {
    return PathError(
        path_, absl::StrCat("expected ", absl::string_view(expected.data(), expected.size()),
                            ", got ", absl::string_view(TypeName(v).data(), TypeName(v).size())));
  }

  absl::Status ReadValue(element v, Message& msg, const FieldDescriptor* f, bool repeated) {
    const Reflection* refl = msg.GetReflection();
    if (v.is_null()) return TypeError("a value", v);  // null inside an array
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_INT32: {
        int32_t x = 0;
        if (auto st = ReadInteger(v, x); !st.ok()) return st;
        repeated ? refl->AddInt32(&msg, f, x) : refl->SetInt32(&msg, f, x);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_UINT32: {
        uint32_t x = 0;
        if (auto st = ReadInteger(v, x); !st.ok()) return st;
        repeated ? refl->AddUInt32(&msg, f, x) : refl->SetUInt32(&msg, f, x);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_INT64: {
        int64_t x = 0;
        if (auto st = ReadInteger(v, x); !st.ok()) return st;
        repeated ? refl->AddInt64(&msg, f, x) : refl->SetInt64(&msg, f, x);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_UINT64: {
        uint64_t x = 0;
        if (auto st = ReadInteger(v, x); !st.ok()) return st;
        repeated ? refl->AddUInt64(&msg, f, x) : refl->SetUInt64(&msg, f, x);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT: {
        double x = 0;
        if (auto st = ReadDouble(v, x); !st.ok()) return st;
        if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
          const float y = static_cast<float>(x);
          repeated ? refl->AddFloat(&msg, f, y) : refl->SetFloat(&msg, f, y);
        } else {
          repeated ? refl->AddDouble(&msg, f, x) : refl->SetDouble(&msg, f, x);
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_BOOL: {
        bool x = false;
        if (v.get_bool().get(x) != simdjson::SUCCESS) return TypeError("true or false", v);
        repeated ? refl->AddBool(&msg, f, x) : refl->SetBool(&msg, f, x);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_ENUM: {
        int32_t x = 0;
        if (auto st = ReadEnum(v, f, x); !st.ok()) return st;
        repeated ? refl->AddEnumValue(&msg, f, x) : refl->SetEnumValue(&msg, f, x);
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_STRING: {
        std::string x;
        if (f->type() == FieldDescriptor::TYPE_BYTES) {
          if (auto st = ReadBytes(v, f, x); !st.ok()) return st;
        } else {
          std::string_view s;
          if (v.get_string().get(s) != simdjson::SUCCESS) return TypeError("a string", v);
          x.assign(s.data(), s.size());
        }
        repeated ? refl->AddString(&msg, f, std::move(x)) : refl->SetString(&msg, f, std::move(x));
        return absl::OkStatus();
      }
      case FieldDescriptor::CPPTYPE_MESSAGE: {
        simdjson::dom::object object;
        if (v.get_object().get(object) != simdjson::SUCCESS) return TypeError("an object", v);
        Message* sub = repeated ? refl->AddMessage(&msg, f) : refl->MutableMessage(&msg, f);
        const Descriptor* d = f->message_type();
        // ArrayValue and KeyValueList are the only way AnyValue recurses; count them so a
        // hostile body cannot drive this walker (or later stages) arbitrarily deep.
        const bool container = d == opentelemetry::proto::common::v1::ArrayValue::descriptor() ||
                               d == opentelemetry::proto::common::v1::KeyValueList::descriptor();
        if (container) {
          if (nesting_ == 0) outer_value_steps_ = path_.size() - 1;
          if (++nesting_ > limits_.max_nesting_depth) {
            path_.Truncate(outer_value_steps_);
            return PathError(
                path_, absl::StrCat("AnyValue nesting deeper than ", limits_.max_nesting_depth,
                                    " levels of arrays/kvlists"));
          }
        }
        if (auto st = ReadMessage(object, *sub); !st.ok()) return st;
        if (container) --nesting_;
        return absl::OkStatus();
      }
    }
    return PathError(path_, "unsupported field type");
  }

  template <typename T>
  absl::Status ReadInteger(element v, T& out) const {
    constexpr absl::string_view kExpected = "an integer or a string of digits";
    switch (v.type()) {
      case element_type::INT64: {
        const int64_t x = v.get_int64().value_unsafe();
        if (!std::in_range<T>(x)) return RangeError<T>(absl::StrCat(x));
        out = static_cast<T>(x);
        return absl::OkStatus();
      }
      case element_type::UINT64: {
        const uint64_t x = v.get_uint64().value_unsafe();
        if (!std::in_range<T>(x)) return RangeError<T>(absl::StrCat(x));
        out = static_cast<T>(x);
        return absl::OkStatus();
      }
      case element_type::DOUBLE: {
        // Some encoders write integers in exponent form (1e9); accept exact integral values.
        const double d = v.get_double().value_unsafe();
        if (!std::isfinite(d) || std::trunc(d) != d)
          return TypeError(std::string_view(kExpected.data(), kExpected.size()), v);
        if (d < -9.2233720368547758e18 || d >= 1.8446744073709552e19) {
          return RangeError<T>(absl::StrCat(d));
        }
        if (d < 0) {
          const auto x = static_cast<int64_t>(d);
          if (!std::in_range<T>(x)) return RangeError<T>(absl::StrCat(d));
          out = static_cast<T>(x);
        } else {
          const auto x = static_cast<uint64_t>(d);
          if (!std::in_range<T>(x)) return RangeError<T>(absl::StrCat(d));
          out = static_cast<T>(x);
        }
        return absl::OkStatus();
      }
      case element_type::STRING: {
        const std::string_view s = v.get_string().value_unsafe();
        const char* end = s.data() + s.size();
        if (std::is_unsigned_v<T> && !s.empty() && s[0] == '-' && s.size() > 1) {
          return RangeError<T>(Quote(s));
        }
        auto [ptr, ec] = std::from_chars(s.data(), end, out);
        if (ec == std::errc::result_out_of_range) return RangeError<T>(Quote(s));
        if (ec != std::errc() || ptr != end || s.empty()) {
          return PathError(path_, absl::StrCat("expected ", kExpected, ", got ", Quote(s)));
        }
        return absl::OkStatus();
      }
      default:
        return TypeError(std::string_view(kExpected.data(), kExpected.size()), v);
    }
  }

  template <typename T>
  absl::Status RangeError(std::string_view shown) const {
    return PathError(path_, absl::StrCat(absl::string_view(shown.data(), shown.size()),
                                         " is out of range for ", IntTypeName<T>()));
  }

  absl::Status ReadDouble(element v, double& out) const {
    constexpr absl::string_view kExpected =
        "a number or one of the strings \"NaN\", \"Infinity\", \"-Infinity\"";
    if (v.get_double().get(out) == simdjson::SUCCESS) return absl::OkStatus();
    std::string_view s;
    if (v.get_string().get(s) != simdjson::SUCCESS)
      return TypeError(std::string_view(kExpected.data(), kExpected.size()), v);
    if (s == "NaN") {
      out = std::numeric_limits<double>::quiet_NaN();
    } else if (s == "Infinity") {
      out = std::numeric_limits<double>::infinity();
    } else if (s == "-Infinity") {
      out = -std::numeric_limits<double>::infinity();
    } else {
      // proto3 JSON also allows a number in a string ("1.5"); from_chars alone would
      // accept "inf"/"nan" spellings too, which the mapping does not.
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(out)) {
        return PathError(path_, absl::StrCat("expected ", kExpected, ", got ", Quote(s)));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadEnum(element v, const FieldDescriptor* f, int32_t& out) const {
    std::string_view name;
    if (v.get_string().get(name) == simdjson::SUCCESS) {
      const auto* value = f->enum_type()->FindValueByName(std::string(name));
      if (value == nullptr) {
        return PathError(path_,
                         absl::StrCat("unknown ", f->enum_type()->name(), " value ", Quote(name)));
      }
      out = value->number();
      return absl::OkStatus();
    }
    if (v.is_int64() || v.is_uint64() || v.is_double()) return ReadInteger(v, out);
    return TypeError(absl::StrCat("an enum name or number (", f->enum_type()->name(), ")"), v);
  }

  absl::Status ReadBytes(element v, const FieldDescriptor* f, std::string& out) const {
    std::string_view s;
    if (IsHexIdField(f)) {
      if (v.get_string().get(s) != simdjson::SUCCESS) return TypeError("a hex string", v);
      if (s.size() % 2 != 0) {
        return PathError(path_,
                         absl::StrCat("expected an even number of hex digits, got ", s.size()));
      }
      out.resize(s.size() / 2);
      for (size_t i = 0; i < s.size(); i += 2) {
        const int hi = HexDigit(s[i]);
        const int lo = HexDigit(s[i + 1]);
        if (hi < 0 || lo < 0) {
          const size_t bad = hi < 0 ? i : i + 1;
          // 12 and 24 characters are the base64 lengths of 8- and 16-byte ids: the usual
          // mistake is proto3's default bytes encoding.
          const bool looks_base64 = s.size() == 12 || s.size() == 24;
          return PathError(
              path_,
              absl::StrCat("expected a hex string, got ", Quote(s), " (invalid digit at position ",
                           bad, ")", looks_base64 ? "; OTLP/JSON ids are hex, not base64" : ""));
        }
        out[i / 2] = static_cast<char>((hi << 4) | lo);
      }
      return absl::OkStatus();
    }
    if (v.get_string().get(s) != simdjson::SUCCESS) return TypeError("a base64 string", v);
    const absl::string_view in(s.data(), s.size());
    // proto3 JSON accepts both alphabets, padded or not.
    if (!absl::Base64Unescape(in, &out) && !absl::WebSafeBase64Unescape(in, &out)) {
      return PathError(path_, absl::StrCat("expected a base64 string, got ", Quote(s)));
    }
    return absl::OkStatus();
  }

  const Limits& limits_;
  FieldPath path_;
  uint32_t nesting_ = 0;          // ArrayValue/KeyValueList levels currently open
  size_t outer_value_steps_ = 0;  // path length up to the outermost AnyValue being read
};

}  // namespace

absl::Status ParseJsonRequest(std::string_view body, const Limits& limits, Message& out) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root); err != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON body: ", simdjson::error_message(err)));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected the JSON body to be an object (", out.GetDescriptor()->name(),
                     "), got ", absl::string_view(TypeName(root).data(), TypeName(root).size())));
  }
  JsonReader reader(limits);
  return reader.ReadMessage(object, out);
}

}  // namespace observex::otlp::internal
