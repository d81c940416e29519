#include "query/promql/lexer.h"

#include <cctype>
#include <cstdio>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "query/labels.h"

namespace observex::query::promql {
namespace {

const absl::flat_hash_map<std::string, Tok>& Keywords() {
  static const auto* m = new absl::flat_hash_map<std::string, Tok>{
      {"and", Tok::kLand},
      {"or", Tok::kLor},
      {"unless", Tok::kLunless},
      {"atan2", Tok::kAtan2},
      {"sum", Tok::kSum},
      {"avg", Tok::kAvg},
      {"count", Tok::kCount},
      {"min", Tok::kMin},
      {"max", Tok::kMax},
      {"group", Tok::kGroup},
      {"stddev", Tok::kStddev},
      {"stdvar", Tok::kStdvar},
      {"topk", Tok::kTopk},
      {"bottomk", Tok::kBottomk},
      {"count_values", Tok::kCountValues},
      {"quantile", Tok::kQuantile},
      {"limitk", Tok::kLimitk},
      {"limit_ratio", Tok::kLimitRatio},
      {"offset", Tok::kOffset},
      {"smoothed", Tok::kSmoothed},
      {"anchored", Tok::kAnchored},
      {"by", Tok::kBy},
      {"without", Tok::kWithout},
      {"on", Tok::kOn},
      {"ignoring", Tok::kIgnoring},
      {"group_left", Tok::kGroupLeft},
      {"group_right", Tok::kGroupRight},
      {"fill", Tok::kFill},
      {"fill_left", Tok::kFillLeft},
      {"fill_right", Tok::kFillRight},
      {"bool", Tok::kBool},
      {"start", Tok::kStart},
      {"end", Tok::kEnd},
      {"step", Tok::kStep},
      {"range", Tok::kRange},
      {"max_of", Tok::kMaxOf},
      {"min_of", Tok::kMinOf},
  };
  return *m;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }

// Go's %q of one character (the lexer reports single bytes; multi-byte runes are shown as
// the full rune when valid).
std::string QuoteRune(std::string_view input, size_t pos) {
  unsigned char c = static_cast<unsigned char>(input[pos]);
  std::string rune(1, static_cast<char>(c));
  if (c >= 0x80) {
    size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
    if (pos + len <= input.size()) rune = std::string(input.substr(pos, len));
    if (!IsValidUtf8(rune)) return "'\\ufffd'";
  }
  std::string q = QuoteGo(rune);  // "x" form
  std::string inner = q.substr(1, q.size() - 2);
  if (inner == "\\\"") inner = "\"";
  if (inner == "'") inner = "\\'";
  return "'" + inner + "'";
}

class Lexer {
 public:
  explicit Lexer(std::string_view in) : in_(in) {}

  std::vector<Token> Run() {
    while (!done_) Statements();
    return std::move(out_);
  }

 private:
  char Peek(size_t off = 0) const { return pos_ + off < in_.size() ? in_[pos_ + off] : '\0'; }
  bool AtEnd() const { return pos_ >= in_.size(); }

  void Emit(Tok t) {
    Token tok;
    tok.type = t;
    tok.pos = static_cast<int>(start_);
    tok.val = in_.substr(start_, pos_ - start_);
    out_.push_back(std::move(tok));
    start_ = pos_;
  }
  void Error(std::string msg) {
    Token tok;
    tok.type = Tok::kError;
    tok.pos = static_cast<int>(start_);
    tok.error = std::move(msg);
    out_.push_back(std::move(tok));
    done_ = true;
  }
  void SkipSpaces() {
    while (!AtEnd() && IsSpace(in_[pos_])) ++pos_;
    start_ = pos_;
  }
  void SkipComment() {
    while (!AtEnd() && in_[pos_] != '\n' && in_[pos_] != '\r') ++pos_;
    start_ = pos_;  // comments are dropped
  }

