// PromQL pretty-printing for the `format_query` endpoint, with the layout Prometheus's own
// formatter produces: an expression whose canonical text fits in 100 bytes stays on one line;
// a longer one is split at its top-level structure (aggregation and call arguments,
// parenthesised expressions, binary operands with the operator on its own line), each level
// indented by two spaces, recursively. Pure function; thread-safe.
#pragma once

#include <string>

#include "query/promql/ast.h"

namespace observex::api::prom {

std::string Prettify(const query::promql::Expr& expr);

}  // namespace observex::api::prom
