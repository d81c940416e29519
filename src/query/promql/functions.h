// The PromQL function catalogue: name, argument types, arity and return type of every
// function Prometheus 3 knows, plus whether Prometheus marks it experimental and whether this
// engine implements it. The parser uses it for arity/type checks and to reject unsupported
// functions by name; the evaluator dispatches on the name. Static data; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "query/promql/ast.h"

namespace observex::query::promql {

struct FunctionInfo {
  std::string_view name;
  std::vector<ValueType> arg_types;
  // 0: exactly arg_types.size() arguments. Otherwise the last argument is optional and may
  // repeat: at least size()-1 arguments, at most size()-1+variadic (-1: unbounded).
  int variadic = 0;
  ValueType return_type = ValueType::kVector;
  bool experimental = false;
  bool implemented = true;
};

// nullptr for an unknown name.
const FunctionInfo* FindFunction(std::string_view name);

// Functions whose result depends on the evaluation time even when their arguments do not.
bool IsAtModifierUnsafeFunction(std::string_view name);

}  // namespace observex::query::promql
