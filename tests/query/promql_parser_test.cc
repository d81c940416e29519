#include <cmath>

#include "gtest/gtest.h"
#include "query/promql/format.h"
#include "query/promql/parser.h"

namespace observex::query::promql {
namespace {

std::string Print(std::string_view q) {
  auto e = ParseExpr(q);
  if (!e.ok()) return "ERROR: " + std::string(e.status().message());
  return (*e)->String();
}

std::string Err(std::string_view q) {
  auto e = ParseExpr(q);
  if (e.ok()) return "OK: " + (*e)->String();
  return std::string(e.status().message());
}

// Parse, print, parse again: the second print must equal the first.
void ExpectRoundTrip(std::string_view q) {
  auto e = ParseExpr(q);
  ASSERT_TRUE(e.ok()) << q << ": " << e.status();
  std::string once = (*e)->String();
  auto again = ParseExpr(once);
  ASSERT_TRUE(again.ok()) << once << ": " << again.status();
  EXPECT_EQ((*again)->String(), once) << "from " << q;
}

TEST(PromqlParserTest, RoundTripsOwnQueries) {
  const char* queries[] = {
      "up",
      "up{job=\"api\", instance!=\"a\", path=~\"/v1/.*\", code!~\"5..\"}",
      "{__name__=~\"http_.*\", env=\"prod\"}",
      "{\"service.name\"=\"checkout\"}",
      "{\"metric.with.dots\"}",
      "rate(http_requests_total[5m])",
      "rate(http_requests_total[1h30m] offset -2m @ 1700000000.5)",
      "sum by (job, \"k8s.pod\") (rate(x[1m]))",
      "sum(rate(x[1m])) without (instance)",
      "topk(3, sum by (svc) (rate(requests_total[5m])))",
      "quantile(0.9, latency_seconds)",
      "count_values(\"version\", build_info)",
      "histogram_quantile(0.99, sum by (le) (rate(req_bucket[5m])))",
      "a + on (job) group_left (team) b",
      "a / ignoring (code) group_right b",
      "a > bool 0.5",
      "a and on () b or c unless d",
      "-a ^ 2 * 3 % 4 atan2 5",
      "2 ^ 3 ^ 2",
      "(a + b) * (c - d)",
      "max_over_time(rate(x[1m])[30m:1m] @ end() offset 5m)",
      "avg_over_time(x[10m:])",
      "label_replace(up, \"dst\", \"$1\", \"src\", \"(.*)\")",
      "vector(time()) - 0x10 + 1e3 + .5 + Inf - -Inf",
      "predict_linear(disk_free[1h], 4h)",
      "sum by (x) (a)[5m:30s]",
      "\"a string with \\\"quotes\\\" and \\n newline\"",
      "`raw string`",
      "day_of_week()",
      "round(x, 0.1)",
      "sort_by_label(up, \"instance\", \"job\")",
      "up @ start()",
      "count by () (up)",
      "sum without () (up)",
  };
  for (const char* q : queries) ExpectRoundTrip(q);
}

TEST(PromqlParserTest, CanonicalSpelling) {
  EXPECT_EQ(Print("SUM BY(job)(up)"), "sum by (job) (up)");
  EXPECT_EQ(Print("sum(up) by (job)"), "sum by (job) (up)");
  EXPECT_EQ(Print("sum by () (up)"), "sum(up)");
  EXPECT_EQ(Print("x[90m]"), "x[1h30m]");
  EXPECT_EQ(Print("x[100]"), "x[1m40s]");
  EXPECT_EQ(Print("x offset 1.5"), "x offset 1s500ms");
  EXPECT_EQ(Print("x @ 100"), "x @ 100.000");
  EXPECT_EQ(Print("x @ 1m40s"), "x @ 100.000");
  EXPECT_EQ(Print("x offset 50s @ 100"), "x @ 100.000 offset 50s");
  EXPECT_EQ(Print("x{b=\"1\",a=\"2\"}"), "x{a=\"2\",b=\"1\"}");
  EXPECT_EQ(Print("{__name__=\"x\"}"), "{__name__=\"x\"}");
  EXPECT_EQ(Print("0x1F"), "31");
  EXPECT_EQ(Print("1_000"), "1000");
  EXPECT_EQ(Print("010"), "8");  // Go integer syntax: leading zero is octal
  EXPECT_EQ(Print("12.34e6"), "12340000");
  EXPECT_EQ(Print("- 1"), "-1");
  EXPECT_EQ(Print("-(1)"), "-(1)");
  EXPECT_EQ(Print("+Inf"), "Inf");
  EXPECT_EQ(Print("Inf ^ x % y"), "Inf ^ x % y");
  EXPECT_EQ(Print("nan"), "NaN");
  EXPECT_EQ(Print("1h"), "1h");
  EXPECT_EQ(Print("-1h"), "-1h");
  EXPECT_EQ(Print("'single'"), "\"single\"");
  EXPECT_EQ(Print("a AND ON(x) b"), "a and on (x) b");
  EXPECT_EQ(Print("a * on(x) group_left b"), "a * on (x) group_left () b");
  EXPECT_EQ(Print("rate(x[5m:])"), "rate(x[5m:])");
}

TEST(PromqlParserTest, KeywordsCanBeMetricNames) {
  EXPECT_EQ(Print("sum"), "sum");
  EXPECT_EQ(Print("by"), "by");
  EXPECT_EQ(Print("offset offset 5m"), "offset offset 5m");
  EXPECT_EQ(Print("count{a=\"b\"}"), "count{a=\"b\"}");
  EXPECT_EQ(Print("rate"), "rate");
  EXPECT_EQ(Print("sum(by)"), "sum(by)");
}

TEST(PromqlParserTest, PrecedenceAndAssociativity) {
  // '^' is right-associative and binds tighter than unary minus.
  auto e = ParseExpr("-2 ^ 2");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->kind, NodeKind::kUnary);
  e = ParseExpr("2 ^ 3 ^ 2");
  ASSERT_TRUE(e.ok());
  auto* b = static_cast<BinaryExpr*>(e->get());
  EXPECT_EQ(b->lhs->kind, NodeKind::kNumberLiteral);
  EXPECT_EQ(b->rhs->kind, NodeKind::kBinary);
  // '-' is left-associative.
  e = ParseExpr("1 - 2 - 3");
  ASSERT_TRUE(e.ok());
  b = static_cast<BinaryExpr*>(e->get());
  EXPECT_EQ(b->lhs->kind, NodeKind::kBinary);
  // Unary minus binds like '*': (-a) * b.
  e = ParseExpr("-a * b");
  ASSERT_TRUE(e.ok());
  b = static_cast<BinaryExpr*>(e->get());
  EXPECT_EQ(b->op, Tok::kMul);
  EXPECT_EQ(b->lhs->kind, NodeKind::kUnary);
  // 'or' binds loosest, comparisons between '+' and 'and'.
  e = ParseExpr("a or b and c > d + e");
  ASSERT_TRUE(e.ok());
  b = static_cast<BinaryExpr*>(e->get());
  EXPECT_EQ(b->op, Tok::kLor);
  auto* rhs = static_cast<BinaryExpr*>(b->rhs.get());
  EXPECT_EQ(rhs->op, Tok::kLand);
  auto* cmp = static_cast<BinaryExpr*>(rhs->rhs.get());
  EXPECT_EQ(cmp->op, Tok::kGtr);
  EXPECT_EQ(static_cast<BinaryExpr*>(cmp->rhs.get())->op, Tok::kAdd);
  // Modifiers bind to the nearest selector.
  e = ParseExpr("a + b offset 5m");
  ASSERT_TRUE(e.ok());
  b = static_cast<BinaryExpr*>(e->get());
  EXPECT_EQ(static_cast<VectorSelector*>(b->rhs.get())->offset_ms, 300000);
}

TEST(PromqlParserTest, ModifiersAndTimes) {
  auto e = ParseExpr("x[5m] offset -1m @ 1.234");
  ASSERT_TRUE(e.ok());
  auto* m = static_cast<MatrixSelector*>(e->get());
  EXPECT_EQ(m->range_ms, 300000);
  EXPECT_EQ(m->vs->offset_ms, -60000);
  EXPECT_EQ(m->vs->at, AtKind::kTimestamp);
  EXPECT_EQ(m->vs->at_ms, 1234);
  e = ParseExpr("sum(x)[1h:5m] @ start()");
  ASSERT_TRUE(e.ok());
  auto* s = static_cast<SubqueryExpr*>(e->get());
  EXPECT_EQ(s->range_ms, 3600000);
  EXPECT_EQ(s->step_ms, 300000);
  EXPECT_EQ(s->at, AtKind::kStart);
}

TEST(PromqlParserTest, SyntaxErrorsNamePositionAndExpectation) {
  EXPECT_EQ(Err("1 +"), "1:4: parse error: unexpected end of input");
  EXPECT_EQ(Err("foo bar"), "1:5: parse error: unexpected identifier \"bar\"");
  EXPECT_EQ(Err("foo{"), "1:5: parse error: unexpected end of input inside braces");
  EXPECT_EQ(Err("sum(foo"), "1:8: parse error: unclosed left parenthesis");
  EXPECT_EQ(Err("foo{a}"),
            "1:6: parse error: unexpected \"}\" in label matching, expected label matching "
            "operator");
  EXPECT_EQ(Err("foo{a=}"),
            "1:7: parse error: unexpected \"}\" in label matching, expected string");
  EXPECT_EQ(Err("foo{a=\"b\" c=\"d\"}"),
            "1:11: parse error: unexpected identifier \"c\" in label matching, expected \",\" or "
            "\"}\"");
  EXPECT_EQ(Err("foo[]"),
            "1:5: parse error: unexpected \"]\" in subquery or range selector, expected number, "
            "duration, step(), or range()");
  EXPECT_EQ(Err("foo offset"),
            "1:11: parse error: unexpected end of input in offset, expected number, duration, "
            "step(), or range()");
  EXPECT_EQ(Err("foo @"), "1:6: parse error: unexpected end of input in @, expected timestamp");
  EXPECT_EQ(Err("a + on b"),
            "1:8: parse error: unexpected identifier \"b\" in grouping opts, expected \"(\"");
  EXPECT_EQ(Err("1 + \n  )"), "2:4: parse error: unexpected right parenthesis ')'");
  EXPECT_EQ(Err("5x"), "1:1: parse error: bad number or duration syntax: \"5\"");
  EXPECT_EQ(Err("\"abc"), "1:1: parse error: unterminated quoted string");
  EXPECT_EQ(Err("#only a comment"), "1:1: parse error: no expression found in input");
}

TEST(PromqlParserTest, SemanticErrors) {
  EXPECT_EQ(Err("foo(bar)"), "1:1: parse error: unknown function with name \"foo\"");
  EXPECT_EQ(Err("rate(up)"),
            "1:6: parse error: expected type range vector in call to function \"rate\", got "
            "instant vector");
  EXPECT_EQ(Err("round()"),
            "1:1: parse error: expected at least 1 argument(s) in call to \"round\", got 0");
  EXPECT_EQ(Err("abs(a, b)"), "1:1: parse error: expected 1 argument(s) in call to \"abs\", got 2");
  EXPECT_EQ(Err("rate(x[5m],)"),
            "1:11: parse error: trailing commas not allowed in function call args");
  EXPECT_EQ(Err("{}"),
            "1:1: parse error: vector selector must contain at least one non-empty "
            "matcher");
  EXPECT_EQ(Err("{a=~\".*\"}"),
            "1:1: parse error: vector selector must contain at least one non-empty matcher");
  EXPECT_EQ(Err("foo{__name__=\"bar\"}"),
            "1:1: parse error: metric name must not be set twice: \"foo\" or \"bar\"");
  EXPECT_EQ(Err("1 > 2"), "1:3: parse error: comparisons between scalars must use BOOL modifier");
  EXPECT_EQ(Err("a + bool b"),
            "1:3: parse error: bool modifier can only be used on comparison operators");
  EXPECT_EQ(Err("1 and 2"),
            "1:1: parse error: set operator \"and\" not allowed in binary scalar expression");
  EXPECT_EQ(Err("a and on(x) group_left b"),
            "1:1: parse error: no grouping allowed for \"and\" operation");
  EXPECT_EQ(Err("1 + on(x) a"),
            "1:1: parse error: vector matching only allowed between instant vectors");
  EXPECT_EQ(Err("(foo)[5m]"), "1:6: parse error: ranges only allowed for vector selectors");
  EXPECT_EQ(Err("foo offset 1m[5m]"),
            "1:14: parse error: no offset modifiers allowed before range");
  EXPECT_EQ(Err("foo offset 1m offset 2m"),
            "1:1: parse error: offset may not be set multiple times");
  EXPECT_EQ(Err("foo @ 1 @ 2"), "1:1: parse error: @ <timestamp> may not be set multiple times");
  EXPECT_EQ(Err("1 offset 1m"),
            "1:1: parse error: offset modifier must be preceded by an instant vector selector or "
            "range vector selector or a subquery");
  EXPECT_EQ(Err("foo[0s]"), "1:5: parse error: duration must be greater than 0");
  EXPECT_EQ(Err("foo[5m][1m:]"),
            "1:1: parse error: subquery is only allowed on instant vector, got matrix instead");
  EXPECT_EQ(Err("-foo[5m]"),
            "1:1: parse error: unary expression only allowed on expressions of type scalar or "
            "instant vector, got \"range vector\"");
  EXPECT_EQ(Err("topk(x, y)"),
            "1:6: parse error: expected type scalar in aggregation parameter, got instant vector");
  EXPECT_EQ(Err("topk(5)"),
            "1:1: parse error: wrong number of arguments for aggregate expression provided, "
            "expected 2, got 1");
  EXPECT_EQ(Err("sum()"), "1:1: parse error: no arguments for aggregate expression provided");
  EXPECT_EQ(Err("x{a=~\"(\"}"), Err("x{a=~\"(\"}"));  // deterministic
  EXPECT_NE(Err("x{a=~\"(\"}").find("1:3: parse error: error parsing regexp"), std::string::npos);
  EXPECT_EQ(Err("holt_winters(x[5m], 0.5, 0.5)"),
            "1:1: parse error: unknown function with name \"holt_winters\"");
  EXPECT_EQ(Err("1e400"),
            "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e400\": value "
            "out of range");
}

TEST(PromqlParserTest, UnsupportedFeaturesFailLoudly) {
  struct Case {
    const char* query;
    const char* feature;
  };
  const Case cases[] = {
      {"limitk(2, up)", "experimental aggregation \"limitk\" is not supported"},
      {"limit_ratio(0.5, up)", "experimental aggregation \"limit_ratio\" is not supported"},
      {"info(up)", "experimental function \"info\" is not supported"},
      {"start_timestamp(up)", "experimental function \"start_timestamp\" is not supported"},
      {"up[5m+1m]", "experimental duration expression is not supported"},
      {"up offset step()", "experimental duration expression is not supported"},
      {"rate(up[5m] anchored)", "anchored modifier is experimental and not supported"},
      {"up smoothed", "smoothed modifier is experimental and not supported"},
      {"a + fill(0) b", "binop fill modifiers are experimental and not supported"},
  };
  for (const auto& c : cases) {
    auto e = ParseExpr(c.query);
    ASSERT_FALSE(e.ok()) << c.query;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kUnimplemented) << c.query;
    EXPECT_NE(e.status().message().find(c.feature), std::string::npos)
        << c.query << ": " << e.status().message();
  }
  ParseOptions strict;
  strict.experimental_functions = false;
  auto e = ParseExpr("sort_by_label(up, \"job\")", strict);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_TRUE(ParseExpr("sort_by_label(up, \"job\")").ok());
}

