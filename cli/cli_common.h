// What the task commands (ner, fill-mask) share: finding the model folder, the three input modes
// (one TEXT argument, a JSONL file, lines on stdin), JSON output, and a progress bar.
#pragma once
#include <cstddef>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tanzhen/model/bert.h"

namespace CLI {
class App;
}

namespace tanzhen::cli {

// --dtype fp32|bf16|int8, the encoder precision, for every command that loads a model. Left
// empty when not given: fp32, or a pre-quantized model folder's stored precision, which wins
// whatever the flag says (see effective_dtype).
void add_dtype_option(CLI::App& app, std::string* dtype);
// --threads N, the encoder's compute threads: 0 (the default) for all cores; a negative count is
// refused at parse time rather than read as "all cores".
void add_threads_option(CLI::App& app, int* threads);
// The one place that maps --dtype ("" = fp32) and --threads to the encoder.
EncoderOptions encoder_options(const std::string& dtype, int threads);
// The precision `encoder` (loaded from `model_dir`) really runs at, for reports. When --dtype
// asked for another one (a pre-quantized folder keeps its own), says so on stderr, so that a
// figure labelled fp32 is never an int8 one.
std::string effective_dtype(const BertEncoder& encoder, const std::string& asked, const std::string& model_dir);

// Ordered, so that output records keep their input fields first, in their order.
using json = nlohmann::ordered_json;

// The model folder: `explicit_dir` when given (must exist); else $TANZHEN_MODELS/<default_name>
// when TANZHEN_MODELS is set; else the first that exists of <prefix>/share/tanzhen/models/<name>,
// <prefix>/models/<name> (prefix = the folder above the executable's) and
// <source dir>/models/<name>. Throws Error("model_not_found") naming what was tried.
std::string resolve_model_dir(const std::string& explicit_dir, const std::string& default_name);

// One input record. For a JSONL line: the parsed object (all of its fields are copied to the
// output); for a plain line or a TEXT argument: {"text": ...}. When the record is unusable
// (invalid UTF-8, invalid JSON, not an object, "text" missing or not a string), error_code and
// error_message say why and `fields` holds what could be recovered (e.g. the id).
struct InputRecord {
  size_t line = 0;  // 1-based line number (0 for a TEXT argument)
  json fields = json::object();
  std::string text;
  std::string error_code, error_message;
  bool ok() const { return error_code.empty(); }
};

InputRecord parse_jsonl_record(const std::string& line, size_t line_no);
InputRecord plain_text_record(const std::string& text, size_t line_no);

// The output object for a record: its fields plus `added`, or, for a failed record, its
// recoverable fields (the line number when there is no id) plus "error": {"code", "message"}.
json error_object(const std::string& code, const std::string& message);
json output_record(const InputRecord& in, const json& added);

// One JSON object per line; invalid UTF-8 in strings is replaced (U+FFFD), never thrown.
std::string dump_line(const json& value);

// A float as the shortest decimal that reads back as the same float (no float->double noise).
double json_float(float value);

// A progress bar on stderr, drawn only when stderr is a terminal (so CI logs get nothing).
class Progress {
 public:
  Progress(size_t total, bool enabled);
  ~Progress();
  void advance(size_t n);

 private:
  void draw(bool final);
  size_t total_, done_ = 0;
  bool enabled_;
  double last_draw_ = -1;
};

// Command-line input/output shared by the task commands.
struct IoOptions {
  bool has_text = false;
  std::string text;    // TEXT argument (when has_text)
  std::string input;   // -i: JSONL file ("-" = stdin)
  std::string output;  // -o: output file (default or "-" = stdout)
  size_t batch_size = 32;
};

// Processes a batch of texts: one JSON object of added fields per text, or error_object(...).
using BatchFn = std::function<std::vector<json>(const std::vector<std::string>& texts)>;

// Runs the command over its input:
//   TEXT given      one output line; a failed record makes the command fail (Error thrown, so
//                   main prints a one-line message and exits non-zero);
//   -i FILE         JSONL records in batches of batch_size, one output line each, in order; bad
//                   records get an "error" field and the rest go on (exit 0);
//   neither         each line of stdin is one text (output as for a JSONL file).
// Returns the process exit code.
int run_records(const IoOptions& io, const BatchFn& process);

}  // namespace tanzhen::cli
