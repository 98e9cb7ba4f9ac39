// Strict UTF-8 decoding/encoding and code-point -> UTF-8 / UTF-16 offset conversion.
#include "tanzhen/text/utf8.h"

#include <cstdint>
#include <cstring>

#include "tanzhen/error.h"

namespace tanzhen {
namespace {

// Decodes the sequence starting at text[i]; returns its length, or 0 when it is not strict
// UTF-8 (overlong forms, surrogates, > U+10FFFF, truncated or stray continuation bytes).
inline size_t decode_one(std::string_view text, size_t i, char32_t& cp) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const unsigned b0 = s[i];
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  auto cont = [&](size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!cont(1)) return 0;
    cp = ((b0 & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
    return 2;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    const unsigned b1 = s[i + 1];
    if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b0 == 0xED && b1 > 0x9F) return 0;  // UTF-16 surrogate
    cp = ((b0 & 0x0Fu) << 12) | ((b1 & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const unsigned b1 = s[i + 1];
    if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && b1 > 0x8F) return 0;  // > U+10FFFF
    cp = ((b0 & 0x07u) << 18) | ((b1 & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) | (s[i + 3] & 0x3Fu);
    return 4;
  }
  return 0;  // continuation byte, 0xC0/0xC1 (always overlong) or 0xF5..0xFF
}

// True when the 8 bytes at p are all ASCII.
inline bool ascii8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return (w & 0x8080808080808080ull) == 0;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    if (cp >= 0xD800 && cp <= 0xDFFF) fail("invalid_utf8", "cannot encode surrogate code point as UTF-8");
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp <= 0x10FFFF) {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    fail("invalid_utf8", "cannot encode code point above U+10FFFF as UTF-8");
  }
}

}  // namespace

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());  // upper bound: one code point per byte
  size_t i = 0;
  while (i < text.size()) {
    while (i + 8 <= text.size() && ascii8(text.data() + i)) {
      for (int k = 0; k < 8; ++k) out.push_back(static_cast<unsigned char>(text[i + k]));
      i += 8;
    }
    if (i >= text.size()) break;
    char32_t cp;
    size_t len = decode_one(text, i, cp);
    if (len == 0) fail("invalid_utf8", "invalid UTF-8 at byte " + std::to_string(i));
    out.push_back(cp);
    i += len;
  }
  return out;
}

bool is_valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    while (i + 8 <= text.size() && ascii8(text.data() + i)) i += 8;
    if (i >= text.size()) break;
    char32_t cp;
    size_t len = decode_one(text, i, cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) append_utf8(out, cp);
  return out;
}

std::string encode_utf8(char32_t cp) {
  std::string out;
  append_utf8(out, cp);
  return out;
}

OffsetUnit parse_offset_unit(std::string_view name) {
  std::string lower(name);
  for (char& ch : lower) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  if (lower == "codepoint" || lower == "code_point" || lower == "char") return OffsetUnit::kCodePoint;
  if (lower == "utf8" || lower == "utf-8" || lower == "byte") return OffsetUnit::kUtf8;
  if (lower == "utf16" || lower == "utf-16") return OffsetUnit::kUtf16;
  fail("bad_option", "unknown offset unit '" + std::string(name) + "' (expected codepoint, utf8 or utf16)");
}

OffsetMap::OffsetMap(std::u32string_view text) {
  utf8_.resize(text.size() + 1);
  utf16_.resize(text.size() + 1);
  int b8 = 0, b16 = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    utf8_[i] = b8;
    utf16_[i] = b16;
    const char32_t cp = text[i];
    b8 += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    b16 += cp < 0x10000 ? 1 : 2;
  }
  utf8_[text.size()] = b8;
  utf16_[text.size()] = b16;
}

int OffsetMap::to(OffsetUnit unit, int codepoint_offset) const {
  if (codepoint_offset < 0 || codepoint_offset > size()) {
    fail("bad_offset", "offset " + std::to_string(codepoint_offset) + " outside text of " +
                           std::to_string(size()) + " code points");
  }
  switch (unit) {
    case OffsetUnit::kCodePoint: return codepoint_offset;
    case OffsetUnit::kUtf8: return utf8_[codepoint_offset];
    case OffsetUnit::kUtf16: return utf16_[codepoint_offset];
  }
  return codepoint_offset;
}

}  // namespace tanzhen
