// PromQL tokenizer. Turns a query into a token list that ends with kEOF or, at the first
// lexical error, with kError carrying the message. The lexer is context sensitive in the same
// way as Prometheus's: inside {...} keywords are plain identifiers, inside [...] only
// durations, numbers, ':' and duration operators appear. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace observex::query::promql {

enum class Tok : uint8_t {
  kEOF,
  kError,
  kIdentifier,
  kMetricIdentifier,
  kNumber,
  kDuration,
  kString,
  kLeftParen,
  kRightParen,
  kLeftBrace,
  kRightBrace,
  kLeftBracket,
  kRightBracket,
  kComma,
  kEql,
  kColon,
  // Operators.
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kEqlc,
  kNeq,
  kLte,
  kLss,
  kGte,
  kGtr,
  kEqlRegex,
  kNeqRegex,
  kLand,
  kLor,
  kLunless,
  kAtan2,
  kTrimUpper,
  kTrimLower,
  kAt,
  // Aggregators.
  kAvg,
  kBottomk,
  kCount,
  kCountValues,
  kGroup,
  kMax,
  kMin,
  kQuantile,
  kStddev,
  kStdvar,
  kSum,
  kTopk,
  kLimitk,
  kLimitRatio,
  // Keywords.
  kBool,
  kBy,
  kGroupLeft,
  kGroupRight,
  kFill,
  kFillLeft,
  kFillRight,
  kIgnoring,
  kOffset,
  kSmoothed,
  kAnchored,
  kOn,
  kWithout,
  // Preprocessors.
  kStart,
  kEnd,
  kStep,
  kRange,
  kMaxOf,
  kMinOf,
};

struct Token {
  Tok type = Tok::kEOF;
  int pos = 0;           // byte offset of the first character
  std::string_view val;  // the token text (for kError: empty, see error)
  std::string error;     // message of a kError token
  int end() const { return pos + static_cast<int>(val.size()); }
};

bool IsOperatorTok(Tok t);
bool IsAggregatorTok(Tok t);
bool IsKeywordTok(Tok t);
bool IsComparisonTok(Tok t);
bool IsSetOperatorTok(Tok t);
// Canonical text of a fixed token ("+", "sum", "by", "(", ...).
std::string_view TokText(Tok t);
// How Prometheus names a token in "unexpected ..." messages: "end of input",
// `identifier "foo"`, "<op:+>", "<aggr:sum>", "<by>", `")"`, `number "1"`.
std::string DescribeToken(const Token& t);

std::vector<Token> Lex(std::string_view input);

}  // namespace observex::query::promql
