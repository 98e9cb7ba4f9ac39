// Long-text windows: a token sequence longer than the model accepts is cut into overlapping
// windows; every token then takes its logits from the window where it is most central, so the
// merged sequence can be decoded as if the model had seen the whole text.
#pragma once
#include <vector>

namespace tanzhen {

// A window over the content tokens (specials excluded): [start, start + length).
struct TokenWindow {
  int start = 0;
  int length = 0;
  bool operator==(const TokenWindow&) const = default;
};

// Windows of `max_len` tokens moving by `stride` (1 <= stride <= max_len) over `num_tokens`
// tokens. One window when everything fits; otherwise windows start at 0, stride, 2*stride, ...
// and a last window is aligned to the end, so every window is full and every token covered.
std::vector<TokenWindow> plan_windows(int num_tokens, int max_len, int stride);

// For each token, the index of the window it is most central in: the one maximising
// min(tokens of context on the left, on the right), where a window edge that is also the text's
// edge counts as unlimited context (nothing is missing there). Ties go to the earlier window.
std::vector<int> assign_tokens_to_windows(const std::vector<TokenWindow>& windows, int num_tokens);

}  // namespace tanzhen
