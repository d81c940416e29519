#include "api/prom_api.h"

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/auth.h"
#include "api/form.h"
#include "api/prom_codec.h"
#include "api/prom_pretty.h"
#include "common/clock.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "query/labels.h"
#include "query/promql/parser.h"

namespace observex::api {

using prom::ErrorType;
using prom::JsonWriter;
using query::LabelMatcher;
using query::SeriesSource;
using query::promql::ValueType;

namespace {

constexpr size_t kMaxAnnotations = 10;  // per kind, as Prometheus caps them
constexpr char kTruncated[] = "results truncated due to limit";

// Forwards to a tenant's source and fails storage access once the handler shuts down, so a
// running evaluation ends at its next read instead of holding up the shutdown.
class CancellableSource final : public SeriesSource {
 public:
  CancellableSource(std::unique_ptr<SeriesSource> inner, const std::atomic<bool>* cancelled)
      : inner_(std::move(inner)), cancelled_(cancelled) {}

  absl::StatusOr<std::unique_ptr<query::SeriesSet>> Select(
      const std::vector<LabelMatcher>& matchers, int64_t mint_ms, int64_t maxt_ms) const override {
    if (cancelled_->load()) return Cancelled();
    auto set = inner_->Select(matchers, mint_ms, maxt_ms);
    if (!set.ok()) return set.status();
    return std::unique_ptr<query::SeriesSet>(new Set(*std::move(set), cancelled_));
  }
  absl::StatusOr<std::vector<query::Labels>> Series(const std::vector<LabelMatcher>& matchers,
                                                    int64_t mint_ms,
                                                    int64_t maxt_ms) const override {
    if (cancelled_->load()) return Cancelled();
    return inner_->Series(matchers, mint_ms, maxt_ms);
  }
  absl::StatusOr<std::vector<std::string>> LabelNames(const std::vector<LabelMatcher>& matchers,
                                                      int64_t mint_ms,
                                                      int64_t maxt_ms) const override {
    if (cancelled_->load()) return Cancelled();
    return inner_->LabelNames(matchers, mint_ms, maxt_ms);
  }
  absl::StatusOr<std::vector<std::string>> LabelValues(std::string_view name,
                                                       const std::vector<LabelMatcher>& matchers,
                                                       int64_t mint_ms,
                                                       int64_t maxt_ms) const override {
    if (cancelled_->load()) return Cancelled();
    return inner_->LabelValues(name, matchers, mint_ms, maxt_ms);
  }
  absl::StatusOr<std::vector<query::MetricMetadata>> Metadata(
      std::string_view metric) const override {
    if (cancelled_->load()) return Cancelled();
    return inner_->Metadata(metric);
  }
  std::vector<std::string> Warnings() const override { return inner_->Warnings(); }

 private:
  static absl::Status Cancelled() {
    return absl::CancelledError("query canceled: the server is shutting down");
  }

  class Set final : public query::SeriesSet {
   public:
    Set(std::unique_ptr<query::SeriesSet> inner, const std::atomic<bool>* cancelled)
        : inner_(std::move(inner)), cancelled_(cancelled) {}
    bool Next() override {
      if (cancelled_->load()) {
        status_ = Cancelled();
        return false;
      }
      return inner_->Next();
    }
    const query::Labels& labels() const override { return inner_->labels(); }
    absl::Span<const query::SamplePoint> samples() const override { return inner_->samples(); }
    absl::Status status() const override { return status_.ok() ? inner_->status() : status_; }
    bool MayHaveStaleMarkers() const override { return inner_->MayHaveStaleMarkers(); }
    bool ApplyAhead(std::shared_ptr<const query::SeriesTransform> t) override {
      return inner_->ApplyAhead(std::move(t));
    }
    absl::Span<const query::SamplePoint> transformed() const override {
      return inner_->transformed();
    }

   private:
    std::unique_ptr<query::SeriesSet> inner_;
    const std::atomic<bool>* cancelled_;
    absl::Status status_;
  };

