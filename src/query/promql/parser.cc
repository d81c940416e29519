#include "query/promql/parser.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "query/promql/format.h"
#include "query/promql/functions.h"

namespace observex::query::promql {
namespace {

struct ParseError {
  int pos = 0;
  std::string msg;
  bool unsupported = false;
  bool lexer = false;  // a lexical error (never decorated with parser context)
};

constexpr int kPrecOr = 1;
constexpr int kPrecAndUnless = 2;
constexpr int kPrecComparison = 3;
constexpr int kPrecAdd = 4;
constexpr int kPrecMul = 5;
constexpr int kPrecPow = 6;

int BinaryPrecedence(Tok t) {
  switch (t) {
    case Tok::kLor:
      return kPrecOr;
    case Tok::kLand:
    case Tok::kLunless:
      return kPrecAndUnless;
    case Tok::kEqlc:
    case Tok::kNeq:
    case Tok::kLte:
    case Tok::kLss:
    case Tok::kGte:
    case Tok::kGtr:
    case Tok::kTrimUpper:
    case Tok::kTrimLower:
      return kPrecComparison;
    case Tok::kAdd:
    case Tok::kSub:
      return kPrecAdd;
    case Tok::kMul:
    case Tok::kDiv:
    case Tok::kMod:
    case Tok::kAtan2:
      return kPrecMul;
    case Tok::kPow:
      return kPrecPow;
    default:
      return 0;
  }
}

// Tokens that may name a metric when they stand alone (Prometheus's metric_identifier).
bool IsMetricIdentifierTok(Tok t) {
  if (IsAggregatorTok(t)) return true;
  switch (t) {
    case Tok::kIdentifier:
    case Tok::kMetricIdentifier:
    case Tok::kBy:
    case Tok::kFill:
    case Tok::kFillLeft:
    case Tok::kFillRight:
    case Tok::kLand:
    case Tok::kLor:
    case Tok::kLunless:
    case Tok::kOffset:
    case Tok::kWithout:
    case Tok::kStart:
    case Tok::kEnd:
    case Tok::kStep:
    case Tok::kRange:
    case Tok::kAnchored:
    case Tok::kSmoothed:
    case Tok::kMaxOf:
    case Tok::kMinOf:
      return true;
    default:
      return false;
  }
}

// Tokens usable as a label name in grouping lists (Prometheus's maybe_label).
bool IsMaybeLabelTok(Tok t) {
  return IsMetricIdentifierTok(t) || t == Tok::kBool || t == Tok::kGroupLeft ||
         t == Tok::kGroupRight || t == Tok::kIgnoring || t == Tok::kOn || t == Tok::kAtan2;
}

// Go's strconv.ParseInt(s, 0, 64) for an unsigned literal: 0x hex, leading-zero octal,
// underscores between digits.
bool ParseGoInt(std::string_view s, double* out) {
  int base = 10;
  size_t i = 0;
  bool prefixed = false;
  if (s.size() > 1 && s[0] == '0') {
    if (s[1] == 'x' || s[1] == 'X') {
      base = 16;
      i = 2;
      prefixed = true;
    } else {
      base = 8;
      i = 1;
      prefixed = true;
    }
  }
  unsigned __int128 v = 0;
  bool any = false;
  bool last_underscore = prefixed;  // "0x_1" is fine, "1__0" is not
  bool last_digit = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_') {
      if (!(last_digit || (last_underscore && prefixed && !any))) return false;
      if (!last_digit && !(prefixed && !any)) return false;
      last_underscore = true;
      last_digit = false;
      continue;
    }
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    if (d >= base) return false;
    v = v * base + d;
    if (v > static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max())) return false;
    any = true;
    last_digit = true;
    last_underscore = false;
  }
  if (!any && base != 8) return false;
  if (!last_digit && any) return false;
  *out = static_cast<double>(static_cast<int64_t>(v));
  return true;
}

// Go's strconv.ParseFloat: decimal/hex floats, inf/nan, '_' between digits; overflow fails.
bool ParseGoFloat(std::string_view s, double* out, std::string* err) {
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      bool ok = i > 0 && i + 1 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i - 1])) &&
                std::isxdigit(static_cast<unsigned char>(s[i + 1]));
      if (!ok) {
        *err = absl::StrCat("strconv.ParseFloat: parsing ", QuoteGo(s), ": invalid syntax");
        return false;
      }
      continue;
    }
    clean += s[i];
  }
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(clean.c_str(), &end);
  if (clean.empty() || end != clean.c_str() + clean.size()) {
    *err = absl::StrCat("strconv.ParseFloat: parsing ", QuoteGo(s), ": invalid syntax");
    return false;
  }
  if (errno == ERANGE && std::isinf(v)) {
    *err = absl::StrCat("strconv.ParseFloat: parsing ", QuoteGo(s), ": value out of range");
    return false;
  }
  *out = v;
  return true;
}

bool DurationOutOfRange(double seconds) {
  return seconds > 9223372036.854775807 || seconds < -9223372036.854775808;
}

// Seconds to milliseconds the way Prometheus does it: round to nanoseconds, then truncate.
int64_t SecondsToMs(double seconds) {
  double ns = std::round(seconds * 1e9);
  return static_cast<int64_t>(ns / 1e6);
}

