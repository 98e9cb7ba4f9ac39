#include "server/segment.h"

#include <algorithm>

namespace tanzhen::server {
namespace {

bool is_space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0x3000 || c == 0xA0 || c == 0x0B ||
         c == 0x0C;
}
bool ends_sentence(char32_t c) {
  return c == U'。' || c == U'！' || c == U'？' || c == U'!' || c == U'?' || c == U'；' || c == U';' ||
         c == U'…';
}
// Closing quotes and brackets stay with the sentence they close.
bool closes(char32_t c) {
  return c == U'”' || c == U'’' || c == U'」' || c == U'』' || c == U'）' || c == U')' || c == U'"' ||
         c == U'》' || c == U'】';
}
bool soft_break(char32_t c) { return c == U'，' || c == U',' || c == U'、' || c == U'：' || c == U':' || is_space(c); }

bool blank(const std::u32string& t, int a, int b) {
  for (int i = a; i < b; ++i)
    if (!is_space(t[i])) return false;
  return true;
}

// Sentence ends (exclusive) within [a, b), the last one being b.
std::vector<int> sentence_ends(const std::u32string& t, int a, int b) {
  std::vector<int> ends;
  for (int i = a; i < b; ++i) {
    if (!ends_sentence(t[i])) continue;
    int j = i + 1;
    while (j < b && (ends_sentence(t[j]) || closes(t[j]))) ++j;  // "！？", "。”"
    ends.push_back(j);
    i = j - 1;
  }
  if (ends.empty() || ends.back() != b) ends.push_back(b);
  return ends;
}

void emit(const std::u32string& t, int a, int b, std::vector<Segment>& out) {
  if (a < b && !blank(t, a, b)) out.push_back({a, b});
}

// Packs the sentences of one paragraph [a, b) into pieces of at most max_chars.
void split_paragraph(const std::u32string& t, int a, int b, int max_chars, std::vector<Segment>& out) {
  if (b - a <= max_chars) return emit(t, a, b, out);
  int piece_start = a, last_end = a;
  for (int end : sentence_ends(t, a, b)) {
    if (end - piece_start <= max_chars) {
      last_end = end;
      continue;
    }
    if (last_end > piece_start) {  // close the piece before this sentence
      emit(t, piece_start, last_end, out);
      piece_start = last_end;
    }
    // The sentence alone may still be too long: cut it.
    while (end - piece_start > max_chars) {
      int cut = piece_start + max_chars;
      for (int k = cut; k > piece_start + max_chars / 2; --k)
        if (soft_break(t[k - 1])) {
          cut = k;
          break;
        }
      emit(t, piece_start, cut, out);
      piece_start = cut;
    }
    last_end = end;
  }
  emit(t, piece_start, b, out);
}

}  // namespace

std::vector<Segment> split_segments(const std::u32string& text, int max_chars) {
  max_chars = std::max(1, max_chars);
  std::vector<Segment> out;
  const int n = static_cast<int>(text.size());
  int start = 0;
  for (int i = 0; i <= n; ++i) {
    if (i == n || text[i] == '\n') {
      split_paragraph(text, start, i, max_chars, out);
      start = i + 1;
    }
  }
  return out;
}

}  // namespace tanzhen::server
