// Process-wide logging: one spdlog logger writing to stderr, level set at start-up.
// Use the OBX_LOG_* macros from any module; they are thread-safe.
#pragma once

#include <string_view>

#include "spdlog/spdlog.h"

namespace observex {

// Sets the level ("trace", "debug", "info", "warn", "error") and the line pattern.
void InitLogging(std::string_view level);

}  // namespace observex

#define OBX_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define OBX_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define OBX_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define OBX_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
