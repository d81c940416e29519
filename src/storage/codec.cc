#include "storage/codec.h"

#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "storage/bits.h"
#include "storage/rans.h"

namespace observex::storage {
namespace {

using bits::GetVarint;
using bits::PutVarint;

constexpr size_t kGroup = 128;  // values per bit-packing group of kDelta
constexpr int kMaxDecimalExponent = 15;
constexpr double kPow10[kMaxDecimalExponent + 1] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                                    1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

absl::Status Malformed(std::string_view encoding, std::string_view what) {
  return absl::DataLossError(
      absl::StrCat("malformed ", std::string(encoding), " block: ", std::string(what)));
}

absl::Status CheckCount(std::string_view encoding, uint64_t got, size_t want) {
  if (got == want) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("malformed ", std::string(encoding), " block: holds ",
                                          got, " values, expected ", want));
}

// ---------------------------------------------------------------------------------------
// int64 kDelta

uint64_t Residual(const int64_t* v, size_t i, int order) {
  const auto u = [&](size_t j) { return static_cast<uint64_t>(v[j]); };
  switch (order) {
    case 0:
      return bits::ZigZag(v[i]);
    case 1:
      return bits::ZigZag(static_cast<int64_t>(u(i) - u(i - 1)));
    default:
      return bits::ZigZag(static_cast<int64_t>((u(i) - u(i - 1)) - (u(i - 1) - u(i - 2))));
  }
}

// Packed size in bits of the residuals of `order`.
uint64_t DeltaCostBits(const int64_t* v, size_t n, int order) {
  uint64_t total = 0;
  for (size_t g = order; g < n; g += kGroup) {
    const size_t end = std::min(n, g + kGroup);
    uint64_t any = 0;
    for (size_t i = g; i < end; ++i) any |= Residual(v, i, order);
    total += 8 + (end - g) * static_cast<uint64_t>(bits::BitWidth(any));
  }
  return total;
}

// A kDelta stream without its count.
void EncodeDeltaBody(const int64_t* v, size_t n, std::string* out) {
  if (n == 0) return;
  const int max_order = static_cast<int>(std::min<size_t>(2, n - 1));
  int order = 0;
  uint64_t best = DeltaCostBits(v, n, 0);
  for (int k = 1; k <= max_order; ++k) {
    const uint64_t cost = DeltaCostBits(v, n, k);
    if (cost < best) {
      best = cost;
      order = k;
    }
  }
  out->push_back(static_cast<char>(order));
  if (order >= 1) PutVarint(out, bits::ZigZag(v[0]));
  if (order == 2) {
    PutVarint(out, bits::ZigZag(static_cast<int64_t>(static_cast<uint64_t>(v[1]) -
                                                     static_cast<uint64_t>(v[0]))));
  }
  uint64_t tmp[kGroup];
  for (size_t g = order; g < n; g += kGroup) {
    const size_t k = std::min(n - g, kGroup);
    uint64_t any = 0;
    for (size_t i = 0; i < k; ++i) {
      tmp[i] = Residual(v, g + i, order);
      any |= tmp[i];
    }
    const int width = bits::BitWidth(any);
    out->push_back(static_cast<char>(width));
    bits::PackBits(tmp, k, width, out);
  }
}

void EncodeDelta(const int64_t* v, size_t n, std::string* out) {
  PutVarint(out, n);
  EncodeDeltaBody(v, n, out);
}

// Decodes the body of a kDelta stream holding `n` values (its count already read and
// checked), calling emit(const int64_t* values, size_t count) for consecutive runs. An Emit
// with a Repeat(int64_t value, size_t count) member gets a group of equal values through it
// instead, without the group being expanded (sorted series ids are mostly such groups).
template <typename Emit>
absl::Status DecodeDeltaBody(const char** pp, const char* end, size_t n, Emit&& emit) {
  const char* p = *pp;
  if (n == 0) return absl::OkStatus();
  if (p >= end) return Malformed("delta", "missing order");
  const int order = static_cast<uint8_t>(*p++);
  if (order > 2 || static_cast<size_t>(order) > n - 1) {
    return Malformed("delta", absl::StrCat("order ", order, " for ", n, " values"));
  }
  uint64_t prev = 0, delta = 0;
  {
    int64_t seeds[2];
    uint64_t z;
    if (order >= 1) {
      if (!GetVarint(&p, end, &z)) return Malformed("delta", "truncated first value");
      prev = static_cast<uint64_t>(bits::UnZigZag(z));
      seeds[0] = static_cast<int64_t>(prev);
    }
    if (order == 2) {
      if (!GetVarint(&p, end, &z)) return Malformed("delta", "truncated first delta");
      delta = static_cast<uint64_t>(bits::UnZigZag(z));
      prev += delta;
      seeds[1] = static_cast<int64_t>(prev);
    }
    if (order > 0) emit(seeds, static_cast<size_t>(order));
  }
  alignas(64) uint64_t tmp[kGroup];
  alignas(64) int64_t vals[kGroup];
  for (size_t g = order; g < n; g += kGroup) {
    const size_t k = std::min(n - g, kGroup);
    if (p >= end) return Malformed("delta", "truncated group header");
    const int width = static_cast<uint8_t>(*p++);
    if (width > 64) return Malformed("delta", absl::StrCat("bit width ", width));
    const size_t bytes = bits::PackedBytes(k, width);
    if (static_cast<size_t>(end - p) < bytes) return Malformed("delta", "truncated group");
    if constexpr (requires { emit.Repeat(int64_t{0}, size_t{0}); }) {
      // Width 0: every residual is 0, so the group is constant unless it is of order 2 with
      // a non-zero running difference.
      if (width == 0 && (order != 2 || delta == 0)) {
        emit.Repeat(order == 0 ? 0 : static_cast<int64_t>(prev), k);
        continue;
      }
    }
    bits::UnpackBits(p, static_cast<size_t>(end - p), k, width, tmp);
    p += bytes;
    switch (order) {
      case 0:
        for (size_t i = 0; i < k; ++i) vals[i] = bits::UnZigZag(tmp[i]);
        break;
      case 1:
        for (size_t i = 0; i < k; ++i) {
          prev += static_cast<uint64_t>(bits::UnZigZag(tmp[i]));
          vals[i] = static_cast<int64_t>(prev);
        }
        break;
      default:
        if (width == 0) {
          for (size_t i = 0; i < k; ++i) {
            prev += delta;
            vals[i] = static_cast<int64_t>(prev);
          }
        } else {
          for (size_t i = 0; i < k; ++i) {
            delta += static_cast<uint64_t>(bits::UnZigZag(tmp[i]));
            prev += delta;
            vals[i] = static_cast<int64_t>(prev);
          }
        }
        break;
    }
    emit(vals, k);
  }
  *pp = p;
  return absl::OkStatus();
}

// Steps over the groups of a packed stream of n values from value `from` on (a group
// boundary): each group a varint base (when `with_base`), `u8 width` and the packed bits.
absl::Status SkipGroups(const char** pp, const char* end, size_t n, size_t from, size_t group,
                        bool with_base, std::string_view name) {
  const char* p = *pp;
  uint64_t z;
  for (size_t g = from; g < n; g += group) {
    const size_t k = std::min(n - g, group);
    if (with_base && !GetVarint(&p, end, &z)) return Malformed(name, "truncated group base");
    if (p >= end) return Malformed(name, "truncated group width");
    const int width = static_cast<uint8_t>(*p++);
    if (width > 64) return Malformed(name, absl::StrCat("bit width ", width));
    const size_t bytes = bits::PackedBytes(k, width);
    if (static_cast<size_t>(end - p) < bytes) return Malformed(name, "truncated group");
    p += bytes;
  }
  *pp = p;
  return absl::OkStatus();
}

// Steps over a stream of n values without decoding it: `u8 order`, `order` varint seeds,
// then groups of `group` values, each with a varint base (when `with_base`), `u8 width` and
// the packed bits. The body of a kDelta stream (groups of 128, no base) and a
// frame-of-reference stream (groups of 64 with a base) both have this shape.
absl::Status SkipPackedGroups(const char** pp, const char* end, size_t n, size_t group,
                              bool with_base, std::string_view name) {
  const char* p = *pp;
  if (n == 0) return absl::OkStatus();
  if (p >= end) return Malformed(name, "missing order");
  const int order = static_cast<uint8_t>(*p++);
  if (order > 2 || static_cast<size_t>(order) > n - 1) {
    return Malformed(name, absl::StrCat("order ", order, " for ", n, " values"));
  }
  uint64_t z;
  for (int i = 0; i < order; ++i) {
    if (!GetVarint(&p, end, &z)) return Malformed(name, "truncated first values");
  }
  *pp = p;
  return SkipGroups(pp, end, n, order, group, with_base, name);
}

absl::Status SkipDeltaBody(const char** pp, const char* end, size_t n) {
  return SkipPackedGroups(pp, end, n, kGroup, /*with_base=*/false, "delta");
}

absl::Status DecodeDelta(const char** p, const char* end, size_t rows, std::vector<int64_t>* out) {
  uint64_t n;
  if (!GetVarint(p, end, &n)) return Malformed("delta", "truncated count");
  if (auto s = CheckCount("delta", n, rows); !s.ok()) return s;
  out->resize(rows);
  int64_t* dst = out->data();
  return DecodeDeltaBody(p, end, rows, [&dst](const int64_t* v, size_t k) {
    std::memcpy(dst, v, k * sizeof(int64_t));
    dst += k;
  });
}

// ---------------------------------------------------------------------------------------
// int64 / float64 plain

void EncodePlainInt(const int64_t* v, size_t n, std::string* out) {
  PutVarint(out, n);
  for (size_t i = 0; i < n; ++i) PutVarint(out, bits::ZigZag(v[i]));
}

absl::Status DecodePlainInt(const char** p, const char* end, size_t rows,
                            std::vector<int64_t>* out) {
  uint64_t n;
  if (!GetVarint(p, end, &n)) return Malformed("plain int64", "truncated count");
  if (auto s = CheckCount("plain int64", n, rows); !s.ok()) return s;
  out->resize(rows);
  for (size_t i = 0; i < rows; ++i) {
    uint64_t z;
    if (!GetVarint(p, end, &z)) return Malformed("plain int64", "truncated value");
    (*out)[i] = bits::UnZigZag(z);
  }
  return absl::OkStatus();
}

void EncodePlainFloat(const double* v, size_t n, std::string* out) {
  PutVarint(out, n);
  out->append(reinterpret_cast<const char*>(v), n * sizeof(double));
}

absl::Status DecodePlainFloat(const char** p, const char* end, size_t rows,
                              std::vector<double>* out) {
  uint64_t n;
  if (!GetVarint(p, end, &n)) return Malformed("plain float64", "truncated count");
  if (auto s = CheckCount("plain float64", n, rows); !s.ok()) return s;
  if (static_cast<size_t>(end - *p) / sizeof(double) < rows) {
    return Malformed("plain float64", "truncated values");
  }
  out->resize(rows);
  if (rows > 0) std::memcpy(out->data(), *p, rows * sizeof(double));
  *p += rows * sizeof(double);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// float64 kGorilla: per value after the first, '0' = same bits; '10' = XOR fits the previous
// window (same leading-zero count and length); '11' + 6 bits leading zeros + 6 bits
// (length - 1) + the XOR's meaningful bits.

// The bit stream of a kGorilla block, without its count.
void EncodeGorillaBody(const double* v, size_t n, std::string* out) {
  if (n == 0) return;
  bits::BitWriter w(out);
  uint64_t prev = std::bit_cast<uint64_t>(v[0]);
  w.Write(prev, 64);
  int win_lead = -1, win_len = 0;
  for (size_t i = 1; i < n; ++i) {
    const uint64_t cur = std::bit_cast<uint64_t>(v[i]);
    const uint64_t x = cur ^ prev;
    prev = cur;
    if (x == 0) {
      w.Write(0, 1);
      continue;
    }
    const int lead = std::countl_zero(x);
    const int trail = std::countr_zero(x);
    if (win_lead >= 0 && lead >= win_lead && trail >= 64 - win_lead - win_len) {
      w.Write(0b10, 2);
      w.Write(x >> (64 - win_lead - win_len), win_len);
      continue;
    }
    const int len = 64 - lead - trail;
    w.Write(0b11, 2);
    w.Write(static_cast<uint64_t>(lead), 6);
    w.Write(static_cast<uint64_t>(len - 1), 6);
    w.Write(x >> trail, len);
    win_lead = lead;
    win_len = len;
  }
  w.Finish();
}

void EncodeGorilla(const double* v, size_t n, std::string* out) {
  PutVarint(out, n);
  EncodeGorillaBody(v, n, out);
}

// Decodes a kGorilla bit stream of `rows` values into dst.
absl::Status DecodeGorillaBody(const char** p, const char* end, size_t rows, double* dst) {
  if (rows == 0) return absl::OkStatus();
  bits::BitReader r(*p, end);
  uint64_t cur;
  if (!r.ReadWide(64, &cur)) return Malformed("gorilla", "truncated first value");
  dst[0] = std::bit_cast<double>(cur);
  int win_lead = 0, win_len = 0;
  bool have_window = false;
  for (size_t i = 1; i < rows; ++i) {
    uint64_t ctl;
    if (!r.Read(1, &ctl)) return Malformed("gorilla", "truncated control bit");
    if (ctl != 0) {
      if (!r.Read(1, &ctl)) return Malformed("gorilla", "truncated control bit");
      if (ctl != 0) {
        uint64_t hdr;
        if (!r.Read(12, &hdr)) return Malformed("gorilla", "truncated window");
        win_lead = static_cast<int>(hdr >> 6);
        win_len = static_cast<int>(hdr & 63) + 1;
        if (win_lead + win_len > 64) return Malformed("gorilla", "window past 64 bits");
        have_window = true;
      } else if (!have_window) {
        return Malformed("gorilla", "window reused before one was set");
      }
      uint64_t x;
      if (!r.ReadWide(win_len, &x)) return Malformed("gorilla", "truncated value bits");
      cur ^= x << (64 - win_lead - win_len);
    }
    dst[i] = std::bit_cast<double>(cur);
  }
  *p += r.consumed_bytes();
  return absl::OkStatus();
}

absl::Status DecodeGorilla(const char** p, const char* end, size_t rows, std::vector<double>* out) {
  uint64_t n;
  if (!GetVarint(p, end, &n)) return Malformed("gorilla", "truncated count");
  if (auto s = CheckCount("gorilla", n, rows); !s.ok()) return s;
  out->resize(rows);
  return DecodeGorillaBody(p, end, rows, out->data());
}

// ---------------------------------------------------------------------------------------
// float64 kDecimal

bool ExactAt(double x, int e, int64_t* m) {
  const double scaled = x * kPow10[e];
  if (!(std::fabs(scaled) < 9.0e18)) return false;  // also rejects NaN and infinities
  const int64_t mant = std::llround(scaled);
  if (std::bit_cast<uint64_t>(static_cast<double>(mant) / kPow10[e]) !=
      std::bit_cast<uint64_t>(x)) {
    return false;
  }
  *m = mant;
  return true;
}

// Fills *mantissas and returns the exponent, or -1 when some value is not m / 10^e.
int DecimalExponent(const double* v, size_t n, std::vector<int64_t>* mantissas) {
  int e = 0;
  int64_t m;
  for (size_t i = 0; i < n; ++i) {
    while (!ExactAt(v[i], e, &m)) {
      if (++e > kMaxDecimalExponent) return -1;
    }
  }
  mantissas->resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (!ExactAt(v[i], e, &(*mantissas)[i])) return -1;
  }
  return e;
}

void EncodeDecimal(const int64_t* mantissas, size_t n, int e, std::string* out) {
  PutVarint(out, n);
  out->push_back(static_cast<char>(e));
  EncodeDelta(mantissas, n, out);
}

absl::Status DecodeDecimal(const char** p, const char* end, size_t rows, std::vector<double>* out) {
  uint64_t n;
  if (!GetVarint(p, end, &n)) return Malformed("decimal", "truncated count");
  if (auto s = CheckCount("decimal", n, rows); !s.ok()) return s;
  if (*p >= end) return Malformed("decimal", "missing exponent");
  const int e = static_cast<uint8_t>(*(*p)++);
  if (e > kMaxDecimalExponent) return Malformed("decimal", absl::StrCat("exponent ", e));
  if (!GetVarint(p, end, &n)) return Malformed("decimal", "truncated mantissa count");
  if (auto s = CheckCount("decimal", n, rows); !s.ok()) return s;
  out->resize(rows);
  double* dst = out->data();
  const double scale = kPow10[e];
  if (e == 0) {
    return DecodeDeltaBody(p, end, rows, [&dst](const int64_t* v, size_t k) {
      for (size_t i = 0; i < k; ++i) dst[i] = static_cast<double>(v[i]);
      dst += k;
    });
  }
  return DecodeDeltaBody(p, end, rows, [&dst, scale](const int64_t* v, size_t k) {
    for (size_t i = 0; i < k; ++i) dst[i] = static_cast<double>(v[i]) / scale;
    dst += k;
  });
}

// ---------------------------------------------------------------------------------------
// Frame-of-reference stream (float64 runs of kSegmented): `u8 order`, the seeds as in kDelta,
// then the n - order residuals in groups of kForGroup: `varint zigzag(base)`, `u8 width`, the
// group's (residual - base) packed. Subtracting the group's smallest residual instead of
// zigzagging saves the sign bit of counters' increments, and small groups follow bursts.

constexpr size_t kForGroup = 64;

int64_t Diff(const int64_t* v, size_t i, int order) {
  const auto u = [&](size_t j) { return static_cast<uint64_t>(v[j]); };
  switch (order) {
    case 0:
      return v[i];
    case 1:
      return static_cast<int64_t>(u(i) - u(i - 1));
    default:
      return static_cast<int64_t>((u(i) - u(i - 1)) - (u(i - 1) - u(i - 2)));
  }
}

size_t VarintBytes(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

uint64_t ForCostBits(const int64_t* v, size_t n, int order) {
  uint64_t total = 64 * static_cast<uint64_t>(order);  // seeds, roughly
  int64_t r[kForGroup];
  for (size_t g = order; g < n; g += kForGroup) {
    const size_t k = std::min(n - g, kForGroup);
    int64_t base = Diff(v, g, order);
    for (size_t i = 0; i < k; ++i) {
      r[i] = Diff(v, g + i, order);
      base = std::min(base, r[i]);
    }
    uint64_t any = 0;
    for (size_t i = 0; i < k; ++i) any |= static_cast<uint64_t>(r[i]) - static_cast<uint64_t>(base);
    total +=
        8 * (1 + VarintBytes(bits::ZigZag(base))) + k * static_cast<uint64_t>(bits::BitWidth(any));
  }
  return total;
}

// The order (0, 1 or 2, at most n - 1) whose residuals pack smallest; n >= 1.
int ForOrder(const int64_t* v, size_t n) {
  const int max_order = static_cast<int>(std::min<size_t>(2, n - 1));
  int order = 0;
  uint64_t best = ForCostBits(v, n, 0);
  for (int k = 1; k <= max_order; ++k) {
    const uint64_t cost = ForCostBits(v, n, k);
    if (cost < best) {
      best = cost;
      order = k;
    }
  }
  return order;
}

// `u8 order` and the seeds of a FOR or entropy-coded stream.
void PutOrderAndSeeds(const int64_t* v, int order, std::string* out) {
  out->push_back(static_cast<char>(order));
  if (order >= 1) PutVarint(out, bits::ZigZag(v[0]));
  if (order == 2) {
    PutVarint(out, bits::ZigZag(static_cast<int64_t>(static_cast<uint64_t>(v[1]) -
                                                     static_cast<uint64_t>(v[0]))));
  }
}

// Reads what PutOrderAndSeeds wrote for a stream of n >= 1 values: the seeds go to dst, and
// *prev / *delta are left where the residuals continue from.
absl::Status ReadOrderAndSeeds(const char** pp, const char* end, size_t n, int64_t* dst,
                               int* order_out, uint64_t* prev, uint64_t* delta) {
  const char* p = *pp;
  if (p >= end) return Malformed("segmented", "missing order");
  const int order = static_cast<uint8_t>(*p++);
  if (order > 2 || static_cast<size_t>(order) > n - 1) {
    return Malformed("segmented", absl::StrCat("order ", order, " for ", n, " values"));
  }
  uint64_t z;
  *prev = *delta = 0;
  if (order >= 1) {
    if (!GetVarint(&p, end, &z)) return Malformed("segmented", "truncated first value");
    *prev = static_cast<uint64_t>(bits::UnZigZag(z));
    dst[0] = static_cast<int64_t>(*prev);
  }
  if (order == 2) {
    if (!GetVarint(&p, end, &z)) return Malformed("segmented", "truncated first delta");
    *delta = static_cast<uint64_t>(bits::UnZigZag(z));
    *prev += *delta;
    dst[1] = static_cast<int64_t>(*prev);
  }
  *order_out = order;
  *pp = p;
  return absl::OkStatus();
}

// Turns k residuals of `order`, each base + offsets[i] (+ high[symbols[i]] when symbols is
// given), into values at out, carrying *prev and *delta along.
inline void IntegrateResiduals(const uint64_t* offsets, size_t k, uint64_t base, int order,
                               uint64_t* prev, uint64_t* delta, int64_t* out,
                               const uint8_t* symbols = nullptr, const uint64_t* high = nullptr) {
  const auto residual = [&](size_t i) {
    return symbols == nullptr ? offsets[i] + base : offsets[i] + base + high[symbols[i]];
  };
  switch (order) {
    case 0:
      for (size_t i = 0; i < k; ++i) out[i] = static_cast<int64_t>(residual(i));
      break;
    case 1:
      for (size_t i = 0; i < k; ++i) {
        *prev += residual(i);
        out[i] = static_cast<int64_t>(*prev);
      }
      break;
    default:
      for (size_t i = 0; i < k; ++i) {
        *delta += residual(i);
        *prev += *delta;
        out[i] = static_cast<int64_t>(*prev);
      }
      break;
  }
}

// n >= 1. Returns the order it chose.
int EncodeFor(const int64_t* v, size_t n, std::string* out) {
  const int order = ForOrder(v, n);
  PutOrderAndSeeds(v, order, out);
  int64_t r[kForGroup];
  uint64_t tmp[kForGroup];
  for (size_t g = order; g < n; g += kForGroup) {
    const size_t k = std::min(n - g, kForGroup);
    int64_t base = Diff(v, g, order);
    for (size_t i = 0; i < k; ++i) {
      r[i] = Diff(v, g + i, order);
      base = std::min(base, r[i]);
    }
    uint64_t any = 0;
    for (size_t i = 0; i < k; ++i) {
      tmp[i] = static_cast<uint64_t>(r[i]) - static_cast<uint64_t>(base);
      any |= tmp[i];
    }
    const int width = bits::BitWidth(any);
    PutVarint(out, bits::ZigZag(base));
    out->push_back(static_cast<char>(width));
    bits::PackBits(tmp, k, width, out);
  }
  return order;
}

// Decodes a frame-of-reference stream of n >= 1 values into dst, calling done(from, count)
// after each slice dst[from, from + count) is final, so the caller can convert it while it is
// still in the L1 cache.
// With limit < n, stops decoding once the first `limit` values are decoded and steps over the
// rest.
template <typename Done>
absl::Status DecodeFor(const char** pp, const char* end, size_t n, int64_t* dst, Done&& done,
                       size_t limit = SIZE_MAX) {
  const char* p = *pp;
  int order;
  uint64_t prev, delta, z;
  if (auto s = ReadOrderAndSeeds(&p, end, n, dst, &order, &prev, &delta); !s.ok()) return s;
  if (order > 0) done(0, static_cast<size_t>(order));
  alignas(64) uint64_t tmp[kForGroup];
  for (size_t g = order; g < n; g += kForGroup) {
    const size_t k = std::min(n - g, kForGroup);
    if (!GetVarint(&p, end, &z)) return Malformed("segmented", "truncated group base");
    const uint64_t base = static_cast<uint64_t>(bits::UnZigZag(z));
    if (p >= end) return Malformed("segmented", "truncated group width");
    const int width = static_cast<uint8_t>(*p++);
    if (width > 64) return Malformed("segmented", absl::StrCat("bit width ", width));
    const size_t bytes = bits::PackedBytes(k, width);
    if (static_cast<size_t>(end - p) < bytes) return Malformed("segmented", "truncated group");
    bits::UnpackBits(p, static_cast<size_t>(end - p), k, width, tmp);
    p += bytes;
    IntegrateResiduals(tmp, k, base, order, &prev, &delta, dst + g);
    done(g, k);
    if (limit < n && g + k >= limit) {
      // The rest is not wanted: step over its groups.
      *pp = p;
      return SkipGroups(pp, end, n, g + k, kForGroup, /*with_base=*/true, "segmented");
    }
  }
  *pp = p;
  return absl::OkStatus();
}

absl::Status SkipFor(const char** pp, const char* end, size_t n) {
  return SkipPackedGroups(pp, end, n, kForGroup, /*with_base=*/true, "segmented");
}

// ---------------------------------------------------------------------------------------
// Entropy-coded stream (float64 runs of kinds 7 and 8): the residuals of a FOR stream, each
// written as its group's centre plus an offset e, whose high part q = e >> shift is rANS-coded
// under the run's own frequencies and whose low `shift` bits are packed. Counters' increments
// and gauges' steps scatter around a slowly moving centre in a bell shape: a frame of
// reference spends the bits of its group's whole range on every value, this about their
// entropy (a bit or so less per value).
// Layout: `varint bytes` (of the rest), `u8 order` and seeds as in FOR; when n > order, for
// the m = n - order residuals in groups of kAnsGroup: ceil(m / kAnsGroup) centres as
// `varint zigzag(c_g - c_{g-1})`
// (c_{-1} = 0), `u8 shift` (0-63), `varint zigzag(qmin)`, `varint k` (1-255: symbol s < k
// stands for q = qmin + s), k + 1 `varint` frequencies summing to rans::kScale (symbol k:
// an escape, for e whose q is outside), the m low parts packed at `shift` bits, `varint`
// bytes of escapes and the escapes (`varint zigzag(e)` each, in order), then the rANS stream
// to the end.

// Residuals per group centre: an hour of 15 s scrapes, which a counter's rate hardly leaves
// (64 cost 1.5 % more on the benchmark's counters and gauges, 512 saved 0.2 %).
constexpr size_t kAnsGroup = 256;
constexpr size_t kMaxAnsSymbols = rans::kMaxSymbols - 1;  // and the escape

struct AnsScratch {
  std::vector<int64_t> e, sorted;
  std::vector<uint64_t> low;
  std::vector<uint8_t> symbols;
  std::vector<uint32_t> counts;
  std::string body, escapes;
};

// The alphabet and shift an entropy-coded stream uses for offsets e.
struct AnsModel {
  int shift = 0;
  int64_t qmin = 0;
  size_t k = 1;
  double bits = 0;  // estimated size of everything that depends on the choice
};

// q = e >> shift for the symbol window, or false when outside it.
inline bool AnsSymbol(int64_t e, const AnsModel& m, uint32_t* symbol) {
  const uint64_t at = static_cast<uint64_t>(e >> m.shift) - static_cast<uint64_t>(m.qmin);
  if (at >= m.k) return false;
  *symbol = static_cast<uint32_t>(at);
  return true;
}

// Picks the shift and window for offsets e, whose smallest and largest are `min` and `max`
// and whose middle 99 % lie in [lo, hi]: the window covers [lo, hi] >> shift and as much of the
// rest as fits; shifts from where [lo, hi] just fits in 255 symbols up to a symbol or two,
// the one that codes smallest. Counts the symbols into *counts (k + 1).
AnsModel ChooseAnsModel(std::span<const int64_t> e, int64_t min, int64_t lo, int64_t hi,
                        int64_t max, std::vector<uint32_t>* counts) {
  const size_t m = e.size();
  const int width = bits::BitWidth(static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo));
  AnsModel best;
  best.bits = -1;
  std::vector<uint32_t> c;
  for (int shift = std::max(0, width - 8); shift <= std::min(63, width + 1); ++shift) {
    AnsModel cand;
    cand.shift = shift;
    const __int128 qlo = lo >> shift, qhi = hi >> shift;
    const __int128 qmin_all = min >> shift, qmax_all = max >> shift;
    if (qhi - qlo + 1 > static_cast<__int128>(kMaxAnsSymbols)) continue;
    const __int128 room = static_cast<__int128>(kMaxAnsSymbols) - (qhi - qlo + 1);
    const __int128 below = std::min<__int128>(qlo - qmin_all, room / 2);
    const __int128 above = std::min<__int128>(qmax_all - qhi, room - below);
    cand.qmin = static_cast<int64_t>(qlo - below);
    cand.k = static_cast<size_t>(qhi + above - cand.qmin + 1);
    c.assign(cand.k + 1, 0);
    size_t escape_bytes = 0;
    for (int64_t x : e) {
      uint32_t sym;
      if (AnsSymbol(x, cand, &sym)) {
        ++c[sym];
      } else {
        ++c[cand.k];
        escape_bytes += VarintBytes(bits::ZigZag(x));
      }
    }
    // Symbols no value takes at the window's ends would only cost their table entries.
    size_t first = 0, last = cand.k;
    while (first < cand.k && c[first] == 0) ++first;
    while (last > first + 1 && c[last - 1] == 0) --last;
    if (first == cand.k) first = 0, last = 1;  // every value escaped
    if (first > 0 || last < cand.k) {
      const uint32_t escaped = c[cand.k];
      c.erase(c.begin() + static_cast<ptrdiff_t>(last), c.end());
      c.erase(c.begin(), c.begin() + static_cast<ptrdiff_t>(first));
      c.push_back(escaped);
      cand.qmin += static_cast<int64_t>(first);
      cand.k = last - first;
    }
    const std::vector<uint32_t> freqs = rans::NormalizeFrequencies(c);
    size_t table_bytes = VarintBytes(bits::ZigZag(cand.qmin)) + VarintBytes(cand.k);
    for (uint32_t f : freqs) table_bytes += VarintBytes(f);
    cand.bits = rans::CodedBits(c, freqs) + 8.0 * static_cast<double>(table_bytes + escape_bytes) +
                static_cast<double>(m) * shift;
    if (best.bits < 0 || cand.bits < best.bits) {
      best = cand;
      counts->swap(c);
    }
  }
  return best;
}

// Appends an entropy-coded stream of v[0, n) with residuals of `order`; n >= 1.
void EncodeAns(const int64_t* v, size_t n, int order, AnsScratch* s, std::string* out) {
  std::string& body = s->body;
  body.clear();
  PutOrderAndSeeds(v, order, &body);
  const size_t m = n - static_cast<size_t>(order);
  if (m > 0) {
    s->e.resize(m);
    int64_t* e = s->e.data();
    for (size_t i = 0; i < m; ++i) e[i] = Diff(v, order + i, order);
    int64_t prev_centre = 0;
    for (size_t g = 0; g < m; g += kAnsGroup) {
      const size_t k = std::min(m - g, kAnsGroup);
      // The median: a reset or a spike would move a mean off the rest of its group.
      s->sorted.assign(e + g, e + g + k);
      std::nth_element(s->sorted.begin(), s->sorted.begin() + k / 2, s->sorted.end());
      const int64_t centre = s->sorted[k / 2];
      PutVarint(&body, bits::ZigZag(static_cast<int64_t>(static_cast<uint64_t>(centre) -
                                                         static_cast<uint64_t>(prev_centre))));
      prev_centre = centre;
      for (size_t i = g; i < g + k; ++i) {
        e[i] = static_cast<int64_t>(static_cast<uint64_t>(e[i]) - static_cast<uint64_t>(centre));
      }
    }
    // The middle 99 %, by selection rather than a sort.
    s->sorted.assign(e, e + m);
    const auto at = [&](size_t i) {
      std::nth_element(s->sorted.begin(), s->sorted.begin() + i, s->sorted.end());
      return s->sorted[i];
    };
    const int64_t lo = at(m / 200), hi = at(m - 1 - m / 200);
    const auto [min, max] = std::minmax_element(e, e + m);
    const AnsModel model = ChooseAnsModel(s->e, *min, lo, hi, *max, &s->counts);
    body.push_back(static_cast<char>(model.shift));
    PutVarint(&body, bits::ZigZag(model.qmin));
    PutVarint(&body, model.k);
    const std::vector<uint32_t> freqs = rans::NormalizeFrequencies(s->counts);
    for (uint32_t f : freqs) PutVarint(&body, f);
    s->low.resize(m);
    s->symbols.resize(m);
    s->escapes.clear();
    const uint64_t low_mask = (uint64_t{1} << model.shift) - 1;
    for (size_t i = 0; i < m; ++i) {
      uint32_t sym;
      if (!AnsSymbol(e[i], model, &sym)) {
        sym = static_cast<uint32_t>(model.k);
        PutVarint(&s->escapes, bits::ZigZag(e[i]));
      }
      s->symbols[i] = static_cast<uint8_t>(sym);
      s->low[i] = static_cast<uint64_t>(e[i]) & low_mask;
    }
    bits::PackBits(s->low.data(), m, model.shift, &body);
    PutVarint(&body, s->escapes.size());
    body.append(s->escapes);
    rans::Encode(s->symbols, freqs, &body);
  }
  PutVarint(out, body.size());
  out->append(body);
}

// The end of a run body that starts with its `varint bytes` at *p (*p is left after it): XOR
// runs and entropy-coded streams. `what` names the run in errors.
absl::Status ReadRunSize(const char** p, const char* end, std::string_view what,
                         const char** body_end) {
  uint64_t bytes;
  if (!GetVarint(p, end, &bytes)) {
    return Malformed("segmented", absl::StrCat("truncated ", std::string(what), " length"));
  }
  if (bytes > static_cast<uint64_t>(end - *p)) {
    return Malformed("segmented",
                     absl::StrCat(std::string(what), " of ", bytes, " bytes past the block"));
  }
  *body_end = *p + bytes;
  return absl::OkStatus();
}

// Decodes an entropy-coded stream of n >= 1 values into dst as DecodeFor does, calling
// done(from, count) after each slice is final and stopping after the first `limit` values.
template <typename Done>
absl::Status DecodeAns(const char** pp, const char* end, size_t n, int64_t* dst, Done&& done,
                       size_t limit = SIZE_MAX) {
  const char* body_end = nullptr;
  if (auto s = ReadRunSize(pp, end, "entropy-coded run", &body_end); !s.ok()) return s;
  const char* p = *pp;
  end = body_end;
  *pp = body_end;
  int order;
  uint64_t prev, delta, z;
  if (auto s = ReadOrderAndSeeds(&p, end, n, dst, &order, &prev, &delta); !s.ok()) return s;
  if (order > 0) done(0, static_cast<size_t>(order));
  const size_t m = n - static_cast<size_t>(order);
  if (m == 0) {
    return p == end ? absl::OkStatus() : Malformed("segmented", "bytes after the residuals");
  }
  const char* centres = p;
  for (size_t g = 0; g < m; g += kAnsGroup) {
    if (!GetVarint(&p, end, &z)) return Malformed("segmented", "truncated group centre");
  }
  if (p >= end) return Malformed("segmented", "missing shift");
  const int shift = static_cast<uint8_t>(*p++);
  if (shift > 63) return Malformed("segmented", absl::StrCat("shift ", shift));
  uint64_t qmin, k;
  if (!GetVarint(&p, end, &qmin) || !GetVarint(&p, end, &k)) {
    return Malformed("segmented", "truncated symbol window");
  }
  qmin = static_cast<uint64_t>(bits::UnZigZag(qmin));
  if (k == 0 || k > kMaxAnsSymbols) return Malformed("segmented", absl::StrCat(k, " symbols"));
  uint32_t freqs[rans::kMaxSymbols];
  for (size_t i = 0; i <= k; ++i) {
    if (!GetVarint(&p, end, &z) || z > rans::kScale) {
      return Malformed("segmented", "bad symbol frequency");
    }
    freqs[i] = static_cast<uint32_t>(z);
  }
  rans::Decoder decoder;
  if (auto s = decoder.Init(std::span<const uint32_t>(freqs, k + 1)); !s.ok()) {
    return Malformed("segmented", std::string(s.message()));
  }
  const size_t low_bytes = bits::PackedBytes(m, shift);
  if (static_cast<size_t>(end - p) < low_bytes) return Malformed("segmented", "truncated low bits");
  const char* low = p;
  p += low_bytes;
  uint64_t escape_bytes;
  if (!GetVarint(&p, end, &escape_bytes) || escape_bytes > static_cast<uint64_t>(end - p)) {
    return Malformed("segmented", "truncated escapes");
  }
  const char* escapes = p;
  const char* escapes_end = p + escape_bytes;
  if (auto s = decoder.Start(escapes_end, end); !s.ok()) {
    return Malformed("segmented", std::string(s.message()));
  }
  alignas(64) uint64_t tmp[kAnsGroup];
  uint8_t symbols[kAnsGroup];
  uint64_t high[rans::kMaxSymbols];  // each symbol's q << shift
  for (uint64_t sym = 0; sym <= k; ++sym) high[sym] = (qmin + sym) << shift;
  const bool can_escape = freqs[k] > 0;
  uint64_t centre = 0;
  for (size_t g = 0; g < m; g += kAnsGroup) {
    const size_t count = std::min(m - g, kAnsGroup);
    GetVarint(&centres, end, &z);  // checked above
    centre += static_cast<uint64_t>(bits::UnZigZag(z));
    // A group's low parts start on a byte: g is a multiple of 8.
    const size_t at = g / 8 * static_cast<size_t>(shift);
    bits::UnpackBits(low + at, low_bytes - at, count, shift, tmp);
    decoder.Decode(symbols, count);
    if (can_escape && std::memchr(symbols, static_cast<int>(k), count) != nullptr) [[unlikely]] {
      // An escaped offset replaces the low part, less what the escape symbol adds.
      for (size_t i = 0; i < count; ++i) {
        if (symbols[i] != k) continue;
        uint64_t zigzag;
        if (!GetVarint(&escapes, escapes_end, &zigzag)) {
          return Malformed("segmented", "truncated escape");
        }
        tmp[i] = static_cast<uint64_t>(bits::UnZigZag(zigzag)) - high[k];
      }
    }
    IntegrateResiduals(tmp, count, centre, order, &prev, &delta, dst + order + g, symbols, high);
    done(order + g, count);
    if (limit < n && order + g + count >= limit) return absl::OkStatus();
  }
  if (escapes != escapes_end) return Malformed("segmented", "unused escapes");
  if (auto s = decoder.Finish(); !s.ok()) return Malformed("segmented", std::string(s.message()));
  return absl::OkStatus();
}

absl::Status SkipAns(const char** p, const char* end) {
  const char* body_end = nullptr;
  if (auto s = ReadRunSize(p, end, "entropy-coded run", &body_end); !s.ok()) return s;
  *p = body_end;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Sparse stream (grid runs of kSegmented): groups of kSparseGroup values, each `u8 head`:
// the bit width w (0-64) of the largest value, plus kDenseGroup when the group is stored
// dense. Dense: all the group's values packed at w bits. Otherwise, when w > 0, a bitmap of
// the group's non-zero values (LSB first, ceil(count / 8) bytes, unused bits zero), then
// those values packed at w bits. Made for residuals that are nearly all zero (scrape jitter,
// missed scrapes), without losing much when they are not.

constexpr size_t kSparseGroup = 128;
constexpr uint8_t kDenseGroup = 0x80;

void EncodeSparse(const uint64_t* v, size_t n, std::string* out) {
  uint64_t nz[kSparseGroup];
  for (size_t g = 0; g < n; g += kSparseGroup) {
    const size_t k = std::min(n - g, kSparseGroup);
    uint64_t any = 0;
    size_t count = 0;
    for (size_t i = 0; i < k; ++i) {
      any |= v[g + i];
      count += v[g + i] != 0 ? 1 : 0;
    }
    const int width = bits::BitWidth(any);
    if (width > 0 && bits::PackedBytes(k, width) <= (k + 7) / 8 + bits::PackedBytes(count, width)) {
      out->push_back(static_cast<char>(kDenseGroup | width));
      bits::PackBits(v + g, k, width, out);
      continue;
    }
    out->push_back(static_cast<char>(width));
    if (width == 0) continue;
    const size_t map_at = out->size();
    out->append((k + 7) / 8, '\0');
    size_t next = 0;
    for (size_t i = 0; i < k; ++i) {
      if (v[g + i] == 0) continue;
      (*out)[map_at + i / 8] = static_cast<char>((*out)[map_at + i / 8] | (1 << (i % 8)));
      nz[next++] = v[g + i];
    }
    bits::PackBits(nz, next, width, out);
  }
}

// A sparse group's `u8 head`: its bit width and whether it is dense.
absl::Status ReadSparseHead(const char** p, const char* end, int* width, bool* dense) {
  if (*p >= end) return Malformed("segmented", "truncated sparse group");
  const uint8_t head = static_cast<uint8_t>(*(*p)++);
  *width = head & ~kDenseGroup;
  *dense = (head & kDenseGroup) != 0;
  if (*width > 64) return Malformed("segmented", absl::StrCat("bit width ", *width));
  return absl::OkStatus();
}

absl::Status DecodeSparse(const char** pp, const char* end, size_t n, uint64_t* dst) {
  const char* p = *pp;
  alignas(64) uint64_t nz[kSparseGroup];
  for (size_t g = 0; g < n; g += kSparseGroup) {
    const size_t k = std::min(n - g, kSparseGroup);
    int width;
    bool dense;
    if (auto s = ReadSparseHead(&p, end, &width, &dense); !s.ok()) return s;
    uint64_t* out = dst + g;
    if (dense) {
      const size_t bytes = bits::PackedBytes(k, width);
      if (static_cast<size_t>(end - p) < bytes) return Malformed("segmented", "truncated values");
      bits::UnpackBits(p, static_cast<size_t>(end - p), k, width, out);
      p += bytes;
      continue;
    }
    std::memset(out, 0, k * sizeof(uint64_t));
    if (width == 0) continue;
    const size_t map_bytes = (k + 7) / 8;
    if (static_cast<size_t>(end - p) < map_bytes) return Malformed("segmented", "truncated bitmap");
    const auto* map = reinterpret_cast<const uint8_t*>(p);
    p += map_bytes;
    if (k % 8 != 0 && (map[map_bytes - 1] >> (k % 8)) != 0) {
      return Malformed("segmented", "bitmap marks values past the group");
    }
    size_t count = 0;
    for (size_t i = 0; i < map_bytes; ++i) count += static_cast<size_t>(std::popcount(map[i]));
    const size_t bytes = bits::PackedBytes(count, width);
    if (static_cast<size_t>(end - p) < bytes) return Malformed("segmented", "truncated values");
    bits::UnpackBits(p, static_cast<size_t>(end - p), count, width, nz);
    p += bytes;
    size_t next = 0;
    for (size_t i = 0; i < map_bytes; ++i) {
      for (unsigned m = map[i]; m != 0; m &= m - 1) out[i * 8 + std::countr_zero(m)] = nz[next++];
    }
  }
  *pp = p;
  return absl::OkStatus();
}

// Steps over a sparse stream of n values without decoding it.
absl::Status SkipSparse(const char** pp, const char* end, size_t n) {
  const char* p = *pp;
  for (size_t g = 0; g < n; g += kSparseGroup) {
    const size_t k = std::min(n - g, kSparseGroup);
    int width;
    bool dense;
    if (auto s = ReadSparseHead(&p, end, &width, &dense); !s.ok()) return s;
    size_t count = k;
    if (!dense) {
      if (width == 0) continue;
      const size_t map_bytes = (k + 7) / 8;
      if (static_cast<size_t>(end - p) < map_bytes) {
        return Malformed("segmented", "truncated bitmap");
      }
      count = 0;
      for (size_t i = 0; i < map_bytes; ++i) count += std::popcount(static_cast<uint8_t>(p[i]));
      p += map_bytes;
    }
    const size_t bytes = bits::PackedBytes(count, width);
    if (static_cast<size_t>(end - p) < bytes) return Malformed("segmented", "truncated values");
    p += bytes;
  }
  *pp = p;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// kSegmented: `varint n`, `varint r` (number of runs; 0 exactly when n = 0), r x `varint
// length` (each >= 1, summing to n), then per run `u8 kind` and the kind's body.

enum IntRun : uint8_t {
  kIntDelta = 1,   // a kDelta stream without its count
  kIntGrid = 2,    // varint zigzag(first), varint zigzag(step), sparse skips, sparse jitter
  kIntCopy = 3,    // the previous run's values again (same length); no body
  kIntShared = 4,  // varint entry, varint offset: a slice of one of the part's shared sequences
};

enum FloatRun : uint8_t {
  kFloatConstant = 1,          // 8 bytes: the one bit pattern of every value
  kFloatDecimal = 2,           // u8 e, frame-of-reference stream of mantissas m: v = m / 10^e
  kFloatDecimalVsPrev = 3,     // u8 e, frame-of-reference stream of m - the previous run's m
  kFloatXor = 4,               // a kGorilla bit stream without its count (written before v5)
  kFloatBitDelta = 5,          // frame-of-reference stream of the bit patterns as int64
  kFloatXorSized = 6,          // XOR bits in segments a reader can step over or start at
  kFloatDecimalAns = 7,        // u8 e, entropy-coded stream of mantissas m: v = m / 10^e
  kFloatDecimalVsPrevAns = 8,  // u8 e, entropy-coded stream of m - the previous run's m
};

// Values per segment of a kFloatXorSized run: a read of a run's last minutes decodes at most
// this many values before them. Each segment after the first costs ~10 bytes (its first
// value in full, a new window, a byte boundary, its offset): ~0.04 bytes a value.
constexpr size_t kXorSegmentValues = 256;

// kFloatXorSized body: `varint bytes` (of the rest), `varint k` (values per segment, 0 for
// one segment), then for each segment after the first `varint offset` of its first byte from
// the first segment's, then the segments: kGorilla bit streams (without their counts) of k
// values each (the last of what is left), each starting afresh on a byte boundary.
void EncodeXorSegments(const double* v, size_t n, std::string* scratch, std::string* out) {
  const size_t k = n > kXorSegmentValues ? kXorSegmentValues : 0;
  scratch->clear();
  std::string head;
  PutVarint(&head, k);
  for (size_t at = 0; at < n; at += k == 0 ? n : k) {
    if (at > 0) PutVarint(&head, scratch->size());
    EncodeGorillaBody(v + at, std::min(n - at, k == 0 ? n : k), scratch);
  }
  PutVarint(out, head.size() + scratch->size());
  out->append(head);
  out->append(*scratch);
}

// A decimal run costing more bytes per value than this also tries the full-precision
// sub-encodings (XOR and bit-pattern differences), which only win on values with long
// mantissas; below it they never do and would only slow the writer.
constexpr size_t kFullPrecisionTrialBytesPerValue = 2;
// XOR is chosen only when it is smaller than the best other sub-encoding by more than
// 1/kXorMinSavingDivisor of its own size.
constexpr size_t kXorMinSavingDivisor = 16;
// Likewise an entropy-coded stream against the FOR stream of the same mantissas, by 1/8: it
// costs about 1.5 ns more a value to decode, which bell-shaped increments repay (they save
// 10-25 %) but evenly spread ones do not (random walks with uniform steps save 5-8 %, from
// the groups' headers and their ranges' rounding to whole bits). With 1/16 the full-scan
// benchmark (uniform steps) fell from 113-124 to 99-112 M samples/s for 0.6 % of its bytes.
constexpr size_t kAnsMinSavingDivisor = 8;

// The run lengths to use: `runs` when they are positive and cover n rows, else one run.
std::vector<uint32_t> RunLengths(std::span<const uint32_t> runs, size_t n) {
  uint64_t sum = 0;
  bool ok = true;
  for (uint32_t r : runs) {
    ok = ok && r > 0;
    sum += r;
  }
  if (ok && sum == n && !runs.empty()) return std::vector<uint32_t>(runs.begin(), runs.end());
  if (n == 0) return {};
  return {static_cast<uint32_t>(n)};
}

// Writes n, the run count and the lengths.
void PutRunHeader(const std::vector<uint32_t>& runs, size_t n, std::string* out) {
  PutVarint(out, n);
  PutVarint(out, runs.size());
  for (uint32_t r : runs) PutVarint(out, r);
}

// Step of a grid through t[0, n): the median difference, if positive.
bool GridStep(const int64_t* t, size_t n, std::vector<int64_t>* scratch, int64_t* step) {
  if (n < 2) return false;
  scratch->resize(n - 1);
  for (size_t i = 1; i < n; ++i) {
    (*scratch)[i - 1] =
        static_cast<int64_t>(static_cast<uint64_t>(t[i]) - static_cast<uint64_t>(t[i - 1]));
  }
  auto mid = scratch->begin() + static_cast<std::ptrdiff_t>((n - 1) / 2);
  std::nth_element(scratch->begin(), mid, scratch->end());
  *step = *mid;
  return *step > 0;
}

// Every value after the first lies `skip + 1` steps after the previous grid point plus a
// jitter: the grid point nearest to the value, never behind the previous one. Arithmetic is
// modulo 2^64, so any values round-trip; only the sizes depend on how regular they are.
void EncodeGrid(const int64_t* t, size_t n, int64_t step, std::string* out,
                std::vector<uint64_t>* skips, std::vector<uint64_t>* jitter) {
  PutVarint(out, bits::ZigZag(t[0]));
  PutVarint(out, bits::ZigZag(step));
  skips->resize(n - 1);
  jitter->resize(n - 1);
  uint64_t grid = static_cast<uint64_t>(t[0]);
  const uint64_t ustep = static_cast<uint64_t>(step);
  for (size_t i = 1; i < n; ++i) {
    const int64_t ahead = static_cast<int64_t>(static_cast<uint64_t>(t[i]) - grid);
    uint64_t k = 1;
    if (ahead > step) {
      k = static_cast<uint64_t>(ahead / step);
      if (ahead % step > step / 2) ++k;
    }
    grid += ustep * k;
    (*skips)[i - 1] = k - 1;
    (*jitter)[i - 1] = bits::ZigZag(static_cast<int64_t>(static_cast<uint64_t>(t[i]) - grid));
  }
  EncodeSparse(skips->data(), n - 1, out);
  EncodeSparse(jitter->data(), n - 1, out);
}

// Scratch buffers reused across the runs of a block.
struct SegmentScratch {
  std::string a, b, xor_body;
  std::vector<int64_t> ints, prev_mantissas, mantissas;
  std::vector<uint64_t> u1, u2;
  AnsScratch ans;
};

void EncodeSegmentedInt(const int64_t* v, const std::vector<uint32_t>& runs,
                        std::span<const SequenceRef> refs, std::string* out) {
  SegmentScratch s;
  size_t at = 0, prev_len = 0;
  if (refs.size() != runs.size()) refs = {};
  for (size_t ri = 0; ri < runs.size(); ++ri) {
    const uint32_t len = runs[ri];
    const int64_t* r = v + at;
    if (len == prev_len && std::equal(r, r + len, r - len)) {
      out->push_back(static_cast<char>(kIntCopy));
    } else if (!refs.empty() && refs[ri].entry != kNoSequence) {
      out->push_back(static_cast<char>(kIntShared));
      PutVarint(out, refs[ri].entry);
      PutVarint(out, refs[ri].offset);
    } else {
      s.a.clear();
      s.a.push_back(static_cast<char>(kIntDelta));
      EncodeDeltaBody(r, len, &s.a);
      int64_t step;
      if (GridStep(r, len, &s.ints, &step)) {
        s.b.clear();
        s.b.push_back(static_cast<char>(kIntGrid));
        EncodeGrid(r, len, step, &s.b, &s.u1, &s.u2);
        if (s.b.size() < s.a.size()) s.a.swap(s.b);
      }
      out->append(s.a);
    }
    at += len;
    prev_len = len;
  }
}

void EncodeSegmentedFloat(const double* v, const std::vector<uint32_t>& runs, std::string* out) {
  SegmentScratch s;
  size_t at = 0, prev_len = 0;
  bool prev_decimal = false;  // the previous run's mantissas are known to the decoder
  for (uint32_t len : runs) {
    const double* r = v + at;
    at += len;
    const uint64_t first = std::bit_cast<uint64_t>(r[0]);
    bool constant = true;
    for (uint32_t i = 1; i < len && constant; ++i)
      constant = std::bit_cast<uint64_t>(r[i]) == first;
    if (constant) {
      out->push_back(static_cast<char>(kFloatConstant));
      bits::PutFixed64(out, first);
      prev_decimal = false;
      prev_len = len;
      continue;
    }
    // s.a holds the best so far; s.b the candidate being built.
    s.a.clear();
    bool decimal = false;
    const int e = DecimalExponent(r, len, &s.mantissas);
    if (e >= 0) {
      s.a.push_back(static_cast<char>(kFloatDecimal));
      s.a.push_back(static_cast<char>(e));
      int order = EncodeFor(s.mantissas.data(), len, &s.a);
      decimal = true;
      const int64_t* coded = s.mantissas.data();  // what the kept FOR stream holds, and its order
      if (prev_decimal && prev_len == len) {
        s.ints.resize(len);
        for (uint32_t i = 0; i < len; ++i) {
          s.ints[i] = static_cast<int64_t>(static_cast<uint64_t>(s.mantissas[i]) -
                                           static_cast<uint64_t>(s.prev_mantissas[i]));
        }
        s.b.clear();
        s.b.push_back(static_cast<char>(kFloatDecimalVsPrev));
        s.b.push_back(static_cast<char>(e));
        const int vs_prev_order = EncodeFor(s.ints.data(), len, &s.b);
        if (s.b.size() < s.a.size()) {
          s.a.swap(s.b);
          coded = s.ints.data();
          order = vs_prev_order;
        }
      }
      s.b.clear();
      s.b.push_back(
          static_cast<char>(s.a[0] == kFloatDecimal ? kFloatDecimalAns : kFloatDecimalVsPrevAns));
      s.b.push_back(static_cast<char>(e));
      EncodeAns(coded, len, order, &s.ans, &s.b);
      if (s.b.size() + s.b.size() / kAnsMinSavingDivisor < s.a.size()) s.a.swap(s.b);
    }
    if (e < 0 || s.a.size() > kFullPrecisionTrialBytesPerValue * len) {
      s.ints.resize(len);
      std::memcpy(s.ints.data(), r, len * sizeof(double));
      s.b.clear();
      s.b.push_back(static_cast<char>(kFloatBitDelta));
      EncodeFor(s.ints.data(), len, &s.b);
      if (s.a.empty() || s.b.size() < s.a.size()) {
        s.a.swap(s.b);
        decimal = false;
      }
      // The XOR bit stream decodes one value at a time, several times slower than the packed
      // groups of the others: it has to save more than a little to be chosen.
      s.b.clear();
      s.b.push_back(static_cast<char>(kFloatXorSized));
      EncodeXorSegments(r, len, &s.xor_body, &s.b);
      if (s.b.size() + s.b.size() / kXorMinSavingDivisor < s.a.size()) {
        s.a.swap(s.b);
        decimal = false;
      }
    }
    out->append(s.a);
    prev_decimal = decimal;
    prev_len = len;
    if (decimal) s.prev_mantissas.swap(s.mantissas);
  }
}

// Reads the run header of a kSegmented block of `rows` values into *runs.
absl::Status ReadRunHeader(const char** p, const char* end, size_t rows,
                           std::vector<uint32_t>* runs) {
  uint64_t n, r;
  if (!GetVarint(p, end, &n)) return Malformed("segmented", "truncated count");
  if (auto s = CheckCount("segmented", n, rows); !s.ok()) return s;
  if (!GetVarint(p, end, &r)) return Malformed("segmented", "truncated run count");
  if (r > rows || (r == 0) != (rows == 0)) {
    return Malformed("segmented", absl::StrCat(r, " runs for ", rows, " rows"));
  }
  runs->resize(r);
  uint64_t sum = 0;
  for (uint64_t i = 0; i < r; ++i) {
    uint64_t len;
    if (!GetVarint(p, end, &len)) return Malformed("segmented", "truncated run length");
    if (len == 0 || len > rows - sum) {
      return Malformed("segmented",
                       absl::StrCat("run ", i, " of length ", len, " in ", rows, " rows"));
    }
    sum += len;
    (*runs)[i] = static_cast<uint32_t>(len);
  }
  if (sum != rows) return Malformed("segmented", absl::StrCat("runs cover ", sum, " of ", rows));
  return absl::OkStatus();
}

std::atomic<size_t> decoded_sequence_bytes{0};

}  // namespace

// A shared sequence's decoded values, decoded once under a mutex and read without it after.
class DecodedSequence {
 public:
  ~DecodedSequence() {
    if (values_ != nullptr) decoded_sequence_bytes.fetch_sub(Bytes(values_->size()));
  }
  // The values of `seq`, or null when they do not decode (the caller's own decode reports
  // why) or the process-wide bound is reached.
  const std::vector<int64_t>* Get(const SharedSequence& seq);

 private:
  static size_t Bytes(size_t values) { return values * sizeof(int64_t); }
  std::atomic<const std::vector<int64_t>*> ready_{nullptr};
  std::mutex mu_;
  bool tried_ = false;  // guarded by mu_
  std::unique_ptr<std::vector<int64_t>> values_;
};

std::shared_ptr<DecodedSequence> SharedSequence::MakeDecodedSequence() {
  return std::make_shared<DecodedSequence>();
}
SharedSequence::~SharedSequence() = default;
SharedSequence& SharedSequence::operator=(const SharedSequence& o) {
  values = o.values;
  encoded = o.encoded;
  decoded = MakeDecodedSequence();
  return *this;
}
SharedSequence::SharedSequence(SharedSequence&&) noexcept = default;
SharedSequence& SharedSequence::operator=(SharedSequence&&) noexcept = default;

size_t DecodedSequenceBytes() { return decoded_sequence_bytes.load(); }

namespace {
absl::Status DecodeSegmentedInt(const char** p, const char* end, size_t rows,
                                std::vector<int64_t>* out,
                                std::span<const SharedSequence> sequences);
}  // namespace

const std::vector<int64_t>* DecodedSequence::Get(const SharedSequence& seq) {
  if (const auto* v = ready_.load(std::memory_order_acquire)) return v;
  const size_t bytes = Bytes(seq.values);
  // Over the bound, a read goes on without taking the lock (the common case then).
  if (decoded_sequence_bytes.load(std::memory_order_relaxed) + bytes > kMaxDecodedSequenceBytes) {
    return nullptr;
  }
  std::lock_guard<std::mutex> l(mu_);
  if (tried_) return ready_.load(std::memory_order_relaxed);
  if (decoded_sequence_bytes.fetch_add(bytes) + bytes > kMaxDecodedSequenceBytes) {
    // Over the bound: not kept, and tried again by a later read (memory may be freed by then).
    decoded_sequence_bytes.fetch_sub(bytes);
    return nullptr;
  }
  tried_ = true;
  auto values = std::make_unique<std::vector<int64_t>>();
  // Shared sequences hold no references themselves (decoded without any).
  const char* q = seq.encoded.data();
  const char* qend = q + seq.encoded.size();
  auto s = DecodeSegmentedInt(&q, qend, seq.values, values.get(), {});
  if (!s.ok() || q != qend) {
    decoded_sequence_bytes.fetch_sub(bytes);
    return nullptr;
  }
  values_ = std::move(values);
  ready_.store(values_.get(), std::memory_order_release);
  return values_.get();
}

namespace {

// Where a run of a segmented block lies: its kind, its body's first byte, its rows [at,
// at + len), and whether all of its values have been decoded (a later run may refer to them).
struct RunRecord {
  int kind = 0;
  const char* body = nullptr;
  size_t at = 0, len = 0;
  bool complete = false;
};

// The run loop shared by int64 and float64 segmented blocks. `windows` (sorted, disjoint;
// empty: every row) are the rows wanted. Runs outside them are stepped over (Skip) instead of
// decoded; runs after the last are not read at all (then *stopped_early is set and *p is not
// at the end of the block). A run that refers to its predecessor (Dependent) whose values
// were not all decoded first has the chain of runs it depends on decoded in full, from the
// last run that refers to none.
// Runs::Decode(kind, &p, end, at, len, prev_len, from, to) decodes rows [from, to) of the run
// (it may decode more) and leaves *p after the run's body; Runs::Skip(kind, &p, end, at, len)
// steps over its body.
template <typename Runs>
absl::Status DecodeRuns(const char** p, const char* end, const std::vector<uint32_t>& runs,
                        std::span<const RowWindow> windows, Runs& d, bool* stopped_early) {
  static constexpr RowWindow kAll[] = {RowWindow{}};
  if (windows.empty()) windows = kAll;
  std::vector<RunRecord> done;
  done.reserve(runs.size());
  size_t at = 0, wi = 0;  // windows[wi] is the first that does not end before `at`
  for (size_t ri = 0; ri < runs.size(); ++ri) {
    const size_t len = runs[ri];
    while (wi < windows.size() && windows[wi].end <= at) ++wi;
    if (wi == windows.size()) {
      *stopped_early = true;
      return absl::OkStatus();
    }
    if (*p >= end) return Malformed("segmented", "missing run kind");
    RunRecord rec;
    rec.kind = static_cast<uint8_t>(*(*p)++);
    rec.body = *p;
    rec.at = at;
    rec.len = len;
    const size_t prev_len = ri > 0 ? runs[ri - 1] : 0;
    if (at + len <= windows[wi].begin) {
      if (auto s = d.Skip(rec.kind, p, end, at, len); !s.ok()) return s;
    } else {
      if (Runs::Dependent(rec.kind) && ri > 0 && !done.back().complete) {
        size_t c = ri - 1;
        while (c > 0 && Runs::Dependent(done[c].kind)) --c;
        for (; c < ri; ++c) {
          RunRecord& r = done[c];
          const char* q = r.body;
          const size_t pl = c > 0 ? done[c - 1].len : 0;
          if (auto s = d.Decode(r.kind, &q, end, r.at, r.len, pl, 0, r.len); !s.ok()) return s;
          r.complete = true;
        }
      }
      // From the first window in the run to the end of the last one in it.
      size_t last = wi;
      while (last + 1 < windows.size() && windows[last + 1].begin < at + len) ++last;
      const size_t from = windows[wi].begin > at ? windows[wi].begin - at : 0;
      const size_t to = std::min(windows[last].end - at, len);
      if (auto s = d.Decode(rec.kind, p, end, at, len, prev_len, from, to); !s.ok()) return s;
      rec.complete = from == 0 && to == len;
    }
    done.push_back(rec);
    at += len;
  }
  return absl::OkStatus();
}

// int64 runs of a segmented block, decoded into dst (the block's rows).
class IntRuns {
 public:
  IntRuns(int64_t* dst, size_t rows, std::span<const SharedSequence> sequences)
      : dst_(dst), rows_(rows), sequences_(sequences) {}

  static bool Dependent(int kind) { return kind == kIntCopy; }

  // In clip mode, runs that are slices of a kept shared sequence are not copied when
  // decoded: they are noted (with the rows asked for) and Clip copies only their rows in
  // the time range. Other runs are decoded into dst as usual, and noted too.
  void SetClipMode() { clip_mode_ = true; }

  absl::Status Decode(int kind, const char** p, const char* end, size_t at, size_t len,
                      size_t prev_len, size_t from, size_t to) {
    if (clip_mode_) Note(at, from, to, nullptr);
    int64_t* r = dst_ + at;
    switch (kind) {
      case kIntDelta: {
        int64_t* w = r;
        return DecodeDeltaBody(p, end, len, [&w](const int64_t* v, size_t k) {
          std::memcpy(w, v, k * sizeof(int64_t));
          w += k;
        });
      }
      case kIntGrid: {
        uint64_t z0, zs;
        if (auto s = ReadGridHead(p, end, len, &z0, &zs); !s.ok()) return s;
        if (skips_ == nullptr) {
          skips_ = std::make_unique_for_overwrite<uint64_t[]>(rows_);
          jitter_ = std::make_unique_for_overwrite<uint64_t[]>(rows_);
        }
        if (auto s = DecodeSparse(p, end, len - 1, skips_.get()); !s.ok()) return s;
        if (auto s = DecodeSparse(p, end, len - 1, jitter_.get()); !s.ok()) return s;
        uint64_t grid = static_cast<uint64_t>(bits::UnZigZag(z0));
        const uint64_t step = static_cast<uint64_t>(bits::UnZigZag(zs));
        r[0] = static_cast<int64_t>(grid);
        for (size_t i = 1; i < len; ++i) {
          grid += step * (skips_[i - 1] + 1);
          r[i] = static_cast<int64_t>(grid + static_cast<uint64_t>(bits::UnZigZag(jitter_[i - 1])));
        }
        return absl::OkStatus();
      }
      case kIntCopy:
        if (prev_len != len) return Malformed("segmented", "copy of a run of another length");
        if (clip_mode_) {
          // A copy of a run left in its shared sequence reads the same slice.
          const NotedRun* prev = FindNote(at - len);
          if (prev != nullptr && prev->source != nullptr) {
            Note(at, from, to, prev->source);
            return absl::OkStatus();
          }
        }
        std::memcpy(r + from, r - len + from, (to - from) * sizeof(int64_t));
        return absl::OkStatus();
      case kIntShared: {
        uint64_t entry, offset;
        if (auto s = ReadSharedRef(p, end, len, &entry, &offset); !s.ok()) return s;
        const SharedSequence& seq = sequences_[entry];
        // Only the rows asked for: a 5-minute read of a long run copies 20 values, not 5,000.
        if (seq.decoded != nullptr) {
          if (const std::vector<int64_t>* kept = seq.decoded->Get(seq)) {
            if (clip_mode_) {
              Note(at, from, to, kept->data() + offset);
              return absl::OkStatus();
            }
            std::memcpy(r + from, kept->data() + offset + from, (to - from) * sizeof(int64_t));
            return absl::OkStatus();
          }
        }
        if (shared_entry_ != entry) {
          // Shared sequences hold no references themselves (decoded without any).
          const char* q = seq.encoded.data();
          const char* qend = q + seq.encoded.size();
          auto s = DecodeSegmentedInt(&q, qend, seq.values, &shared_, {});
          if (s.ok() && q != qend) s = Malformed("segmented", "bytes after a shared sequence");
          if (!s.ok()) {
            shared_entry_ = UINT64_MAX;
            return absl::DataLossError(absl::StrCat("shared sequence ", entry, ": ", s.message()));
          }
          shared_entry_ = entry;
        }
        std::memcpy(r + from, shared_.data() + offset + from, (to - from) * sizeof(int64_t));
        return absl::OkStatus();
      }
      default:
        return Malformed("segmented", absl::StrCat("int64 run kind ", kind));
    }
  }

  absl::Status Skip(int kind, const char** p, const char* end, size_t at, size_t len) {
    switch (kind) {
      case kIntDelta:
        return SkipDeltaBody(p, end, len);
      case kIntGrid: {
        uint64_t z0, zs;
        if (auto s = ReadGridHead(p, end, len, &z0, &zs); !s.ok()) return s;
        if (auto s = SkipSparse(p, end, len - 1); !s.ok()) return s;
        return SkipSparse(p, end, len - 1);
      }
      case kIntCopy:
        return absl::OkStatus();
      case kIntShared: {
        uint64_t entry, offset;
        return ReadSharedRef(p, end, len, &entry, &offset);
      }
      default:
        return Malformed("segmented", absl::StrCat("int64 run kind ", kind));
    }
  }

 private:
  static absl::Status ReadGridHead(const char** p, const char* end, size_t len, uint64_t* z0,
                                   uint64_t* zs) {
    if (len < 2) return Malformed("segmented", "grid run of one value");
    if (!GetVarint(p, end, z0) || !GetVarint(p, end, zs)) {
      return Malformed("segmented", "truncated grid");
    }
    return absl::OkStatus();
  }
  absl::Status ReadSharedRef(const char** p, const char* end, size_t len, uint64_t* entry,
                             uint64_t* offset) const {
    if (!GetVarint(p, end, entry) || !GetVarint(p, end, offset)) {
      return Malformed("segmented", "truncated shared sequence reference");
    }
    if (*entry >= sequences_.size()) {
      return Malformed("segmented", absl::StrCat("shared sequence ", *entry, " of ",
                                                 sequences_.size(), " in the part"));
    }
    const SharedSequence& seq = sequences_[*entry];
    if (*offset > seq.values || len > seq.values - *offset) {
      return Malformed("segmented", absl::StrCat("values [", *offset, ", ", *offset + len,
                                                 ") of a shared sequence of ", seq.values));
    }
    return absl::OkStatus();
  }

  // Rows [at + from, at + to) of the run at `at` were asked for; with a source, row at + i
  // is source[i] and was not written to dst.
  struct NotedRun {
    size_t at, from, to;
    const int64_t* source;
  };
  // Runs are mostly decoded in row order; a run decoded for a later one that refers to it
  // (possibly stepped over before) comes back: its note is replaced or inserted in order.
  void Note(size_t at, size_t from, size_t to, const int64_t* source) {
    const NotedRun n{at, from, to, source};
    if (noted_.empty() || noted_.back().at < at) {
      noted_.push_back(n);
      return;
    }
    auto it = std::lower_bound(noted_.begin(), noted_.end(), at,
                               [](const NotedRun& r, size_t a) { return r.at < a; });
    if (it != noted_.end() && it->at == at) {
      *it = n;
    } else {
      noted_.insert(it, n);
    }
  }
  NotedRun* FindNote(size_t at) {
    auto it = std::lower_bound(noted_.begin(), noted_.end(), at,
                               [](const NotedRun& n, size_t a) { return n.at < a; });
    return it != noted_.end() && it->at == at ? &*it : nullptr;
  }

 public:
  // Narrows each window (rows of one series, in time order, all decoded in clip mode) to its
  // rows with times in [mint, maxt], and writes the noted sources' rows among them to dst.
  void Clip(std::span<RowWindow> windows, int64_t mint, int64_t maxt) {
    for (RowWindow& w : windows) {
      size_t first = SIZE_MAX, last = 0;
      // The run starting before the window may reach into it.
      auto it = std::upper_bound(noted_.begin(), noted_.end(), w.begin,
                                 [](size_t b, const NotedRun& n) { return b < n.at; });
      if (it != noted_.begin()) --it;
      for (; it != noted_.end() && it->at < w.end; ++it) {
        const size_t at = it->at;
        const NotedRun& n = *it;
        const size_t a = std::max(at + n.from, w.begin), z = std::min(at + n.to, w.end);
        if (a >= z) continue;
        const int64_t* v = n.source != nullptr ? n.source : dst_ + at;  // the run's rows
        const size_t lo = std::lower_bound(v + (a - at), v + (z - at), mint) - v;
        const size_t hi = std::upper_bound(v + lo, v + (z - at), maxt) - v;
        if (lo == hi) continue;
        if (n.source != nullptr) std::memcpy(dst_ + at + lo, v + lo, (hi - lo) * sizeof(int64_t));
        first = std::min(first, at + lo);
        last = std::max(last, at + hi);
      }
      w = first < last ? RowWindow{first, last} : RowWindow{w.begin, w.begin};
    }
  }

 private:
  int64_t* const dst_;
  const size_t rows_;
  const std::span<const SharedSequence> sequences_;
  bool clip_mode_ = false;
  std::vector<NotedRun> noted_;  // sorted by the run's first row
  // The shared sequence decoded last: runs of one block mostly refer to the same one.
  std::vector<int64_t> shared_;
  uint64_t shared_entry_ = UINT64_MAX;
  std::unique_ptr<uint64_t[]> skips_, jitter_;  // allocated for the first grid run
};

// With `clip`, the windows (each one series' rows) are narrowed to their rows with times in
// [mint, maxt] and only those are certain to be decoded (DecodeTimeWindows).
struct TimeClip {
  int64_t mint, maxt;
  std::span<RowWindow> windows;
};

absl::Status DecodeSegmentedInt(const char** p, const char* end, size_t rows,
                                std::vector<int64_t>* out,
                                std::span<const SharedSequence> sequences,
                                std::span<const RowWindow> windows, bool* stopped_early,
                                const TimeClip* clip = nullptr) {
  std::vector<uint32_t> runs;
  if (auto s = ReadRunHeader(p, end, rows, &runs); !s.ok()) return s;
  if (out->size() != rows) out->resize(rows);
  IntRuns d(out->data(), rows, sequences);
  if (clip != nullptr) d.SetClipMode();
  if (auto s = DecodeRuns(p, end, runs, windows, d, stopped_early); !s.ok()) return s;
  if (clip != nullptr) d.Clip(clip->windows, clip->mint, clip->maxt);
  return absl::OkStatus();
}

// DataLoss when bytes are left after a block's last value and it was read to its end.
absl::Status CheckBlockEnd(Encoding encoding, const char* p, const char* end, bool stopped_early) {
  if (p == end || stopped_early) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("malformed ", std::string(EncodingName(encoding)),
                                          " block: ", end - p, " bytes after the last value"));
}

absl::Status DecodeSegmentedInt(const char** p, const char* end, size_t rows,
                                std::vector<int64_t>* out,
                                std::span<const SharedSequence> sequences) {
  bool stopped_early = false;
  return DecodeSegmentedInt(p, end, rows, out, sequences, {}, &stopped_early);
}

}  // namespace

absl::Status DecodeTimeWindows(std::string_view in, Encoding encoding, size_t rows, Column* out,
                               std::span<const SharedSequence> sequences,
                               std::span<RowWindow> windows, int64_t mint, int64_t maxt) {
  if (encoding != Encoding::kSegmented) {
    if (auto s = DecodeColumn(in, ColumnType::kInt64, encoding, rows, out, sequences, windows);
        !s.ok()) {
      return s;
    }
    const int64_t* t = std::get<0>(*out).data();
    for (RowWindow& w : windows) {
      const size_t e = std::min(w.end, rows), b = std::min(w.begin, e);
      const int64_t* a = std::lower_bound(t + b, t + e, mint);
      const int64_t* z = std::upper_bound(a, t + e, maxt);
      w = {static_cast<size_t>(a - t), static_cast<size_t>(z - t)};
    }
    return absl::OkStatus();
  }
  if (TypeOf(*out) != ColumnType::kInt64) *out = MakeColumn(ColumnType::kInt64);
  const char* p = in.data();
  const char* end = in.data() + in.size();
  bool stopped_early = false;
  const TimeClip clip{mint, maxt, windows};
  if (auto s = DecodeSegmentedInt(&p, end, rows, &std::get<0>(*out), sequences, windows,
                                  &stopped_early, &clip);
      !s.ok()) {
    return s;
  }
  return CheckBlockEnd(encoding, p, end, stopped_early);
}

namespace {

// float64 runs of a segmented block, decoded into dst (the block's rows); mantissas (or bit
// patterns) of every row are kept in ints, so a run can refer to the previous run's.
class FloatRuns {
 public:
  FloatRuns(double* dst, int64_t* ints) : dst_(dst), ints_(ints) {}

