// BERT character classes on top of utf8proc's Unicode tables; see bert_chars.h for the rules.
#include "tanzhen/text/bert_chars.h"

#include <utf8proc.h>

namespace tanzhen::bert {
namespace {

utf8proc_category_t category(char32_t c) {
  // utf8proc answers Cn for anything outside 0..0x10FFFF.
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

bool is_other_category(utf8proc_category_t cat) {
  return cat == UTF8PROC_CATEGORY_CN || cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
         cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO;
}

}  // namespace

bool is_control(char32_t c) {
  if (c == U'\t' || c == U'\n' || c == U'\r') return false;
  if (c < 0x80) return c < 0x20 || c == 0x7F;
  return is_other_category(category(c));
}

bool is_removed(char32_t c) { return c == 0 || c == 0xFFFD || is_control(c); }

bool is_whitespace(char32_t c) {
  if (c == U' ' || c == U'\t' || c == U'\n' || c == U'\r') return true;
  if (c < 0x80) return false;
  auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126))
    return true;
  if (c < 0x80) return false;
  auto cat = category(c);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

size_t normalize_char(char32_t c, bool lower, bool strip_accents, char32_t* out) {
  if (c < 0x80) {  // ASCII: no marks, simple case mapping
    out[0] = (lower && c >= U'A' && c <= U'Z') ? c + 32 : c;
    return 1;
  }
  // Lower-casing first, as BasicTokenizer does (token.lower() then _run_strip_accents).
  char32_t lowered[2];
  size_t n_lowered = 1;
  lowered[0] = c;
  if (lower) {
    if (c == 0x130) {  // the one unconditional multi-character lower-case mapping
      lowered[0] = U'i';
      lowered[1] = 0x307;
      n_lowered = 2;
    } else {
      lowered[0] = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
    }
  }
  if (!strip_accents) {
    for (size_t i = 0; i < n_lowered; ++i) out[i] = lowered[i];
    return n_lowered;
  }
  size_t n = 0;
  for (size_t i = 0; i < n_lowered; ++i) {
    utf8proc_int32_t buf[kMaxNormalizedChars];
    utf8proc_ssize_t len = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(lowered[i]), buf,
                                                   static_cast<utf8proc_ssize_t>(kMaxNormalizedChars / 2),
                                                   UTF8PROC_DECOMPOSE, nullptr);
    if (len < 0 || len > static_cast<utf8proc_ssize_t>(kMaxNormalizedChars / 2)) {
      // Not a valid code point (or a decomposition longer than any Unicode has): keep as is.
      buf[0] = static_cast<utf8proc_int32_t>(lowered[i]);
      len = 1;
    }
    for (utf8proc_ssize_t k = 0; k < len; ++k) {
      if (utf8proc_category(buf[k]) == UTF8PROC_CATEGORY_MN) continue;
      out[n++] = static_cast<char32_t>(buf[k]);
    }
  }
  return n;
}

}  // namespace tanzhen::bert
