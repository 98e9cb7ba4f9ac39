// Splits a long document into pieces for streaming NER: paragraphs (at newlines), and within a
// paragraph longer than the model's window, runs of whole sentences (。！？!?；; and friends),
// so that every piece is tagged in one window and can be sent as soon as it is done.
#pragma once
#include <string>
#include <vector>

namespace tanzhen::server {

struct Segment {
  int start = 0, end = 0;  // code points into the whole text, end exclusive
};

// Pieces of at most max_chars code points, in order, not overlapping; whitespace-only stretches
// are left out (they hold no entities). A sentence longer than max_chars is cut, preferably
// after a comma or space in its second half.
std::vector<Segment> split_segments(const std::u32string& text, int max_chars);

}  // namespace tanzhen::server