  static bool Dependent(int kind) {
    return kind == kFloatDecimalVsPrev || kind == kFloatDecimalVsPrevAns;
  }

  absl::Status Decode(int kind, const char** p, const char* end, size_t at, size_t len,
                      size_t prev_len, size_t from, size_t to) {
    double* r = dst_ + at;
    int64_t* m = ints_ + at;
    const bool prev_decimal = prev_decimal_;
    prev_decimal_ = false;
    switch (kind) {
      case kFloatConstant: {
        if (end - *p < 8) return Malformed("segmented", "truncated constant");
        const double c = std::bit_cast<double>(bits::LoadFixed64(*p));
        *p += 8;
        std::fill(r + from, r + to, c);
        return absl::OkStatus();
      }
      case kFloatDecimal:
      case kFloatDecimalVsPrev:
      case kFloatDecimalAns:
      case kFloatDecimalVsPrevAns: {
        if (*p >= end) return Malformed("segmented", "missing exponent");
        const int e = static_cast<uint8_t>(*(*p)++);
        if (e > kMaxDecimalExponent) return Malformed("segmented", absl::StrCat("exponent ", e));
        const bool vs_prev = Dependent(kind);
        if (vs_prev && (!prev_decimal || prev_len != len)) {
          return Malformed("segmented", "run refers to a previous run without mantissas");
        }
        const int64_t* pm = m - (vs_prev ? len : 0);
        const double scale = kPow10[e];
        const auto to_values = [&](size_t at_row, size_t k) {
          if (vs_prev) {
            for (size_t i = at_row; i < at_row + k; ++i) {
              m[i] =
                  static_cast<int64_t>(static_cast<uint64_t>(m[i]) + static_cast<uint64_t>(pm[i]));
            }
          }
          if (e == 0) {
            for (size_t i = at_row; i < at_row + k; ++i) r[i] = static_cast<double>(m[i]);
          } else {
            for (size_t i = at_row; i < at_row + k; ++i) {
              r[i] = static_cast<double>(m[i]) / scale;
            }
          }
        };
        auto s = kind == kFloatDecimalAns || kind == kFloatDecimalVsPrevAns
                     ? DecodeAns(p, end, len, m, to_values, to)
                     : DecodeFor(p, end, len, m, to_values, to);
        if (!s.ok()) return s;
        prev_decimal_ = true;
        return absl::OkStatus();
      }
      case kFloatXor:
        return DecodeGorillaBody(p, end, len, r);
      case kFloatXorSized: {
        const char* body_end = nullptr;
        if (auto s = ReadRunSize(p, end, "XOR run", &body_end); !s.ok()) return s;
        if (auto s = DecodeXorSegments(*p, body_end, len, from, to, r); !s.ok()) return s;
        *p = body_end;
        return absl::OkStatus();
      }
      case kFloatBitDelta:
        return DecodeFor(
            p, end, len, m,
            [&](size_t at_row, size_t k) {
              std::memcpy(r + at_row, m + at_row, k * sizeof(double));
            },
            to);
      default:
        return Malformed("segmented", absl::StrCat("float64 run kind ", kind));
    }
  }