  std::unique_ptr<SeriesSource> inner_;
  const std::atomic<bool>* cancelled_;
};

std::string WithThousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string InvalidParam(std::string_view param, std::string_view message) {
  return absl::StrCat("invalid parameter ", query::QuoteGo(param), ": ", ToAbsl(message));
}

// Distinct strings in first-seen order, at most kMaxAnnotations plus a "more omitted" line.
std::vector<std::string> CapAnnotations(const std::vector<std::string>& in, std::string_view kind) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  size_t skipped = 0;
  for (const auto& s : in) {
    if (!seen.insert(s).second) continue;
    if (out.size() < kMaxAnnotations) {
      out.push_back(s);
    } else {
      ++skipped;
    }
  }
  if (skipped > 0)
    out.push_back(absl::StrCat(skipped, " more ", ToAbsl(kind), " annotations omitted"));
  return out;
}

http::Response JsonResponse(int status, std::string body) {
  return http::Response::Json(status, std::move(body));
}

http::Response ErrorReply(ErrorType type, std::string_view message) {
  return JsonResponse(prom::HttpStatusFor(type), prom::ErrorBody(type, message));
}

}  // namespace

// ---- request plumbing ----

enum class PromApiHandler::Endpoint {
  kUnknown,
  kQuery,
  kQueryRange,
  kQueryExemplars,
  kFormatQuery,
  kSeries,
  kLabels,
  kLabelValues,
  kMetadata,
  kBuildInfo,
  kRuntimeInfo,
  kConfig,
  kFlags,
  kRules,
  kAlerts,
};

struct PromApiHandler::Route {
  Endpoint endpoint = Endpoint::kUnknown;
  std::string label_name;  // label/<name>/values, still percent-encoded
};

struct PromApiHandler::Result {
  std::optional<ErrorType> error;
  std::string message;
  std::string data;  // encoded JSON of the "data" member
  std::vector<std::string> warnings;
  std::vector<std::string> infos;

  static Result Error(ErrorType type, std::string message) {
    Result r;
    r.error = type;
    r.message = std::move(message);
    return r;
  }
  static Result Data(std::string data) {
    Result r;
    r.data = std::move(data);
    return r;
  }
};

// One authenticated request on a worker: its parameters and its tenant's source.
class PromApiHandler::Request {
 public:
  Request(Form form, std::unique_ptr<SeriesSource> source)
      : form(std::move(form)), source(std::move(source)) {}
  Form form;
  std::unique_ptr<SeriesSource> source;  // null for endpoints that read no data
};

PromApiHandler::PromApiHandler(tenant::KeyStore* keys, SeriesSourceFactory sources,
                               PromApiOptions options)
    : keys_(keys),
      sources_(std::move(sources)),
      options_(std::move(options)),
      start_time_ns_(NowUnixNanos()),
      pool_(options_.query_threads, options_.max_queued_requests) {}

PromApiHandler::~PromApiHandler() { Shutdown(); }

void PromApiHandler::Shutdown() {
  stopping_.store(true);
  pool_.Shutdown();
}

int64_t PromApiHandler::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return NowUnixNanos() / 1000000;
}

PromApiHandler::Route PromApiHandler::Resolve(std::string_view path) const {
  Route route;
  const std::string root = options_.path_prefix + "/api/v1";
  if (path.size() <= root.size() || path.substr(0, root.size()) != root) return route;
  std::string_view sub = path.substr(root.size());
  struct Fixed {
    std::string_view path;
    Endpoint endpoint;
  };
  static constexpr Fixed kFixed[] = {
      {"/query", Endpoint::kQuery},
      {"/query_range", Endpoint::kQueryRange},
      {"/query_exemplars", Endpoint::kQueryExemplars},
      {"/format_query", Endpoint::kFormatQuery},
      {"/series", Endpoint::kSeries},
      {"/labels", Endpoint::kLabels},
      {"/metadata", Endpoint::kMetadata},
      {"/status/buildinfo", Endpoint::kBuildInfo},
      {"/status/runtimeinfo", Endpoint::kRuntimeInfo},
      {"/status/config", Endpoint::kConfig},
      {"/status/flags", Endpoint::kFlags},
      {"/rules", Endpoint::kRules},
      {"/alerts", Endpoint::kAlerts},
  };
  for (const Fixed& f : kFixed) {
    if (sub == f.path) {
      route.endpoint = f.endpoint;
      return route;
    }
  }
  constexpr std::string_view kLabel = "/label/";
  constexpr std::string_view kValues = "/values";
  if (sub.size() > kLabel.size() + kValues.size() && sub.substr(0, kLabel.size()) == kLabel &&
      sub.substr(sub.size() - kValues.size()) == kValues) {
    std::string_view name = sub.substr(kLabel.size(), sub.size() - kLabel.size() - kValues.size());
    if (!name.empty() && name.find('/') == std::string_view::npos) {
      route.endpoint = Endpoint::kLabelValues;
      route.label_name = std::string(name);
    }
  }
  return route;
}

