#include "query/labels.h"

#include <cmath>

#include "gtest/gtest.h"
#include "query/memory_series_source.h"

namespace observex::query {
namespace {

TEST(LabelsTest, SortsDedupsAndDropsEmptyValues) {
  Labels l({{"b", "2"}, {"a", "1"}, {"c", ""}, {"a", "3"}});
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l.Get("a"), "3");
  EXPECT_EQ(l.Get("b"), "2");
  EXPECT_EQ(l.Get("c"), "");
  EXPECT_FALSE(l.Has("c"));
  EXPECT_EQ(l.String(), R"({a="3", b="2"})");
}

TEST(LabelsTest, SetEmptyDeletes) {
  Labels l({{"__name__", "up"}, {"job", "api"}});
  l.Set("job", "");
  EXPECT_EQ(l.String(), R"({__name__="up"})");
  l.Set("instance", "x");
  EXPECT_EQ(l.String(), R"({__name__="up", instance="x"})");
  l.DropMetricName();
  EXPECT_EQ(l.String(), R"({instance="x"})");
}

TEST(LabelsTest, CompareOrdersPrefixFirst) {
  Labels a({{"a", "1"}});
  Labels ab({{"a", "1"}, {"b", "1"}});
  Labels a2({{"a", "2"}});
  EXPECT_LT(CompareLabels(a, ab), 0);
  EXPECT_GT(CompareLabels(a2, ab), 0);
  EXPECT_EQ(CompareLabels(ab, ab), 0);
}

TEST(LabelsTest, KeyDistinguishesSplits) {
  Labels x({{"a", "bc"}});
  Labels y({{"ab", "c"}});
  EXPECT_NE(x.Key(), y.Key());
  Labels z({{"a", "1"}, {"b", "2"}, {"c", "3"}});
  EXPECT_EQ(z.KeyFor({"a", "c"}, true), Labels({{"a", "1"}, {"c", "3"}}).Key());
  EXPECT_EQ(z.KeyFor({"a", "c"}, false), Labels({{"b", "2"}}).Key());
}

TEST(LabelsTest, QuoteGoEscapesLikeGo) {
  EXPECT_EQ(QuoteGo("plain"), R"("plain")");
  EXPECT_EQ(QuoteGo("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(QuoteGo("tab\tnl\n"), R"("tab\tnl\n")");
  EXPECT_EQ(QuoteGo(std::string("a\xc5z")), R"("a\xc5z")");
  EXPECT_EQ(QuoteGo("\x01"), R"("\x01")");
  EXPECT_EQ(QuoteGo("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(LabelsTest, LabelNameValidity) {
  EXPECT_TRUE(IsLegacyLabelName("job_1"));
  EXPECT_FALSE(IsLegacyLabelName("1job"));
  EXPECT_FALSE(IsLegacyLabelName("foo.bar"));
  EXPECT_TRUE(IsValidLabelName("foo.bar"));
  EXPECT_FALSE(IsValidLabelName(""));
  EXPECT_FALSE(IsValidLabelName(std::string("a\xc5z")));
  Labels l({{"foo.bar", "x"}});
  EXPECT_EQ(l.String(), R"({"foo.bar"="x"})");
}

TEST(LabelMatcherTest, AllFourTypes) {
  auto eq = LabelMatcher::Create(LabelMatcher::Type::kEqual, "job", "api");
  auto ne = LabelMatcher::Create(LabelMatcher::Type::kNotEqual, "job", "api");
  auto re = LabelMatcher::Create(LabelMatcher::Type::kRegexMatch, "job", "api|web");
  auto nre = LabelMatcher::Create(LabelMatcher::Type::kRegexNoMatch, "job", "a.*");
  ASSERT_TRUE(eq.ok() && ne.ok() && re.ok() && nre.ok());
  EXPECT_TRUE(eq->Matches("api"));
  EXPECT_FALSE(eq->Matches("apix"));
  EXPECT_TRUE(ne->Matches(""));
  EXPECT_TRUE(re->Matches("web"));
  EXPECT_FALSE(re->Matches("xweb"));  // fully anchored
  EXPECT_FALSE(re->Matches("webx"));
  EXPECT_FALSE(nre->Matches("abc"));
  EXPECT_TRUE(nre->Matches("xabc"));
  EXPECT_EQ(re->String(), R"(job=~"api|web")");
}

TEST(LabelMatcherTest, RegexDotMatchesNewline) {
  auto re = LabelMatcher::Create(LabelMatcher::Type::kRegexMatch, "x", "a.b");
  ASSERT_TRUE(re.ok());
  EXPECT_TRUE(re->Matches("a\nb"));
}

TEST(LabelMatcherTest, InvalidRegexIsAnError) {
  auto re = LabelMatcher::Create(LabelMatcher::Type::kRegexMatch, "x", "(.*");
  ASSERT_FALSE(re.ok());
  EXPECT_NE(re.status().message().find("error parsing regexp"), std::string::npos);
}

TEST(InMemorySeriesSourceTest, SelectsByMatchersAndTime) {
  InMemorySeriesSource src;
  Labels a({{"__name__", "m"}, {"job", "a"}});
  Labels b({{"__name__", "m"}, {"job", "b"}});
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(src.Add(a, i * 1000, i).ok());
    ASSERT_TRUE(src.Add(b, i * 1000, 10 * i).ok());
  }
  EXPECT_EQ(src.series_count(), 2u);
  auto m = LabelMatcher::Create(LabelMatcher::Type::kEqual, "job", "b");
  auto set = src.Select({*m}, 2000, 4000);
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE((*set)->Next());
  EXPECT_EQ((*set)->labels(), b);
  auto s = (*set)->samples();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s.front().t_ms, 2000);
  EXPECT_EQ(s.back().value, 40);
  EXPECT_FALSE((*set)->Next());
  EXPECT_TRUE((*set)->status().ok());

  // A window without samples selects nothing.
  auto empty = src.Select({*m}, 20000, 30000);
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE((*empty)->Next());
  // No matchers select nothing.
  auto none = src.Select({}, 0, 10000);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE((*none)->Next());
}

TEST(InMemorySeriesSourceTest, RejectsEmptyLabelsAndKeepsStaleMarkers) {
  InMemorySeriesSource src;
  EXPECT_FALSE(src.Add(Labels(), 0, 1).ok());
  Labels a({{"__name__", "m"}});
  ASSERT_TRUE(src.Add(a, 0, 1).ok());
  ASSERT_TRUE(src.Add(a, 1000, StaleNaN()).ok());
  auto m = LabelMatcher::Create(LabelMatcher::Type::kEqual, "__name__", "m");
  auto set = src.Select({*m}, 0, 1000);
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE((*set)->Next());
  ASSERT_EQ((*set)->samples().size(), 2u);
  EXPECT_TRUE(IsStaleNaN((*set)->samples()[1].value));
  EXPECT_TRUE(std::isnan((*set)->samples()[1].value));
  EXPECT_FALSE(IsStaleNaN(std::nan("")));
}

}  // namespace
}  // namespace observex::query