  // One step of the top-level state.
  void Statements() {
    if (brace_open_) {
      InsideBraces();
      return;
    }
    if (duration_expr_) {
      DurationExpr();
      return;
    }
    if (!AtEnd() && in_[pos_] == '#') {
      SkipComment();
      return;
    }
    if (AtEnd()) {
      if (paren_depth_ != 0) return Error("unclosed left parenthesis");
      if (bracket_open_) return Error("unclosed left bracket");
      Emit(Tok::kEOF);
      done_ = true;
      return;
    }
    char c = in_[pos_];
    if (IsSpace(c)) {
      SkipSpaces();
      return;
    }
    ++pos_;
    switch (c) {
      case ',':
        return Emit(Tok::kComma);
      case '*':
        return Emit(Tok::kMul);
      case '/':
        return Emit(Tok::kDiv);
      case '%':
        return Emit(Tok::kMod);
      case '+':
        return Emit(Tok::kAdd);
      case '-':
        return Emit(Tok::kSub);
      case '^':
        return Emit(Tok::kPow);
      case '=':
        if (Peek() == '=') {
          ++pos_;
          return Emit(Tok::kEqlc);
        }
        if (Peek() == '~') {
          return Error(absl::StrCat("unexpected character after '=': ", QuoteRune(in_, pos_)));
        }
        return Emit(Tok::kEql);
      case '!':
        if (AtEnd() || in_[pos_] != '=') {
          std::string what = AtEnd() ? "'\\x00'" : QuoteRune(in_, pos_);
          if (AtEnd()) what = "'\\uffff'";
          return Error(absl::StrCat("unexpected character after '!': ", what));
        }
        ++pos_;
        return Emit(Tok::kNeq);
      case '<':
        if (Peek() == '=') {
          ++pos_;
          return Emit(Tok::kLte);
        }
        if (Peek() == '/') {
          ++pos_;
          return Emit(Tok::kTrimUpper);
        }
        return Emit(Tok::kLss);
      case '>':
        if (Peek() == '=') {
          ++pos_;
          return Emit(Tok::kGte);
        }
        if (Peek() == '/') {
          ++pos_;
          return Emit(Tok::kTrimLower);
        }
        return Emit(Tok::kGtr);
      case '"':
      case '\'':
        return String(c);
      case '`':
        return RawString();
      case '(':
        ++paren_depth_;
        return Emit(Tok::kLeftParen);
      case ')':
        if (--paren_depth_ < 0) {
          // Reported after the parenthesis, like Prometheus.
          start_ = pos_;
          return Error("unexpected right parenthesis ')'");
        }
        return Emit(Tok::kRightParen);
      case '{':
        brace_open_ = true;
        return Emit(Tok::kLeftBrace);
      case '[':
        if (bracket_open_) return Error("unexpected left bracket '['");
        got_colon_ = false;
        got_duration_ = false;
        Emit(Tok::kLeftBracket);
        SkipSpaces();
        bracket_open_ = true;
        duration_expr_ = true;
        return;
      case ']':
        if (!bracket_open_) return Error("unexpected right bracket ']'");
        bracket_open_ = false;
        return Emit(Tok::kRightBracket);
      case '@':
        return Emit(Tok::kAt);
      default:
        break;
    }
    if (IsDigit(c) || (c == '.' && IsDigit(Peek()))) {
      --pos_;
      NumberOrDuration();
      return;
    }
    if (IsAlpha(c) || c == ':') {
      if (!bracket_open_) {
        --pos_;
        KeywordOrIdentifier();
        return;
      }
      if (c == ':') {
        if (got_colon_) return Error("unexpected colon ':'");
        got_colon_ = true;
        return Emit(Tok::kColon);
      }
      --pos_;
      if (DurationKeyword()) return;
      ++pos_;
      return Error(
          absl::StrCat("unexpected character: ", QuoteRune(in_, pos_ - 1), ", expected ':'"));
    }
    return Error(absl::StrCat("unexpected character: ", QuoteRune(in_, pos_ - 1)));
  }

