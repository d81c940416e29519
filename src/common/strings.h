// Bridges between std::string_view and absl::string_view. Debian's abseil is built with
// its own string_view type, so the two do not convert implicitly.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace observex {

inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }
inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace observex
