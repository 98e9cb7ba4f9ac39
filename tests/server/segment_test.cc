// Splitting documents for streaming NER: paragraphs, sentence packing, hard cuts.
#include "server/segment.h"

#include <gtest/gtest.h>

#include "tanzhen/text/utf8.h"

namespace tanzhen::server {
namespace {

std::vector<std::string> pieces(const std::string& text, int max_chars) {
  const std::u32string t = decode_utf8(text);
  std::vector<std::string> out;
  int last_end = 0;
  for (const Segment& s : split_segments(t, max_chars)) {
    EXPECT_GE(s.start, last_end) << "segments are ordered and disjoint";
    EXPECT_LE(s.end - s.start, max_chars);
    last_end = s.end;
    out.push_back(encode_utf8(t.substr(s.start, s.end - s.start)));
  }
  return out;
}

TEST(Segments, ShortParagraphsAreOnePieceEachAndBlankLinesVanish) {
  EXPECT_EQ(pieces("张三在北京。\n\n李四在上海。\n", 100),
            (std::vector<std::string>{"张三在北京。", "李四在上海。"}));
  EXPECT_TRUE(pieces("", 10).empty());
  EXPECT_TRUE(pieces(" \n\t\n", 10).empty());
}

TEST(Segments, LongParagraphsArePackedWithWholeSentences) {
  // Sentences of 5, 6 and 5 characters; at most 11 per piece: 5 + 6, then 5.
  EXPECT_EQ(pieces("一二三四。五六七八九！甲乙丙丁？", 11),
            (std::vector<std::string>{"一二三四。五六七八九！", "甲乙丙丁？"}));
}

TEST(Segments, ClosingQuotesStayWithTheirSentence) {
  EXPECT_EQ(pieces("他说：“好。”我走了。", 7), (std::vector<std::string>{"他说：“好。”", "我走了。"}));
}

TEST(Segments, OverlongSentencesAreCutPreferablyAfterACommaOrSpace) {
  // 14 characters without an end mark; max 8: the cut goes after the comma at position 6.
  EXPECT_EQ(pieces("一二三四五，六七八九十甲乙丙", 8),
            (std::vector<std::string>{"一二三四五，", "六七八九十甲乙丙"}));
  // No soft break anywhere: cut at the limit.
  EXPECT_EQ(pieces("一二三四五六七八九十", 4), (std::vector<std::string>{"一二三四", "五六七八", "九十"}));
}

TEST(Segments, OffsetsPointIntoTheWholeText) {
  const std::u32string t = decode_utf8("第一段。\n第二段很长。还有一句。");
  auto segs = split_segments(t, 6);
  ASSERT_EQ(segs.size(), 3u);
  EXPECT_EQ(segs[0].start, 0);
  EXPECT_EQ(segs[0].end, 4);
  EXPECT_EQ(segs[1].start, 5);
  EXPECT_EQ(segs[1].end, 11);
  EXPECT_EQ(segs[2].start, 11);
  EXPECT_EQ(segs[2].end, 16);
}

}  // namespace
}  // namespace tanzhen::server
