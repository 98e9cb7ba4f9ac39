#include "test_paths.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <vector>

namespace tanzhen::testing {
namespace {

// The folders make_temp_dir made in this process; the static's destructor runs at exit (not in
// forked children: they exec or _exit).
class TempDirs {
 public:
  void add(const std::filesystem::path& dir) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back(dir);
  }
  ~TempDirs() {
    const char* keep = std::getenv("TANZHEN_KEEP_TEST_DIRS");
    if (keep && *keep && std::string(keep) != "0") return;
    for (const auto& dir : dirs_) {
      std::error_code ec;  // a folder already gone, or one a test made read-only, is no failure
      std::filesystem::remove_all(dir, ec);
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::filesystem::path> dirs_;
};

TempDirs& temp_dirs() {
  static TempDirs dirs;
  return dirs;
}

}  // namespace

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
  temp_dirs().add(dir);
  return dir.string();
}

}  // namespace tanzhen::testing