void PromApiHandler::Handle(http::Request request, http::Responder respond) {
  const Route route = Resolve(request.path);
  if (route.endpoint == Endpoint::kUnknown) {
    return std::move(respond)(ErrorReply(
        ErrorType::kNotFound, absl::StrCat("unknown API endpoint ", ToAbsl(request.path))));
  }
  if (request.method == "OPTIONS") {
    http::Response r;
    r.status = 204;
    r.headers.emplace_back("Allow", "GET, POST, OPTIONS");
    return std::move(respond)(std::move(r));
  }
  if (request.method != "GET" && request.method != "POST") {
    http::Response r = ErrorReply(
        ErrorType::kBadData, absl::StrCat("method ", ToAbsl(request.method), " not allowed on ",
                                          ToAbsl(request.path), ": use GET or POST"));
    r.status = 405;
    r.headers.emplace_back("Allow", "GET, POST, OPTIONS");
    return std::move(respond)(std::move(r));
  }
  // The header check is cheap and answers key-less clients at once; verifying the key may
  // run Argon2, so it happens on a worker.
  absl::StatusOr<std::string> key = PresentedKey(request);
  if (!key.ok()) {
    http::Response r = ErrorReply(ErrorType::kUnauthorized, ToStd(key.status().message()));
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"observex\"");
    return std::move(respond)(std::move(r));
  }
  QueryPool::Job job = [this, route, request = std::move(request), key = *std::move(key),
                        respond = std::move(respond)](bool run) mutable {
    if (!run) {
      http::Response r = pool_.stopping()
                             ? ErrorReply(ErrorType::kUnavailable, "the server is shutting down")
                             : ErrorReply(ErrorType::kUnavailable,
                                          absl::StrCat("too many queries waiting (",
                                                       pool_.max_queued(), "); retry later"));
      r.headers.emplace_back("Retry-After", "1");
      return std::move(respond)(std::move(r));
    }
    std::move(respond)(Serve(route, request, key));
  };
  if (!pool_.TrySubmit(job)) std::move(job)(false);
}

http::Response PromApiHandler::ErrorResponse(std::string_view, int status, std::string message,
                                             int retry_after_seconds) {
  ErrorType type = ErrorType::kBadData;
  if (status == 429 || status == 503) type = ErrorType::kUnavailable;
  if (status >= 500 && status != 503) type = ErrorType::kInternal;
  http::Response r = JsonResponse(status, prom::ErrorBody(type, message));
  if (retry_after_seconds > 0) {
    r.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
  }
  return r;
}

http::Response PromApiHandler::Serve(const Route& route, const http::Request& request,
                                     const std::string& key) {
  absl::StatusOr<tenant::AuthResult> auth = keys_->Authenticate(key);
  if (!auth.ok()) {
    const ErrorType type = auth.status().code() == absl::StatusCode::kUnauthenticated
                               ? ErrorType::kUnauthorized
                               : prom::ErrorTypeFor(auth.status());
    http::Response r = ErrorReply(type, ToStd(auth.status().message()));
    if (type == ErrorType::kUnauthorized) {
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"observex\"");
    }
    return r;
  }
  absl::StatusOr<Form> form = Form::Parse(request);
  if (!form.ok()) {
    return ErrorReply(ErrorType::kBadData,
                      absl::StrCat("error parsing form values: ", form.status().message()));
  }
  std::unique_ptr<SeriesSource> source;
  switch (route.endpoint) {
    case Endpoint::kQuery:
    case Endpoint::kQueryRange:
    case Endpoint::kSeries:
    case Endpoint::kLabels:
    case Endpoint::kLabelValues:
    case Endpoint::kMetadata: {
      std::unique_ptr<SeriesSource> tenant_source = sources_(*auth);
      if (tenant_source == nullptr) {
        return ErrorReply(
            ErrorType::kUnavailable,
            absl::StrCat("the data of tenant ", auth->tenant_name, " cannot be read right now"));
      }
      source = std::make_unique<CancellableSource>(std::move(tenant_source), &stopping_);
      break;
    }
    default:
      break;
  }
  Request r(*std::move(form), std::move(source));
  Result result = Dispatch(route, r);
  if (result.error.has_value()) return ErrorReply(*result.error, result.message);

  JsonWriter w;
  w.BeginObject().Key("status").String("success").Key("data").Raw(result.data);
  std::vector<std::string> warnings = CapAnnotations(result.warnings, "warning");
  std::vector<std::string> infos = CapAnnotations(result.infos, "info");
  if (!warnings.empty()) w.Key("warnings").StringArray(warnings);
  if (!infos.empty()) w.Key("infos").StringArray(infos);
  w.EndObject();
  return JsonResponse(200, w.Release());
}

