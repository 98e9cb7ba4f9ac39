// Grouping sequences of different lengths into encoder batches: sorted by length so that a
// batch holds sequences of similar size, and bounded so that one batch never gets huge.
#pragma once
#include <cstddef>
#include <vector>

namespace tanzhen {

struct BatchLimits {
  size_t max_sequences = 64;
  size_t max_tokens = 16384;  // sum over the batch of (longest sequence in it)
};

// Indices of `lengths` grouped into batches, longest sequences first; every index appears once.
std::vector<std::vector<size_t>> plan_batches(const std::vector<size_t>& lengths, BatchLimits limits = {});

}  // namespace tanzhen
