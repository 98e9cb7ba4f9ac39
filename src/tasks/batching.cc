#include "tanzhen/tasks/batching.h"

#include <algorithm>
#include <numeric>

namespace tanzhen {

std::vector<std::vector<size_t>> plan_batches(const std::vector<size_t>& lengths, BatchLimits limits) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<size_t>> batches;
  size_t longest = 0;
  for (size_t i : order) {
    // Sorted descending: the first sequence of a batch is its longest.
    if (batches.empty() || batches.back().size() >= limits.max_sequences ||
        longest * (batches.back().size() + 1) > limits.max_tokens) {
      batches.emplace_back();
      longest = std::max<size_t>(lengths[i], 1);
    }
    batches.back().push_back(i);
  }
  return batches;
}

}  // namespace tanzhen