class Parser {
 public:
  Parser(std::string_view input, const ParseOptions& options)
      : input_(input), options_(options), toks_(Lex(input)) {}

  absl::StatusOr<ExprPtr> ParseQuery() {
    if (Peek().type == Tok::kEOF) {
      AddError(0, "no expression found in input");
      return Finish(nullptr);
    }
    ExprPtr e = ParseBinary(0);
    if (e && !failed_) {
      if (Peek().type != Tok::kEOF) Unexpected("", "");
    }
    if (e && errors_.empty()) Check(e.get());
    return Finish(std::move(e));
  }

  absl::StatusOr<std::vector<LabelMatcher>> ParseSelectorOnly() {
    const Token& t = Peek();
    ExprPtr e;
    if (t.type == Tok::kLeftBrace || IsMetricIdentifierTok(t.type)) e = ParseVectorSelector();
    if (!failed_ && (e == nullptr || Peek().type != Tok::kEOF)) Unexpected("", "");
    if (e && errors_.empty()) Check(e.get());
    auto r = Finish(std::move(e));
    if (!r.ok()) return r.status();
    return static_cast<VectorSelector*>(r->get())->matchers;
  }

 private:
  // ---- token helpers ----
  const Token& Peek(size_t k = 0) const {
    size_t i = std::min(pos_ + k, toks_.size() - 1);
    return toks_[i];
  }
  const Token& Next() {
    const Token& t = toks_[std::min(pos_, toks_.size() - 1)];
    if (pos_ < toks_.size() - 1) ++pos_;
    if (t.type == Tok::kRightParen || t.type == Tok::kRightBrace || t.type == Tok::kRightBracket ||
        t.type == Tok::kNumber || t.type == Tok::kDuration) {
      last_closing_ = t.end();
    }
    return t;
  }

  // ---- error helpers ----
  void AddError(int pos, std::string msg, bool unsupported = false) {
    errors_.push_back(ParseError{pos, std::move(msg), unsupported});
  }
  // Syntax error at the current token; stops parsing.
  void Unexpected(std::string_view context, std::string_view expected) {
    failed_ = true;
    const Token& t = Peek();
    if (t.type == Tok::kError) {
      AddError(t.pos, t.error);
      errors_.back().lexer = true;
      return;
    }
    std::string msg = "unexpected " + DescribeToken(t);
    if (!context.empty()) absl::StrAppend(&msg, " in ", std::string(context));
    if (!expected.empty()) absl::StrAppend(&msg, ", expected ", std::string(expected));
    AddError(t.pos, std::move(msg));
  }
  void Unsupported(int pos, std::string msg) {
    failed_ = true;
    AddError(pos, std::move(msg), /*unsupported=*/true);
  }
  bool Expect(Tok t, std::string_view context, std::string_view expected) {
    if (Peek().type != t) {
      Unexpected(context, expected);
      return false;
    }
    Next();
    return true;
  }

  absl::StatusOr<ExprPtr> Finish(ExprPtr e) {
    if (errors_.empty()) return e;
    const ParseError& err = errors_.front();
    std::string msg = absl::StrCat(PositionString(input_, err.pos), ": parse error: ", err.msg);
    if (err.unsupported) return absl::UnimplementedError(msg);
    return absl::InvalidArgumentError(msg);
  }

  // ---- expressions ----
  // depth_ tracks the depth of the tree being built (nesting and operator chains), so that
  // every later recursive walk over the tree is bounded too.
  bool Deeper() {
    if (++depth_ <= kMaxParseDepth) return true;
    if (!failed_) {
      failed_ = true;
      AddError(Peek().pos, absl::StrCat("query is nested deeper than ", kMaxParseDepth, " levels"));
    }
    return false;
  }

  ExprPtr ParseBinary(int min_prec) {
    int saved_depth = depth_;
    if (!Deeper()) return nullptr;
    ExprPtr lhs = ParseUnary();
    while (lhs && !failed_) {
      Tok op = Peek().type;
      int prec = BinaryPrecedence(op);
      if (prec == 0 || prec < min_prec) break;
      if (!Deeper()) return nullptr;
      Next();
      auto bin = std::make_unique<BinaryExpr>();
      bin->op = op;
      if (!ParseBinaryModifiers(bin.get())) return nullptr;
      ExprPtr rhs = ParseBinary(op == Tok::kPow ? prec : prec + 1);
      if (!rhs) return nullptr;
      bin->lhs = std::move(lhs);
      bin->rhs = std::move(rhs);
      lhs = std::move(bin);
    }
    depth_ = saved_depth;
    return failed_ ? nullptr : std::move(lhs);
  }

  // bool, on/ignoring(...), group_left/group_right(...), fill*(...).
  bool ParseBinaryModifiers(BinaryExpr* bin) {
    VectorMatching vm;
    if (Peek().type == Tok::kBool) {
      Next();
      bin->return_bool = true;
    }
    if (Peek().type == Tok::kOn || Peek().type == Tok::kIgnoring) {
      vm.on = Next().type == Tok::kOn;
      if (!ParseGroupingLabels(&vm.matching_labels)) return false;
      if (Peek().type == Tok::kGroupLeft || Peek().type == Tok::kGroupRight) {
        vm.card =
            Next().type == Tok::kGroupLeft ? Cardinality::kManyToOne : Cardinality::kOneToMany;
        if (Peek().type == Tok::kLeftParen) {
          if (!ParseGroupingLabels(&vm.include)) return false;
        }
      }
    }
    Tok t = Peek().type;
    if (t == Tok::kFill || t == Tok::kFillLeft || t == Tok::kFillRight) {
      Unsupported(Peek().pos, "binop fill modifiers are experimental and not supported");
      return false;
    }
    bin->matching = vm;
    return true;
  }

