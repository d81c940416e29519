#include "query/promql/ast.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "query/promql/format.h"
#include "query/promql/functions.h"

namespace observex::query::promql {
namespace {

void WriteLabelList(std::string* out, const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) *out += ", ";
    *out += IsLegacyLabelName(names[i]) ? names[i] : QuoteGo(names[i]);
  }
}

void WriteAtOffset(std::string* out, AtKind at, int64_t at_ms, int64_t offset_ms) {
  switch (at) {
    case AtKind::kTimestamp: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), " @ %.3f", static_cast<double>(at_ms) / 1000.0);
      *out += buf;
      break;
    }
    case AtKind::kStart:
      *out += " @ start()";
      break;
    case AtKind::kEnd:
      *out += " @ end()";
      break;
    case AtKind::kNone:
      break;
  }
  if (offset_ms > 0) {
    absl::StrAppend(out, " offset ", FormatDuration(offset_ms));
  } else if (offset_ms < 0) {
    absl::StrAppend(out, " offset -", FormatDuration(-offset_ms));
  }
}

ExprPtr CloneOrNull(const ExprPtr& e) { return e ? e->Clone() : nullptr; }

void WalkImpl(Expr* e, const std::function<void(Expr*, const std::vector<Expr*>&)>& fn,
              std::vector<Expr*>* parents) {
  if (e == nullptr) return;
  fn(e, *parents);
  parents->push_back(e);
  switch (e->kind) {
    case NodeKind::kMatrixSelector:
      WalkImpl(static_cast<MatrixSelector*>(e)->vs.get(), fn, parents);
      break;
    case NodeKind::kSubquery:
      WalkImpl(static_cast<SubqueryExpr*>(e)->expr.get(), fn, parents);
      break;
    case NodeKind::kParen:
      WalkImpl(static_cast<ParenExpr*>(e)->expr.get(), fn, parents);
      break;
    case NodeKind::kUnary:
      WalkImpl(static_cast<UnaryExpr*>(e)->expr.get(), fn, parents);
      break;
    case NodeKind::kBinary:
      WalkImpl(static_cast<BinaryExpr*>(e)->lhs.get(), fn, parents);
      WalkImpl(static_cast<BinaryExpr*>(e)->rhs.get(), fn, parents);
      break;
    case NodeKind::kAggregate:
      WalkImpl(static_cast<AggregateExpr*>(e)->expr.get(), fn, parents);
      WalkImpl(static_cast<AggregateExpr*>(e)->param.get(), fn, parents);
      break;
    case NodeKind::kCall:
      for (auto& a : static_cast<Call*>(e)->args) WalkImpl(a.get(), fn, parents);
      break;
    default:
      break;
  }
  parents->pop_back();
}

}  // namespace

std::string_view ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kNone:
      return "none";
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kVector:
      return "vector";
    case ValueType::kMatrix:
      return "matrix";
    case ValueType::kString:
      return "string";
  }
  return "none";
}

std::string_view DocumentedType(ValueType t) {
  switch (t) {
    case ValueType::kVector:
      return "instant vector";
    case ValueType::kMatrix:
      return "range vector";
    default:
      return ValueTypeName(t);
  }
}

std::string Expr::String() const {
  std::string out;
  Print(&out);
  return out;
}

void NumberLiteral::Print(std::string* out) const {
  if (duration) {
    // Duration literals carry whole milliseconds.
    double ms = val * 1000.0;
    int64_t ims = static_cast<int64_t>(ms < 0 ? ms - 0.5 : ms + 0.5);
    *out += FormatDuration(ims);
    return;
  }
  // Positive infinity prints without its sign: "+Inf ^ x" would parse as +(Inf ^ x).
  if (std::isinf(val) && val > 0) {
    *out += "Inf";
    return;
  }
  *out += FormatFloat(val);
}

ExprPtr NumberLiteral::Clone() const {
  auto n = std::make_unique<NumberLiteral>();
  n->val = val;
  n->duration = duration;
  n->range = range;
  return n;
}

void StringLiteral::Print(std::string* out) const { *out += QuoteGo(val); }

ExprPtr StringLiteral::Clone() const {
  auto n = std::make_unique<StringLiteral>();
  n->val = val;
  n->range = range;
  return n;
}

void VectorSelector::PrintBare(std::string* out) const {
  std::vector<std::string> parts;
  for (const auto& m : matchers) {
    if (m.name() == kMetricNameLabel && m.type() == LabelMatcher::Type::kEqual &&
        m.value() == name && !name.empty()) {
      continue;
    }
    parts.push_back(m.String());
  }
  *out += name;
  if (!parts.empty()) {
    std::sort(parts.begin(), parts.end());
    absl::StrAppend(out, "{", absl::StrJoin(parts, ","), "}");
  }
}

void VectorSelector::Print(std::string* out) const {
  PrintBare(out);
  WriteAtOffset(out, at, at_ms, offset_ms);
}

