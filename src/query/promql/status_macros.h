// Internal to the query module: early-return helpers for absl::Status/StatusOr.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define OBX_STATUS_CONCAT_INNER(a, b) a##b
#define OBX_STATUS_CONCAT(a, b) OBX_STATUS_CONCAT_INNER(a, b)

#define OBX_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status obx_status_ = (expr);       \
    if (!obx_status_.ok()) return obx_status_; \
  } while (0)

#define OBX_ASSIGN_OR_RETURN(lhs, expr) \
  OBX_ASSIGN_OR_RETURN_IMPL(OBX_STATUS_CONCAT(obx_statusor_, __LINE__), lhs, expr)

#define OBX_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(*tmp)