  // Directly after '[' (and after ':' or an operator inside brackets) until the first
  // number or duration; mirrors Prometheus's duration-expression state.
  void DurationExpr() {
    if (AtEnd()) return Error("unexpected end of input in duration expression");
    char c = in_[pos_];
    if (IsSpace(c)) {
      SkipSpaces();
      return;
    }
    ++pos_;
    switch (c) {
      case ']':
        bracket_open_ = false;
        got_colon_ = false;
        duration_expr_ = false;
        return Emit(Tok::kRightBracket);
      case ':':
        Emit(Tok::kColon);
        if (!got_duration_) return Error("unexpected colon before duration in duration expression");
        if (got_colon_) return Error("unexpected repeated colon in duration expression");
        got_colon_ = true;
        return;
      case '(':
        ++paren_depth_;
        return Emit(Tok::kLeftParen);
      case ')':
        Emit(Tok::kRightParen);
        if (--paren_depth_ < 0) return Error("unexpected right parenthesis ')'");
        return;
      case '+':
        return Emit(Tok::kAdd);
      case '-':
        return Emit(Tok::kSub);
      case '*':
        return Emit(Tok::kMul);
      case '/':
        return Emit(Tok::kDiv);
      case '%':
        return Emit(Tok::kMod);
      case '^':
        return Emit(Tok::kPow);
      case ',':
        return Emit(Tok::kComma);
      default:
        break;
    }
    if (IsAlpha(c)) {
      --pos_;
      if (DurationKeyword()) return;
      ++pos_;
      return Error(
          absl::StrCat("unexpected character in duration expression: ", QuoteRune(in_, pos_ - 1)));
    }
    if (IsDigit(c) || (c == '.' && IsDigit(Peek()))) {
      --pos_;
      got_duration_ = true;
      duration_expr_ = false;  // back to statements, with the bracket still open
      NumberOrDuration();
      return;
    }
    return Error(
        absl::StrCat("unexpected character in duration expression: ", QuoteRune(in_, pos_ - 1)));
  }

  bool DurationKeyword() {
    size_t p = pos_;
    while (p < in_.size() && IsAlpha(in_[p])) ++p;
    std::string word = absl::AsciiStrToLower(std::string(in_.substr(pos_, p - pos_)));
    Tok t;
    if (word == "step") {
      t = Tok::kStep;
    } else if (word == "range") {
      t = Tok::kRange;
    } else if (word == "max_of") {
      t = Tok::kMaxOf;
    } else if (word == "min_of") {
      t = Tok::kMinOf;
    } else {
      return false;
    }
    pos_ = p;
    Emit(t);
    return true;
  }

  void InsideBraces() {
    if (!AtEnd() && in_[pos_] == '#') {
      SkipComment();
      return;
    }
    if (AtEnd()) return Error("unexpected end of input inside braces");
    char c = in_[pos_];
    if (IsSpace(c)) {
      SkipSpaces();
      return;
    }
    ++pos_;
    if (IsAlpha(c)) {
      while (!AtEnd() && IsAlnum(in_[pos_])) ++pos_;
      return Emit(Tok::kIdentifier);
    }
    switch (c) {
      case ',':
        return Emit(Tok::kComma);
      case '"':
      case '\'':
        return String(c);
      case '`':
        return RawString();
      case '=':
        if (Peek() == '~') {
          ++pos_;
          return Emit(Tok::kEqlRegex);
        }
        return Emit(Tok::kEql);
      case '!':
        if (Peek() == '~') {
          ++pos_;
          return Emit(Tok::kNeqRegex);
        }
        if (Peek() == '=') {
          ++pos_;
          return Emit(Tok::kNeq);
        }
        if (AtEnd()) return Error("unexpected character after '!' inside braces: '\\uffff'");
        return Error(
            absl::StrCat("unexpected character after '!' inside braces: ", QuoteRune(in_, pos_)));
      case '{':
        return Error("unexpected left brace '{'");
      case '}':
        brace_open_ = false;
        return Emit(Tok::kRightBrace);
      default:
        return Error(
            absl::StrCat("unexpected character inside braces: ", QuoteRune(in_, pos_ - 1)));
    }
  }