  bool ParseGroupingLabels(std::vector<std::string>* out) {
    if (Peek().type != Tok::kLeftParen) {
      Unexpected("grouping opts", "\"(\"");
      return false;
    }
    Next();
    out->clear();
    if (Peek().type == Tok::kRightParen) {
      Next();
      return true;
    }
    while (true) {
      const Token& t = Peek();
      if (IsMaybeLabelTok(t.type)) {
        Next();
        out->emplace_back(t.val);
      } else if (t.type == Tok::kString) {
        Next();
        std::string name;
        if (!Unquote(t, &name)) return false;
        if (!IsValidLabelName(name)) {
          AddError(t.pos, absl::StrCat("invalid label name for grouping: ", QuoteGo(name)));
        }
        out->push_back(std::move(name));
      } else {
        Unexpected("grouping opts", "label");
        return false;
      }
      if (Peek().type == Tok::kComma) {
        Next();
        if (Peek().type == Tok::kRightParen) {
          Next();
          return true;
        }
        continue;
      }
      if (Peek().type == Tok::kRightParen) {
        Next();
        return true;
      }
      Unexpected("grouping opts", "\",\" or \")\"");
      return false;
    }
  }

  ExprPtr ParseUnary() {
    Tok t = Peek().type;
    if (t == Tok::kAdd || t == Tok::kSub) {
      int start = Next().pos;
      // A unary operator binds like '*': it takes everything up to the next operator of
      // lower precedence than '^'.
      ExprPtr operand = ParseBinary(kPrecPow);
      if (!operand) return nullptr;
      if (operand->kind == NodeKind::kNumberLiteral) {
        auto* n = static_cast<NumberLiteral*>(operand.get());
        if (t == Tok::kSub) n->val = -n->val;
        n->range.start = start;
        return operand;
      }
      auto u = std::make_unique<UnaryExpr>();
      u->op = t;
      u->expr = std::move(operand);
      u->start_pos = start;
      return u;
    }
    ExprPtr e = ParsePrimary();
    if (!e) return nullptr;
    return ParsePostfix(std::move(e));
  }

  ExprPtr ParsePostfix(ExprPtr e) {
    while (e && !failed_) {
      switch (Peek().type) {
        case Tok::kLeftBracket:
          if (!Deeper()) return nullptr;
          e = ParseRangeOrSubquery(std::move(e));
          break;
        case Tok::kOffset:
          e = ParseOffset(std::move(e));
          break;
        case Tok::kAt:
          e = ParseAt(std::move(e));
          break;
        case Tok::kAnchored:
        case Tok::kSmoothed: {
          const Token& t = Peek();
          Unsupported(e->pos().start,
                      absl::StrCat(t.type == Tok::kAnchored ? "anchored" : "smoothed",
                                   " modifier is experimental and not supported"));
          return nullptr;
        }
        default:
          return e;
      }
    }
    return failed_ ? nullptr : std::move(e);
  }

  // A duration inside [...]: number or duration literal, optionally signed. Arithmetic,
  // step(), range(), min_of()/max_of() are experimental duration expressions.
  bool ParseBracketDuration(double* seconds, std::string_view context, std::string_view expected) {
    const Token& t = Peek();
    if (t.type == Tok::kStep || t.type == Tok::kRange || t.type == Tok::kMaxOf ||
        t.type == Tok::kMinOf) {
      if (Peek(1).type != Tok::kLeftParen) {
        Next();
        Unexpected(context, expected);
        return false;
      }
      Unsupported(t.pos, "experimental duration expression is not supported");
      return false;
    }
    if (t.type == Tok::kLeftParen) {
      Unsupported(t.pos, "experimental duration expression is not supported");
      return false;
    }
    int sign = 1;
    int sign_pos = -1;
    if (t.type == Tok::kAdd || t.type == Tok::kSub) {
      sign_pos = t.pos;
      sign = Next().type == Tok::kSub ? -1 : 1;
    }
    const Token& n = Peek();
    if (n.type != Tok::kNumber && n.type != Tok::kDuration) {
      if (sign_pos >= 0 &&
          (n.type == Tok::kLeftParen || n.type == Tok::kStep || n.type == Tok::kRange ||
           n.type == Tok::kMaxOf || n.type == Tok::kMinOf)) {
        Unsupported(sign_pos, "experimental duration expression is not supported");
        return false;
      }
      Unexpected(context, expected);
      return false;
    }
    Next();
    double v = 0;
    if (!LiteralValue(n, &v)) return false;
    v *= sign;
    int start = sign_pos >= 0 ? sign_pos : n.pos;
    if (IsDurationOperator(Peek().type)) {
      Unsupported(start, "experimental duration expression is not supported");
      return false;
    }
    if (DurationOutOfRange(v)) {
      AddError(start, "duration out of range");
      v = 0;
    }
    if (v <= 0) {
      AddError(start, "duration must be greater than 0");
      v = 1;
    } else if (SecondsToMs(v) == 0) {
      // Prometheus would accept sub-millisecond ranges but evaluates them as empty; the
      // printed form could not be parsed back, so reject them.
      AddError(start, "duration must be at least 1ms");
      v = 1;
    }
    *seconds = v;
    return true;
  }