PromApiHandler::Result PromApiHandler::Dispatch(const Route& route, Request& r) {
  switch (route.endpoint) {
    case Endpoint::kQuery:
      return Query(r);
    case Endpoint::kQueryRange:
      return QueryRange(r);
    case Endpoint::kQueryExemplars:
      return QueryExemplars(r);
    case Endpoint::kFormatQuery:
      return FormatQuery(r);
    case Endpoint::kSeries:
      return Series(r);
    case Endpoint::kLabels:
      return Labels(r);
    case Endpoint::kLabelValues:
      return LabelValues(r, route.label_name);
    case Endpoint::kMetadata:
      return Metadata(r);
    case Endpoint::kBuildInfo:
      return BuildInfo();
    case Endpoint::kRuntimeInfo:
      return RuntimeInfo();
    case Endpoint::kConfig:
      return Result::Data(R"({"yaml":""})");
    case Endpoint::kFlags:
      return Result::Data("{}");
    case Endpoint::kRules:
      return Result::Data(R"({"groups":[]})");
    case Endpoint::kAlerts:
      return Result::Data(R"({"alerts":[]})");
    case Endpoint::kUnknown:
      break;
  }
  return Result::Error(ErrorType::kNotFound, "unknown API endpoint");
}

// ---- shared parameter handling ----

namespace {

struct Failure {
  ErrorType type;
  std::string message;
};

// A parse failure of the `query` parameter: unsupported features fail as execution errors
// naming the feature, everything else is bad data.
Failure QueryParseFailure(const absl::Status& s, bool prefix_param) {
  if (s.code() == absl::StatusCode::kUnimplemented) {
    return {ErrorType::kExecution, std::string(ToStd(s.message()))};
  }
  return {ErrorType::kBadData, prefix_param ? InvalidParam("query", ToStd(s.message()))
                                            : std::string(ToStd(s.message()))};
}

// `param` of Prometheus's optional time parameters (series, labels, ...): absent or empty
// means `fallback`; errors read "invalid time value for '<param>': ...".
absl::StatusOr<int64_t> OptionalTime(const Form& form, std::string_view param, int64_t fallback) {
  std::string_view v = form.Get(param);
  if (v.empty()) return fallback;
  auto t = prom::ParseTimestamp(v);
  if (!t.ok()) {
    return absl::InvalidArgumentError(InvalidParam(
        param,
        absl::StrCat("invalid time value for '", ToAbsl(param), "': ", t.status().message())));
  }
  return t;
}

absl::StatusOr<int64_t> LimitParam(const Form& form) {
  auto limit = prom::ParseLimit(form.Get("limit"));
  if (!limit.ok()) {
    return absl::InvalidArgumentError(InvalidParam("limit", ToStd(limit.status().message())));
  }
  return limit;
}

// Parses every match[] into a matcher set; `prefix_param` selects Prometheus's series-API
// wording ("invalid parameter \"match[]\": ...") over the bare parser message.
absl::StatusOr<std::vector<std::vector<LabelMatcher>>> MatcherSets(const Form& form,
                                                                   bool prefix_param) {
  std::vector<std::vector<LabelMatcher>> sets;
  for (const std::string& selector : form.All("match[]")) {
    auto m = query::promql::ParseMetricSelector(selector);
    constexpr char kEmpty[] = "match[] must contain at least one non-empty matcher";
    // The PromQL parser checks selectors as it checks queries; Prometheus's API parses match[]
    // without that check and answers with its own wording, which clients may look for.
    if (!m.ok() && absl::EndsWith(m.status().message(),
                                  "vector selector must contain at least one non-empty matcher")) {
      return absl::InvalidArgumentError(prefix_param ? InvalidParam("match[]", kEmpty) : kEmpty);
    }
    if (!m.ok()) {
      return absl::InvalidArgumentError(prefix_param
                                            ? InvalidParam("match[]", ToStd(m.status().message()))
                                            : std::string(ToStd(m.status().message())));
    }
    const bool all_match_empty =
        std::all_of(m->begin(), m->end(), [](const LabelMatcher& lm) { return lm.Matches(""); });
    if (all_match_empty) {
      return absl::InvalidArgumentError(prefix_param ? InvalidParam("match[]", kEmpty) : kEmpty);
    }
    sets.push_back(*std::move(m));
  }
  return sets;
}

// Timeout and lookback overrides of one query.
absl::StatusOr<query::promql::EngineOptions> QueryEngineOptions(
    const Form& form, const query::promql::EngineOptions& defaults) {
  query::promql::EngineOptions opts = defaults;
  if (std::string_view to = form.Get("timeout"); !to.empty()) {
    auto ms = prom::ParseDurationMs(to);
    if (!ms.ok()) {
      return absl::InvalidArgumentError(InvalidParam("timeout", ToStd(ms.status().message())));
    }
    opts.timeout = std::min(opts.timeout, std::chrono::milliseconds(std::max<int64_t>(*ms, 0)));
  }
  if (std::string_view lb = form.Get("lookback_delta"); !lb.empty()) {
    auto ms = prom::ParseDurationMs(lb);
    if (!ms.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("error parsing lookback delta duration: ", ms.status().message()));
    }
    if (*ms > 0) opts.lookback_delta_ms = *ms;
  }
  return opts;
}

