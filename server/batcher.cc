#include "server/batcher.h"

namespace tanzhen::server {

size_t approx_tokens(std::string_view utf8_text) {
  size_t code_points = 0;
  for (unsigned char c : utf8_text) code_points += (c & 0xC0) != 0x80;  // count lead bytes
  return code_points + 2;
}

}  // namespace tanzhen::server
