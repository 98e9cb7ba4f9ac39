// Where tests find ../shared (reference models/outputs, datasets) and the built binary.
#pragma once
#include <string>

namespace tanzhen::testing {
// Root of the shared folder; TANZHEN_SHARED_DIR in the environment overrides the build-time path.
std::string shared_dir();
// ../shared/reference/models/<name>
std::string reference_model(const std::string& name);
// ../shared/reference/outputs/<name>.jsonl
std::string reference_output(const std::string& name);
// The tanzhen executable built alongside the tests.
std::string tanzhen_binary();
// A fresh empty temporary directory, removed with everything in it when the test program exits
// (TANZHEN_KEEP_TEST_DIRS=1 keeps them, to look at after a failure): repeated local test runs
// once left thousands of them, 13 GB, in /tmp.
std::string make_temp_dir(const std::string& prefix);
}  // namespace tanzhen::testing