  absl::Status Skip(int kind, const char** p, const char* end, size_t at, size_t len) {
    prev_decimal_ = false;
    switch (kind) {
      case kFloatConstant:
        if (end - *p < 8) return Malformed("segmented", "truncated constant");
        *p += 8;
        return absl::OkStatus();
      case kFloatDecimal:
      case kFloatDecimalVsPrev:
        if (*p >= end) return Malformed("segmented", "missing exponent");
        ++*p;
        return SkipFor(p, end, len);
      case kFloatDecimalAns:
      case kFloatDecimalVsPrevAns:
        if (*p >= end) return Malformed("segmented", "missing exponent");
        ++*p;
        return SkipAns(p, end);
      case kFloatXor:
        // Without a length the bit stream must be decoded to be stepped over.
        return DecodeGorillaBody(p, end, len, dst_ + at);
      case kFloatXorSized: {
        const char* body_end = nullptr;
        if (auto s = ReadRunSize(p, end, "XOR run", &body_end); !s.ok()) return s;
        *p = body_end;
        return absl::OkStatus();
      }
      case kFloatBitDelta:
        return SkipFor(p, end, len);
      default:
        return Malformed("segmented", absl::StrCat("float64 run kind ", kind));
    }
  }

 private:
  // Values [from, to) of a kFloatXorSized run of len values whose body (after its byte count)
  // is [p, end): decodes the segments holding them, from the one holding `from`.
  static absl::Status DecodeXorSegments(const char* p, const char* end, size_t len, size_t from,
                                        size_t to, double* r) {
    uint64_t k;
    if (!GetVarint(&p, end, &k)) return Malformed("segmented", "truncated XOR segment size");
    if (k == 0 || k >= len) {
      if (k != 0) return Malformed("segmented", absl::StrCat("XOR segments of ", k, " values"));
      const char* q = p;
      if (auto s = DecodeGorillaBody(&q, end, to, r); !s.ok()) return s;
      if (to == len && q != end) return Malformed("segmented", "bytes after an XOR run");
      return absl::OkStatus();
    }
    const size_t segments = (len + k - 1) / k;
    // Where each segment starts, from the data's start; the data follows the offsets.
    absl::InlinedVector<uint64_t, 40> starts(segments, 0);
    for (size_t i = 1; i < segments; ++i) {
      if (!GetVarint(&p, end, &starts[i])) return Malformed("segmented", "truncated XOR offsets");
      if (starts[i] < starts[i - 1]) return Malformed("segmented", "XOR segments out of order");
    }
    const size_t first = from / k;
    const uint64_t data_bytes = static_cast<uint64_t>(end - p);
    if (starts.back() > data_bytes) return Malformed("segmented", "XOR segment past the run");
    for (size_t i = first; i < segments && i * k < to; ++i) {
      const char* seg = p + starts[i];
      const char* seg_end = i + 1 < segments ? p + starts[i + 1] : end;
      const size_t count = std::min<size_t>(k, len - i * k);
      const size_t want = std::min(count, to - i * k);
      const char* q = seg;
      if (auto s = DecodeGorillaBody(&q, seg_end, want, r + i * k); !s.ok()) return s;
      if (want == count && q != seg_end) {
        return Malformed("segmented", "bytes after an XOR segment");
      }
    }
    return absl::OkStatus();
  }

