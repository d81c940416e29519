# Storage micro-benchmarks (column codecs, part scans); included from bench/CMakeLists.txt.
find_package(benchmark CONFIG REQUIRED)
add_executable(storage_codec_bench "${CMAKE_CURRENT_LIST_DIR}/storage_codec_bench.cc")
target_compile_options(storage_codec_bench PRIVATE ${OBX_WARNINGS})
target_link_libraries(storage_codec_bench PRIVATE obx_storage obx_wal benchmark::benchmark)
