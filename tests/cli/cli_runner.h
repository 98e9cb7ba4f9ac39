// Running the built tanzhen binary from tests: arguments are shell-quoted, stdout/stderr are
// captured through temporary files, the exit status is returned.
#pragma once
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_paths.h"

namespace tanzhen::testing {

struct CliRun {
  int exit_code = -1;
  std::string out, err;
  // stdout as JSON lines.
  std::vector<nlohmann::json> lines() const {
    std::vector<nlohmann::json> v;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) v.push_back(nlohmann::json::parse(line));
    return v;
  }
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary);
  f << content;
}

// Runs `tanzhen args...` (env: "NAME=value ..." prefix, stdin_path: file fed to stdin).
inline CliRun run_cli(const std::vector<std::string>& args, const std::string& stdin_path = "",
                      const std::string& env = "") {
  static const std::string dir = make_temp_dir("tanzhen-cli");
  static int counter = 0;
  const std::string base = dir + "/run" + std::to_string(counter++);
  std::string cmd = env + (env.empty() ? "" : " ") + shell_quote(tanzhen_binary());
  // Appended piece by piece: GCC 12 warns (-Wrestrict, falsely) on `" " + std::string&&`.
  for (const auto& a : args) cmd.append(" ").append(shell_quote(a));
  cmd.append(" > ").append(shell_quote(base + ".out")).append(" 2> ").append(shell_quote(base + ".err"));
  cmd.append(" < ").append(shell_quote(stdin_path.empty() ? "/dev/null" : stdin_path));
  CliRun r;
  int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(base + ".out");
  r.err = read_file(base + ".err");
  return r;
}

// Number of '\n'-terminated lines.
inline size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace tanzhen::testing