ExprPtr VectorSelector::Clone() const {
  auto n = std::make_unique<VectorSelector>();
  n->name = name;
  n->matchers = matchers;
  n->offset_ms = offset_ms;
  n->at = at;
  n->at_ms = at_ms;
  n->range = range;
  return n;
}

void MatrixSelector::Print(std::string* out) const {
  vs->PrintBare(out);
  absl::StrAppend(out, "[", FormatDuration(range_ms), "]");
  WriteAtOffset(out, vs->at, vs->at_ms, vs->offset_ms);
}

ExprPtr MatrixSelector::Clone() const {
  auto n = std::make_unique<MatrixSelector>();
  n->vs.reset(static_cast<VectorSelector*>(vs->Clone().release()));
  n->range_ms = range_ms;
  n->end_pos = end_pos;
  return n;
}

void SubqueryExpr::Print(std::string* out) const {
  expr->Print(out);
  absl::StrAppend(out, "[", FormatDuration(range_ms), ":",
                  step_ms != 0 ? FormatDuration(step_ms) : "", "]");
  WriteAtOffset(out, at, at_ms, offset_ms);
}

ExprPtr SubqueryExpr::Clone() const {
  auto n = std::make_unique<SubqueryExpr>();
  n->expr = expr->Clone();
  n->range_ms = range_ms;
  n->step_ms = step_ms;
  n->offset_ms = offset_ms;
  n->at = at;
  n->at_ms = at_ms;
  n->end_pos = end_pos;
  return n;
}

void ParenExpr::Print(std::string* out) const {
  *out += '(';
  expr->Print(out);
  *out += ')';
}

ExprPtr ParenExpr::Clone() const {
  auto n = std::make_unique<ParenExpr>();
  n->expr = expr->Clone();
  n->range = range;
  return n;
}

void UnaryExpr::Print(std::string* out) const {
  *out += TokText(op);
  expr->Print(out);
}

ExprPtr UnaryExpr::Clone() const {
  auto n = std::make_unique<UnaryExpr>();
  n->op = op;
  n->expr = expr->Clone();
  n->start_pos = start_pos;
  return n;
}

ValueType BinaryExpr::type() const {
  if (lhs->type() == ValueType::kScalar && rhs->type() == ValueType::kScalar) {
    return ValueType::kScalar;
  }
  return ValueType::kVector;
}

void BinaryExpr::Print(std::string* out) const {
  lhs->Print(out);
  absl::StrAppend(out, " ", std::string(TokText(op)), return_bool ? " bool" : "");
  if (matching.has_value()) {
    const VectorMatching& vm = *matching;
    bool grouped = vm.card == Cardinality::kManyToOne || vm.card == Cardinality::kOneToMany;
    if (!vm.matching_labels.empty() || vm.on || grouped) {
      absl::StrAppend(out, vm.on ? " on (" : " ignoring (");
      WriteLabelList(out, vm.matching_labels);
      *out += ')';
    }
    if (grouped) {
      absl::StrAppend(out, vm.card == Cardinality::kManyToOne ? " group_left (" : " group_right (");
      WriteLabelList(out, vm.include);
      *out += ')';
    }
  }
  *out += ' ';
  rhs->Print(out);
}

ExprPtr BinaryExpr::Clone() const {
  auto n = std::make_unique<BinaryExpr>();
  n->op = op;
  n->lhs = lhs->Clone();
  n->rhs = rhs->Clone();
  n->matching = matching;
  n->return_bool = return_bool;
  return n;
}

void AggregateExpr::Print(std::string* out) const {
  *out += TokText(op);
  if (without) {
    *out += " without (";
    WriteLabelList(out, grouping);
    *out += ") ";
  } else if (!grouping.empty()) {
    *out += " by (";
    WriteLabelList(out, grouping);
    *out += ") ";
  }
  *out += '(';
  if (param) {
    param->Print(out);
    *out += ", ";
  }
  expr->Print(out);
  *out += ')';
}

ExprPtr AggregateExpr::Clone() const {
  auto n = std::make_unique<AggregateExpr>();
  n->op = op;
  n->expr = CloneOrNull(expr);
  n->param = CloneOrNull(param);
  n->grouping = grouping;
  n->without = without;
  n->range = range;
  return n;
}

ValueType Call::type() const { return func->return_type; }

void Call::Print(std::string* out) const {
  absl::StrAppend(out, std::string(func->name), "(");
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0) *out += ", ";
    args[i]->Print(out);
  }
  *out += ')';
}

ExprPtr Call::Clone() const {
  auto n = std::make_unique<Call>();
  n->func = func;
  for (const auto& a : args) n->args.push_back(a->Clone());
  n->range = range;
  return n;
}

const Expr* Unparen(const Expr* e) {
  while (e != nullptr && e->kind == NodeKind::kParen) {
    e = static_cast<const ParenExpr*>(e)->expr.get();
  }
  return e;
}

void Walk(Expr* e, const std::function<void(Expr*, const std::vector<Expr*>&)>& fn) {
  std::vector<Expr*> parents;
  WalkImpl(e, fn, &parents);
}

}  // namespace observex::query::promql
