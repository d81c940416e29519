#include <atomic>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/strings.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/resource_quota.h"
#include "ingest/receivers.h"
#include "ingest/status_mapping.h"
#include "tenant/authorization.h"

namespace observex::ingest {
namespace {

struct Method {
  std::string_view name;
  SignalType type;
};
constexpr Method kMethods[] = {
    {"/opentelemetry.proto.collector.trace.v1.TraceService/Export", SignalType::kTraces},
    {"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", SignalType::kMetrics},
    {"/opentelemetry.proto.collector.logs.v1.LogsService/Export", SignalType::kLogs}};

struct Shared {
  ReceiverOptions options;
  tenant::KeyStore* keys;
  Pipeline* pipeline;
  IngestMetrics* metrics;
  std::atomic<int64_t> in_flight{0};
};

// One unary Export call seen through the generic (byte-level) API, so admission happens
// before the request is parsed. gRPC's callback API owns the reactor's lifetime: it is
// created with new and deletes itself in OnDone, after Finish has completed.
class ExportReactor : public grpc::ServerGenericBidiReactor {
 public:
  ExportReactor(grpc::GenericCallbackServerContext* ctx, Shared* shared)
      : ctx_(ctx), shared_(shared) {
    shared_->in_flight.fetch_add(1);
    for (const auto& m : kMethods) {
      if (ctx->method() == m.name) method_ = &m;
    }
    if (method_ == nullptr) {
      FinishWith(grpc::StatusCode::UNIMPLEMENTED,
                 absl::StrCat("unknown method ", ctx->method(),
                              "; this server implements the three OTLP Export services"),
                 0);
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishWith(grpc::StatusCode::INVALID_ARGUMENT, "no request message received", 0);
      return;
    }
    const SignalType type = method_->type;
    const auto& md = ctx_->client_metadata();
    auto it = md.find("authorization");
    auto key = tenant::KeyFromAuthorization(
        it == md.end() ? std::string_view()
                       : std::string_view(it->second.data(), it->second.size()));
    if (!key.ok()) {
      shared_->metrics->SignalsDropped("", type, DropReason::kAuth, 1);
      FinishWith(grpc::StatusCode::UNAUTHENTICATED, ToStd(key.status().message()), 0);
      return;
    }
    auto tenant = shared_->keys->Authenticate(*key);
    if (!tenant.ok()) {
      shared_->metrics->SignalsDropped("", type, DropReason::kAuth, 1);
      const bool internal = tenant.status().code() != absl::StatusCode::kUnauthenticated;
      FinishWith(internal ? grpc::StatusCode::UNAVAILABLE : grpc::StatusCode::UNAUTHENTICATED,
                 std::string(tenant.status().message()), internal ? 1 : 0);
      return;
    }
    IngestRequest ingest;
    ingest.tenant = std::move(*tenant);
    ingest.type = type;
    ingest.encoding = otlp::Encoding::kProtobuf;
    ingest.gzip = false;  // gRPC message compression is undone by the transport
    std::vector<grpc::Slice> slices;
    if (!request_.Dump(&slices).ok()) {
      FinishWith(grpc::StatusCode::INTERNAL, "cannot read request bytes", 0);
      return;
    }
    ingest.body.reserve(request_.Length());
    for (const auto& s : slices) {
      ingest.body.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    request_.Clear();
    const int retry = shared_->options.retry_after_seconds;
    ingest.done = [this, type, retry](IngestResult result) {
      if (result.outcome == Outcome::kAccepted) {
        std::string bytes =
            otlp::EncodeResponse(type, otlp::Encoding::kProtobuf, result.rejected, result.message);
        grpc::Slice slice(bytes);
        response_ = grpc::ByteBuffer(&slice, 1);
        Record(grpc::StatusCode::OK);
        StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
        return;
      }
      FinishWith(GrpcCodeFor(result.outcome), result.message,
                 ShouldRetry(result.outcome) ? retry : 0);
    };
    absl::Status admitted = shared_->pipeline->Submit(ingest);
    if (!admitted.ok()) {
      const Outcome o = admitted.code() == absl::StatusCode::kResourceExhausted
                            ? Outcome::kOverloaded
                            : Outcome::kUnavailable;
      FinishWith(GrpcCodeFor(o), std::string(admitted.message()), retry);
    }
  }

  void OnDone() override {
    shared_->in_flight.fetch_sub(1);
    delete this;
  }

 private:
  void Record(grpc::StatusCode code) {
    shared_->metrics->GrpcRequest(method_ ? method_->name : "other", GrpcCodeName(code));
  }
  void FinishWith(grpc::StatusCode code, std::string_view message, int retry_seconds) {
    Record(code);
    Finish(MakeGrpcStatus(code, message, retry_seconds));
  }

  grpc::GenericCallbackServerContext* ctx_;
  Shared* shared_;
  const Method* method_ = nullptr;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

class ExportService : public grpc::CallbackGenericService {
 public:
  explicit ExportService(Shared* shared) : shared_(shared) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    return new ExportReactor(ctx, shared_);  // deletes itself in OnDone (gRPC's contract)
  }

 private:
  Shared* shared_;
};

class GrpcReceiverImpl : public GrpcReceiver {
 public:
  GrpcReceiverImpl(ReceiverOptions options, tenant::KeyStore* keys, Pipeline* pipeline,
                   IngestMetrics* metrics)
      : shared_{options, keys, pipeline, metrics}, service_(&shared_) {}
  ~GrpcReceiverImpl() override { Shutdown(absl::ZeroDuration()); }

  absl::Status Start(const std::string& address) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
    builder.RegisterCallbackGenericService(&service_);
    builder.SetMaxReceiveMessageSize(static_cast<int>(shared_.options.max_body_bytes));
    builder.SetMaxSendMessageSize(4 << 20);
    // Bounds what gRPC itself buffers (messages being read before our reactor sees them).
    grpc::ResourceQuota quota("otlp-grpc");
    quota.Resize(shared_.options.grpc_memory_quota_bytes);
    builder.SetResourceQuota(quota);
    server_ = builder.BuildAndStart();
    if (!server_ || port_ == 0) {
      return absl::UnavailableError(absl::StrCat("grpc: cannot listen on ", address));
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Shutdown(absl::Duration grace) override {
    if (!server_ || shut_down_.exchange(true)) return;
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(absl::ToInt64Milliseconds(grace)));
    server_->Wait();
  }

 private:
  Shared shared_;
  ExportService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<bool> shut_down_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcReceiver>> GrpcReceiver::Start(const std::string& address,
                                                                  ReceiverOptions options,
                                                                  tenant::KeyStore* keys,
                                                                  Pipeline* pipeline,
                                                                  IngestMetrics* metrics) {
  auto r = std::make_unique<GrpcReceiverImpl>(options, keys, pipeline, metrics);
  if (auto st = r->Start(address); !st.ok()) return st;
  return std::unique_ptr<GrpcReceiver>(std::move(r));
}

}  // namespace observex::ingest