bool TimeInEngineRange(int64_t ms) {
  return ms <= query::promql::kMaxTimestampMs && ms >= -query::promql::kMaxTimestampMs;
}

// resultType/result of an evaluated query; `limit` > 0 keeps that many series.
std::string EncodeQueryData(const query::promql::QueryResult& result, int64_t time_ms,
                            int64_t limit, bool* truncated) {
  JsonWriter w;
  w.BeginObject().Key("resultType").String(query::promql::ValueTypeName(result.type));
  w.Key("result");
  switch (result.type) {
    case ValueType::kScalar:
      w.ScalarPoint(time_ms, result.scalar.value);
      break;
    case ValueType::kString:
      w.StringPoint(time_ms, result.string_value);
      break;
    case ValueType::kVector:
    case ValueType::kMatrix: {
      const bool vector = result.type == ValueType::kVector;
      int64_t written = 0;
      w.BeginArray();
      for (const auto& s : result.series) {
        if (s.points.empty()) continue;
        if (limit > 0 && written == limit) {
          *truncated = true;
          break;
        }
        ++written;
        w.BeginObject().Key("metric").LabelObject(s.labels.items());
        if (vector) {
          w.Key("value").Point(s.points.front().t_ms, s.points.front().value);
        } else {
          w.Key("values").BeginArray();
          for (const auto& p : s.points) w.Point(p.t_ms, p.value);
          w.EndArray();
        }
        w.EndObject();
      }
      w.EndArray();
      break;
    }
    case ValueType::kNone:
      w.BeginArray().EndArray();
      break;
  }
  w.EndObject();
  return w.Release();
}

}  // namespace

// ---- endpoints ----

PromApiHandler::Result PromApiHandler::Query(Request& r) {
  auto limit = LimitParam(r.form);
  if (!limit.ok()) return Result::Error(ErrorType::kBadData, std::string(limit.status().message()));
  auto time_ms = OptionalTime(r.form, "time", NowMs());
  if (!time_ms.ok()) {
    return Result::Error(ErrorType::kBadData, std::string(time_ms.status().message()));
  }
  if (!TimeInEngineRange(*time_ms)) {
    return Result::Error(ErrorType::kBadData,
                         InvalidParam("time", "timestamp out of the range of queries"));
  }
  auto opts = QueryEngineOptions(r.form, options_.engine);
  if (!opts.ok()) return Result::Error(ErrorType::kBadData, std::string(opts.status().message()));
  const std::string query(r.form.Get("query"));
  auto expr = query::promql::ParseExpr(query, opts->parse);
  if (!expr.ok()) {
    Failure f = QueryParseFailure(expr.status(), true);
    return Result::Error(f.type, std::move(f.message));
  }
  query::promql::Engine engine(*opts);
  return QueryAnswer(engine.InstantQuery(*r.source, **expr, query, *time_ms), *time_ms, *limit, r);
}

PromApiHandler::Result PromApiHandler::QueryAnswer(
    const absl::StatusOr<query::promql::QueryResult>& result, int64_t first_ms, int64_t limit,
    Request& r) {
  if (!result.ok()) {
    return Result::Error(prom::ErrorTypeFor(result.status()),
                         std::string(result.status().message()));
  }
  bool truncated = false;
  Result out = Result::Data(EncodeQueryData(*result, first_ms, limit, &truncated));
  out.warnings = result->Warnings();
  for (auto& w : r.source->Warnings()) out.warnings.push_back(std::move(w));
  if (truncated) out.warnings.push_back(kTruncated);
  out.infos = result->Infos();
  return out;
}

