#include "common/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace observex {
namespace {

TEST(Utf8Test, DecodesEachLength) {
  uint32_t cp = 0;
  EXPECT_EQ(DecodeUtf8("a", 0, &cp), 1);
  EXPECT_EQ(cp, 0x61u);
  EXPECT_EQ(DecodeUtf8("\xc3\xa9", 0, &cp), 2);  // é
  EXPECT_EQ(cp, 0xe9u);
  EXPECT_EQ(DecodeUtf8("\xe2\x82\xac", 0, &cp), 3);  // €
  EXPECT_EQ(cp, 0x20acu);
  EXPECT_EQ(DecodeUtf8("\xf0\x9f\x98\x80", 0, &cp), 4);  // 😀
  EXPECT_EQ(cp, 0x1f600u);
}

TEST(Utf8Test, RejectsMalformedSequences) {
  uint32_t cp = 0;
  for (std::string bad :
       {std::string("\x80"), std::string("\xc0\xaf"), std::string("\xc3"),
        std::string("\xe0\x80\xaf"), std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"),
        std::string("\xf8\x88\x80\x80\x80"), std::string("\xe2\x28\xa1")}) {
    EXPECT_EQ(DecodeUtf8(bad, 0, &cp), 0) << testing::PrintToString(bad);
    EXPECT_FALSE(IsValidUtf8(bad)) << testing::PrintToString(bad);
    EXPECT_FALSE(IsValidUtf8("plain ascii text " + bad + " more"));
  }
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("only ascii, longer than eight bytes"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 after the fast path"));
}

TEST(Utf8Test, SafePrefixNeverCutsACodePoint) {
  const std::string s =
      "ab\xe2\x82\xac"
      "cd";  // a b € c d
  EXPECT_EQ(Utf8SafePrefix(s, 100), s.size());
  EXPECT_EQ(Utf8SafePrefix(s, 2), 2u);
  EXPECT_EQ(Utf8SafePrefix(s, 3), 2u);
  EXPECT_EQ(Utf8SafePrefix(s, 4), 2u);
  EXPECT_EQ(Utf8SafePrefix(s, 5), 5u);
  EXPECT_EQ(Utf8SafePrefix(s, 0), 0u);
}

}  // namespace
}  // namespace observex
