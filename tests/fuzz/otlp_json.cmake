obx_fuzzer(otlp_json_fuzzer SOURCES otlp_json_fuzzer.cc DEPS obx_otlp)
