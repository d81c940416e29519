#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "app/commands.h"
#include "common/clock.h"
#include "metrics/naming.h"
#include "metrics/remote_write.h"
#include "otlp/otlp.h"
#include "query/series_source.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "signal/batch.h"
#include "wal/wal.h"

namespace observex::app {
namespace {

namespace fs = std::filesystem;

fs::path WalDir(const std::string& data_dir) { return fs::path(data_dir) / "wal"; }

void PutString(rapidjson::Writer<rapidjson::StringBuffer>& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// A Prometheus batch's WriteRequest as one JSON object per series
// ({"labels":{...},"samples":[[t_ms,"value"],...]}, the staleness marker as "StaleNaN") and
// one per metadata entry ({"metadata":{"name","type","help","unit"}}).
absl::Status ForEachPrometheusJson(std::string_view request,
                                   const std::function<void(std::string_view json)>& emit) {
  auto batch = metrics::ParseWriteRequest(request);
  if (!batch.ok()) return batch.status();
  for (const metrics::Series& series : batch->metrics.series) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("labels");
    w.StartObject();
    for (const query::Label& l : series.labels.items()) {
      PutString(w, l.name);
      PutString(w, l.value);
    }
    w.EndObject();
    w.Key("samples");
    w.StartArray();
    for (const query::SamplePoint& p : series.samples) {
      w.StartArray();
      w.Int64(p.t_ms);
      PutString(w, query::IsStaleNaN(p.value) ? "StaleNaN" : metrics::FormatLabelFloat(p.value));
      w.EndArray();
    }
    w.EndArray();
    w.EndObject();
    emit(std::string_view(buf.GetString(), buf.GetSize()));
  }
  for (const metrics::FamilyMetadata& md : batch->metadata) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("metadata");
    w.StartObject();
    w.Key("name");
    PutString(w, md.name);
    w.Key("type");
    PutString(w, metrics::MetadataTypeName(md.type));
    w.Key("help");
    PutString(w, md.help);
    w.Key("unit");
    PutString(w, md.unit);
    w.EndObject();
    w.EndObject();
    emit(std::string_view(buf.GetString(), buf.GetSize()));
  }
  return absl::OkStatus();
}

}  // namespace

int RunWalVerify(const std::string& data_dir) {
  const fs::path dir = WalDir(data_dir);
  if (!fs::is_directory(dir)) {
    std::cerr << "observex wal verify: no WAL directory at " << dir.string() << "\n";
    return 2;
  }
  auto report = wal::VerifyDir(dir);
  if (!report.ok()) {
    std::cerr << "observex wal verify: " << report.status().message() << "\n";
    return 1;
  }
  std::cout << "segments: " << report->segments << "\nentries: " << report->entries
            << "\nbytes: " << report->bytes << "\ncorrupt ranges: " << report->corrupt_ranges
            << "\ncorrupt bytes: " << report->corrupt_bytes
            << "\ntorn tail bytes: " << report->torn_tail_bytes << "\n";
  if (report->corrupt_ranges > 0) {
    std::cout << "result: DAMAGED (corrupt entries are skipped on recovery and counted in "
                 "observex_wal_corrupt_bytes_total)\n";
    return 1;
  }
  std::cout << "result: OK"
            << (report->torn_tail_bytes ? " (a torn tail will be truncated on next start)" : "")
            << "\n";
  return 0;
}

int RunWalDump(const std::string& data_dir, const std::string& tenant_filter,
               const std::string& type_filter) {
  const fs::path dir = WalDir(data_dir);
  if (!fs::is_directory(dir)) {
    std::cerr << "observex wal dump: no WAL directory at " << dir.string() << "\n";
    return 2;
  }
  std::optional<SignalType> only_type;
  if (!type_filter.empty()) {
    auto t = ParseSignalType(type_filter);
    if (!t.ok()) {
      std::cerr << "observex wal dump: " << t.status().message()
                << " (use traces, metrics, logs or prometheus)\n";
      return 2;
    }
    only_type = *t;
  }
  uint64_t bad_records = 0;
  std::string line;
  absl::Status st = wal::ReadDir(dir, [&](wal::Lsn lsn, int64_t ts, std::string_view payload) {
    auto rec = DecodeBatchRecord(payload);
    if (!rec.ok()) {
      ++bad_records;
      std::cerr << "observex wal dump: entry at LSN " << lsn << ": " << rec.status().message()
                << "\n";
      return absl::OkStatus();
    }
    const BatchHeader& h = rec->header;
    if (!tenant_filter.empty() && h.tenant_name != tenant_filter) return absl::OkStatus();
    if (only_type && h.type != *only_type) return absl::OkStatus();
    // The envelope is written once per entry; each signal's JSON is spliced in.
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("lsn");
    w.Uint64(lsn);
    w.Key("tenant");
    w.String(h.tenant_name.c_str(), static_cast<rapidjson::SizeType>(h.tenant_name.size()));
    w.Key("tenant_id");
    w.Int64(h.tenant_id);
    w.Key("type");
    const std::string_view type_name = SignalTypeName(h.type);
    w.String(type_name.data(), static_cast<rapidjson::SizeType>(type_name.size()));
    w.Key("ingested_at");
    const std::string ingested = FormatRfc3339Nanos(h.ingested_at_unix_nanos);
    w.String(ingested.c_str(), static_cast<rapidjson::SizeType>(ingested.size()));
    w.Key("observex_version");
    w.String(h.observex_version.c_str(),
             static_cast<rapidjson::SizeType>(h.observex_version.size()));
    w.Key("signal");
    w.Null();
    w.EndObject();
    std::string envelope(buf.GetString(), buf.GetSize());
    const std::string prefix = envelope.substr(0, envelope.size() - std::string("null}").size());
    auto print = [&](std::string_view json) {
      line.clear();
      line.append(prefix).append(json).append("}\n");
      std::cout << line;
    };
    auto each = h.type == SignalType::kPrometheus
                    ? ForEachPrometheusJson(rec->request, print)
                    : otlp::ForEachSignalJson(h.type, rec->request, print);
    if (!each.ok()) {
      ++bad_records;
      std::cerr << "observex wal dump: entry at LSN " << lsn << ": " << each.message() << "\n";
    }
    return absl::OkStatus();
  });
  std::cout.flush();
  if (!st.ok()) {
    std::cerr << "observex wal dump: " << st.message() << "\n";
    return 1;
  }
  return bad_records ? 1 : 0;
}

}  // namespace observex::app
