#include "metrics/remote_write.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "metrics/fingerprint.h"

namespace observex::metrics {
namespace {

// Protobuf wire types.
constexpr int kVarint = 0;
constexpr int kFixed64 = 1;
constexpr int kLengthDelimited = 2;
constexpr int kStartGroup = 3;
constexpr int kEndGroup = 4;
constexpr int kFixed32 = 5;

std::string_view WireTypeName(int wire_type) {
  switch (wire_type) {
    case kVarint:
      return "varint";
    case kFixed64:
      return "64-bit";
    case kLengthDelimited:
      return "length-delimited";
    case kStartGroup:
    case kEndGroup:
      return "group";
    case kFixed32:
      return "32-bit";
  }
  return "unknown";
}

// Reads one message's fields. On failure `error()` says what was wrong and `offset()` where.
class WireReader {
 public:
  WireReader(std::string_view in, size_t base) : in_(in), base_(base) {}

  bool done() const { return pos_ >= in_.size(); }
  size_t offset() const { return base_ + pos_; }
  const std::string& error() const { return error_; }

  bool Tag(uint32_t* field, int* wire_type) {
    uint64_t tag = 0;
    if (!Varint(&tag)) return false;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire_type = static_cast<int>(tag & 7);
    if (tag >> 3 == 0 || tag >> 3 > 0x1FFFFFFF) return Fail("invalid field number 0");
    if (*wire_type == kStartGroup || *wire_type == kEndGroup) {
      return Fail(absl::StrCat("field ", *field,
                               " uses the group wire type, which is not valid "
                               "in a WriteRequest"));
    }
    if (*wire_type > kFixed32) return Fail(absl::StrCat("invalid wire type ", *wire_type));
    return true;
  }

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos_ >= in_.size()) return Fail("truncated varint");
      const uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      if (shift == 63 && b > 1) return Fail("varint longer than 64 bits");
      result |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return Fail("varint longer than 10 bytes");
  }

  bool Fixed64(uint64_t* v) {
    if (in_.size() - pos_ < 8) return Fail("truncated 64-bit value");
    std::memcpy(v, in_.data() + pos_, 8);  // little-endian hosts only, as the WAL
    pos_ += 8;
    return true;
  }

