# WAL micro-benchmarks; include(wal.cmake) from bench/CMakeLists.txt.
find_package(benchmark CONFIG REQUIRED)
add_executable(wal_bench "${CMAKE_CURRENT_LIST_DIR}/wal_bench.cc")
target_compile_options(wal_bench PRIVATE ${OBX_WARNINGS})
target_link_libraries(wal_bench PRIVATE obx_wal benchmark::benchmark)
