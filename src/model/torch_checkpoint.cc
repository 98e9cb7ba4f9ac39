// read_torch_checkpoint: PyTorch's zip and legacy formats (work in progress).
#include "tanzhen/error.h"
#include "tanzhen/model/checkpoint.h"

namespace tanzhen {

TensorMap read_torch_checkpoint(const std::string& path) {
  fail("bad_checkpoint", path + ": PyTorch checkpoints are not supported yet (use model.safetensors)");
}

}  // namespace tanzhen
