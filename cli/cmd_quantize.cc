// tanzhen quantize: writes a pre-quantized copy of a model folder (int8 or bf16), which loads
// without any quantization work and is ~4x / ~2x smaller than F32 (docs/quantized-format.md).
#include <cstdio>
#include <memory>
#include <string>

#include "cli_common.h"
#include "command.h"
#include "tanzhen/model/bert.h"
#include "tanzhen/model/quantized_checkpoint.h"

namespace tanzhen::cli {
namespace {

struct QuantizeOptions {
  std::string model_dir;
  std::string out_dir;
  std::string dtype = "int8";
};

int run_quantize(const QuantizeOptions& o) {
  const std::string src = resolve_model_dir(o.model_dir, "zh-ner-small");
  const QuantizeSummary s = write_quantized_checkpoint(src, parse_compute_type(o.dtype), o.out_dir);
  std::printf("%s: %d tensors quantized to %s, %.1f MB (F32: %.1f MB, %.2fx smaller); %d files copied\n",
              s.weights_file.c_str(), s.quantized_tensors, o.dtype.c_str(), s.bytes / 1e6,
              s.f32_bytes / 1e6, s.bytes ? static_cast<double>(s.f32_bytes) / s.bytes : 0.0,
              s.copied_files);
  return 0;
}

const RegisterCommand kRegister{
    "quantize", "Write a pre-quantized (int8 or bf16) copy of a model folder",
    [](CLI::App& app) -> std::function<int()> {
      auto o = std::make_shared<QuantizeOptions>();
      app.add_option("-m,--model", o->model_dir, "Model folder (default: the default NER model, zh-ner-small)");
      app.add_option("-o,--output", o->out_dir, "Folder to write (created if needed)")->required();
      app.add_option("--dtype", o->dtype, "int8 (default) or bf16")
          ->check(CLI::IsMember({"int8", "bf16"}));
      return [o] { return run_quantize(*o); };
    }};

}  // namespace
}  // namespace tanzhen::cli