  // Quoted string; the opening quote has been consumed. Escapes are validated here and
  // resolved by the parser.
  void String(char quote) {
    while (true) {
      if (AtEnd()) return Error("unterminated quoted string");
      char c = in_[pos_++];
      if (c == '\n') return Error("unterminated quoted string");
      if (c == quote) break;
      if (c == '\\') {
        if (!Escape(quote)) return;
        continue;
      }
      if (static_cast<unsigned char>(c) >= 0x80) {
        size_t rs = pos_ - 1;
        size_t len = 1;
        unsigned char u = static_cast<unsigned char>(c);
        len = (u & 0xe0) == 0xc0 ? 2 : (u & 0xf0) == 0xe0 ? 3 : (u & 0xf8) == 0xf0 ? 4 : 1;
        if (len == 1 || rs + len > in_.size() || !IsValidUtf8(in_.substr(rs, len))) {
          return Error("invalid UTF-8 rune");
        }
        pos_ = rs + len;
      }
    }
    Emit(Tok::kString);
  }

  bool Escape(char quote) {
    if (AtEnd()) {
      Error("escape sequence not terminated");
      return false;
    }
    char c = in_[pos_++];
    int n = 0;
    int base = 0;
    uint32_t max = 0;
    switch (c) {
      case 'a':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'v':
      case '\\':
        return true;
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7':
        n = 3;
        base = 8;
        max = 255;
        --pos_;
        break;
      case 'x':
        n = 2;
        base = 16;
        max = 255;
        break;
      case 'u':
        n = 4;
        base = 16;
        max = 0x10ffff;
        break;
      case 'U':
        n = 8;
        base = 16;
        max = 0x10ffff;
        break;
      default:
        if (c == quote) return true;
        Error(absl::StrCat("unknown escape sequence ", UnicodeName(c)));
        return false;
    }
    uint32_t x = 0;
    for (int i = 0; i < n; ++i) {
      if (AtEnd()) {
        Error("escape sequence not terminated");
        return false;
      }
      char d = in_[pos_];
      int v = 16;
      if (d >= '0' && d <= '9') v = d - '0';
      if (d >= 'a' && d <= 'f') v = d - 'a' + 10;
      if (d >= 'A' && d <= 'F') v = d - 'A' + 10;
      if (v >= base) {
        Error(absl::StrCat("illegal character ", UnicodeName(d), " in escape sequence"));
        return false;
      }
      x = x * base + v;
      ++pos_;
    }
    if (x > max || (x >= 0xd800 && x < 0xe000)) {
      Error("escape sequence is an invalid Unicode code point");
      return false;
    }
    return true;
  }

  static std::string UnicodeName(char c) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "U+%04X", static_cast<unsigned char>(c));
    std::string out = buf;
    if (std::isprint(static_cast<unsigned char>(c)))
      out += absl::StrCat(" '", std::string(1, c), "'");
    return out;
  }

  void RawString() {
    while (true) {
      if (AtEnd()) return Error("unterminated raw string");
      char c = in_[pos_++];
      if (c == '`') break;
    }
    Emit(Tok::kString);
  }

  // Numbers: decimal with '.', exponent and '_' separators, hex (0x...), Inf/NaN are
  // lexed as identifiers-turned-numbers elsewhere. Otherwise a duration like 1h30m.
  bool ScanNumber() {
    size_t initial = pos_;
    std::string digits = "0123456789";
    auto is = [&](std::string_view set) {
      return !AtEnd() && set.find(in_[pos_]) != std::string_view::npos;
    };
    auto accept = [&](std::string_view set) {
      if (is(set)) {
        ++pos_;
        return true;
      }
      return false;
    };
    bool hex = false;
    if (Peek() == '0' && (Peek(1) == 'x' || Peek(1) == 'X')) {
      pos_ += 2;
      accept("_");
      hex = true;
      digits = "0123456789abcdefABCDEF";
    }
    accept(".");
    accept(digits);
    bool dot = false;
    bool exp = false;
    const std::string all = digits + "._eE";
    while (is(all)) {
      if (is(".") && dot) {
        ++pos_;
        return false;
      }
      if (!hex && is("eE") && exp) {
        ++pos_;
        return false;
      }
      if (accept(".")) {
        dot = true;
        if (accept("_.")) return false;
        if (hex) return false;
        continue;
      }
      if (!hex && accept("eE")) {
        exp = true;
        accept("+-");
        if (accept("._eE") || AtEnd()) return false;
        continue;
      }
      if (accept("_")) {
        if (accept("._eE") || AtEnd()) return false;
        continue;
      }
      while (accept(digits)) {
      }
    }
    if (pos_ == initial) return false;
    return AtEnd() || !IsAlnum(in_[pos_]);
  }