  // The bytes of a length-delimited field; `*start` is their absolute offset.
  bool Bytes(std::string_view* out, size_t* start) {
    uint64_t n = 0;
    if (!Varint(&n)) return false;
    if (n > in_.size() - pos_) {
      return Fail(absl::StrCat("length ", n, " runs past the end of the enclosing message (",
                               in_.size() - pos_, " bytes left)"));
    }
    *start = base_ + pos_;
    *out = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  bool Skip(int wire_type) {
    uint64_t ignored = 0;
    std::string_view bytes;
    size_t start = 0;
    switch (wire_type) {
      case kVarint:
        return Varint(&ignored);
      case kFixed64:
        return Fixed64(&ignored);
      case kLengthDelimited:
        return Bytes(&bytes, &start);
      case kFixed32:
        if (in_.size() - pos_ < 4) return Fail("truncated 32-bit value");
        pos_ += 4;
        return true;
    }
    return Fail(absl::StrCat("invalid wire type ", wire_type));
  }

  // Checks that a known field arrived with the wire type its declaration implies.
  bool Expect(uint32_t field, int got, int want, std::string_view name) {
    if (got == want) return true;
    return Fail(absl::StrCat("field ", field, " (", std::string(name), ") has wire type ",
                             std::string(WireTypeName(got)), ", expected ",
                             std::string(WireTypeName(want))));
  }

  bool Fail(std::string what) {
    if (error_.empty()) error_ = std::move(what);
    return false;
  }

 private:
  std::string_view in_;
  size_t base_;
  size_t pos_ = 0;
  std::string error_;
};

absl::Status WireError(const WireReader& r, const std::string& path) {
  return absl::InvalidArgumentError(absl::StrCat("invalid WriteRequest at byte ", r.offset(),
                                                 path.empty() ? "" : " (" + path + ")", ": ",
                                                 r.error()));
}

struct RawSeries {
  std::vector<query::Label> labels;
  std::vector<query::SamplePoint> samples;
  uint64_t histograms = 0;
};

absl::Status ParseLabel(std::string_view bytes, size_t base, const std::string& path,
                        query::Label* label) {
  WireReader r(bytes, base);
  while (!r.done()) {
    uint32_t field = 0;
    int wt = 0;
    if (!r.Tag(&field, &wt)) return WireError(r, path);
    std::string_view s;
    size_t start = 0;
    if (field == 1 || field == 2) {
      if (!r.Expect(field, wt, kLengthDelimited, field == 1 ? "name" : "value") ||
          !r.Bytes(&s, &start)) {
        return WireError(r, path);
      }
      (field == 1 ? label->name : label->value).assign(s.data(), s.size());
    } else if (!r.Skip(wt)) {
      return WireError(r, path);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseSample(std::string_view bytes, size_t base, const std::string& path,
                         query::SamplePoint* sample) {
  WireReader r(bytes, base);
  while (!r.done()) {
    uint32_t field = 0;
    int wt = 0;
    if (!r.Tag(&field, &wt)) return WireError(r, path);
    if (field == 1) {
      uint64_t bits = 0;
      if (!r.Expect(field, wt, kFixed64, "value") || !r.Fixed64(&bits)) return WireError(r, path);
      sample->value = std::bit_cast<double>(bits);
    } else if (field == 2) {
      uint64_t v = 0;
      if (!r.Expect(field, wt, kVarint, "timestamp") || !r.Varint(&v)) return WireError(r, path);
      sample->t_ms = static_cast<int64_t>(v);  // int64: two's complement in ten bytes
    } else if (!r.Skip(wt)) {
      return WireError(r, path);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseTimeSeries(std::string_view bytes, size_t base, size_t index, RawSeries* out) {
  const std::string path = absl::StrCat("timeseries[", index, "]");
  WireReader r(bytes, base);
  while (!r.done()) {
    uint32_t field = 0;
    int wt = 0;
    if (!r.Tag(&field, &wt)) return WireError(r, path);
    std::string_view sub;
    size_t start = 0;
    switch (field) {
      case 1: {
        if (!r.Expect(field, wt, kLengthDelimited, "labels") || !r.Bytes(&sub, &start)) {
          return WireError(r, path);
        }
        query::Label& label = out->labels.emplace_back();
        absl::Status st = ParseLabel(
            sub, start, absl::StrCat(path, ".labels[", out->labels.size() - 1, "]"), &label);
        if (!st.ok()) return st;
        break;
      }
      case 2: {
        if (!r.Expect(field, wt, kLengthDelimited, "samples") || !r.Bytes(&sub, &start)) {
          return WireError(r, path);
        }
        query::SamplePoint& sample = out->samples.emplace_back();
        absl::Status st = ParseSample(
            sub, start, absl::StrCat(path, ".samples[", out->samples.size() - 1, "]"), &sample);
        if (!st.ok()) return st;
        break;
      }
      case 4:
        if (!r.Expect(field, wt, kLengthDelimited, "histograms") || !r.Bytes(&sub, &start)) {
          return WireError(r, path);
        }
        ++out->histograms;
        break;
      default:  // exemplars (3) and anything newer
        if (!r.Skip(wt)) return WireError(r, path);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseMetadata(std::string_view bytes, size_t base, size_t index, FamilyMetadata* out) {
  const std::string path = absl::StrCat("metadata[", index, "]");
  WireReader r(bytes, base);
  while (!r.done()) {
    uint32_t field = 0;
    int wt = 0;
    if (!r.Tag(&field, &wt)) return WireError(r, path);
    std::string_view s;
    size_t start = 0;
    if (field == 1) {
      uint64_t v = 0;
      if (!r.Expect(field, wt, kVarint, "type") || !r.Varint(&v)) return WireError(r, path);
      // Enums are open: a type this build does not know is "unknown".
      out->type = v <= 7 ? static_cast<MetadataType>(v) : MetadataType::kUnknown;
    } else if (field == 2 || field == 4 || field == 5) {
      const char* name = field == 2 ? "metric_family_name" : field == 4 ? "help" : "unit";
      if (!r.Expect(field, wt, kLengthDelimited, name) || !r.Bytes(&s, &start)) {
        return WireError(r, path);
      }
      std::string& dst = field == 2 ? out->name : field == 4 ? out->help : out->unit;
      dst.assign(s.data(), s.size());
    } else if (!r.Skip(wt)) {
      return WireError(r, path);
    }
  }
  return absl::OkStatus();
}

// Why a label set cannot name a series; "" when it can. Sorts `labels` by name.
std::string InvalidLabels(std::vector<query::Label>& labels) {
  // By value too, so a repeated name is always reported the same way.
  std::sort(labels.begin(), labels.end(), [](const query::Label& a, const query::Label& b) {
    return a.name < b.name || (a.name == b.name && a.value < b.value);
  });
  bool has_name = false;
  for (size_t i = 0; i < labels.size(); ++i) {
    const query::Label& l = labels[i];
    if (l.name.empty()) return "empty label name";
    if (!IsValidUtf8(l.name)) {
      return absl::StrCat("label name ", query::QuoteGo(l.name), " is not valid UTF-8");
    }
    if (!IsValidUtf8(l.value)) {
      return absl::StrCat("value of label ", query::QuoteGo(l.name), " is not valid UTF-8");
    }
    if (i > 0 && labels[i - 1].name == l.name) {
      return absl::StrCat("duplicate label name ", query::QuoteGo(l.name));
    }
    if (l.name == query::kMetricNameLabel && !l.value.empty()) has_name = true;
  }
  if (!has_name) return "missing metric name (label __name__)";
  return "";
}

class Builder {
 public:
  explicit Builder(PromBatch* out) : out_(out) {}

  void Reject(size_t index, const std::vector<query::Label>& labels, std::string_view why) {
    if (!out_->stats.first_rejection.empty()) return;
    out_->stats.first_rejection =
        absl::StrCat("timeseries[", index, "] ", DescribeSeries(labels), ": ", std::string(why));
  }

  void Add(size_t index, RawSeries& raw) {
    PromStats& stats = out_->stats;
    ++stats.series_read;
    stats.samples_read += raw.samples.size();
    std::string invalid = InvalidLabels(raw.labels);
    if (!invalid.empty()) {
      ++stats.rejected_series;
      stats.rejected_samples += raw.samples.size();
      stats.histogram_points += raw.histograms;
      Reject(index, raw.labels, invalid);
      return;
    }
    if (raw.histograms > 0) {
      stats.histogram_points += raw.histograms;
      Reject(index, raw.labels,
             absl::StrCat("native histograms are not supported (", raw.histograms,
                          " histogram sample(s) refused)"));
    }
    if (raw.samples.empty()) return;
    query::Labels labels(std::move(raw.labels));
    std::string key = labels.Key();
    auto [it, inserted] = index_.try_emplace(std::move(key), out_->metrics.series.size());
    if (inserted) {
      Series& s = out_->metrics.series.emplace_back();
      s.fingerprint = Fingerprint(labels);
      s.labels = std::move(labels);
      s.samples.reserve(raw.samples.size());
    }
    Series& series = out_->metrics.series[it->second];
    for (const query::SamplePoint& p : raw.samples) {
      if (series.samples.empty() || p.t_ms > series.samples.back().t_ms) {
        series.samples.push_back(p);
        continue;
      }
      const query::SamplePoint& last = series.samples.back();
      if (p.t_ms == last.t_ms &&
          std::bit_cast<uint64_t>(p.value) == std::bit_cast<uint64_t>(last.value)) {
        ++stats.duplicate_samples;
        continue;
      }
      ++stats.rejected_samples;
      if (stats.first_rejection.empty()) {
        Reject(
            index, series.labels.items(),
            p.t_ms == last.t_ms
                ? absl::StrCat("duplicate sample for timestamp ", p.t_ms, " with a different value")
                : absl::StrCat("out of order sample: timestamp ", p.t_ms,
                               " is before the series' previous sample at ", last.t_ms));
      }
    }
  }

  void AddMetadata(FamilyMetadata md) {
    if (md.name.empty() || !IsValidUtf8(md.name) || !IsValidUtf8(md.help) ||
        !IsValidUtf8(md.unit)) {
      ++out_->stats.rejected_metadata;
      return;
    }
    if (!metadata_names_.insert(md.name).second) return;
    out_->metadata.push_back(std::move(md));
  }

  void Finish() {
    // A series whose every sample was refused is not a series.
    auto& series = out_->metrics.series;
    series.erase(std::remove_if(series.begin(), series.end(),
                                [](const Series& s) { return s.samples.empty(); }),
                 series.end());
    out_->metrics.families = FamiliesFromMetadata(out_->metadata);
    out_->metrics.stats.data_points = out_->stats.samples_read;
  }

 private:
  PromBatch* out_;
  absl::flat_hash_map<std::string, size_t> index_;
  absl::flat_hash_set<std::string> metadata_names_;
};

// Encoding ---------------------------------------------------------------------------------

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutTag(std::string& out, uint32_t field, int wire_type) {
  PutVarint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}

void PutBytes(std::string& out, uint32_t field, std::string_view bytes) {
  PutTag(out, field, kLengthDelimited);
  PutVarint(out, bytes.size());
  out.append(bytes);
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

size_t BytesFieldSize(size_t len) { return 1 + VarintSize(len) + len; }  // field numbers < 16

}  // namespace

std::string_view MetadataTypeName(MetadataType type) {
  switch (type) {
    case MetadataType::kUnknown:
      return "unknown";
    case MetadataType::kCounter:
      return "counter";
    case MetadataType::kGauge:
      return "gauge";
    case MetadataType::kHistogram:
      return "histogram";
    case MetadataType::kGaugeHistogram:
      return "gaugehistogram";
    case MetadataType::kSummary:
      return "summary";
    case MetadataType::kInfo:
      return "info";
    case MetadataType::kStateset:
      return "stateset";
  }
  return "unknown";
}

std::string DescribeSeries(const std::vector<query::Label>& labels) {
  constexpr size_t kMaxBytes = 200;
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (out.size() > kMaxBytes) {
      out += ", ...";
      break;
    }
    if (i > 0) out += ", ";
    const query::Label& l = labels[i];
    out += query::IsLegacyLabelName(l.name) ? l.name : query::QuoteGo(l.name);
    out += '=';
    std::string value = query::QuoteGo(l.value);
    if (value.size() > kMaxBytes) value = value.substr(0, kMaxBytes) + "...";
    out += value;
  }
  out += '}';
  return out;
}

std::vector<MetricFamily> FamiliesFromMetadata(const std::vector<FamilyMetadata>& metadata) {
  std::vector<MetricFamily> out;
  absl::flat_hash_set<std::string_view> seen;
  for (const FamilyMetadata& md : metadata) {
    MetricType type;
    switch (md.type) {
      case MetadataType::kCounter:
        type = MetricType::kCounter;
        break;
      case MetadataType::kGauge:
        type = MetricType::kGauge;
        break;
      case MetadataType::kHistogram:
        type = MetricType::kHistogram;
        break;
      case MetadataType::kSummary:
        type = MetricType::kSummary;
        break;
      default:
        continue;
    }
    if (!seen.insert(md.name).second) continue;
    out.push_back(MetricFamily{md.name, type, md.unit, md.help});
  }
  std::sort(out.begin(), out.end(),
            [](const MetricFamily& a, const MetricFamily& b) { return a.name < b.name; });
  return out;
}

absl::StatusOr<PromBatch> ParseWriteRequest(std::string_view bytes) {
  PromBatch out;
  Builder builder(&out);
  WireReader r(bytes, 0);
  size_t series_index = 0;
  size_t metadata_index = 0;
  RawSeries raw;
  while (!r.done()) {
    uint32_t field = 0;
    int wt = 0;
    if (!r.Tag(&field, &wt)) return WireError(r, "");
    std::string_view sub;
    size_t start = 0;
    if (field == 1) {
      if (!r.Expect(field, wt, kLengthDelimited, "timeseries") || !r.Bytes(&sub, &start)) {
        return WireError(r, "");
      }
      raw.labels.clear();
      raw.samples.clear();
      raw.histograms = 0;
      absl::Status st = ParseTimeSeries(sub, start, series_index, &raw);
      if (!st.ok()) return st;
      builder.Add(series_index++, raw);
    } else if (field == 3) {
      if (!r.Expect(field, wt, kLengthDelimited, "metadata") || !r.Bytes(&sub, &start)) {
        return WireError(r, "");
      }
      FamilyMetadata md;
      absl::Status st = ParseMetadata(sub, start, metadata_index++, &md);
      if (!st.ok()) return st;
      builder.AddMetadata(std::move(md));
    } else if (!r.Skip(wt)) {
      return WireError(r, "");
    }
  }
  builder.Finish();
  return out;
}

std::string EncodeWriteRequest(const std::vector<Series>& series,
                               const std::vector<FamilyMetadata>& metadata) {
  std::string out;
  std::string body;
  // Sizes are computed first so each message is written once, in place.
  for (const Series& s : series) {
    size_t size = 0;
    for (const query::Label& l : s.labels.items()) {
      size += BytesFieldSize(BytesFieldSize(l.name.size()) + BytesFieldSize(l.value.size()));
    }
    for (const query::SamplePoint& p : s.samples) {
      size += BytesFieldSize(1 + 8 + 1 + VarintSize(static_cast<uint64_t>(p.t_ms)));
    }
    PutTag(out, 1, kLengthDelimited);
    PutVarint(out, size);
    for (const query::Label& l : s.labels.items()) {
      PutTag(out, 1, kLengthDelimited);
      PutVarint(out, BytesFieldSize(l.name.size()) + BytesFieldSize(l.value.size()));
      PutBytes(out, 1, l.name);
      PutBytes(out, 2, l.value);
    }
    for (const query::SamplePoint& p : s.samples) {
      const uint64_t t = static_cast<uint64_t>(p.t_ms);
      PutTag(out, 2, kLengthDelimited);
      PutVarint(out, 1 + 8 + 1 + VarintSize(t));
      PutTag(out, 1, kFixed64);
      const uint64_t bits = std::bit_cast<uint64_t>(p.value);
      char buf[8];
      std::memcpy(buf, &bits, 8);
      out.append(buf, 8);
      PutTag(out, 2, kVarint);
      PutVarint(out, t);
    }
  }
  for (const FamilyMetadata& md : metadata) {
    body.clear();
    PutTag(body, 1, kVarint);
    PutVarint(body, static_cast<uint64_t>(md.type));
    PutBytes(body, 2, md.name);
    if (!md.help.empty()) PutBytes(body, 4, md.help);
    if (!md.unit.empty()) PutBytes(body, 5, md.unit);
    PutBytes(out, 3, body);
  }
  return out;
}

}  // namespace observex::metrics
