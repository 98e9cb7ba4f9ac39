// Names of the encoder's compute types (bert.h), as the CLI and the server spell them.
#include "tanzhen/error.h"
#include "tanzhen/model/bert.h"

namespace tanzhen {

ComputeType parse_compute_type(const std::string& name) {
  if (name == "fp32" || name == "f32" || name == "float32") return ComputeType::kF32;
  if (name == "bf16" || name == "bfloat16") return ComputeType::kBF16;
  if (name == "int8" || name == "i8") return ComputeType::kInt8;
  fail("bad_request", "unknown compute type '" + name + "' (expected fp32, bf16 or int8)");
}

const char* compute_type_name(ComputeType t) {
  switch (t) {
    case ComputeType::kF32: return "fp32";
    case ComputeType::kBF16: return "bf16";
    case ComputeType::kInt8: return "int8";
  }
  return "?";
}

}  // namespace tanzhen
