#include "ingest/pipeline.h"

#include <filesystem>
#include <future>
#include <mutex>

#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace observex::ingest {
namespace {

namespace coltrace = opentelemetry::proto::collector::trace::v1;
namespace collogs = opentelemetry::proto::collector::logs::v1;

// Holds appends until the test releases them, so admission can be tested while requests
// are in flight. Stands in for the WAL only in this unit test; the integration and crash
// tests use the real one.
class HoldingWal : public wal::Wal {
 public:
  void AppendAsync(std::string payload, int64_t ts, AppendCallback done) override {
    std::lock_guard<std::mutex> lock(mu_);
    held_.push_back({std::move(payload), std::move(done)});
  }
  bool HasRoomFor(uint64_t bytes) const override { return room_; }
  absl::Status Checkpoint(wal::Lsn) override { return absl::OkStatus(); }
  absl::Status Replay(
      wal::Lsn, absl::FunctionRef<absl::Status(wal::Lsn, int64_t, std::string_view)>) override {
    return absl::UnimplementedError("not used");
  }
  wal::WalStats stats() const override { return {}; }
  void Close() override {}

  // Completes every held append with `result`; returns the payloads.
  std::vector<std::string> ReleaseAll(absl::Status result = absl::OkStatus()) {
    std::vector<Held> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.swap(held_);
    }
    std::vector<std::string> payloads;
    wal::Lsn lsn = 1;
    for (auto& h : held) {
      payloads.push_back(h.payload);
      if (result.ok()) {
        std::move(h.done)(lsn++);
      } else {
        std::move(h.done)(result);
      }
    }
    return payloads;
  }
  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  bool room_ = true;

 private:
  struct Held {
    std::string payload;
    AppendCallback done;
  };
  std::mutex mu_;
  std::vector<Held> held_;
};

std::string Traces(int spans, bool with_ids = true) {
  coltrace::ExportTraceServiceRequest req;
  auto* ss = req.add_resource_spans()->add_scope_spans();
  for (int i = 0; i < spans; ++i) {
    auto* s = ss->add_spans();
    if (with_ids) {
      s->set_trace_id(std::string(16, static_cast<char>(i + 1)));
      s->set_span_id(std::string(8, static_cast<char>(i + 1)));
    }
    s->set_name("op" + std::to_string(i));
  }
  return req.SerializeAsString();
}

struct Capture {
  std::promise<IngestResult> promise;
  std::future<IngestResult> future = promise.get_future();
};

IngestRequest MakeRequest(int64_t tenant_id, std::string body, std::shared_ptr<Capture> cap,
                          SignalType type = SignalType::kTraces,
                          otlp::Encoding enc = otlp::Encoding::kProtobuf) {
  IngestRequest r;
  r.tenant = {tenant_id, "t" + std::to_string(tenant_id), 1};
  r.type = type;
  r.encoding = enc;
  r.body = std::move(body);
  r.done = [cap](IngestResult res) { cap->promise.set_value(std::move(res)); };
  return r;
}

class PipelineTest : public ::testing::Test {
 protected:
  std::unique_ptr<Pipeline> Make(PipelineOptions o) {
    o.version = "9.9.9";
    return std::make_unique<Pipeline>(o, &wal_, &metrics_);
  }
  HoldingWal wal_;
  IngestMetrics metrics_{std::make_shared<prometheus::Registry>()};
};

