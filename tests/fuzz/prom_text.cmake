obx_fuzzer(prom_text_fuzzer SOURCES prom_text_fuzzer.cc DEPS obx_metrics obx_query)
