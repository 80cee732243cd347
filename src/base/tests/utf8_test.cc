// Cutting text to a byte budget without splitting a character.
#include "base/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace gh {
namespace {

TEST(Utf8Cut, NeverSplitsACharacterOfAnyWidth) {
  // One character of each width, at every offset across the cut.
  for (const std::string ch : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}) {
    for (std::size_t pad = 0; pad < 8; ++pad) {
      const std::string text = std::string(pad, 'a') + ch + "z";
      for (std::size_t max = 0; max <= text.size(); ++max) {
        const std::string_view cut = utf8_prefix(text, max);
        EXPECT_LE(cut.size(), max);
        EXPECT_TRUE(valid_utf8(cut)) << "pad " << pad << " max " << max;
        // Only what would split the character is dropped.
        const bool splits = max > pad && max < pad + ch.size();
        EXPECT_EQ(cut.size(), splits ? pad : max) << "pad " << pad << " max " << max;
      }
    }
  }
}

TEST(Utf8Cut, BytesThatAreNotUtf8AreCutWhereAsked) {
  EXPECT_EQ(utf8_cut("\xff\xff\xff\xff", 2), 2u);
  // A stray continuation byte after a whole character: the character is kept.
  EXPECT_EQ(utf8_cut("\xc3\xa9\x80\x80", 2), 2u);
  // Continuation bytes with no lead byte in reach.
  EXPECT_EQ(utf8_cut("a\x80\x80\x80\x80\x80", 5), 5u);
  EXPECT_EQ(utf8_cut("", 0), 0u);
  EXPECT_EQ(utf8_cut("abc", 10), 3u);
}

}  // namespace
}  // namespace gh
