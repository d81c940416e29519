obx_fuzzer(wal_recovery_fuzzer SOURCES wal_recovery_fuzzer.cc DEPS obx_wal)
