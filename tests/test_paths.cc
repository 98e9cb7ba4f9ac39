#include "test_paths.h"

#include <cstdlib>
#include <filesystem>
#include <random>

namespace tanzhen::testing {

std::string shared_dir() {
  if (const char* env = std::getenv("TANZHEN_SHARED_DIR"); env && *env) return env;
  return TANZHEN_SHARED_DIR;
}

std::string reference_model(const std::string& name) {
  return shared_dir() + "/reference/models/" + name;
}

std::string reference_output(const std::string& name) {
  return shared_dir() + "/reference/outputs/" + name + ".jsonl";
}

std::string tanzhen_binary() { return TANZHEN_BINARY; }

std::string make_temp_dir(const std::string& prefix) {
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() /
             (prefix + "-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace tanzhen::testing
