// UTF-8 validation/decoding and conversion of code-point offsets to UTF-8 byte / UTF-16 offsets.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace tanzhen {

// Decodes strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
// Throws Error("invalid_utf8", "invalid UTF-8 at byte N") otherwise.
std::u32string decode_utf8(std::string_view text);
std::string encode_utf8(std::u32string_view text);
std::string encode_utf8(char32_t cp);
bool is_valid_utf8(std::string_view text);

enum class OffsetUnit { kCodePoint, kUtf8, kUtf16 };
// "codepoint" | "utf8" | "utf16" (also "byte", "utf-8", "utf-16"); throws Error on anything else.
OffsetUnit parse_offset_unit(std::string_view name);

// Converts code-point offsets of one text into other units. Valid for 0..size() inclusive.
class OffsetMap {
 public:
  explicit OffsetMap(std::u32string_view text);
  int to(OffsetUnit unit, int codepoint_offset) const;
  int size() const { return static_cast<int>(utf8_.size()) - 1; }  // number of code points

 private:
  std::vector<int> utf8_;   // utf8_[i]  = byte offset of code point i
  std::vector<int> utf16_;  // utf16_[i] = UTF-16 unit offset of code point i
};

}  // namespace tanzhen