TEST(PromqlParserTest, DeepNestingIsRejectedNotCrashing) {
  std::string deep(5000, '(');
  deep += "1";
  deep += std::string(5000, ')');
  auto e = ParseExpr(deep);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("nested deeper"), std::string::npos);
  std::string chain = "a";
  for (int i = 0; i < 5000; ++i) chain += " + a";
  EXPECT_FALSE(ParseExpr(chain).ok());
  std::string ok_chain = "a";
  for (int i = 0; i < 100; ++i) ok_chain += " or a";
  EXPECT_TRUE(ParseExpr(ok_chain).ok());
}

TEST(PromqlParserTest, MetricSelector) {
  auto m = ParseMetricSelector("up{job=\"api\"}");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 2u);
  EXPECT_FALSE(ParseMetricSelector("sum(up)").ok());
  EXPECT_FALSE(ParseMetricSelector("{}").ok());
}

TEST(PromqlFormatTest, FloatsAndDurations) {
  EXPECT_EQ(FormatFloat(0.1), "0.1");
  EXPECT_EQ(FormatFloat(1e21), "1000000000000000000000");
  EXPECT_EQ(FormatFloat(-2.5e-7), "-0.00000025");
  EXPECT_EQ(FormatFloat(INFINITY), "+Inf");
  EXPECT_EQ(FormatFloatG(1e6), "1e+06");
  EXPECT_EQ(FormatFloatG(123456), "123456");
  EXPECT_EQ(FormatFloatG(0.00001), "1e-05");
  EXPECT_EQ(FormatFloatG(-0.1), "-0.1");
  EXPECT_EQ(FormatOpenMetricsFloat(1), "1.0");
  EXPECT_EQ(FormatOpenMetricsFloat(0.25), "0.25");
  EXPECT_EQ(FormatDuration(90 * 60 * 1000), "1h30m");
  EXPECT_EQ(FormatDuration(14LL * 24 * 3600 * 1000), "2w");
  EXPECT_EQ(FormatDuration(15LL * 24 * 3600 * 1000), "15d");
  EXPECT_EQ(FormatDuration(1500), "1s500ms");
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(*ParseDuration("1y2w"), (365LL + 14) * 24 * 3600 * 1000);
  EXPECT_EQ(*ParseDuration("0"), 0);
  EXPECT_FALSE(ParseDuration("1m1h").ok());
  EXPECT_FALSE(ParseDuration("1x").ok());
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("99999999999y").ok());
  EXPECT_EQ(*UnquoteString("'a\\'b'"), "a'b");
  EXPECT_EQ(*UnquoteString("\"\\x41\\u00e9\\101\""),
            "A\xc3\xa9"
            "A");
  EXPECT_FALSE(UnquoteString("\"a").ok());
  EXPECT_FALSE(UnquoteString("\"\\q\"").ok());
}

}  // namespace
}  // namespace observex::query::promql
