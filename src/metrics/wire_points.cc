#include "metrics/wire_points.h"

#include <cstring>

namespace observex::metrics {
namespace {

enum WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

struct Field {
  uint32_t number = 0;
  uint8_t wire = 0;
  uint64_t varint = 0;     // kVarint; kFixed64 and kFixed32 values too
  std::string_view bytes;  // kLen
};

// Reads the field at `p` and moves `p` past it; false when the bytes are malformed or use a
// group (which no OTLP message has).
bool NextField(const char*& p, const char* end, Field* f) {
  const auto varint = [&](uint64_t* v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) return false;
      const uint8_t b = static_cast<uint8_t>(*p++);
      r |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (b < 0x80) {
        *v = r;
        return true;
      }
    }
    return false;
  };
  uint64_t tag;
  if (!varint(&tag)) return false;
  f->number = static_cast<uint32_t>(tag >> 3);
  f->wire = static_cast<uint8_t>(tag & 7);
  if (f->number == 0 || (tag >> 3) > 0x1FFFFFFF) return false;
  switch (f->wire) {
    case kVarint:
      return varint(&f->varint);
    case kFixed64:
      if (end - p < 8) return false;
      std::memcpy(&f->varint, p, 8);  // little-endian hosts only (as the WAL is)
      p += 8;
      return true;
    case kFixed32: {
      if (end - p < 4) return false;
      uint32_t v;
      std::memcpy(&v, p, 4);
      f->varint = v;
      p += 4;
      return true;
    }
    case kLen: {
      uint64_t n;
      if (!varint(&n) || n > static_cast<uint64_t>(end - p)) return false;
      f->bytes = std::string_view(p, n);
      p += n;
      return true;
    }
    default:
      return false;
  }
}

// Calls `fn(field)` for each field of `msg`; false when malformed or when `fn` says so.
template <typename Fn>
bool ForEachField(std::string_view msg, Fn&& fn) {
  const char* p = msg.data();
  const char* const end = p + msg.size();
  Field f;
  while (p < end) {
    if (!NextField(p, end, &f)) return false;
    if (!fn(f, p)) return false;
  }
  return true;
}

class Walk {
 public:
  explicit Walk(WirePointVisitor& v) : v_(v) {}

  WireScan Request(std::string_view request) {
    const bool ok = ForEachField(request, [&](const Field& f, const char*) {
      if (f.number != 1) return true;  // unknown field
      if (f.wire != kLen) return Fail();
      return ResourceMetrics(f.bytes);
    });
    if (stopped_) return WireScan::kStopped;
    return ok ? WireScan::kDone : WireScan::kUnsupported;
  }

 private:
  bool Fail() { return false; }
  bool Stop() {
    stopped_ = true;
    return false;
  }

  bool ResourceMetrics(std::string_view msg) {
    std::string_view resource;
    int resources = 0;
    if (!ForEachField(msg, [&](const Field& f, const char*) {
          switch (f.number) {
            case 1:
              if (f.wire != kLen || ++resources > 1) return Fail();
              resource = f.bytes;
              return true;
            case 2:
            case 3:
              return f.wire == kLen;
            default:
              return true;
          }
        })) {
      return false;
    }
    if (!v_.OnResource(resource)) return Stop();
    if (!ForEachField(msg, [&](const Field& f, const char*) {
          return f.number != 2 || ScopeMetrics(f.bytes);
        })) {
      return false;
    }
    return v_.OnResourceEnd() || Stop();
  }

  bool ScopeMetrics(std::string_view msg) {
    std::string_view scope, schema_url;
    int scopes = 0;
    if (!ForEachField(msg, [&](const Field& f, const char*) {
          switch (f.number) {
            case 1:
              if (f.wire != kLen || ++scopes > 1) return Fail();
              scope = f.bytes;
              return true;
            case 2:
              return f.wire == kLen;
            case 3:
              if (f.wire != kLen) return Fail();
              schema_url = f.bytes;  // the last one wins, as in a parser
              return true;
            default:
              return true;
          }
        })) {
      return false;
    }
    if (!v_.OnScope(scope, schema_url)) return Stop();
    return ForEachField(
        msg, [&](const Field& f, const char*) { return f.number != 2 || Metric(f.bytes); });
  }