  double* const dst_;
  int64_t* const ints_;
  bool prev_decimal_ = false;  // the previous run decoded left its mantissas in ints_
};

absl::Status DecodeSegmentedFloat(const char** p, const char* end, size_t rows,
                                  std::vector<double>* out, std::span<const RowWindow> windows,
                                  bool* stopped_early) {
  std::vector<uint32_t> runs;
  if (auto s = ReadRunHeader(p, end, rows, &runs); !s.ok()) return s;
  if (out->size() != rows) out->resize(rows);
  const auto ints = std::make_unique_for_overwrite<int64_t[]>(rows);
  FloatRuns d(out->data(), ints.get());
  return DecodeRuns(p, end, runs, windows, d, stopped_early);
}

// ---------------------------------------------------------------------------------------
// strings

void EncodePlainStrings(const StringColumn& c, size_t begin, size_t end, std::string* out) {
  PutVarint(out, end - begin);
  for (size_t i = begin; i < end; ++i) PutVarint(out, c.at(i).size());
  const uint64_t from = c.offsets()[begin];
  const uint64_t to = c.offsets()[end];
  out->append(c.bytes().data() + from, to - from);
}

// Reads `n` varint lengths into offsets (n+1 entries starting at 0).
absl::Status ReadLengths(std::string_view encoding, const char** p, const char* end, size_t n,
                         std::vector<uint64_t>* offsets) {
  offsets->resize(n + 1);
  uint64_t* o = offsets->data();
  o[0] = 0;
  uint64_t total = 0;
  const uint64_t limit = static_cast<uint64_t>(end - *p);
  for (size_t i = 0; i < n; ++i) {
    uint64_t len;
    if (!GetVarint(p, end, &len)) return Malformed(encoding, "truncated length");
    if (len > limit) return Malformed(encoding, "length past the block");
    total += len;
    o[i + 1] = total;
  }
  if (total > static_cast<uint64_t>(end - *p)) return Malformed(encoding, "truncated bytes");
  return absl::OkStatus();
}

absl::Status DecodePlainStrings(const char** p, const char* end, size_t rows, StringColumn* out) {
  uint64_t n;
  if (!GetVarint(p, end, &n)) return Malformed("plain string", "truncated count");
  if (auto s = CheckCount("plain string", n, rows); !s.ok()) return s;
  auto& offsets = out->mutable_offsets();
  if (auto s = ReadLengths("plain string", p, end, rows, &offsets); !s.ok()) return s;
  const uint64_t total = offsets.back();
  out->mutable_bytes().assign(*p, total);
  *p += total;
  return absl::OkStatus();
}

// Fills the dictionary (first-occurrence order) and the index of every row; false when
// more than half the rows are distinct.
bool BuildDictionary(const StringColumn& c, size_t begin, size_t end,
                     std::vector<std::string_view>* dict, std::vector<uint64_t>* index) {
  const size_t n = end - begin;
  absl::flat_hash_map<std::string_view, uint64_t> ids;
  index->resize(n);
  std::string_view last;
  uint64_t last_id = 0;
  bool have_last = false;
  for (size_t i = 0; i < n; ++i) {
    const std::string_view s = c.at(begin + i);
    if (have_last && s == last) {
      (*index)[i] = last_id;
      continue;
    }
    auto [it, inserted] = ids.try_emplace(s, dict->size());
    if (inserted) {
      dict->push_back(s);
      if (dict->size() * 2 > n) return false;
    }
    (*index)[i] = it->second;
    last = s;
    last_id = it->second;
    have_last = true;
  }
  return true;
}

void EncodeDictionary(const std::vector<std::string_view>& dict, const std::vector<uint64_t>& index,
                      std::string* out) {
  PutVarint(out, index.size());
  PutVarint(out, dict.size());
  for (auto s : dict) PutVarint(out, s.size());
  for (auto s : dict) out->append(s.data(), s.size());
  const int width = dict.empty() ? 0 : bits::BitWidth(dict.size() - 1);
  out->push_back(static_cast<char>(width));
  bits::PackBits(index.data(), index.size(), width, out);
}

absl::Status DecodeDictionary(const char** p, const char* end, size_t rows, StringColumn* out) {
  uint64_t n, d;
  if (!GetVarint(p, end, &n)) return Malformed("dictionary", "truncated count");
  if (auto s = CheckCount("dictionary", n, rows); !s.ok()) return s;
  if (!GetVarint(p, end, &d)) return Malformed("dictionary", "truncated dictionary size");
  if (d > rows || (rows > 0 && d == 0)) {
    return Malformed("dictionary", absl::StrCat(d, " entries for ", rows, " rows"));
  }
  std::vector<uint64_t> dict_offsets;
  if (auto s = ReadLengths("dictionary", p, end, d, &dict_offsets); !s.ok()) return s;
  const char* dict_bytes = *p;
  *p += dict_offsets.back();
  if (*p >= end) return Malformed("dictionary", "missing index width");
  const int width = static_cast<uint8_t>(*(*p)++);
  const int expect = d == 0 ? 0 : bits::BitWidth(d - 1);
  if (width != expect) {
    return Malformed("dictionary", absl::StrCat("index width ", width, " for ", d, " entries"));
  }
  const size_t packed = bits::PackedBytes(rows, width);
  if (static_cast<size_t>(end - *p) < packed) return Malformed("dictionary", "truncated index");
  std::vector<uint64_t> index(rows);
  bits::UnpackBits(*p, static_cast<size_t>(end - *p), rows, width, index.data());
  *p += packed;
  uint64_t total = 0;
  for (uint64_t id : index) {
    if (id >= d) return Malformed("dictionary", absl::StrCat("index ", id, " of ", d));
    total += dict_offsets[id + 1] - dict_offsets[id];
  }
  auto& offsets = out->mutable_offsets();
  auto& bytes = out->mutable_bytes();
  offsets.resize(rows + 1);
  bytes.resize(total);
  offsets[0] = 0;
  uint64_t at = 0;
  for (size_t i = 0; i < rows; ++i) {
    const uint64_t from = dict_offsets[index[i]];
    const uint64_t len = dict_offsets[index[i] + 1] - from;
    std::memcpy(bytes.data() + at, dict_bytes + from, len);
    at += len;
    offsets[i + 1] = at;
  }
  return absl::OkStatus();
}

Encoding DefaultEncoding(ColumnType type) {
  switch (type) {
    case ColumnType::kInt64:
      return Encoding::kDelta;
    case ColumnType::kFloat64:
      return Encoding::kDecimal;
    case ColumnType::kString:
      break;
  }
  return Encoding::kDictionary;
}

}  // namespace

std::string_view EncodingName(Encoding encoding) {
  switch (encoding) {
    case Encoding::kPlain:
      return "plain";
    case Encoding::kDelta:
      return "delta";
    case Encoding::kGorilla:
      return "gorilla";
    case Encoding::kDecimal:
      return "decimal";
    case Encoding::kDictionary:
      return "dictionary";
    case Encoding::kSegmented:
      return "segmented";
  }
  return "unknown";
}

std::string_view CompressionName(Compression compression) {
  switch (compression) {
    case Compression::kNone:
      return "none";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

bool EncodingFits(Encoding encoding, ColumnType type) {
  switch (encoding) {
    case Encoding::kPlain:
      return true;
    case Encoding::kDelta:
      return type == ColumnType::kInt64;
    case Encoding::kGorilla:
    case Encoding::kDecimal:
      return type == ColumnType::kFloat64;
    case Encoding::kDictionary:
      return type == ColumnType::kString;
    case Encoding::kSegmented:
      return type == ColumnType::kInt64 || type == ColumnType::kFloat64;
  }
  return false;
}

SharedSequence MakeSharedSequence(std::span<const int64_t> values) {
  SharedSequence seq;
  seq.values = static_cast<uint32_t>(values.size());
  const std::vector<uint32_t> lengths = RunLengths({}, values.size());
  PutRunHeader(lengths, values.size(), &seq.encoded);
  EncodeSegmentedInt(values.data(), lengths, {}, &seq.encoded);
  return seq;
}

Encoding EncodeColumn(const Column& column, size_t begin, size_t end, Encoding preferred,
                      std::string* out, std::span<const uint32_t> runs,
                      std::span<const SequenceRef> refs) {
  const ColumnType type = TypeOf(column);
  if (!EncodingFits(preferred, type)) preferred = DefaultEncoding(type);
  const size_t n = end - begin;
  if (preferred == Encoding::kSegmented) {
    const std::vector<uint32_t> lengths = RunLengths(runs, n);
    PutRunHeader(lengths, n, out);
    if (type == ColumnType::kInt64) {
      EncodeSegmentedInt(std::get<0>(column).data() + begin, lengths, refs, out);
    } else {
      EncodeSegmentedFloat(std::get<1>(column).data() + begin, lengths, out);
    }
    return Encoding::kSegmented;
  }
  switch (type) {
    case ColumnType::kInt64: {
      const int64_t* v = std::get<0>(column).data() + begin;
      if (preferred == Encoding::kPlain) {
        EncodePlainInt(v, n, out);
      } else {
        EncodeDelta(v, n, out);
      }
      return preferred;
    }
    case ColumnType::kFloat64: {
      const double* v = std::get<1>(column).data() + begin;
      if (preferred == Encoding::kDecimal) {
        std::vector<int64_t> mantissas;
        const int e = DecimalExponent(v, n, &mantissas);
        if (e >= 0) {
          EncodeDecimal(mantissas.data(), n, e, out);
          return Encoding::kDecimal;
        }
        preferred = Encoding::kGorilla;
      }
      if (preferred == Encoding::kGorilla) {
        EncodeGorilla(v, n, out);
      } else {
        EncodePlainFloat(v, n, out);
      }
      return preferred;
    }
    case ColumnType::kString: {
      const auto& c = std::get<2>(column);
      if (preferred == Encoding::kDictionary) {
        std::vector<std::string_view> dict;
        std::vector<uint64_t> index;
        if (BuildDictionary(c, begin, end, &dict, &index)) {
          EncodeDictionary(dict, index, out);
          return Encoding::kDictionary;
        }
      }
      EncodePlainStrings(c, begin, end, out);
      return Encoding::kPlain;
    }
  }
  return preferred;
}

absl::Status DecodeValueRuns(std::string_view in, Encoding encoding, size_t rows,
                             std::vector<ValueRun>* out) {
  out->clear();
  // Extends the last run or starts one.
  auto add = [out](int64_t value, size_t count) {
    if (!out->empty() && out->back().value == value) {
      out->back().length += static_cast<uint32_t>(count);
    } else {
      const uint32_t begin = out->empty() ? 0 : out->back().begin + out->back().length;
      out->push_back({value, begin, static_cast<uint32_t>(count)});
    }
  };
  if (encoding == Encoding::kDelta) {
    const char* p = in.data();
    const char* end = in.data() + in.size();
    uint64_t n;
    if (!GetVarint(&p, end, &n)) return Malformed("delta", "truncated count");
    if (auto s = CheckCount("delta", n, rows); !s.ok()) return s;
    struct Emit {
      decltype(add)& to_runs;
      void operator()(const int64_t* v, size_t k) const {
        for (size_t i = 0; i < k; ++i) to_runs(v[i], 1);
      }
      void Repeat(int64_t value, size_t k) const { to_runs(value, k); }
    };
    if (auto s = DecodeDeltaBody(&p, end, rows, Emit{add}); !s.ok()) return s;
    if (p != end) {
      return absl::DataLossError(
          absl::StrCat("malformed delta block: ", end - p, " bytes after the last value"));
    }
    return absl::OkStatus();
  }
  Column c;
  if (auto s = DecodeColumn(in, ColumnType::kInt64, encoding, rows, &c); !s.ok()) return s;
  for (int64_t v : std::get<0>(c)) add(v, 1);
  return absl::OkStatus();
}

absl::Status DecodeColumn(std::string_view in, ColumnType type, Encoding encoding, size_t rows,
                          Column* out, std::span<const SharedSequence> sequences,
                          std::span<const RowWindow> windows) {
  bool stopped_early = false;
  if (!EncodingFits(encoding, type)) {
    return absl::InvalidArgumentError(absl::StrCat("encoding ", static_cast<int>(encoding),
                                                   " cannot hold a ",
                                                   std::string(ColumnTypeName(type)), " column"));
  }
  if (TypeOf(*out) != type) *out = MakeColumn(type);
  const char* p = in.data();
  const char* end = in.data() + in.size();
  absl::Status s;
  switch (type) {
    case ColumnType::kInt64: {
      auto* v = &std::get<0>(*out);
      if (encoding == Encoding::kSegmented) {
        s = DecodeSegmentedInt(&p, end, rows, v, sequences, windows, &stopped_early);
      } else {
        s = encoding == Encoding::kPlain ? DecodePlainInt(&p, end, rows, v)
                                         : DecodeDelta(&p, end, rows, v);
      }
      break;
    }
    case ColumnType::kFloat64: {
      auto* v = &std::get<1>(*out);
      switch (encoding) {
        case Encoding::kPlain:
          s = DecodePlainFloat(&p, end, rows, v);
          break;
        case Encoding::kGorilla:
          s = DecodeGorilla(&p, end, rows, v);
          break;
        case Encoding::kSegmented:
          s = DecodeSegmentedFloat(&p, end, rows, v, windows, &stopped_early);
          break;
        default:
          s = DecodeDecimal(&p, end, rows, v);
          break;
      }
      break;
    }
    case ColumnType::kString: {
      auto* v = &std::get<2>(*out);
      s = encoding == Encoding::kPlain ? DecodePlainStrings(&p, end, rows, v)
                                       : DecodeDictionary(&p, end, rows, v);
      break;
    }
  }
  if (!s.ok()) return s;
  return CheckBlockEnd(encoding, p, end, stopped_early);
}

// ---------------------------------------------------------------------------------------
// zstd

struct BlockCompressor::Ctx {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ~Ctx() { ZSTD_freeCCtx(cctx); }
};

BlockCompressor::BlockCompressor(int zstd_level)
    : ctx_(std::make_unique<Ctx>()), level_(zstd_level) {}
BlockCompressor::~BlockCompressor() = default;

Compression BlockCompressor::Compress(std::string_view raw, std::string* out) {
  constexpr size_t kMinCompressible = 64;
  if (raw.size() >= kMinCompressible && ctx_->cctx != nullptr) {
    out->resize(ZSTD_compressBound(raw.size()));
    const size_t n =
        ZSTD_compressCCtx(ctx_->cctx, out->data(), out->size(), raw.data(), raw.size(), level_);
    if (!ZSTD_isError(n) && n < raw.size() - raw.size() / 32) {
      out->resize(n);
      return Compression::kZstd;
    }
  }
  out->assign(raw.data(), raw.size());
  return Compression::kNone;
}

struct BlockDecompressor::Ctx {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ~Ctx() { ZSTD_freeDCtx(dctx); }
};

BlockDecompressor::BlockDecompressor() : ctx_(std::make_unique<Ctx>()) {}
BlockDecompressor::~BlockDecompressor() = default;

absl::Status BlockDecompressor::Decompress(std::string_view stored, Compression compression,
                                           size_t raw_len, std::string_view* raw) {
  switch (compression) {
    case Compression::kNone:
      if (stored.size() != raw_len) {
        return absl::DataLossError(
            absl::StrCat("uncompressed block holds ", stored.size(), " bytes, expected ", raw_len));
      }
      *raw = stored;
      return absl::OkStatus();
    case Compression::kZstd: {
      if (ctx_->dctx == nullptr)
        return absl::ResourceExhaustedError("cannot allocate zstd context");
      buffer_.resize(raw_len);
      const size_t n =
          ZSTD_decompressDCtx(ctx_->dctx, buffer_.data(), raw_len, stored.data(), stored.size());
      if (ZSTD_isError(n)) {
        return absl::DataLossError(
            absl::StrCat("zstd block does not decompress: ", ZSTD_getErrorName(n)));
      }
      if (n != raw_len) {
        return absl::DataLossError(
            absl::StrCat("zstd block decompresses to ", n, " bytes, expected ", raw_len));
      }
      *raw = std::string_view(buffer_.data(), raw_len);
      return absl::OkStatus();
    }
  }
  return absl::DataLossError(
      absl::StrCat("unknown block compression ", static_cast<int>(compression)));
}

}  // namespace observex::storage
