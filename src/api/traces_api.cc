#include "api/traces_api.h"

#include "absl/strings/str_cat.h"
#include "api/auth.h"
#include "otlp/otlp.h"
#include "writer/otlp_rows.h"

namespace observex::api {
namespace {

constexpr std::string_view kPrefix = "/api/v1/traces/";

http::Response Json(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

http::Response Error(int status, std::string_view message) {
  return Json(status, absl::StrCat("{\"error\":\"", JsonEscape(message), "\"}"));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 32 hex digits -> 16 bytes; the all-zero id is invalid in OTLP.
absl::StatusOr<std::string> ParseTraceId(std::string_view hex) {
  if (hex.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat("trace id must be 32 hex digits, got ",
                                                   hex.size(), " characters"));
  }
  std::string out(16, '\0');
  bool zero = true;
  for (size_t i = 0; i < 16; ++i) {
    const int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("trace id has a non-hex character at position ", 2 * i + (hi < 0 ? 0 : 1)));
    }
    out[i] = static_cast<char>(hi << 4 | lo);
    zero = zero && out[i] == 0;
  }
  if (zero) return absl::InvalidArgumentError("the all-zero trace id is invalid");
  return out;
}

}  // namespace

TracesHandler::TracesHandler(tenant::KeyStore* keys, const storage::Store* store)
    : keys_(keys), store_(store) {}

void TracesHandler::Handle(http::Request request, http::Responder respond) {
  if (request.method != "GET" && request.method != "HEAD") {
    auto r = Error(405, "method not allowed: use GET");
    r.headers.emplace_back("Allow", "GET");
    std::move(respond)(std::move(r));
    return;
  }
  if (request.path.rfind(kPrefix, 0) != 0 || request.path.size() == kPrefix.size()) {
    std::move(respond)(Error(404, "not found: use /api/v1/traces/{trace_id}"));
    return;
  }
  auto auth = Authenticate(request, keys_);
  if (!auth.ok()) {
    const int status = auth.status().code() == absl::StatusCode::kUnauthenticated ? 401 : 503;
    std::move(respond)(Error(status, std::string(auth.status().message())));
    return;
  }
  auto trace_id = ParseTraceId(std::string_view(request.path).substr(kPrefix.size()));
  if (!trace_id.ok()) {
    std::move(respond)(Error(400, std::string(trace_id.status().message())));
    return;
  }
  storage::ScanOptions o;
  o.predicates.push_back(storage::Predicate::Equal("trace_id", *trace_id));
  o.order = storage::ScanOrder::kTimeAscending;
  o.limit = kMaxTraceSpans;
  auto scan = store_->Scan(storage::TenantScope(*auth), storage::Table::kSpans, o);
  if (!scan.ok()) {
    std::move(respond)(Error(500, scan.status().ToString()));
    return;
  }
  storage::ColumnBatch all = storage::SpansSchema().NewBatch();
  storage::ColumnBatch batch;
  while (true) {
    auto more = (*scan)->rows().Next(&batch);
    if (!more.ok()) {
      std::move(respond)(Error(500, more.status().ToString()));
      return;
    }
    if (!*more) break;
    std::vector<uint32_t> idx(batch.rows());
    for (uint32_t i = 0; i < idx.size(); ++i) idx[i] = i;
    for (size_t c = 0; c < all.columns.size(); ++c) {
      storage::AppendRows(batch.columns[c], idx, all.columns[c]);
    }
  }
  const std::vector<std::string> warnings = (*scan)->warnings();
  if (all.rows() == 0) {
    if (warnings.empty()) {
      std::move(respond)(Error(404, "trace not found"));
      return;
    }
    // Not found among what could be read: say that the answer may be incomplete.
    std::string list;
    for (const auto& w : warnings) {
      absl::StrAppend(&list, list.empty() ? "" : ",", "\"", JsonEscape(w), "\"");
    }
    http::Response r = Json(404, absl::StrCat("{\"error\":\"trace not found in the parts that "
                                              "could be read\",\"warnings\":[", list, "]}"));
    for (const auto& w : warnings) r.headers.emplace_back("X-ObserveX-Warning", w);
    std::move(respond)(std::move(r));
    return;
  }
  auto otlp = writer::SpanRowsToOtlp(all);
  if (!otlp.ok()) {
    std::move(respond)(Error(500, otlp.status().ToString()));
    return;
  }
  http::Response r = Json(200, otlp::EncodeJson(*otlp));
  if ((*scan)->rows().truncated()) {
    r.headers.emplace_back("X-ObserveX-Truncated",
                           absl::StrCat("trace cut at ", kMaxTraceSpans, " spans"));
  }
  for (const auto& w : warnings) r.headers.emplace_back("X-ObserveX-Warning", w);
  if (request.method == "HEAD") r.body.clear();
  std::move(respond)(std::move(r));
}

}  // namespace observex::api
