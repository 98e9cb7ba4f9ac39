// The character rules of Hugging Face's BERT tokenizers, case by case (values from the Unicode
// character database and transformers' tokenization_bert.py).
#include "tanzhen/text/bert_chars.h"

#include <gtest/gtest.h>

#include <string>

namespace tanzhen::bert {
namespace {

std::u32string normalize(char32_t c, bool lower, bool strip) {
  char32_t out[kMaxNormalizedChars];
  return std::u32string(out, normalize_char(c, lower, strip, out));
}

TEST(BertChars, ControlsAreRemovedButTabsAndNewlinesAreWhitespace) {
  for (char32_t c : {U'\x01', U'\x1F', U'\x7F', char32_t{0x85}, char32_t{0x200B}, char32_t{0x200D},
                     char32_t{0xFEFF}, char32_t{0xE000}, char32_t{0xD800}, char32_t{0x110000}})
    EXPECT_TRUE(is_removed(c)) << std::hex << static_cast<uint32_t>(c);
  EXPECT_TRUE(is_removed(0));
  EXPECT_TRUE(is_removed(0xFFFD));
  for (char32_t c : {U'\t', U'\n', U'\r', U' ', U'a', U'中', U'。'}) EXPECT_FALSE(is_removed(c)) << std::hex << static_cast<uint32_t>(c);
  for (char32_t c : {U' ', U'\t', U'\n', U'\r', char32_t{0xA0}, char32_t{0x3000}, char32_t{0x2028}})
    EXPECT_TRUE(is_whitespace(c)) << std::hex << static_cast<uint32_t>(c);
  for (char32_t c : {U'a', U'_', U'中', char32_t{0x200B}}) EXPECT_FALSE(is_whitespace(c)) << std::hex << static_cast<uint32_t>(c);
}

TEST(BertChars, PunctuationIsAsciiSymbolsPlusCategoryP) {
  for (char32_t c : {U'!', U'/', U':', U'@', U'[', U'`', U'{', U'~', U'$', U'+', U'^', U'|', U'，', U'。',
                     U'“', U'”', U'—', U'·', U'《', U'％', U'＿'})
    EXPECT_TRUE(is_punctuation(c)) << std::hex << static_cast<uint32_t>(c);
  for (char32_t c : {U'a', U'0', U' ', U'中', U'℃', U'²', U'€', U'￥', U'😀'})
    EXPECT_FALSE(is_punctuation(c)) << std::hex << static_cast<uint32_t>(c);
}

TEST(BertChars, ChineseCharsAreTheCjkIdeographBlocksOnly) {
  for (char32_t c : {char32_t{0x4E00}, char32_t{0x9FFF}, char32_t{0x3400}, char32_t{0x4DBF}, char32_t{0x20000},
                     char32_t{0x2A6DF}, char32_t{0x2A700}, char32_t{0x2B81F}, char32_t{0x2CEAF}, char32_t{0xF900},
                     char32_t{0xFAFF}, char32_t{0x2F800}, char32_t{0x2FA1F}})
    EXPECT_TRUE(is_chinese_char(c)) << std::hex << static_cast<uint32_t>(c);
  for (char32_t c : {char32_t{0x4DC0}, char32_t{0x3042}, char32_t{0x30AB}, char32_t{0xAC00}, char32_t{0x3002},
                     char32_t{0xFF0C}, char32_t{0x2CEB0}, char32_t{0x2FA20}, char32_t{0x3000}})
    EXPECT_FALSE(is_chinese_char(c)) << std::hex << static_cast<uint32_t>(c);
}

TEST(BertChars, LowerCaseAndStripAccents) {
  EXPECT_EQ(normalize(U'A', false, false), U"A");
  EXPECT_EQ(normalize(U'A', true, false), U"a");
  EXPECT_EQ(normalize(U'Å', true, true), U"a");
  EXPECT_EQ(normalize(U'Å', true, false), U"å");
  EXPECT_EQ(normalize(U'Å', false, true), U"A");
  EXPECT_EQ(normalize(U'ö', false, true), U"o");
  EXPECT_EQ(normalize(0x212B, true, true), U"a");           // ANGSTROM SIGN
  EXPECT_EQ(normalize(0x130, true, false), U"i\u0307");     // İ: full lower-case mapping
  EXPECT_EQ(normalize(0x130, true, true), U"i");
  EXPECT_EQ(normalize(0x301, true, true), U"");             // a lone combining accent is dropped
  EXPECT_EQ(normalize(U'Ａ', true, true), U"ａ");            // no compatibility folding (NFD only)
  EXPECT_EQ(normalize(0xF900, true, true), U"\u8C48");      // CJK compatibility ideograph -> NFD
  EXPECT_EQ(normalize(0xAC00, true, true), U"\u1100\u1161");  // Hangul syllable -> jamo
  EXPECT_EQ(normalize(U'中', true, true), U"中");
}

}  // namespace
}  // namespace tanzhen::bert
