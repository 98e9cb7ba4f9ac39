// Strict UTF-8 decoding, encoding, and code-point -> UTF-8 / UTF-16 offset conversion.
#include "tanzhen/text/utf8.h"

#include <gtest/gtest.h>

#include "tanzhen/error.h"

namespace tanzhen {
namespace {

// Expects decode_utf8 to throw invalid_utf8 naming `byte` as the offending position.
void expect_invalid(const std::string& text, int byte) {
  EXPECT_FALSE(is_valid_utf8(text));
  try {
    decode_utf8(text);
    ADD_FAILURE() << "no error for invalid UTF-8 at byte " << byte;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), "invalid_utf8");
    EXPECT_EQ(std::string(e.what()), "invalid UTF-8 at byte " + std::to_string(byte));
  }
}

TEST(Utf8, DecodesAllSequenceLengths) {
  // "a" U+00E9 U+4E2D U+1F600, written out byte by byte.
  const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";
  EXPECT_TRUE(is_valid_utf8(text));
  EXPECT_EQ(decode_utf8(text), (std::u32string{U'a', 0xE9, 0x4E2D, 0x1F600}));
  EXPECT_EQ(encode_utf8(decode_utf8(text)), text);
  EXPECT_EQ(encode_utf8(char32_t{0x10FFFF}), "\xF4\x8F\xBF\xBF");
  EXPECT_EQ(decode_utf8(""), U"");
}

TEST(Utf8, LongAsciiRunsAndBoundaries) {
  std::string text(37, 'x');
  text += "\xE4\xB8\xAD";  // 中 after the 8-byte fast path
  text += std::string(9, 'y');
  const std::u32string decoded = decode_utf8(text);
  ASSERT_EQ(decoded.size(), 47u);
  EXPECT_EQ(decoded[37], U'中');
  EXPECT_EQ(encode_utf8(decoded), text);
  // Smallest and largest code points of each length.
  EXPECT_EQ(decode_utf8("\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"),
            (std::u32string{0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF}));
}

TEST(Utf8, RejectsInvalidSequences) {
  expect_invalid("\xC0\x80", 0);                 // overlong NUL
  expect_invalid("ab\xC1\xBF", 2);               // overlong
  expect_invalid("\xE0\x80\x80", 0);             // overlong 3-byte
  expect_invalid("x\xF0\x80\x80\x80", 1);        // overlong 4-byte
  expect_invalid("\xED\xA0\x80", 0);             // surrogate U+D800
  expect_invalid("\xED\xBF\xBF", 0);             // surrogate U+DFFF
  expect_invalid("\xF4\x90\x80\x80", 0);         // above U+10FFFF
  expect_invalid("\xE4\xB8", 0);                 // truncated at the end
  expect_invalid("\xE4\xB8z", 0);                // truncated by an ASCII byte
  expect_invalid("12345678\xFF", 8);             // never valid, after the ASCII fast path
  expect_invalid("\xFE", 0);
  expect_invalid("\x80", 0);                     // stray continuation byte
  expect_invalid("\xE4\xB8\xAD\xB8", 3);         // continuation byte after a complete char
  expect_invalid("\xF5\x80\x80\x80", 0);
}

TEST(Utf8, EncodeRejectsNonScalarValues) {
  EXPECT_THROW(encode_utf8(char32_t{0xD800}), Error);
  EXPECT_THROW(encode_utf8(char32_t{0x110000}), Error);
}

TEST(OffsetMap, ConvertsEmojiAndCjk) {
  // a 😀 中 b 👍🏽: 1, 4, 3, 1, 4, 4 bytes; 1, 2, 1, 1, 2, 2 UTF-16 units.
  const std::u32string text = decode_utf8("a\xF0\x9F\x98\x80\xE4\xB8\xAD" "b\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD");
  ASSERT_EQ(text.size(), 6u);
  OffsetMap map(text);
  EXPECT_EQ(map.size(), 6);
  const int utf8[] = {0, 1, 5, 8, 9, 13, 17};
  const int utf16[] = {0, 1, 3, 4, 5, 7, 9};
  for (int i = 0; i <= 6; ++i) {
    EXPECT_EQ(map.to(OffsetUnit::kCodePoint, i), i);
    EXPECT_EQ(map.to(OffsetUnit::kUtf8, i), utf8[i]) << i;
    EXPECT_EQ(map.to(OffsetUnit::kUtf16, i), utf16[i]) << i;
  }
  EXPECT_THROW(map.to(OffsetUnit::kUtf8, 7), Error);
  EXPECT_THROW(map.to(OffsetUnit::kUtf8, -1), Error);
  OffsetMap empty(U"");
  EXPECT_EQ(empty.size(), 0);
  EXPECT_EQ(empty.to(OffsetUnit::kUtf16, 0), 0);
}

TEST(OffsetUnitName, ParsesKnownNames) {
  EXPECT_EQ(parse_offset_unit("codepoint"), OffsetUnit::kCodePoint);
  EXPECT_EQ(parse_offset_unit("utf8"), OffsetUnit::kUtf8);
  EXPECT_EQ(parse_offset_unit("utf-8"), OffsetUnit::kUtf8);
  EXPECT_EQ(parse_offset_unit("byte"), OffsetUnit::kUtf8);
  EXPECT_EQ(parse_offset_unit("utf16"), OffsetUnit::kUtf16);
  EXPECT_EQ(parse_offset_unit("UTF-16"), OffsetUnit::kUtf16);
  EXPECT_THROW(parse_offset_unit("utf32"), Error);
  EXPECT_THROW(parse_offset_unit(""), Error);
}

}  // namespace
}  // namespace tanzhen