TEST_F(PipelineTest, AcceptsAfterTheWalAndStoresTheOriginalBytes) {
  auto p = Make({});
  auto cap = std::make_shared<Capture>();
  const std::string body = Traces(3);
  auto req = MakeRequest(7, body, cap);
  ASSERT_TRUE(p->Submit(req).ok());
  // Nothing is answered before the WAL completes the append.
  EXPECT_EQ(cap->future.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  while (wal_.held() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto payloads = wal_.ReleaseAll();
  IngestResult res = cap->future.get();
  EXPECT_EQ(res.outcome, Outcome::kAccepted);
  EXPECT_EQ(res.accepted, 3u);
  ASSERT_EQ(payloads.size(), 1u);
  auto rec = DecodeBatchRecord(payloads[0]);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->header.tenant_id, 7);
  EXPECT_EQ(rec->header.tenant_name, "t7");
  EXPECT_EQ(rec->header.type, SignalType::kTraces);
  EXPECT_EQ(rec->header.signal_count, 3u);
  EXPECT_EQ(rec->header.observex_version, "9.9.9");
  EXPECT_GT(rec->header.ingested_at_unix_nanos, 0);
  EXPECT_EQ(rec->request, body);  // unchanged requests are stored as sent
  EXPECT_EQ(p->inflight().signals, 0u);
  EXPECT_EQ(p->inflight().bytes, 0u);
}

TEST_F(PipelineTest, JsonIsStoredAsProtobuf) {
  auto p = Make({});
  auto cap = std::make_shared<Capture>();
  auto req = MakeRequest(
      1, R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hi"}}]}]}]})",
      cap, SignalType::kLogs, otlp::Encoding::kJson);
  ASSERT_TRUE(p->Submit(req).ok());
  while (wal_.held() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto payloads = wal_.ReleaseAll();
  EXPECT_EQ(cap->future.get().outcome, Outcome::kAccepted);
  auto rec = DecodeBatchRecord(payloads[0]);
  ASSERT_TRUE(rec.ok());
  collogs::ExportLogsServiceRequest stored;
  ASSERT_TRUE(stored.ParseFromArray(rec->request.data(), static_cast<int>(rec->request.size())));
  EXPECT_EQ(stored.resource_logs(0).scope_logs(0).log_records(0).body().string_value(), "hi");
}

TEST_F(PipelineTest, MalformedAndOversizedAreRefusedWithReasons) {
  PipelineOptions o;
  o.max_decompressed_bytes = 1 << 20;
  auto p = Make(o);
  auto bad = std::make_shared<Capture>();
  auto req = MakeRequest(1, "\xff\xff\xff garbage", bad);
  ASSERT_TRUE(p->Submit(req).ok());
  IngestResult r = bad->future.get();
  EXPECT_EQ(r.outcome, Outcome::kBadRequest);
  EXPECT_NE(r.message.find("protobuf"), std::string::npos) << r.message;

  auto bomb = std::make_shared<Capture>();
  auto breq = MakeRequest(1, otlp::Gzip(std::string(8 << 20, '\0')), bomb);
  breq.gzip = true;
  ASSERT_TRUE(p->Submit(breq).ok());
  r = bomb->future.get();
  EXPECT_EQ(r.outcome, Outcome::kTooLarge);
  EXPECT_EQ(wal_.held(), 0u);
  EXPECT_EQ(p->inflight().signals, 0u);
}

TEST_F(PipelineTest, SpansWithoutIdsAreRejectedAsPartialSuccess) {
  auto p = Make({});
  coltrace::ExportTraceServiceRequest req;
  auto* ss = req.add_resource_spans()->add_scope_spans();
  auto* good = ss->add_spans();
  good->set_trace_id(std::string(16, 'a'));
  good->set_span_id(std::string(8, 'b'));
  ss->add_spans()->set_name("no ids");
  auto cap = std::make_shared<Capture>();
  auto r = MakeRequest(1, req.SerializeAsString(), cap);
  ASSERT_TRUE(p->Submit(r).ok());
  while (wal_.held() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto payloads = wal_.ReleaseAll();
  IngestResult res = cap->future.get();
  EXPECT_EQ(res.outcome, Outcome::kAccepted);
  EXPECT_EQ(res.accepted, 1u);
  EXPECT_EQ(res.rejected, 1);
  EXPECT_NE(res.message.find("traceId and spanId are required"), std::string::npos);
  auto rec = DecodeBatchRecord(payloads[0]);
  coltrace::ExportTraceServiceRequest stored;
  ASSERT_TRUE(stored.ParseFromArray(rec->request.data(), static_cast<int>(rec->request.size())));
  EXPECT_EQ(stored.resource_spans(0).scope_spans(0).spans_size(), 1);
}

TEST_F(PipelineTest, AttributeLimitsAreAppliedAndReported) {
  PipelineOptions o;
  o.limits.max_attributes = 4;
  auto p = Make(o);
  coltrace::ExportTraceServiceRequest req;
  auto* s = req.add_resource_spans()->add_scope_spans()->add_spans();
  s->set_trace_id(std::string(16, 'a'));
  s->set_span_id(std::string(8, 'b'));
  for (int i = 0; i < 10; ++i) {
    auto* kv = s->add_attributes();
    kv->set_key("k" + std::to_string(i));
    kv->mutable_value()->set_int_value(i);
  }
  auto cap = std::make_shared<Capture>();
  auto r = MakeRequest(1, req.SerializeAsString(), cap);
  ASSERT_TRUE(p->Submit(r).ok());
  while (wal_.held() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto payloads = wal_.ReleaseAll();
  IngestResult res = cap->future.get();
  EXPECT_EQ(res.outcome, Outcome::kAccepted);
  EXPECT_NE(res.message.find("6 attribute(s) dropped"), std::string::npos) << res.message;
  auto rec = DecodeBatchRecord(payloads[0]);
  EXPECT_EQ(rec->header.dropped_attributes, 6u);
  coltrace::ExportTraceServiceRequest stored;
  ASSERT_TRUE(stored.ParseFromArray(rec->request.data(), static_cast<int>(rec->request.size())));
  const auto& span = stored.resource_spans(0).scope_spans(0).spans(0);
  EXPECT_EQ(span.attributes_size(), 4);
  EXPECT_EQ(span.dropped_attributes_count(), 6u);
}

TEST_F(PipelineTest, AdmissionEnforcesQueueAndTenantShare) {
  PipelineOptions o;
  o.queue_signals = 10;
  o.tenant_share = 0.5;
  o.estimate_bytes_per_signal = 36;  // a Traces(4) body (~146 bytes) is estimated at 4
  auto p = Make(o);
  std::vector<std::shared_ptr<Capture>> caps;
  auto submit = [&](int64_t tenant, int spans) {
    caps.push_back(std::make_shared<Capture>());
    auto r = MakeRequest(tenant, Traces(spans), caps.back());
    return p->Submit(r);
  };
  // Tenant 1 takes 4 of its 5; the WAL holds them, so they stay in flight.
  ASSERT_TRUE(submit(1, 4).ok());
  while (wal_.held() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Another 4 would pass tenant 1's share of 5.
  absl::Status st = submit(1, 4);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("share"), absl::string_view::npos) << st;
  // Tenant 2 still gets in.
  ASSERT_TRUE(submit(2, 4).ok());
  while (wal_.held() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The whole queue (10) is now nearly full: 8 in flight.
  st = submit(3, 4);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("ingest queue is full"), absl::string_view::npos) << st;
  wal_.ReleaseAll();
  EXPECT_EQ(caps[0]->future.get().outcome, Outcome::kAccepted);
  // With the queue drained tenant 1 is admitted again.
  while (p->inflight().signals != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(submit(1, 4).ok());
  while (wal_.held() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  wal_.ReleaseAll();
}

TEST_F(PipelineTest, OneHugeRequestCountsAtMostItsTenantsShare) {
  PipelineOptions o;
  o.queue_signals = 10;
  o.tenant_share = 0.5;
  o.estimate_bytes_per_signal = 1;  // every body is estimated far above the whole queue
  auto p = Make(o);
  std::vector<std::shared_ptr<Capture>> caps;
  auto submit = [&](int64_t tenant, int spans) {
    caps.push_back(std::make_shared<Capture>());
    auto r = MakeRequest(tenant, Traces(spans), caps.back());
    return p->Submit(r);
  };
  ASSERT_TRUE(submit(1, 20).ok());  // idle tenant: admitted, counted as 5
  while (wal_.held() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(p->inflight().signals, 5u);  // 20 decoded spans still count only the share
  absl::Status st = submit(1, 20);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("holds its share"), absl::string_view::npos) << st;
  ASSERT_TRUE(submit(2, 20).ok()) << "another tenant must not be shut out";
  while (wal_.held() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  wal_.ReleaseAll();
  EXPECT_EQ(caps[0]->future.get().accepted, 20u);
}

TEST_F(PipelineTest, WalRefusalBecomesOverloadAndWalFullIsRefusedAtAdmission) {
  auto p = Make({});
  auto cap = std::make_shared<Capture>();
  auto r = MakeRequest(1, Traces(2), cap);
  ASSERT_TRUE(p->Submit(r).ok());
  while (wal_.held() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  wal_.ReleaseAll(absl::ResourceExhaustedError("uncheckpointed bytes at budget"));
  EXPECT_EQ(cap->future.get().outcome, Outcome::kOverloaded);

  auto cap2 = std::make_shared<Capture>();
  auto r2 = MakeRequest(1, Traces(2), cap2);
  ASSERT_TRUE(p->Submit(r2).ok());
  while (wal_.held() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  wal_.ReleaseAll(absl::InternalError("disk on fire"));
  EXPECT_EQ(cap2->future.get().outcome, Outcome::kUnavailable);

  wal_.room_ = false;
  auto cap3 = std::make_shared<Capture>();
  auto r3 = MakeRequest(1, Traces(2), cap3);
  absl::Status st = p->Submit(r3);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(r3.body.empty());  // a refused request is left with the caller
}

TEST_F(PipelineTest, ShutdownDrainsAdmittedRequestsThenRefuses) {
  auto p = Make({});
  auto cap = std::make_shared<Capture>();
  auto r = MakeRequest(1, Traces(2), cap);
  ASSERT_TRUE(p->Submit(r).ok());
  std::thread releaser([&] {
    while (wal_.held() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    wal_.ReleaseAll();
  });
  p->Shutdown();  // returns only once the admitted request completed
  releaser.join();
  EXPECT_EQ(cap->future.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  auto cap2 = std::make_shared<Capture>();
  auto r2 = MakeRequest(1, Traces(2), cap2);
  EXPECT_EQ(p->Submit(r2).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace observex::ingest
