// PromQL abstract syntax tree. Nodes own their children (unique_ptr); fields are public so
// the parser, the evaluator and tests can build and inspect trees directly. String() prints a
// node back as PromQL text that parses to an equal tree (round trip), in Prometheus's
// canonical spelling: durations like "5m", numbers in shortest form, matchers sorted.
// Times are milliseconds. Trees are immutable once parsed; concurrent reads are safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "query/labels.h"
#include "query/promql/lexer.h"

namespace observex::query::promql {

enum class ValueType { kNone, kScalar, kVector, kMatrix, kString };

// "scalar", "vector", "matrix", "string", "none".
std::string_view ValueTypeName(ValueType t);
// As in user-facing messages: "instant vector", "range vector", "scalar", "string".
std::string_view DocumentedType(ValueType t);

// Byte offsets into the query text, [start, end).
struct PosRange {
  int start = 0;
  int end = 0;
};

struct FunctionInfo;

enum class NodeKind {
  kNumberLiteral,
  kStringLiteral,
  kVectorSelector,
  kMatrixSelector,
  kSubquery,
  kParen,
  kUnary,
  kBinary,
  kAggregate,
  kCall,
};

struct Expr {
  explicit Expr(NodeKind k) : kind(k) {}
  virtual ~Expr() = default;
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;

  virtual ValueType type() const = 0;
  virtual PosRange pos() const = 0;
  virtual void Print(std::string* out) const = 0;
  virtual std::unique_ptr<Expr> Clone() const = 0;
  std::string String() const;

  const NodeKind kind;
};
using ExprPtr = std::unique_ptr<Expr>;

// Largest magnitude of a timestamp (ms) in a query or an @ modifier. Together with the bound
// on durations (about 292 years) it keeps all time arithmetic far from int64 overflow.
inline constexpr int64_t kMaxTimestampMs = int64_t{1} << 62;

// How an @ modifier was written.
enum class AtKind { kNone, kTimestamp, kStart, kEnd };

struct NumberLiteral : Expr {
  NumberLiteral() : Expr(NodeKind::kNumberLiteral) {}
  double val = 0;
  bool duration = false;  // written as a duration; printed as one
  PosRange range;
  ValueType type() const override { return ValueType::kScalar; }
  PosRange pos() const override { return range; }
  void Print(std::string* out) const override;
  ExprPtr Clone() const override;
};

struct StringLiteral : Expr {
  StringLiteral() : Expr(NodeKind::kStringLiteral) {}
  std::string val;
  PosRange range;
  ValueType type() const override { return ValueType::kString; }
  PosRange pos() const override { return range; }
  void Print(std::string* out) const override;
  ExprPtr Clone() const override;
};

struct VectorSelector : Expr {
  VectorSelector() : Expr(NodeKind::kVectorSelector) {}
  std::string name;  // metric name written before the braces, "" if none
  // All matchers; includes __name__="name" when `name` is set.
  std::vector<LabelMatcher> matchers;
  int64_t offset_ms = 0;
  AtKind at = AtKind::kNone;
  int64_t at_ms = 0;  // for AtKind::kTimestamp
  PosRange range;
  ValueType type() const override { return ValueType::kVector; }
  PosRange pos() const override { return range; }
  void Print(std::string* out) const override;
  ExprPtr Clone() const override;
  // The selector without its @ and offset modifiers.
  void PrintBare(std::string* out) const;
};

struct MatrixSelector : Expr {
  MatrixSelector() : Expr(NodeKind::kMatrixSelector) {}
  std::unique_ptr<VectorSelector> vs;  // carries offset and @ of the whole selector
  int64_t range_ms = 0;
  int end_pos = 0;
  ValueType type() const override { return ValueType::kMatrix; }
  PosRange pos() const override { return {vs->range.start, end_pos}; }
  void Print(std::string* out) const override;
  ExprPtr Clone() const override;
};

struct SubqueryExpr : Expr {
  SubqueryExpr() : Expr(NodeKind::kSubquery) {}
  ExprPtr expr;
  int64_t range_ms = 0;
  int64_t step_ms = 0;  // 0: the engine's default subquery step
  int64_t offset_ms = 0;
  AtKind at = AtKind::kNone;
  int64_t at_ms = 0;
  int end_pos = 0;
  ValueType type() const override { return ValueType::kMatrix; }
  PosRange pos() const override { return {expr->pos().start, end_pos}; }
  void Print(std::string* out) const override;
  ExprPtr Clone() const override;
};

struct ParenExpr : Expr {
  ParenExpr() : Expr(NodeKind::kParen) {}
  ExprPtr expr;
  PosRange range;
  ValueType type() const override { return expr->type(); }
  PosRange pos() const override { return range; }
  void Print(std::string* out) const override;
  ExprPtr Clone() const override;
};

struct UnaryExpr : Expr {
  UnaryExpr() : Expr(NodeKind::kUnary) {}
  Tok op = Tok::kSub;  // kAdd or kSub
  ExprPtr expr;
  int start_pos = 0;
  ValueType type() const override { return expr->type(); }
  PosRange pos() const override { return {start_pos, expr->pos().end}; }
  void Print(std::string* out) const override;
  ExprPtr Clone() const override;
};

enum class Cardinality { kOneToOne, kManyToOne, kOneToMany, kManyToMany };

struct VectorMatching {
  Cardinality card = Cardinality::kOneToOne;
  std::vector<std::string> matching_labels;
  bool on = false;                   // on(...) rather than ignoring(...)
  std::vector<std::string> include;  // group_left/group_right labels
};

struct BinaryExpr : Expr {
  BinaryExpr() : Expr(NodeKind::kBinary) {}
  Tok op = Tok::kAdd;
  ExprPtr lhs;
  ExprPtr rhs;
  // Set only when both operands are instant vectors.
  std::optional<VectorMatching> matching;
  bool return_bool = false;
  ValueType type() const override;
  PosRange pos() const override { return {lhs->pos().start, rhs->pos().end}; }
  void Print(std::string* out) const override;
  ExprPtr Clone() const override;
};

struct AggregateExpr : Expr {
  AggregateExpr() : Expr(NodeKind::kAggregate) {}
  Tok op = Tok::kSum;
  ExprPtr expr;
  ExprPtr param;  // topk/bottomk/quantile/count_values/limitk/limit_ratio
  std::vector<std::string> grouping;
  bool without = false;
  PosRange range;
  ValueType type() const override { return ValueType::kVector; }
  PosRange pos() const override { return range; }
  void Print(std::string* out) const override;
  ExprPtr Clone() const override;
};

struct Call : Expr {
  Call() : Expr(NodeKind::kCall) {}
  const FunctionInfo* func = nullptr;
  std::vector<ExprPtr> args;
  PosRange range;
  ValueType type() const override;
  PosRange pos() const override { return range; }
  void Print(std::string* out) const override;
  ExprPtr Clone() const override;
};

// Strips any number of enclosing parentheses.
const Expr* Unparen(const Expr* e);

// Calls fn(node, parents) for every node in depth-first pre-order; `parents` lists the
// ancestors from the root. A MatrixSelector's VectorSelector is visited as its child.
void Walk(Expr* e, const std::function<void(Expr*, const std::vector<Expr*>&)>& fn);

}  // namespace observex::query::promql
