# OTLP <-> storage rows conversion (src/writer); included from bench/CMakeLists.txt.
find_package(benchmark CONFIG REQUIRED)
add_executable(otlp_rows_bench "${CMAKE_CURRENT_LIST_DIR}/otlp_rows_bench.cc")
target_compile_options(otlp_rows_bench PRIVATE ${OBX_WARNINGS})
target_link_libraries(otlp_rows_bench PRIVATE obx_writer benchmark::benchmark)
