#include "storage/attributes.h"

#include <bit>
#include <charconv>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "storage/bits.h"

namespace observex::storage {
namespace {

absl::Status Malformed(std::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed attribute map: ", std::string(what)));
}

}  // namespace

std::string AttributeText(const AttributeValue& v) {
  switch (v.type) {
    case AttributeType::kBool:
      return v.bool_value ? "true" : "false";
    case AttributeType::kInt:
      return std::to_string(v.int_value);
    case AttributeType::kDouble: {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof(buf), v.double_value);
      return std::string(buf, r.ptr);
    }
    default:
      return std::string(v.bytes);
  }
}

void AttributesWriter::Key(std::string_view key, AttributeType type) {
  ++count_;
  bits::PutVarint(&body_, key.size());
  body_.append(key.data(), key.size());
  body_.push_back(static_cast<char>(type));
}

void AttributesWriter::AddString(std::string_view key, std::string_view value) {
  AddOpaque(key, AttributeType::kString, value);
}
void AttributesWriter::AddBytes(std::string_view key, std::string_view value) {
  AddOpaque(key, AttributeType::kBytes, value);
}
void AttributesWriter::AddOpaque(std::string_view key, AttributeType type,
                                 std::string_view encoded) {
  Key(key, type);
  bits::PutVarint(&body_, encoded.size());
  body_.append(encoded.data(), encoded.size());
}
void AttributesWriter::AddBool(std::string_view key, bool value) {
  Key(key, AttributeType::kBool);
  body_.push_back(value ? 1 : 0);
}
void AttributesWriter::AddInt(std::string_view key, int64_t value) {
  Key(key, AttributeType::kInt);
  bits::PutVarint(&body_, bits::ZigZag(value));
}
void AttributesWriter::AddDouble(std::string_view key, double value) {
  Key(key, AttributeType::kDouble);
  bits::PutFixed64(&body_, std::bit_cast<uint64_t>(value));
}

std::string AttributesWriter::Finish() {
  std::string out;
  if (count_ > 0) {
    bits::PutVarint(&out, count_);
    out += body_;
  }
  count_ = 0;
  body_.clear();
  return out;
}

absl::Status ForEachAttribute(
    std::string_view serialized,
    absl::FunctionRef<bool(std::string_view key, const AttributeValue& value)> fn) {
  if (serialized.empty()) return absl::OkStatus();
  const char* p = serialized.data();
  const char* end = p + serialized.size();
  uint64_t count;
  if (!bits::GetVarint(&p, end, &count)) return Malformed("truncated count");
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t klen;
    if (!bits::GetVarint(&p, end, &klen) || klen > static_cast<uint64_t>(end - p)) {
      return Malformed("truncated key");
    }
    const std::string_view key(p, klen);
    p += klen;
    if (p >= end) return Malformed("missing value type");
    AttributeValue v;
    const uint8_t type = static_cast<uint8_t>(*p++);
    v.type = static_cast<AttributeType>(type);
    switch (v.type) {
      case AttributeType::kString:
      case AttributeType::kBytes:
      case AttributeType::kArray:
      case AttributeType::kKvList: {
        uint64_t len;
        if (!bits::GetVarint(&p, end, &len) || len > static_cast<uint64_t>(end - p)) {
          return Malformed("truncated value");
        }
        v.bytes = std::string_view(p, len);
        p += len;
        break;
      }
      case AttributeType::kBool:
        if (p >= end || static_cast<uint8_t>(*p) > 1) return Malformed("bad bool");
        v.bool_value = *p++ != 0;
        break;
      case AttributeType::kInt: {
        uint64_t z;
        if (!bits::GetVarint(&p, end, &z)) return Malformed("truncated int");
        v.int_value = bits::UnZigZag(z);
        break;
      }
      case AttributeType::kDouble:
        if (end - p < 8) return Malformed("truncated double");
        v.double_value = std::bit_cast<double>(bits::LoadFixed64(p));
        p += 8;
        break;
      default:
        return Malformed(absl::StrCat("value type ", type));
    }
    if (!fn(key, v)) return absl::OkStatus();
  }
  if (p != end) return Malformed("bytes after the last pair");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<AttributeValue>> FindAttribute(std::string_view serialized,
                                                            std::string_view key) {
  std::optional<AttributeValue> found;
  auto s = ForEachAttribute(serialized, [&](std::string_view k, const AttributeValue& v) {
    if (k != key) return true;
    found = v;
    return false;
  });
  if (!s.ok()) return s;
  return found;
}

}  // namespace observex::storage