  static bool IsDurationOperator(Tok t) {
    return t == Tok::kAdd || t == Tok::kSub || t == Tok::kMul || t == Tok::kDiv || t == Tok::kMod ||
           t == Tok::kPow;
  }

  ExprPtr ParseRangeOrSubquery(ExprPtr e) {
    int lbracket = Next().pos;
    double range_s = 0;
    if (!ParseBracketDuration(&range_s, "subquery or range selector",
                              "number, duration, step(), or range()")) {
      return nullptr;
    }
    if (Peek().type == Tok::kRightBracket) {
      int rb_end = Next().end();
      const char* err = nullptr;
      if (e->kind != NodeKind::kVectorSelector) {
        err = "ranges only allowed for vector selectors";
      } else {
        auto* vs = static_cast<VectorSelector*>(e.get());
        if (vs->offset_ms != 0) {
          err = "no offset modifiers allowed before range";
        } else if (vs->at != AtKind::kNone) {
          err = "no @ modifiers allowed before range";
        }
      }
      if (err != nullptr) {
        AddError(lbracket, err);
        // Keep going with a placeholder so later errors are still found in order.
        return e;
      }
      auto m = std::make_unique<MatrixSelector>();
      m->vs.reset(static_cast<VectorSelector*>(e.release()));
      m->range_ms = SecondsToMs(range_s);
      m->end_pos = rb_end;
      return m;
    }
    if (Peek().type != Tok::kColon) {
      Unexpected("subquery or range", "\":\" or \"]\"");
      return nullptr;
    }
    Next();
    auto sq = std::make_unique<SubqueryExpr>();
    sq->range_ms = SecondsToMs(range_s);
    if (Peek().type != Tok::kRightBracket) {
      double step_s = 0;
      if (!ParseBracketDuration(&step_s, "subquery selector",
                                "number, duration, step(), range(), or \"]\"")) {
        return nullptr;
      }
      sq->step_ms = SecondsToMs(step_s);
      if (Peek().type != Tok::kRightBracket) {
        Unexpected("subquery selector", "\"]\"");
        return nullptr;
      }
    }
    sq->end_pos = Next().end();
    sq->expr = std::move(e);
    return sq;
  }

  // offset <duration>, offset -<duration>, offset <number>.
  ExprPtr ParseOffset(ExprPtr e) {
    Next();
    const Token& t = Peek();
    int sign = 1;
    int start = t.pos;
    if (t.type == Tok::kAdd || t.type == Tok::kSub) {
      sign = Next().type == Tok::kSub ? -1 : 1;
    }
    const Token& n = Peek();
    if (n.type == Tok::kLeftParen || n.type == Tok::kStep || n.type == Tok::kRange ||
        n.type == Tok::kMaxOf || n.type == Tok::kMinOf) {
      Unsupported(start, "experimental duration expression is not supported");
      return nullptr;
    }
    if (n.type != Tok::kNumber && n.type != Tok::kDuration) {
      Unexpected("offset", "number, duration, step(), or range()");
      return nullptr;
    }
    Next();
    double v = 0;
    if (!LiteralValue(n, &v)) return nullptr;
    v *= sign;
    if (DurationOutOfRange(v)) {
      AddError(start, "duration out of range");
      v = 0;
    }
    int64_t off = SecondsToMs(v);
    int64_t* slot = nullptr;
    int* end = nullptr;
    switch (e->kind) {
      case NodeKind::kVectorSelector: {
        auto* vs = static_cast<VectorSelector*>(e.get());
        slot = &vs->offset_ms;
        end = &vs->range.end;
        break;
      }
      case NodeKind::kMatrixSelector: {
        auto* m = static_cast<MatrixSelector*>(e.get());
        slot = &m->vs->offset_ms;
        end = &m->end_pos;
        break;
      }
      case NodeKind::kSubquery: {
        auto* s = static_cast<SubqueryExpr*>(e.get());
        slot = &s->offset_ms;
        end = &s->end_pos;
        break;
      }
      default:
        AddError(e->pos().start,
                 "offset modifier must be preceded by an instant vector selector or range vector "
                 "selector or a subquery");
        return e;
    }
    if (*slot != 0) {
      AddError(e->pos().start, "offset may not be set multiple times");
    } else {
      *slot = off;
    }
    *end = last_closing_;
    return e;
  }

