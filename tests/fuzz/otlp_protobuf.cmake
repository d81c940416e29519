obx_fuzzer(otlp_protobuf_fuzzer SOURCES otlp_decode_fuzzer.cc DEPS obx_otlp)
