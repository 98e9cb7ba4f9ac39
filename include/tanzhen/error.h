// One exception type for every error a user can cause (bad file, bad input, bad option).
// The CLI and server turn it into a one-line message / an HTTP 400; anything else is a bug.
#pragma once
#include <stdexcept>
#include <string>

namespace tanzhen {

class Error : public std::runtime_error {
 public:
  // `code` is a short machine-readable kind ("invalid_utf8", "bad_checkpoint", ...).
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// Throws Error(code, message) — a helper so call sites read as one line.
[[noreturn]] void fail(const std::string& code, const std::string& message);

}  // namespace tanzhen
