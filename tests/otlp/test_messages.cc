#include "test_messages.h"

#include "absl/strings/escaping.h"

namespace observex::otlp::testing {

std::string Hex(std::string_view hex) {
  return absl::HexStringToBytes(absl::string_view(hex.data(), hex.size()));
}

void AddEveryValueKind(google::protobuf::RepeatedPtrField<common::KeyValue>* kvs) {
  AddString(kvs, "s", "text");
  common::KeyValue* kv = kvs->Add();
  kv->set_key("b");
  kv->mutable_value()->set_bool_value(true);
  kv = kvs->Add();
  kv->set_key("i");
  kv->mutable_value()->set_int_value(-9007199254740993);  // not exact as a double
  kv = kvs->Add();
  kv->set_key("d");
  kv->mutable_value()->set_double_value(2.5);
  kv = kvs->Add();
  kv->set_key("bytes");
  kv->mutable_value()->set_bytes_value(std::string("\x00\xff\x10", 3));
  kv = kvs->Add();
  kv->set_key("arr");
  auto* arr = kv->mutable_value()->mutable_array_value();
  arr->add_values()->set_string_value("x");
  arr->add_values()->set_int_value(7);
  kv = kvs->Add();
  kv->set_key("map");
  auto* map = kv->mutable_value()->mutable_kvlist_value();
  AddString(map->mutable_values(), "inner", "v");
  common::KeyValue* nested = map->mutable_values()->Add();
  nested->set_key("list");
  nested->mutable_value()->mutable_array_value()->add_values()->set_bool_value(false);
}

TraceRequest SampleTraces() {
  TraceRequest r;
  auto* rs = r.add_resource_spans();
  AddString(rs->mutable_resource()->mutable_attributes(), "service.name", "checkout");
  rs->set_schema_url("https://opentelemetry.io/schemas/1.21.0");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("lib");
  ss->mutable_scope()->set_version("1.2");
  AddString(ss->mutable_scope()->mutable_attributes(), "scope.attr", "yes");
  trace::Span* s = ss->add_spans();
  s->set_trace_id(Hex("5b8efff798038103d269b633813fc60c"));
  s->set_span_id(Hex("eee19b7ec3c1b174"));
  s->set_parent_span_id(Hex("eee19b7ec3c1b173"));
  s->set_name("GET /cart");
  s->set_kind(trace::Span::SPAN_KIND_SERVER);
  s->set_start_time_unix_nano(1544712660000000000ull);
  s->set_end_time_unix_nano(1544712661000000000ull);
  s->set_trace_state("k=v");
  s->set_flags(0x101);
  AddEveryValueKind(s->mutable_attributes());
  auto* ev = s->add_events();
  ev->set_name("exception");
  ev->set_time_unix_nano(1544712660500000000ull);
  AddString(ev->mutable_attributes(), "exception.message", "boom");
  auto* link = s->add_links();
  link->set_trace_id(Hex("0102030405060708090a0b0c0d0e0f10"));
  link->set_span_id(Hex("0102030405060708"));
  link->set_flags(1);
  AddString(link->mutable_attributes(), "link.attr", "l");
  s->mutable_status()->set_code(trace::Status::STATUS_CODE_ERROR);
  s->mutable_status()->set_message("failed");
  trace::Span* s2 = ss->add_spans();
  s2->set_trace_id(Hex("5b8efff798038103d269b633813fc60c"));
  s2->set_span_id(Hex("eee19b7ec3c1b175"));
  s2->set_name("db");
  s2->set_kind(trace::Span::SPAN_KIND_CLIENT);
  return r;
}

MetricsRequest SampleMetrics() {
  MetricsRequest r;
  auto* rm = r.add_resource_metrics();
  AddString(rm->mutable_resource()->mutable_attributes(), "service.name", "checkout");
  auto* sm = rm->add_scope_metrics();
  sm->mutable_scope()->set_name("meter");

  metrics::Metric* g = sm->add_metrics();
  g->set_name("temperature");
  g->set_unit("Cel");
  auto* gp = g->mutable_gauge()->add_data_points();
  gp->set_time_unix_nano(1000);
  gp->set_as_double(21.5);
  AddString(gp->mutable_attributes(), "room", "a");
  auto* gp2 = g->mutable_gauge()->add_data_points();
  gp2->set_time_unix_nano(2000);
  gp2->set_as_int(-3);
  auto* ex = gp2->add_exemplars();
  ex->set_time_unix_nano(1999);
  ex->set_as_double(0.5);
  ex->set_trace_id(Hex("0102030405060708090a0b0c0d0e0f10"));
  ex->set_span_id(Hex("0102030405060708"));
  AddString(ex->mutable_filtered_attributes(), "user", "u1");

  metrics::Metric* sum = sm->add_metrics();
  sum->set_name("requests");
  sum->set_description("count of requests");
  sum->mutable_sum()->set_aggregation_temporality(metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
  sum->mutable_sum()->set_is_monotonic(true);
  auto* sp = sum->mutable_sum()->add_data_points();
  sp->set_start_time_unix_nano(1);
  sp->set_time_unix_nano(2);
  sp->set_as_int(42);

  metrics::Metric* h = sm->add_metrics();
  h->set_name("latency");
  h->mutable_histogram()->set_aggregation_temporality(metrics::AGGREGATION_TEMPORALITY_DELTA);
  auto* hp = h->mutable_histogram()->add_data_points();
  hp->set_count(3);
  hp->set_sum(0.6);
  hp->add_bucket_counts(1);
  hp->add_bucket_counts(2);
  hp->add_explicit_bounds(0.25);
  hp->set_min(0.1);
  hp->set_max(0.3);
  hp->set_flags(0);

  metrics::Metric* e = sm->add_metrics();
  e->set_name("sizes");
  auto* ep = e->mutable_exponential_histogram()->add_data_points();
  e->mutable_exponential_histogram()->set_aggregation_temporality(
      metrics::AGGREGATION_TEMPORALITY_CUMULATIVE);
  ep->set_count(5);
  ep->set_sum(12);
  ep->set_scale(-2);
  ep->set_zero_count(1);
  ep->set_zero_threshold(1e-9);
  ep->mutable_positive()->set_offset(-1);
  ep->mutable_positive()->add_bucket_counts(3);
  ep->mutable_negative()->set_offset(2);
  ep->mutable_negative()->add_bucket_counts(1);

  metrics::Metric* su = sm->add_metrics();
  su->set_name("rpc");
  auto* sup = su->mutable_summary()->add_data_points();
  sup->set_count(10);
  sup->set_sum(100);
  auto* q = sup->add_quantile_values();
  q->set_quantile(0.99);
  q->set_value(20);
  return r;
}

LogsRequest SampleLogs() {
  LogsRequest r;
  auto* rl = r.add_resource_logs();
  AddString(rl->mutable_resource()->mutable_attributes(), "service.name", "checkout");
  auto* sl = rl->add_scope_logs();
  sl->mutable_scope()->set_name("logger");
  logs::LogRecord* lr = sl->add_log_records();
  lr->set_time_unix_nano(1544712660300000000ull);
  lr->set_observed_time_unix_nano(1544712660300000001ull);
  lr->set_severity_number(logs::SEVERITY_NUMBER_INFO2);
  lr->set_severity_text("Information");
  lr->set_trace_id(Hex("5b8efff798038103d269b633813fc60c"));
  lr->set_span_id(Hex("eee19b7ec3c1b174"));
  lr->mutable_body()->set_string_value("hello");
  lr->set_flags(1);
  AddEveryValueKind(lr->mutable_attributes());
  logs::LogRecord* ev = sl->add_log_records();
  ev->set_event_name("browser.page_view");
  AddString(ev->mutable_body()->mutable_kvlist_value()->mutable_values(), "url", "https://x/");
  return r;
}

}  // namespace observex::otlp::testing
