# Store-level benchmarks: trace by id among many spans, full-scan decode of samples.
add_executable(store_bench "${CMAKE_CURRENT_LIST_DIR}/store_bench.cc")
target_compile_options(store_bench PRIVATE ${OBX_WARNINGS})
target_link_libraries(store_bench PRIVATE obx_storage)