  // After the leading number: a unit, then optionally more number+unit pairs. Like
  // Prometheus, the character after the duration is consumed when it is alphanumeric so that
  // it shows up in the error text.
  bool AcceptRemainingDuration() {
    auto accept = [&](std::string_view set) {
      if (!AtEnd() && set.find(in_[pos_]) != std::string_view::npos) {
        ++pos_;
        return true;
      }
      return false;
    };
    if (!accept("smhdwy")) return false;
    accept("s");
    while (accept("0123456789")) {
      while (accept("0123456789")) {
      }
      if (!accept("smhdw")) return false;
      accept("s");
    }
    if (AtEnd() || !IsAlnum(in_[pos_])) return true;
    ++pos_;
    return false;
  }

  void NumberOrDuration() {
    if (ScanNumber()) return Emit(Tok::kNumber);
    if (AcceptRemainingDuration()) return Emit(Tok::kDuration);
    Error(absl::StrCat("bad number or duration syntax: ",
                       QuoteGo(in_.substr(start_, pos_ - start_))));
  }

  void KeywordOrIdentifier() {
    while (!AtEnd() && (IsAlnum(in_[pos_]) || in_[pos_] == ':')) ++pos_;
    std::string_view word = in_.substr(start_, pos_ - start_);
    std::string lower = absl::AsciiStrToLower(std::string(word));
    if (lower == "inf" || lower == "nan") return Emit(Tok::kNumber);
    auto it = Keywords().find(lower);
    if (it != Keywords().end()) {
      Tok t = it->second;
      if ((t == Tok::kFill || t == Tok::kFillLeft || t == Tok::kFillRight) && !FollowedByParen()) {
        return Emit(Tok::kIdentifier);
      }
      return Emit(t);
    }
    if (word.find(':') != std::string_view::npos) return Emit(Tok::kMetricIdentifier);
    Emit(Tok::kIdentifier);
  }

  bool FollowedByParen() const {
    size_t p = pos_;
    while (p < in_.size() && IsSpace(in_[p])) ++p;
    return p < in_.size() && in_[p] == '(';
  }

  std::string_view in_;
  size_t pos_ = 0;
  size_t start_ = 0;
  int paren_depth_ = 0;
  bool brace_open_ = false;
  bool bracket_open_ = false;
  bool duration_expr_ = false;
  bool got_colon_ = false;
  bool got_duration_ = false;
  bool done_ = false;
  std::vector<Token> out_;
};

}  // namespace

bool IsOperatorTok(Tok t) { return t >= Tok::kAdd && t <= Tok::kAt; }
bool IsAggregatorTok(Tok t) { return t >= Tok::kAvg && t <= Tok::kLimitRatio; }
bool IsKeywordTok(Tok t) { return t >= Tok::kBool && t <= Tok::kWithout; }
bool IsComparisonTok(Tok t) {
  return t == Tok::kEqlc || t == Tok::kNeq || t == Tok::kLte || t == Tok::kLss || t == Tok::kGte ||
         t == Tok::kGtr;
}
bool IsSetOperatorTok(Tok t) { return t == Tok::kLand || t == Tok::kLor || t == Tok::kLunless; }