PromApiHandler::Result PromApiHandler::QueryRange(Request& r) {
  auto bad = [](std::string message) { return Result::Error(ErrorType::kBadData, message); };
  auto limit = LimitParam(r.form);
  if (!limit.ok()) return bad(std::string(limit.status().message()));
  auto start = prom::ParseTimestamp(r.form.Get("start"));
  if (!start.ok()) return bad(InvalidParam("start", ToStd(start.status().message())));
  auto end = prom::ParseTimestamp(r.form.Get("end"));
  if (!end.ok()) return bad(InvalidParam("end", ToStd(end.status().message())));
  if (*end < *start) return bad(InvalidParam("end", "end timestamp must not be before start time"));
  if (!TimeInEngineRange(*start)) {
    return bad(InvalidParam("start", "timestamp out of the range of queries"));
  }
  if (!TimeInEngineRange(*end))
    return bad(InvalidParam("end", "timestamp out of the range of queries"));
  auto step = prom::ParseDurationMs(r.form.Get("step"));
  if (!step.ok()) return bad(InvalidParam("step", ToStd(step.status().message())));
  if (*step <= 0) {
    return bad(InvalidParam("step",
                            "zero or negative query resolution step widths are not accepted. "
                            "Try a positive integer"));
  }
  const int64_t max_points = options_.engine.max_points_per_series;
  if ((static_cast<__int128>(*end) - *start) / *step > max_points) {
    return bad(absl::StrCat("exceeded maximum resolution of ", WithThousands(max_points),
                            " points per timeseries. Try decreasing the query resolution "
                            "(?step=XX)"));
  }
  auto opts = QueryEngineOptions(r.form, options_.engine);
  if (!opts.ok()) return bad(std::string(opts.status().message()));
  const std::string query(r.form.Get("query"));
  auto expr = query::promql::ParseExpr(query, opts->parse);
  if (!expr.ok()) {
    Failure f = QueryParseFailure(expr.status(), true);
    return Result::Error(f.type, std::move(f.message));
  }
  const ValueType type = (*expr)->type();
  if (type != ValueType::kVector && type != ValueType::kScalar) {
    return bad(InvalidParam(
        "query",
        absl::StrCat("invalid expression type \"", ToAbsl(query::promql::DocumentedType(type)),
                     "\" for range query, must be Scalar or instant Vector")));
  }
  query::promql::Engine engine(*opts);
  return QueryAnswer(engine.RangeQuery(*r.source, **expr, query, *start, *end, *step), *start,
                     *limit, r);
}

PromApiHandler::Result PromApiHandler::QueryExemplars(Request& r) {
  auto start = OptionalTime(r.form, "start", prom::kMinTimeMs);
  if (!start.ok()) return Result::Error(ErrorType::kBadData, std::string(start.status().message()));
  auto end = OptionalTime(r.form, "end", prom::kMaxTimeMs);
  if (!end.ok()) return Result::Error(ErrorType::kBadData, std::string(end.status().message()));
  if (*end < *start) {
    return Result::Error(ErrorType::kBadData, "end timestamp must not be before start timestamp");
  }
  auto expr = query::promql::ParseExpr(r.form.Get("query"), options_.engine.parse);
  if (!expr.ok()) {
    Failure f = QueryParseFailure(expr.status(), false);
    return Result::Error(f.type, std::move(f.message));
  }
  // Exemplars are not stored (yet): every valid query has none.
  return Result::Data("[]");
}

PromApiHandler::Result PromApiHandler::FormatQuery(Request& r) {
  auto expr = query::promql::ParseExpr(r.form.Get("query"), options_.engine.parse);
  if (!expr.ok()) {
    Failure f = QueryParseFailure(expr.status(), true);
    return Result::Error(f.type, std::move(f.message));
  }
  JsonWriter w;
  w.String(prom::Prettify(**expr));
  return Result::Data(w.Release());
}