  // @ <number>, @ start(), @ end().
  ExprPtr ParseAt(ExprPtr e) {
    Next();
    AtKind kind = AtKind::kTimestamp;
    double ts = 0;
    const Token& t = Peek();
    if (t.type == Tok::kStart || t.type == Tok::kEnd) {
      kind = Next().type == Tok::kStart ? AtKind::kStart : AtKind::kEnd;
      if (!Expect(Tok::kLeftParen, "@", "timestamp")) return nullptr;
      if (!Expect(Tok::kRightParen, "@", "timestamp")) return nullptr;
    } else {
      int sign = 1;
      if (t.type == Tok::kAdd || t.type == Tok::kSub) sign = Next().type == Tok::kSub ? -1 : 1;
      const Token& n = Peek();
      if (n.type != Tok::kNumber && n.type != Tok::kDuration) {
        Unexpected("@", "timestamp");
        return nullptr;
      }
      Next();
      if (!LiteralValue(n, &ts)) return nullptr;
      ts *= sign;
    }
    AtKind* at = nullptr;
    int64_t* at_ms = nullptr;
    int* end = nullptr;
    switch (e->kind) {
      case NodeKind::kVectorSelector: {
        auto* vs = static_cast<VectorSelector*>(e.get());
        at = &vs->at;
        at_ms = &vs->at_ms;
        end = &vs->range.end;
        break;
      }
      case NodeKind::kMatrixSelector: {
        auto* m = static_cast<MatrixSelector*>(e.get());
        at = &m->vs->at;
        at_ms = &m->vs->at_ms;
        end = &m->end_pos;
        break;
      }
      case NodeKind::kSubquery: {
        auto* s = static_cast<SubqueryExpr*>(e.get());
        at = &s->at;
        at_ms = &s->at_ms;
        end = &s->end_pos;
        break;
      }
      default:
        AddError(e->pos().start,
                 "@ modifier must be preceded by an instant vector selector or range vector "
                 "selector or a subquery");
        return e;
    }
    const double max_seconds = static_cast<double>(kMaxTimestampMs) / 1000.0;
    if (kind == AtKind::kTimestamp &&
        (std::isnan(ts) || std::isinf(ts) || ts >= max_seconds || ts <= -max_seconds)) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%f", ts);
      std::string s = buf;
      if (std::isinf(ts)) s = ts > 0 ? "+Inf" : "-Inf";
      if (std::isnan(ts)) s = "NaN";
      AddError(e->pos().start, "timestamp out of bounds for @ modifier: " + s);
    }
    if (*at != AtKind::kNone) {
      AddError(e->pos().start, "@ <timestamp> may not be set multiple times");
      return e;
    }
    *at = kind;
    if (kind == AtKind::kTimestamp) {
      double ms = std::round(ts * 1000.0);
      *at_ms = (std::isfinite(ms) && std::fabs(ms) <= static_cast<double>(kMaxTimestampMs))
                   ? static_cast<int64_t>(ms)
                   : 0;
    }
    *end = last_closing_;
    return e;
  }

  // Value of a NUMBER (seconds for durations).
  bool LiteralValue(const Token& t, double* out) {
    if (t.type == Tok::kDuration) {
      auto ms = ParseDuration(t.val);
      if (!ms.ok()) {
        AddError(t.pos, std::string(ms.status().message()));
        *out = 0;
        return true;
      }
      *out = static_cast<double>(*ms / 1000) + static_cast<double>(*ms % 1000) / 1000.0;
      return true;
    }
    if (ParseGoInt(t.val, out)) return true;
    std::string err;
    if (!ParseGoFloat(t.val, out, &err)) {
      AddError(t.pos, "error parsing number: " + err);
      *out = 0;
    }
    return true;
  }

  bool Unquote(const Token& t, std::string* out) {
    auto s = UnquoteString(t.val);
    if (!s.ok()) {
      AddError(t.pos,
               absl::StrCat("error unquoting string ", QuoteGo(t.val), ": ", s.status().message()));
      return true;
    }
    *out = std::move(*s);
    return true;
  }

  ExprPtr ParsePrimary() {
    const Token& t = Peek();
    switch (t.type) {
      case Tok::kNumber:
      case Tok::kDuration: {
        Next();
        auto n = std::make_unique<NumberLiteral>();
        LiteralValue(t, &n->val);
        n->duration = t.type == Tok::kDuration;
        n->range = {t.pos, t.end()};
        return n;
      }
      case Tok::kString: {
        Next();
        auto s = std::make_unique<StringLiteral>();
        Unquote(t, &s->val);
        s->range = {t.pos, t.end()};
        return s;
      }
      case Tok::kLeftParen: {
        int start = Next().pos;
        ExprPtr inner = ParseBinary(0);
        if (!inner) return nullptr;
        if (Peek().type != Tok::kRightParen) {
          Unexpected("", "");
          return nullptr;
        }
        auto p = std::make_unique<ParenExpr>();
        p->expr = std::move(inner);
        p->range = {start, Next().end()};
        return p;
      }
      case Tok::kLeftBrace:
        return ParseVectorSelector();
      default:
        break;
    }
    if (IsAggregatorTok(t.type)) {
      Tok n = Peek(1).type;
      if (n == Tok::kLeftParen || n == Tok::kBy || n == Tok::kWithout) return ParseAggregate();
      // Anything else: the keyword names a metric, as in Prometheus's grammar.
      return ParseVectorSelector();
    }
    if (Peek(1).type == Tok::kLeftParen &&
        (t.type == Tok::kIdentifier || t.type == Tok::kStart || t.type == Tok::kEnd ||
         t.type == Tok::kStep || t.type == Tok::kRange || t.type == Tok::kMaxOf ||
         t.type == Tok::kMinOf)) {
      return ParseCall();
    }
    if (IsMetricIdentifierTok(t.type)) return ParseVectorSelector();
    Unexpected("", "");
    return nullptr;
  }

  ExprPtr ParseAggregate() {
    const Token& op = Next();
    auto agg = std::make_unique<AggregateExpr>();
    agg->op = op.type;
    agg->range.start = op.pos;
    bool modifier_first = false;
    if (Peek().type == Tok::kBy || Peek().type == Tok::kWithout) {
      agg->without = Next().type == Tok::kWithout;
      if (!ParseGroupingLabels(&agg->grouping)) return nullptr;
      modifier_first = true;
    }
    if (Peek().type != Tok::kLeftParen) {
      Unexpected("aggregation", "");
      return nullptr;
    }
    std::vector<ExprPtr> args;
    int comma_pos = -1;
    if (!ParseCallArgs(&args, &comma_pos)) return nullptr;
    agg->range.end = last_closing_;
    if (!modifier_first && (Peek().type == Tok::kBy || Peek().type == Tok::kWithout)) {
      agg->without = Next().type == Tok::kWithout;
      if (!ParseGroupingLabels(&agg->grouping)) return nullptr;
      agg->range.end = last_closing_;
    }
    if (comma_pos >= 0) {
      AddError(comma_pos, "trailing commas not allowed in function call args");
    }
    if (args.empty()) {
      AddError(agg->range.start, "no arguments for aggregate expression provided");
      return agg;
    }
    size_t want = 1;
    bool with_param = op.type == Tok::kTopk || op.type == Tok::kBottomk ||
                      op.type == Tok::kCountValues || op.type == Tok::kQuantile ||
                      op.type == Tok::kLimitk || op.type == Tok::kLimitRatio;
    if (with_param) {
      if (op.type == Tok::kLimitk || op.type == Tok::kLimitRatio) {
        Unsupported(agg->range.start, absl::StrCat("experimental aggregation ",
                                                   QuoteGo(TokText(op.type)), " is not supported"));
        return nullptr;
      }
      want = 2;
    }
    if (args.size() != want) {
      AddError(agg->range.start,
               absl::StrCat("wrong number of arguments for aggregate expression provided, "
                            "expected ",
                            want, ", got ", args.size()));
      return agg;
    }
    if (with_param) agg->param = std::move(args[0]);
    agg->expr = std::move(args[want - 1]);
    return agg;
  }

  // '(' [expr {',' expr}] ')'. A trailing comma is reported after the call is complete.
  bool ParseCallArgs(std::vector<ExprPtr>* args, int* trailing_comma) {
    Next();  // '('
    if (Peek().type == Tok::kRightParen) {
      Next();
      return true;
    }
    while (true) {
      ExprPtr a = ParseBinary(0);
      if (!a) return false;
      args->push_back(std::move(a));
      if (Peek().type == Tok::kComma) {
        int comma = Next().pos;
        if (Peek().type == Tok::kRightParen) {
          if (*trailing_comma < 0) *trailing_comma = comma;
          Next();
          return true;
        }
        continue;
      }
      if (Peek().type == Tok::kRightParen) {
        Next();
        return true;
      }
      Unexpected("", "");
      return false;
    }
  }

  ExprPtr ParseCall() {
    const Token& name = Next();
    auto call = std::make_unique<Call>();
    call->range.start = name.pos;
    std::vector<ExprPtr> args;
    int comma_pos = -1;
    if (!ParseCallArgs(&args, &comma_pos)) return nullptr;
    call->range.end = last_closing_;
    call->args = std::move(args);
    if (comma_pos >= 0) AddError(comma_pos, "trailing commas not allowed in function call args");
    std::string fname(name.val);
    const FunctionInfo* fi = FindFunction(fname);
    if (fi == nullptr) {
      AddError(name.pos, absl::StrCat("unknown function with name ", QuoteGo(fname)));
      return nullptr;
    }
    if (fi->experimental && (!fi->implemented || !options_.experimental_functions)) {
      Unsupported(name.pos,
                  absl::StrCat("experimental function ", QuoteGo(fname), " is not supported"));
      return nullptr;
    }
    call->func = fi;
    return call;
  }

  ExprPtr ParseVectorSelector() {
    auto vs = std::make_unique<VectorSelector>();
    const Token& first = Peek();
    vs->range.start = first.pos;
    bool has_name = false;
    if (first.type != Tok::kLeftBrace) {
      Next();
      vs->name = std::string(first.val);
      vs->range.end = first.end();
      has_name = true;
    }
    if (Peek().type == Tok::kLeftBrace) {
      Next();
      if (!ParseLabelMatchers(vs.get())) return nullptr;
      vs->range.end = last_closing_;
    }
    if (has_name) {
      auto m =
          LabelMatcher::Create(LabelMatcher::Type::kEqual, std::string(kMetricNameLabel), vs->name);
      vs->matchers.push_back(std::move(*m));
    }
    return vs;
  }

  // After '{': matchers separated by commas, optional trailing comma, '}'.
  bool ParseLabelMatchers(VectorSelector* vs) {
    if (Peek().type == Tok::kRightBrace) {
      Next();
      return true;
    }
    while (true) {
      const Token& name = Peek();
      std::string label;
      int label_pos = name.pos;
      bool quoted = false;
      if (name.type == Tok::kIdentifier) {
        Next();
        label = std::string(name.val);
      } else if (name.type == Tok::kString) {
        Next();
        Unquote(name, &label);
        quoted = true;
      } else {
        Unexpected("label matching", "identifier or \"}\"");
        return false;
      }
      Tok op = Peek().type;
      if (quoted && (op == Tok::kComma || op == Tok::kRightBrace)) {
        // {"metric_name"}: a quoted metric name inside the braces.
        auto m =
            LabelMatcher::Create(LabelMatcher::Type::kEqual, std::string(kMetricNameLabel), label);
        vs->matchers.push_back(std::move(*m));
      } else {
        LabelMatcher::Type type;
        switch (op) {
          case Tok::kEql:
            type = LabelMatcher::Type::kEqual;
            break;
          case Tok::kNeq:
            type = LabelMatcher::Type::kNotEqual;
            break;
          case Tok::kEqlRegex:
            type = LabelMatcher::Type::kRegexMatch;
            break;
          case Tok::kNeqRegex:
            type = LabelMatcher::Type::kRegexNoMatch;
            break;
          default:
            Unexpected("label matching", "label matching operator");
            return false;
        }
        Next();
        const Token& val = Peek();
        if (val.type != Tok::kString) {
          Unexpected("label matching", "string");
          return false;
        }
        Next();
        std::string value;
        Unquote(val, &value);
        auto m = LabelMatcher::Create(type, label, value);
        if (!m.ok()) {
          AddError(label_pos, std::string(m.status().message()));
        } else {
          vs->matchers.push_back(std::move(*m));
        }
      }
      if (Peek().type == Tok::kComma) {
        Next();
        if (Peek().type == Tok::kRightBrace) {
          Next();
          return true;
        }
        continue;
      }
      if (Peek().type == Tok::kRightBrace) {
        Next();
        return true;
      }
      Unexpected("label matching", "\",\" or \"}\"");
      return false;
    }
  }

  // ---- type checks (after a syntactically valid parse) ----
  void ExpectType(const Expr* e, ValueType want, std::string_view context) {
    ValueType got = Check(e);
    if (got != want) {
      AddError(e->pos().start,
               absl::StrCat("expected type ", std::string(DocumentedType(want)), " in ",
                            std::string(context), ", got ", std::string(DocumentedType(got))));
    }
  }

  int OperatorPos(const BinaryExpr* b) const {
    int p = b->lhs->pos().end;
    while (p < static_cast<int>(input_.size()) &&
           (input_[p] == ' ' || input_[p] == '\t' || input_[p] == '\n' || input_[p] == '\r')) {
      ++p;
    }
    return p;
  }

  ValueType Check(const Expr* e) {
    switch (e->kind) {
      case NodeKind::kAggregate: {
        auto* a = static_cast<const AggregateExpr*>(e);
        ExpectType(a->expr.get(), ValueType::kVector, "aggregation expression");
        if (a->op == Tok::kTopk || a->op == Tok::kBottomk || a->op == Tok::kQuantile) {
          ExpectType(a->param.get(), ValueType::kScalar, "aggregation parameter");
        }
        if (a->op == Tok::kCountValues) {
          ExpectType(a->param.get(), ValueType::kString, "aggregation parameter");
        }
        break;
      }
      case NodeKind::kBinary: {
        auto* b = const_cast<BinaryExpr*>(static_cast<const BinaryExpr*>(e));
        ValueType lt = Check(b->lhs.get());
        ValueType rt = Check(b->rhs.get());
        int op_pos = OperatorPos(b);
        if (b->return_bool && !IsComparisonTok(b->op)) {
          AddError(op_pos, "bool modifier can only be used on comparison operators");
        }
        if (IsComparisonTok(b->op) && !b->return_bool && lt == ValueType::kScalar &&
            rt == ValueType::kScalar) {
          AddError(op_pos, "comparisons between scalars must use BOOL modifier");
        }
        if (b->op == Tok::kTrimUpper || b->op == Tok::kTrimLower) {
          Unsupported(op_pos, absl::StrCat("operator ", QuoteGo(TokText(b->op)),
                                           " needs native histograms, which are not supported"));
        }
        if (b->matching && IsSetOperatorTok(b->op) && b->matching->card == Cardinality::kOneToOne) {
          b->matching->card = Cardinality::kManyToMany;
        }
        if (b->matching && b->matching->on) {
          for (const auto& l1 : b->matching->matching_labels) {
            for (const auto& l2 : b->matching->include) {
              if (l1 == l2) {
                AddError(op_pos, absl::StrCat("label ", QuoteGo(l1),
                                              " must not occur in ON and GROUP clause at once"));
              }
            }
          }
        }
        if (lt != ValueType::kScalar && lt != ValueType::kVector) {
          AddError(b->lhs->pos().start,
                   "binary expression must contain only scalar and instant vector types");
        }
        if (rt != ValueType::kScalar && rt != ValueType::kVector) {
          AddError(b->rhs->pos().start,
                   "binary expression must contain only scalar and instant vector types");
        }
        if ((lt != ValueType::kVector || rt != ValueType::kVector) && b->matching) {
          if (!b->matching->matching_labels.empty()) {
            AddError(b->pos().start, "vector matching only allowed between instant vectors");
          }
          b->matching.reset();
        } else if (b->matching && IsSetOperatorTok(b->op)) {
          if (b->matching->card == Cardinality::kOneToMany ||
              b->matching->card == Cardinality::kManyToOne) {
            AddError(b->pos().start, absl::StrCat("no grouping allowed for ",
                                                  QuoteGo(TokText(b->op)), " operation"));
          }
          if (b->matching->card != Cardinality::kManyToMany) {
            AddError(b->pos().start, "set operations must always be many-to-many");
          }
        }
        if ((lt == ValueType::kScalar || rt == ValueType::kScalar) && IsSetOperatorTok(b->op)) {
          AddError(b->pos().start, absl::StrCat("set operator ", QuoteGo(TokText(b->op)),
                                                " not allowed in binary scalar expression"));
        }
        break;
      }
      case NodeKind::kCall: {
        auto* c = static_cast<const Call*>(e);
        const FunctionInfo* f = c->func;
        size_t nargs = f->arg_types.size();
        size_t got = c->args.size();
        if (f->variadic == 0) {
          if (nargs != got) {
            AddError(c->range.start, absl::StrCat("expected ", nargs, " argument(s) in call to ",
                                                  QuoteGo(f->name), ", got ", got));
          }
        } else {
          size_t min = nargs - 1;
          if (min > got) {
            AddError(c->range.start,
                     absl::StrCat("expected at least ", min, " argument(s) in call to ",
                                  QuoteGo(f->name), ", got ", got));
          } else if (f->variadic > 0 && min + f->variadic < got) {
            AddError(c->range.start,
                     absl::StrCat("expected at most ", min + f->variadic,
                                  " argument(s) in call to ", QuoteGo(f->name), ", got ", got));
          }
        }
        for (size_t i = 0; i < got; ++i) {
          size_t ti = i;
          if (i >= nargs) {
            if (f->variadic == 0) break;
            ti = nargs - 1;
          }
          ValueType t = Check(c->args[i].get());
          if (t != f->arg_types[ti]) {
            AddError(c->args[i]->pos().start,
                     absl::StrCat("expected type ", std::string(DocumentedType(f->arg_types[ti])),
                                  " in call to function ", QuoteGo(f->name), ", got ",
                                  std::string(DocumentedType(t))));
          }
        }
        break;
      }
      case NodeKind::kParen:
        Check(static_cast<const ParenExpr*>(e)->expr.get());
        break;
      case NodeKind::kUnary: {
        auto* u = static_cast<const UnaryExpr*>(e);
        ValueType t = Check(u->expr.get());
        if (t != ValueType::kScalar && t != ValueType::kVector) {
          AddError(u->start_pos,
                   absl::StrCat("unary expression only allowed on expressions of type scalar or "
                                "instant vector, got ",
                                QuoteGo(DocumentedType(t))));
        }
        break;
      }
      case NodeKind::kSubquery: {
        auto* s = static_cast<const SubqueryExpr*>(e);
        ValueType t = Check(s->expr.get());
        if (t != ValueType::kVector) {
          AddError(s->pos().start, absl::StrCat("subquery is only allowed on instant vector, got ",
                                                std::string(ValueTypeName(t)), " instead"));
        }
        break;
      }
      case NodeKind::kMatrixSelector:
        Check(static_cast<const MatrixSelector*>(e)->vs.get());
        break;
      case NodeKind::kVectorSelector: {
        auto* vs = static_cast<const VectorSelector*>(e);
        if (!vs->name.empty()) {
          for (size_t i = 0; i + 1 < vs->matchers.size(); ++i) {
            if (vs->matchers[i].name() == kMetricNameLabel) {
              AddError(vs->range.start,
                       absl::StrCat("metric name must not be set twice: ", QuoteGo(vs->name),
                                    " or ", QuoteGo(vs->matchers[i].value())));
            }
          }
          break;
        }
        bool non_empty = false;
        for (const auto& m : vs->matchers) {
          if (!m.Matches("")) non_empty = true;
        }
        if (!non_empty) {
          AddError(vs->range.start, "vector selector must contain at least one non-empty matcher");
        }
        break;
      }
      default:
        break;
    }
    return e->type();
  }

  std::string_view input_;
  ParseOptions options_;
  std::vector<Token> toks_;
  size_t pos_ = 0;
  int last_closing_ = 0;
  int depth_ = 0;
  bool failed_ = false;
  std::vector<ParseError> errors_;
};

}  // namespace

absl::StatusOr<ExprPtr> ParseExpr(std::string_view query, const ParseOptions& options) {
  if (query.size() > kMaxQueryBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("query of ", query.size(), " bytes exceeds the limit of ", kMaxQueryBytes));
  }
  return Parser(query, options).ParseQuery();
}

absl::StatusOr<std::vector<LabelMatcher>> ParseMetricSelector(std::string_view selector) {
  if (selector.size() > kMaxQueryBytes) {
    return absl::InvalidArgumentError("selector too long");
  }
  return Parser(selector, ParseOptions{}).ParseSelectorOnly();
}

}  // namespace observex::query::promql