std::string_view TokText(Tok t) {
  switch (t) {
    case Tok::kEOF:
      return "EOF";
    case Tok::kError:
      return "error";
    case Tok::kIdentifier:
      return "identifier";
    case Tok::kMetricIdentifier:
      return "metric identifier";
    case Tok::kNumber:
      return "number";
    case Tok::kDuration:
      return "duration";
    case Tok::kString:
      return "string";
    case Tok::kLeftParen:
      return "(";
    case Tok::kRightParen:
      return ")";
    case Tok::kLeftBrace:
      return "{";
    case Tok::kRightBrace:
      return "}";
    case Tok::kLeftBracket:
      return "[";
    case Tok::kRightBracket:
      return "]";
    case Tok::kComma:
      return ",";
    case Tok::kEql:
      return "=";
    case Tok::kColon:
      return ":";
    case Tok::kAdd:
      return "+";
    case Tok::kSub:
      return "-";
    case Tok::kMul:
      return "*";
    case Tok::kDiv:
      return "/";
    case Tok::kMod:
      return "%";
    case Tok::kPow:
      return "^";
    case Tok::kEqlc:
      return "==";
    case Tok::kNeq:
      return "!=";
    case Tok::kLte:
      return "<=";
    case Tok::kLss:
      return "<";
    case Tok::kGte:
      return ">=";
    case Tok::kGtr:
      return ">";
    case Tok::kEqlRegex:
      return "=~";
    case Tok::kNeqRegex:
      return "!~";
    case Tok::kLand:
      return "and";
    case Tok::kLor:
      return "or";
    case Tok::kLunless:
      return "unless";
    case Tok::kAtan2:
      return "atan2";
    case Tok::kTrimUpper:
      return "</";
    case Tok::kTrimLower:
      return ">/";
    case Tok::kAt:
      return "@";
    case Tok::kAvg:
      return "avg";
    case Tok::kBottomk:
      return "bottomk";
    case Tok::kCount:
      return "count";
    case Tok::kCountValues:
      return "count_values";
    case Tok::kGroup:
      return "group";
    case Tok::kMax:
      return "max";
    case Tok::kMin:
      return "min";
    case Tok::kQuantile:
      return "quantile";
    case Tok::kStddev:
      return "stddev";
    case Tok::kStdvar:
      return "stdvar";
    case Tok::kSum:
      return "sum";
    case Tok::kTopk:
      return "topk";
    case Tok::kLimitk:
      return "limitk";
    case Tok::kLimitRatio:
      return "limit_ratio";
    case Tok::kBool:
      return "bool";
    case Tok::kBy:
      return "by";
    case Tok::kGroupLeft:
      return "group_left";
    case Tok::kGroupRight:
      return "group_right";
    case Tok::kFill:
      return "fill";
    case Tok::kFillLeft:
      return "fill_left";
    case Tok::kFillRight:
      return "fill_right";
    case Tok::kIgnoring:
      return "ignoring";
    case Tok::kOffset:
      return "offset";
    case Tok::kSmoothed:
      return "smoothed";
    case Tok::kAnchored:
      return "anchored";
    case Tok::kOn:
      return "on";
    case Tok::kWithout:
      return "without";
    case Tok::kStart:
      return "start";
    case Tok::kEnd:
      return "end";
    case Tok::kStep:
      return "step";
    case Tok::kRange:
      return "range";
    case Tok::kMaxOf:
      return "max_of";
    case Tok::kMinOf:
      return "min_of";
  }
  return "?";
}

std::string DescribeToken(const Token& t) {
  auto quoted = [&]() -> std::string {
    std::string v(t.val);
    if (v.size() > 10) {
      // Go's %.10q truncates to ten runes before quoting.
      size_t cut = 0;
      int runes = 0;
      while (cut < v.size() && runes < 10) {
        unsigned char c = static_cast<unsigned char>(v[cut]);
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
        cut += len;
        ++runes;
      }
      if (runes == 10 && cut < v.size()) return QuoteGo(v.substr(0, cut)) + "...";
    }
    return QuoteGo(v);
  };
  switch (t.type) {
    case Tok::kEOF:
      return "end of input";
    case Tok::kError:
      return t.error;
    case Tok::kIdentifier:
      return "identifier " + QuoteGo(t.val);
    case Tok::kMetricIdentifier:
      return "metric identifier " + QuoteGo(t.val);
    case Tok::kNumber:
      return "number " + quoted();
    case Tok::kDuration:
      return "duration " + quoted();
    case Tok::kString:
      return "string " + quoted();
    default:
      break;
  }
  if (IsKeywordTok(t.type)) return absl::StrCat("<", std::string(t.val), ">");
  if (IsOperatorTok(t.type)) return absl::StrCat("<op:", std::string(t.val), ">");
  if (IsAggregatorTok(t.type)) return absl::StrCat("<aggr:", std::string(t.val), ">");
  return quoted();
}

std::vector<Token> Lex(std::string_view input) { return Lexer(input).Run(); }

}  // namespace observex::query::promql