PromApiHandler::Result PromApiHandler::Series(Request& r) {
  auto bad = [](const absl::Status& s) {
    return Result::Error(ErrorType::kBadData, std::string(s.message()));
  };
  if (!r.form.Has("match[]")) {
    return Result::Error(ErrorType::kBadData, "no match[] parameter provided");
  }
  auto limit = LimitParam(r.form);
  if (!limit.ok()) return bad(limit.status());
  auto start = OptionalTime(r.form, "start", prom::kMinTimeMs);
  if (!start.ok()) return bad(start.status());
  auto end = OptionalTime(r.form, "end", prom::kMaxTimeMs);
  if (!end.ok()) return bad(end.status());
  auto sets = MatcherSets(r.form, /*prefix_param=*/true);
  if (!sets.ok()) return bad(sets.status());

  std::vector<query::Labels> all;
  for (const auto& set : *sets) {
    auto series = r.source->Series(set, *start, *end);
    if (!series.ok()) {
      return Result::Error(prom::ErrorTypeFor(series.status()),
                           std::string(series.status().message()));
    }
    all.insert(all.end(), series->begin(), series->end());
  }
  if (sets->size() > 1) {
    std::sort(all.begin(), all.end(), [](const query::Labels& a, const query::Labels& b) {
      return query::CompareLabels(a, b) < 0;
    });
    all.erase(std::unique(all.begin(), all.end()), all.end());
  }
  Result out;
  if (*limit > 0 && static_cast<int64_t>(all.size()) > *limit) {
    all.resize(*limit);
    out.warnings.push_back(kTruncated);
  }
  JsonWriter w;
  w.BeginArray();
  for (const auto& l : all) w.LabelObject(l.items());
  w.EndArray();
  out.data = w.Release();
  auto source_warnings = r.source->Warnings();
  out.warnings.insert(out.warnings.begin(), source_warnings.begin(), source_warnings.end());
  return out;
}

namespace {

// Names or values from every matcher set (or from all series when there is none), merged.
template <typename Fetch>
absl::StatusOr<std::vector<std::string>> UnionOverSets(
    const std::vector<std::vector<LabelMatcher>>& sets, Fetch fetch) {
  if (sets.empty()) return fetch(std::vector<LabelMatcher>{});
  std::set<std::string> merged;
  for (const auto& set : sets) {
    auto part = fetch(set);
    if (!part.ok()) return part.status();
    merged.insert(part->begin(), part->end());
  }
  return std::vector<std::string>(merged.begin(), merged.end());
}

}  // namespace

PromApiHandler::Result PromApiHandler::Labels(Request& r) {
  auto bad = [](const absl::Status& s) {
    return Result::Error(ErrorType::kBadData, std::string(s.message()));
  };
  auto limit = LimitParam(r.form);
  if (!limit.ok()) return bad(limit.status());
  auto start = OptionalTime(r.form, "start", prom::kMinTimeMs);
  if (!start.ok()) return bad(start.status());
  auto end = OptionalTime(r.form, "end", prom::kMaxTimeMs);
  if (!end.ok()) return bad(end.status());
  auto sets = MatcherSets(r.form, /*prefix_param=*/false);
  if (!sets.ok()) return bad(sets.status());
  auto names = UnionOverSets(*sets, [&](const std::vector<LabelMatcher>& m) {
    return r.source->LabelNames(m, *start, *end);
  });
  if (!names.ok()) {
    return Result::Error(prom::ErrorTypeFor(names.status()), std::string(names.status().message()));
  }
  std::sort(names->begin(), names->end());
  Result out;
  out.warnings = r.source->Warnings();
  if (*limit > 0 && static_cast<int64_t>(names->size()) > *limit) {
    names->resize(*limit);
    out.warnings.push_back(kTruncated);
  }
  JsonWriter w;
  w.StringArray(*names);
  out.data = w.Release();
  return out;
}

