// Character classes and per-character normalisation of Hugging Face's BERT tokenizers
// (BertTokenizer's BasicTokenizer / the tokenizers crate's BertNormalizer + BertPreTokenizer).
// Internal to the text layer; public so that tests can pin each rule down.
#pragma once
#include <cstddef>

namespace tanzhen::bert {

// Removed by text cleanup: Unicode category C* (Cc, Cf, Cs, Co, Cn) except \t \n \r, as in HF's
// _is_control. NUL and U+FFFD are removed too (handled by is_removed()).
bool is_control(char32_t c);
// U+0000, U+FFFD and is_control(): dropped before anything else.
bool is_removed(char32_t c);
// Word separators: space, \t, \n, \r and categories Zs, Zl, Zp (BertNormalizer maps
// char::is_whitespace to ' '; the C0/C1 ones among them are already removed as controls).
bool is_whitespace(char32_t c);
// ASCII 33-47, 58-64, 91-96, 123-126 (so "$+<=>^`|~" count) or any Unicode P* category.
bool is_punctuation(char32_t c);
// HF's _is_chinese_char: the CJK Unified Ideographs blocks it lists, nothing else
// (no kana, hangul or CJK punctuation).
bool is_chinese_char(char32_t c);

// Longest output of normalize_char() for one input character.
inline constexpr size_t kMaxNormalizedChars = 32;
// Lower-cases c (full mapping: U+0130 -> "i\u0307") when `lower`, then, when `strip_accents`,
// decomposes it (NFD) and drops the nonspacing marks (Mn). Writes 0..kMaxNormalizedChars
// characters to out and returns how many.
size_t normalize_char(char32_t c, bool lower, bool strip_accents, char32_t* out);

}  // namespace tanzhen::bert
