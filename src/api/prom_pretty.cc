#include "api/prom_pretty.h"

#include <string_view>

#include "query/labels.h"
#include "query/promql/functions.h"

namespace observex::api::prom {
namespace {

using query::promql::AggregateExpr;
using query::promql::BinaryExpr;
using query::promql::Call;
using query::promql::Cardinality;
using query::promql::Expr;
using query::promql::NodeKind;
using query::promql::ParenExpr;
using query::promql::SubqueryExpr;
using query::promql::UnaryExpr;

constexpr size_t kMaxCharactersPerLine = 100;

std::string Indent(int level) { return std::string(static_cast<size_t>(level) * 2, ' '); }

bool NeedsSplit(const Expr& e) { return e.String().size() > kMaxCharactersPerLine; }

void AppendLabelList(std::string* out, const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) *out += ", ";
    *out += query::IsLegacyLabelName(names[i]) ? names[i] : query::QuoteGo(names[i]);
  }
}

// "sum by (job) " / "topk" / "avg without (instance) ".
std::string AggregateHead(const AggregateExpr& e) {
  std::string s(query::promql::TokText(e.op));
  if (e.without) {
    s += " without (";
    AppendLabelList(&s, e.grouping);
    s += ") ";
  } else if (!e.grouping.empty()) {
    s += " by (";
    AppendLabelList(&s, e.grouping);
    s += ") ";
  }
  return s;
}

// The operator with "bool" and its vector-matching clause: "/ on (job) group_left ()".
std::string BinaryOperator(const BinaryExpr& e) {
  std::string s(query::promql::TokText(e.op));
  if (e.return_bool) s += " bool";
  if (e.matching.has_value()) {
    const auto& vm = *e.matching;
    const bool grouped = vm.card == Cardinality::kManyToOne || vm.card == Cardinality::kOneToMany;
    if (!vm.matching_labels.empty() || vm.on || grouped) {
      s += vm.on ? " on (" : " ignoring (";
      AppendLabelList(&s, vm.matching_labels);
      s += ')';
    }
    if (grouped) {
      s += vm.card == Cardinality::kManyToOne ? " group_left (" : " group_right (";
      AppendLabelList(&s, vm.include);
      s += ')';
    }
  }
  return s;
}

// The "[range:step] @ ... offset ..." tail of a subquery: its text minus its inner expression.
std::string SubquerySuffix(const SubqueryExpr& e) {
  std::string whole = e.String();
  return whole.substr(e.expr->String().size());
}

std::string TrimSpace(std::string s) {
  const size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  const size_t end = s.find_last_not_of(" \t\n\r");
  return s.substr(b, end - b + 1);
}

std::string Pretty(const Expr& e, int level) {
  switch (e.kind) {
    case NodeKind::kAggregate: {
      const auto& a = static_cast<const AggregateExpr&>(e);
      if (!NeedsSplit(e)) return Indent(level) + e.String();
      std::string s = Indent(level) + AggregateHead(a) + "(\n";
      if (a.param) s += Pretty(*a.param, level + 1) + ",\n";
      s += Pretty(*a.expr, level + 1) + "\n" + Indent(level) + ")";
      return s;
    }
    case NodeKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      if (!NeedsSplit(e)) return Indent(level) + e.String();
      return Pretty(*b.lhs, level + 1) + "\n" + Indent(level) + BinaryOperator(b) + "\n" +
             Pretty(*b.rhs, level + 1);
    }
    case NodeKind::kCall: {
      const auto& c = static_cast<const Call&>(e);
      if (!NeedsSplit(e)) return Indent(level) + e.String();
      std::string s = Indent(level) + std::string(c.func->name) + "(\n";
      for (size_t i = 0; i < c.args.size(); ++i) {
        if (i > 0) s += ",\n";
        s += Pretty(*c.args[i], level + 1);
      }
      return s + "\n" + Indent(level) + ")";
    }
    case NodeKind::kParen: {
      const auto& p = static_cast<const ParenExpr&>(e);
      if (!NeedsSplit(e)) return Indent(level) + e.String();
      return Indent(level) + "(\n" + Pretty(*p.expr, level + 1) + "\n" + Indent(level) + ")";
    }
    case NodeKind::kSubquery: {
      const auto& sq = static_cast<const SubqueryExpr&>(e);
      // As in Prometheus, a subquery that fits is printed without indentation.
      if (!NeedsSplit(e)) return e.String();
      return Pretty(*sq.expr, level) + SubquerySuffix(sq);
    }
    case NodeKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      return Indent(level) + std::string(query::promql::TokText(u.op)) +
             TrimSpace(Pretty(*u.expr, level));
    }
    default:
      return Indent(level) + e.String();
  }
}

}  // namespace

std::string Prettify(const Expr& expr) { return Pretty(expr, 0); }

}  // namespace observex::api::prom
