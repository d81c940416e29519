// gzip/zlib bodies. Inflation writes into a buffer that grows by doubling but never past the
// caller's limit; when the buffer is full at the limit, a one-byte probe tells whether the
// stream has more to give, so a bomb is refused having allocated at most the limit.
#include <zlib.h>

#include <algorithm>
#include <climits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "otlp/otlp.h"

namespace observex::otlp {
namespace {

constexpr size_t kMinChunk = 64 * 1024;
constexpr size_t kMaxFeed = UINT_MAX;  // zlib counts in uInt

class InflateStream {
 public:
  InflateStream() { ok_ = inflateInit2(&zs_, 15 + 32) == Z_OK; }  // +32: gzip or zlib header
  ~InflateStream() {
    if (ok_) inflateEnd(&zs_);
  }
  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;
  bool ok() const { return ok_; }
  z_stream& z() { return zs_; }

 private:
  z_stream zs_{};
  bool ok_ = false;
};

absl::Status Corrupt(std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid gzip body: ", absl::string_view(why.data(), why.size())));
}

}  // namespace

absl::StatusOr<std::string> Gunzip(std::string_view compressed, size_t max_output_bytes) {
  InflateStream stream;
  if (!stream.ok()) return absl::InternalError("zlib inflateInit2 failed");
  z_stream& zs = stream.z();

  const auto* in = reinterpret_cast<const Bytef*>(compressed.data());
  size_t in_left = compressed.size();
  auto feed = [&] {
    if (zs.avail_in == 0 && in_left > 0) {
      const size_t n = std::min(in_left, kMaxFeed);
      zs.next_in = const_cast<Bytef*>(in);
      zs.avail_in = static_cast<uInt>(n);
      in += n;
      in_left -= n;
    }
  };

  std::string out;
  out.resize(std::min(max_output_bytes, std::max(kMinChunk, compressed.size() * 4)));
  size_t produced = 0;
  for (;;) {
    feed();
    unsigned char probe;
    bool probing = false;
    if (produced == out.size()) {
      if (out.size() >= max_output_bytes) {
        probing = true;
      } else {
        out.resize(std::min(max_output_bytes, std::max(kMinChunk, out.size() * 2)));
      }
    }
    if (probing) {
      zs.next_out = &probe;
      zs.avail_out = 1;
    } else {
      zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
      zs.avail_out = static_cast<uInt>(std::min(out.size() - produced, kMaxFeed));
    }
    const uInt space = zs.avail_out;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    const size_t got = space - zs.avail_out;
    if (probing && got > 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("decompressed body exceeds the limit of ", max_output_bytes, " bytes"));
    }
    if (!probing) produced += got;

    const bool input_done = zs.avail_in == 0 && in_left == 0;
    if (rc == Z_STREAM_END) {
      if (input_done) break;
      // RFC 1952 allows several members back to back; anything else after the end is garbage,
      // which the next header check reports.
      if (inflateReset(&zs) != Z_OK) return Corrupt("cannot continue after the first member");
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR) {
      if (input_done) return Corrupt("unexpected end of data (truncated stream)");
      continue;  // out of output space; the next round grows the buffer or probes
    }
    if (rc == Z_NEED_DICT) return Corrupt("stream needs a preset dictionary");
    if (rc == Z_MEM_ERROR) return absl::ResourceExhaustedError("zlib ran out of memory");
    return Corrupt(zs.msg != nullptr ? zs.msg : absl::StrCat("zlib error ", rc));
  }
  out.resize(produced);
  return out;
}

std::string Gzip(std::string_view data) {
  z_stream zs{};
  // 15 + 16: gzip wrapper rather than zlib's.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    return std::string();
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  const auto* in = reinterpret_cast<const Bytef*>(data.data());
  size_t in_left = data.size();
  size_t produced = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0 && in_left > 0) {
      const size_t n = std::min(in_left, kMaxFeed);
      zs.next_in = const_cast<Bytef*>(in);
      zs.avail_in = static_cast<uInt>(n);
      in += n;
      in_left -= n;
    }
    if (produced == out.size()) out.resize(out.size() * 2);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(std::min(out.size() - produced, kMaxFeed));
    const uInt space = zs.avail_out;
    rc = deflate(&zs, in_left == 0 ? Z_FINISH : Z_NO_FLUSH);
    produced += space - zs.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) break;
  }
  deflateEnd(&zs);
  out.resize(rc == Z_STREAM_END ? produced : 0);
  return out;
}

}  // namespace observex::otlp
