# Adds to the pinned OTLP protos the fields that later OTLP releases defined, so that a
# payload from a current SDK or the official examples loses nothing on decode. Each edit
# names an anchor line that must exist; a missing anchor fails the configure step loudly.
# Run as: cmake -DPROTO_ROOT=<dir containing opentelemetry/> -P patch_otlp_protos.cmake
function(obx_patch file anchor addition)
  set(path "${PROTO_ROOT}/${file}")
  file(READ "${path}" text)
  string(FIND "${text}" "${addition}" already)
  if(NOT already EQUAL -1)
    return()
  endif()
  string(FIND "${text}" "${anchor}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "OTLP proto patch: anchor '${anchor}' not found in ${file}")
  endif()
  string(REPLACE "${anchor}" "${anchor}${addition}" text "${text}")
  file(WRITE "${path}" "${text}")
endfunction()

set(c "opentelemetry/proto")
# InstrumentationScope.attributes / dropped_attributes_count (OTLP 0.17).
file(READ "${PROTO_ROOT}/${c}/common/v1/common.proto" common)
string(FIND "${common}" "message InstrumentationScope {" scope_at)
if(scope_at EQUAL -1)
  message(FATAL_ERROR "OTLP proto patch: InstrumentationScope not found")
endif()
string(SUBSTRING "${common}" ${scope_at} -1 scope_tail)
string(FIND "${scope_tail}" "  string version = 2;\n" ver_at)
string(FIND "${scope_tail}" "repeated KeyValue attributes = 3;" has_attrs)
if(has_attrs EQUAL -1)
  math(EXPR insert_at "${scope_at} + ${ver_at} + 22")
  string(SUBSTRING "${common}" 0 ${insert_at} head)
  string(SUBSTRING "${common}" ${insert_at} -1 tail)
  file(WRITE "${PROTO_ROOT}/${c}/common/v1/common.proto"
    "${head}  repeated KeyValue attributes = 3;\n  uint32 dropped_attributes_count = 4;\n${tail}")
endif()

# LogRecord.event_name (OTLP 1.5).
obx_patch("${c}/logs/v1/logs.proto" "  bytes span_id = 10;\n"
  "\n  string event_name = 12;\n")
# ExponentialHistogramDataPoint.zero_threshold (OTLP 0.20).
obx_patch("${c}/metrics/v1/metrics.proto" "  optional double max = 13;\n"
  "\n  double zero_threshold = 14;\n")
# Span.flags and Span.Link.flags (OTLP 1.1).
obx_patch("${c}/trace/v1/trace.proto" "    uint32 dropped_attributes_count = 5;\n"
  "\n    fixed32 flags = 6;\n")
obx_patch("${c}/trace/v1/trace.proto" "  Status status = 15;\n"
  "\n  fixed32 flags = 16;\n")

# Export*ServiceResponse.partial_success (OTLP 0.19).
foreach(sig IN ITEMS trace metrics logs)
  if(sig STREQUAL "trace")
    set(Msg "Trace") 
    set(noun "spans")
  elseif(sig STREQUAL "metrics")
    set(Msg "Metrics")
    set(noun "data_points")
  else()
    set(Msg "Logs")
    set(noun "log_records")
  endif()
  obx_patch("${c}/collector/${sig}/v1/${sig}_service.proto"
    "message Export${Msg}ServiceResponse {\n"
    "  Export${Msg}PartialSuccess partial_success = 1;\n}\n\nmessage Export${Msg}PartialSuccess {\n  int64 rejected_${noun} = 1;\n  string error_message = 2;\n")
endforeach()
