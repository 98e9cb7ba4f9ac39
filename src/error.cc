#include "tanzhen/error.h"

namespace tanzhen {
void fail(const std::string& code, const std::string& message) { throw Error(code, message); }
}  // namespace tanzhen
