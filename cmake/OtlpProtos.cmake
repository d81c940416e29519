# Fetches the OTLP .proto files from their pinned npm package at configure time (never
# copied into the repo), applies patch_otlp_protos.cmake, and builds the generated
# protobuf + gRPC code as the library `obx_otlp_proto`.
set(OBX_OTLP_PROTO_PACKAGE "@opentelemetry/otlp-grpc-exporter-base@0.34.0")
set(OBX_PROTO_DIR "${CMAKE_BINARY_DIR}/protos")
set(_stamp "${OBX_PROTO_DIR}/.fetched-0.34.0-patch2")

if(NOT EXISTS "${_stamp}")
  find_program(NPM_EXECUTABLE npm REQUIRED)
  file(REMOVE_RECURSE "${OBX_PROTO_DIR}")
  file(MAKE_DIRECTORY "${OBX_PROTO_DIR}/pkg")
  message(STATUS "Fetching OTLP protos from npm package ${OBX_OTLP_PROTO_PACKAGE}")
  execute_process(
    COMMAND "${NPM_EXECUTABLE}" pack --silent "${OBX_OTLP_PROTO_PACKAGE}"
    WORKING_DIRECTORY "${OBX_PROTO_DIR}/pkg"
    RESULT_VARIABLE _rc OUTPUT_VARIABLE _tarball OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "npm pack ${OBX_OTLP_PROTO_PACKAGE} failed (${_rc}); the OTLP protos "
                        "come from the npm registry at configure time")
  endif()
  file(ARCHIVE_EXTRACT INPUT "${OBX_PROTO_DIR}/pkg/${_tarball}" DESTINATION "${OBX_PROTO_DIR}/pkg")
  file(COPY "${OBX_PROTO_DIR}/pkg/package/build/protos/opentelemetry" DESTINATION "${OBX_PROTO_DIR}")
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -DPROTO_ROOT=${OBX_PROTO_DIR}
            -P "${CMAKE_CURRENT_LIST_DIR}/patch_otlp_protos.cmake"
    RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "patching the OTLP protos failed")
  endif()
  file(WRITE "${_stamp}" "${OBX_OTLP_PROTO_PACKAGE}\n")
endif()

set(_protos
  opentelemetry/proto/common/v1/common.proto
  opentelemetry/proto/resource/v1/resource.proto
  opentelemetry/proto/trace/v1/trace.proto
  opentelemetry/proto/metrics/v1/metrics.proto
  opentelemetry/proto/logs/v1/logs.proto
  opentelemetry/proto/collector/trace/v1/trace_service.proto
  opentelemetry/proto/collector/metrics/v1/metrics_service.proto
  opentelemetry/proto/collector/logs/v1/logs_service.proto)

find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
set(_gen_dir "${CMAKE_BINARY_DIR}/gen")
set(_srcs "")
foreach(p IN LISTS _protos)
  string(REGEX REPLACE "\\.proto$" "" base "${p}")
  set(outs "${_gen_dir}/${base}.pb.cc" "${_gen_dir}/${base}.pb.h")
  set(args "--cpp_out=${_gen_dir}")
  if(p MATCHES "collector/")
    list(APPEND outs "${_gen_dir}/${base}.grpc.pb.cc" "${_gen_dir}/${base}.grpc.pb.h")
    list(APPEND args "--grpc_out=${_gen_dir}" "--plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN}")
  endif()
  add_custom_command(
    OUTPUT ${outs}
    COMMAND ${CMAKE_COMMAND} -E make_directory "${_gen_dir}"
    COMMAND protobuf::protoc -I "${OBX_PROTO_DIR}" ${args} "${OBX_PROTO_DIR}/${p}"
    DEPENDS "${OBX_PROTO_DIR}/${p}" protobuf::protoc
    COMMENT "protoc ${p}" VERBATIM)
  foreach(o IN LISTS outs)
    if(o MATCHES "\\.cc$")
      list(APPEND _srcs "${o}")
    endif()
  endforeach()
endforeach()

add_library(obx_otlp_proto STATIC ${_srcs})
target_include_directories(obx_otlp_proto SYSTEM PUBLIC "${_gen_dir}")
target_link_libraries(obx_otlp_proto PUBLIC protobuf::libprotobuf gRPC::grpc++)
# Generated code is not ours to lint or warn about.
target_compile_options(obx_otlp_proto PRIVATE -w)