  bool Metric(std::string_view msg) {
    WireMetric m;
    std::string_view data;
    int data_fields = 0;
    if (!ForEachField(msg, [&](const Field& f, const char*) {
          switch (f.number) {
            case 1:
            case 2:
            case 3: {
              if (f.wire != kLen) return Fail();
              std::string_view& s = f.number == 1 ? m.name : f.number == 2 ? m.description : m.unit;
              s = f.bytes;
              return true;
            }
            case 5:
            case 7:
              if (f.wire != kLen || ++data_fields > 1) return Fail();
              m.kind = f.number == 5 ? OtlpKind::kGauge : OtlpKind::kNonMonotonicSum;
              data = f.bytes;
              return true;
            case 9:
            case 10:
            case 11:
              return Fail();  // histograms and summaries: the full conversion
            default:
              return true;
          }
        })) {
      return false;
    }
    if (data_fields == 0) return Fail();  // rejected as "no data" by the full conversion
    const bool sum = m.kind != OtlpKind::kGauge;
    bool monotonic = false;
    if (!ForEachField(data, [&](const Field& f, const char*) {
          switch (f.number) {
            case 1:
              if (f.wire != kLen) return Fail();
              ++m.points;
              return true;
            case 2:
              if (!sum) return true;
              if (f.wire != kVarint) return Fail();
              m.temporality = static_cast<uint64_t>(static_cast<int32_t>(f.varint));
              return true;
            case 3:
              if (!sum) return true;
              if (f.wire != kVarint) return Fail();
              monotonic = f.varint != 0;
              return true;
            default:
              return true;
          }
        })) {
      return false;
    }
    if (monotonic) m.kind = OtlpKind::kMonotonicSum;
    if (!v_.OnMetric(m)) return Stop();
    return ForEachField(
        data, [&](const Field& f, const char*) { return f.number != 1 || Point(f.bytes); });
  }

  bool Point(std::string_view msg) {
    WireNumberPoint pt;
    const char* attr_begin = nullptr;
    const char* attr_end = nullptr;
    bool attrs_closed = false;
    const char* field_begin = msg.data();
    if (!ForEachField(msg, [&](const Field& f, const char* after) {
          const char* begin = field_begin;
          field_begin = after;
          if (f.number == 7) {
            if (f.wire != kLen || attrs_closed) return Fail();
            if (attr_begin == nullptr) attr_begin = begin;
            attr_end = after;
            return true;
          }
          if (attr_begin != nullptr) attrs_closed = true;
          switch (f.number) {
            case 2:
              return f.wire == kFixed64;
            case 3:
              if (f.wire != kFixed64) return Fail();
              pt.time_unix_nano = f.varint;
              return true;
            case 4:
              if (f.wire != kFixed64) return Fail();
              pt.value = WireNumberPoint::Value::kDouble;
              std::memcpy(&pt.as_double, &f.varint, 8);
              return true;
            case 6:
              if (f.wire != kFixed64) return Fail();
              pt.value = WireNumberPoint::Value::kInt;
              pt.as_int = static_cast<int64_t>(f.varint);
              return true;
            case 5:
              return f.wire == kLen;
            case 8:
              if (f.wire != kVarint) return Fail();
              pt.flags = static_cast<uint32_t>(f.varint);
              return true;
            default:
              return true;
          }
        })) {
      return false;
    }
    if (attr_begin != nullptr) {
      pt.attributes = std::string_view(attr_begin, static_cast<size_t>(attr_end - attr_begin));
    }
    return v_.OnPoint(pt) || Stop();
  }

  WirePointVisitor& v_;
  bool stopped_ = false;
};

}  // namespace

WireScan ScanNumberPoints(std::string_view request, WirePointVisitor& visitor) {
  return Walk(visitor).Request(request);
}

}  // namespace observex::metrics