PromApiHandler::Result PromApiHandler::LabelValues(Request& r, std::string_view raw_name) {
  auto bad = [](const absl::Status& s) {
    return Result::Error(ErrorType::kBadData, std::string(s.message()));
  };
  auto decoded = PercentDecode(raw_name);
  const std::string name = decoded.ok() ? prom::UnescapeLabelName(*decoded) : std::string(raw_name);
  if (!decoded.ok() || name.empty() || !IsValidUtf8(name)) {
    return Result::Error(ErrorType::kBadData,
                         absl::StrCat("invalid label name: ", query::QuoteGo(name)));
  }
  auto limit = LimitParam(r.form);
  if (!limit.ok()) return bad(limit.status());
  auto start = OptionalTime(r.form, "start", prom::kMinTimeMs);
  if (!start.ok()) return bad(start.status());
  auto end = OptionalTime(r.form, "end", prom::kMaxTimeMs);
  if (!end.ok()) return bad(end.status());
  auto sets = MatcherSets(r.form, /*prefix_param=*/false);
  if (!sets.ok()) return bad(sets.status());
  auto values = UnionOverSets(*sets, [&](const std::vector<LabelMatcher>& m) {
    return r.source->LabelValues(name, m, *start, *end);
  });
  if (!values.ok()) {
    return Result::Error(prom::ErrorTypeFor(values.status()),
                         std::string(values.status().message()));
  }
  std::sort(values->begin(), values->end());
  Result out;
  out.warnings = r.source->Warnings();
  if (*limit > 0 && static_cast<int64_t>(values->size()) > *limit) {
    values->resize(*limit);
    out.warnings.push_back(kTruncated);
  }
  JsonWriter w;
  w.StringArray(*values);
  out.data = w.Release();
  return out;
}

PromApiHandler::Result PromApiHandler::Metadata(Request& r) {
  // Prometheus reads these two with a bare strconv.Atoi: negative means no limit.
  auto atoi = [](std::string_view s, int64_t* out) {
    std::string_view digits = s;
    if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
      digits.remove_prefix(1);
    }
    auto v = prom::ParseLimit(digits);
    if (digits.empty() || !v.ok()) return false;
    *out = s.front() == '-' ? -*v : *v;
    return true;
  };
  int64_t limit = -1;
  int64_t limit_per_metric = -1;
  if (std::string_view s = r.form.Get("limit"); !s.empty() && !atoi(s, &limit)) {
    return Result::Error(ErrorType::kBadData, "limit must be a number");
  }
  if (std::string_view s = r.form.Get("limit_per_metric");
      !s.empty() && !atoi(s, &limit_per_metric)) {
    return Result::Error(ErrorType::kBadData, "limit_per_metric must be a number");
  }
  auto metadata = r.source->Metadata(r.form.Get("metric"));
  if (!metadata.ok()) {
    return Result::Error(prom::ErrorTypeFor(metadata.status()),
                         std::string(metadata.status().message()));
  }
  std::sort(metadata->begin(), metadata->end(),
            [](const query::MetricMetadata& a, const query::MetricMetadata& b) {
              return a.metric < b.metric;
            });
  JsonWriter w;
  w.BeginObject();
  int64_t metrics = 0;
  size_t i = 0;
  while (i < metadata->size()) {
    const std::string& metric = (*metadata)[i].metric;
    if (limit >= 0 && metrics >= limit) break;
    ++metrics;
    w.Key(metric).BeginArray();
    std::set<std::tuple<std::string, std::string, std::string>> seen;
    for (; i < metadata->size() && (*metadata)[i].metric == metric; ++i) {
      const auto& m = (*metadata)[i];
      if (!seen.emplace(m.type, m.help, m.unit).second) continue;
      if (limit_per_metric > 0 && static_cast<int64_t>(seen.size()) > limit_per_metric) continue;
      w.BeginObject()
          .Key("type")
          .String(m.type)
          .Key("help")
          .String(m.help)
          .Key("unit")
          .String(m.unit)
          .EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  Result out = Result::Data(w.Release());
  out.warnings = r.source->Warnings();
  return out;
}

PromApiHandler::Result PromApiHandler::BuildInfo() {
  JsonWriter w;
  w.BeginObject()
      .Key("version")
      .String(options_.prometheus_version)
      .Key("revision")
      .String(options_.observex_version.empty() ? "observex"
                                                : "observex-" + options_.observex_version)
      .Key("branch")
      .String("")
      .Key("buildUser")
      .String("")
      .Key("buildDate")
      .String("")
      .Key("goVersion")
      .String("")
      .EndObject();
  return Result::Data(w.Release());
}

PromApiHandler::Result PromApiHandler::RuntimeInfo() {
  const std::string start = FormatRfc3339Nanos(start_time_ns_);
  JsonWriter w;
  w.BeginObject()
      .Key("startTime")
      .String(start)
      .Key("serverTime")
      .String(FormatRfc3339Nanos(NowUnixNanos()))
      .Key("reloadConfigSuccess")
      .Bool(true)
      .Key("lastConfigTime")
      .String(start)
      .Key("storageRetention")
      .String(options_.storage_retention)
      .EndObject();
  return Result::Data(w.Release());
}

}  // namespace observex::api
