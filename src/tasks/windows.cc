#include "tanzhen/tasks/windows.h"

#include <algorithm>
#include <climits>

#include "tanzhen/error.h"

namespace tanzhen {

std::vector<TokenWindow> plan_windows(int num_tokens, int max_len, int stride) {
  if (max_len < 1 || stride < 1 || stride > max_len)
    fail("invalid_option", "window stride must be between 1 and the window's token count");
  if (num_tokens <= max_len) return {{0, std::max(num_tokens, 0)}};
  std::vector<TokenWindow> windows;
  int start = 0;
  for (; start + max_len < num_tokens; start += stride) windows.push_back({start, max_len});
  windows.push_back({num_tokens - max_len, max_len});
  return windows;
}

std::vector<int> assign_tokens_to_windows(const std::vector<TokenWindow>& windows, int num_tokens) {
  std::vector<int> owner(std::max(num_tokens, 0), -1);
  std::vector<int> best(owner.size(), -1);
  for (int w = 0; w < static_cast<int>(windows.size()); ++w) {
    const TokenWindow& win = windows[w];
    const bool at_text_start = win.start == 0;
    const bool at_text_end = win.start + win.length >= num_tokens;
    for (int t = std::max(win.start, 0); t < std::min(win.start + win.length, num_tokens); ++t) {
      int left = at_text_start ? INT_MAX : t - win.start;
      int right = at_text_end ? INT_MAX : win.start + win.length - 1 - t;
      int margin = std::min(left, right);
      if (margin > best[t]) best[t] = margin, owner[t] = w;
    }
  }
  for (int o : owner)
    if (o < 0) fail("internal", "windows do not cover every token");
  return owner;
}

}  // namespace tanzhen
