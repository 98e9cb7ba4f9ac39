#include "cli_common.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "tanzhen/error.h"
#include "tanzhen/model/quantized_checkpoint.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen::cli {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Encoder options

void add_dtype_option(CLI::App& app, std::string* dtype) {
  app.add_option("--dtype", *dtype,
                 "Encoder precision: fp32 (default), bf16, int8 (pre-quantized models run at "
                 "their stored precision)")
      ->check(CLI::IsMember({"fp32", "bf16", "int8"}));
}

void add_threads_option(CLI::App& app, int* threads) {
  app.add_option("--threads", *threads, "Encoder threads (0 = all cores, the default)")
      ->check(CLI::Range(0, 1024));
}

EncoderOptions encoder_options(const std::string& dtype, int threads) {
  EncoderOptions opts;
  opts.threads = threads;
  opts.dtype = dtype.empty() ? ComputeType::kF32 : parse_compute_type(dtype);
  return opts;
}

std::string effective_dtype(const BertEncoder& encoder, const std::string& asked, const std::string& model_dir) {
  const ComputeType runs = encoder.compute_type();
  const std::string stored = checkpoint_quantization(model_dir);  // "" unless pre-quantized
  if (!stored.empty() && quantization_compute_type(stored) != runs) {
    std::fprintf(stderr,
                 "tanzhen: note: %s is stored as %s, which this CPU cannot multiply: it runs at %s, its weights "
                 "widened\n",
                 model_dir.c_str(), stored.c_str(), compute_type_name(runs));
  } else if (!asked.empty() && parse_compute_type(asked) != runs) {
    std::fprintf(stderr, "tanzhen: note: %s is pre-quantized and runs at its stored %s; --dtype %s does not apply\n",
                 model_dir.c_str(), compute_type_name(runs), asked.c_str());
  }
  return compute_type_name(runs);
}

// ---------------------------------------------------------------------------------------------
// Model folder

namespace {

fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

}  // namespace

std::string resolve_model_dir(const std::string& explicit_dir, const std::string& default_name) {
  if (!explicit_dir.empty()) {
    if (!fs::is_directory(explicit_dir))
      fail("model_not_found", fs::exists(explicit_dir) ? explicit_dir + " is a file; give the model's folder"
                                                       : "model folder " + explicit_dir + " does not exist");
    return explicit_dir;
  }
  std::vector<fs::path> tried;
  if (const char* env = std::getenv("TANZHEN_MODELS"); env && *env) {
    tried.push_back(fs::path(env) / default_name);
  } else {
    if (fs::path dir = executable_dir(); !dir.empty()) {
      tried.push_back(dir.parent_path() / "share" / "tanzhen" / "models" / default_name);
      tried.push_back(dir.parent_path() / "models" / default_name);
    }
#ifdef TANZHEN_SOURCE_DIR
    tried.push_back(fs::path(TANZHEN_SOURCE_DIR) / "models" / default_name);
#endif
  }
  std::string list;
  std::vector<fs::path> listed;
  for (const auto& p : tried) {
    if (fs::is_directory(p)) return p.string();
    const fs::path norm = p.lexically_normal();
    if (std::find(listed.begin(), listed.end(), norm) != listed.end()) continue;
    listed.push_back(norm);
    list += (list.empty() ? "" : ", ") + norm.string();
  }
  fail("model_not_found", "no -m MODEL_DIR given and the default model " + default_name + " is missing (tried " +
                              list + "); pass -m or set TANZHEN_MODELS");
}

// ---------------------------------------------------------------------------------------------
// Records

namespace {

// Replaces each invalid UTF-8 sequence by U+FFFD, so that what is left can still be parsed.
std::string replace_invalid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (len > 0 && i + len <= s.size() && is_valid_utf8(s.substr(i, len))) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

void set_error(InputRecord& r, const std::string& code, const std::string& message) {
  r.error_code = code;
  r.error_message = message;
}

}  // namespace

InputRecord parse_jsonl_record(const std::string& line, size_t line_no) {
  InputRecord r;
  r.line = line_no;
  const std::string where = "line " + std::to_string(line_no) + ": ";
  if (!is_valid_utf8(line)) {
    std::string message = "invalid UTF-8";
    try {
      decode_utf8(line);
    } catch (const Error& e) {
      message = e.what();
    }
    set_error(r, "invalid_utf8", where + message);
    // Keep the id when the rest of the line still parses.
    json recovered = json::parse(replace_invalid_utf8(line), nullptr, false);
    if (recovered.is_object() && recovered.contains("id")) r.fields["id"] = recovered["id"];
    return r;
  }
  json parsed = json::parse(line, nullptr, false);
  if (parsed.is_discarded()) {
    std::string detail = "not valid JSON";
    const size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line[first] != '{') {
      // Most likely a plain-text file given to -i; the parser's own message would quote half a
      // UTF-8 character of it.
      detail = "not a JSON object: -i reads JSONL, one {\"text\": ...} per line "
               "(plain-text lines are read from stdin without -i)";
    } else {
      // Parse again with exceptions for the parser's own description of what is wrong.
      try {
        json reparsed = json::parse(line);
        (void)reparsed;
      } catch (const json::exception& e) {
        detail = e.what();
      }
    }
    set_error(r, "invalid_json", where + detail);
    return r;
  }
  if (!parsed.is_object()) {
    set_error(r, "invalid_json", where + "a record must be a JSON object");
    return r;
  }
  r.fields = std::move(parsed);
  auto it = r.fields.find("text");
  if (it == r.fields.end()) {
    set_error(r, "missing_text", where + "the record has no \"text\" field");
  } else if (!it->is_string()) {
    set_error(r, "missing_text", where + "\"text\" must be a string");
  } else {
    r.text = it->get<std::string>();
  }
  return r;
}

InputRecord plain_text_record(const std::string& text, size_t line_no) {
  InputRecord r;
  r.line = line_no;
  r.text = text;
  if (!is_valid_utf8(text)) {
    try {
      decode_utf8(text);
      set_error(r, "invalid_utf8", "invalid UTF-8");
    } catch (const Error& e) {
      set_error(r, e.code(), (line_no ? "line " + std::to_string(line_no) + ": " : "") + e.what());
    }
    r.fields["text"] = replace_invalid_utf8(text);
  } else {
    r.fields["text"] = text;
  }
  return r;
}

json error_object(const std::string& code, const std::string& message) {
  return json{{"error", json{{"code", code}, {"message", message}}}};
}

json output_record(const InputRecord& in, const json& added) {
  json out = in.fields;
  if (!in.ok()) {
    if (!out.contains("id") && in.line > 0) out["line"] = in.line;
    out.update(error_object(in.error_code, in.error_message));
    return out;
  }
  if (added.contains("error") && !out.contains("id") && in.line > 0) out["line"] = in.line;
  out.update(added);
  return out;
}

std::string dump_line(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

double json_float(float value) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, value);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

// ---------------------------------------------------------------------------------------------
// Progress bar

namespace {
double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Progress::Progress(size_t total, bool enabled) : total_(total), enabled_(enabled) {}

Progress::~Progress() {
  if (enabled_ && last_draw_ >= 0) draw(true);
}

void Progress::advance(size_t n) {
  done_ += n;
  if (!enabled_) return;
  double t = now_seconds();
  if (last_draw_ < 0 || t - last_draw_ >= 0.1 || done_ >= total_) {
    last_draw_ = t;
    draw(false);
  }
}

void Progress::draw(bool final) {
  constexpr int kWidth = 30;
  const double frac = total_ ? std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_)) : 1.0;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(filled, '=');
  bar.resize(kWidth, ' ');
  std::fprintf(stderr, "\r[%s] %zu/%zu lines%s", bar.c_str(), done_, std::max(done_, total_), final ? "\n" : "");
  std::fflush(stderr);
}

// ---------------------------------------------------------------------------------------------
// Driver

namespace {

size_t count_lines(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  size_t n = 0;
  char buf[1 << 16];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    for (std::streamsize i = 0; i < f.gcount(); ++i) n += buf[i] == '\n';
    if (!f) break;
  }
  return n;
}

bool is_blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\n") == std::string::npos;
}

}  // namespace

int run_records(const IoOptions& io, const BatchFn& process) {
  if (io.has_text && !io.input.empty()) fail("invalid_option", "give either a TEXT argument or -i FILE, not both");
  if (io.batch_size == 0) fail("invalid_option", "--batch-size must be at least 1");

  std::ofstream out_file;
  std::ostream* out = &std::cout;
  if (!io.output.empty() && io.output != "-") {
    out_file.open(io.output, std::ios::binary | std::ios::trunc);
    if (!out_file) fail("io_error", "cannot write " + io.output);
    out = &out_file;
  }

  if (io.has_text) {
    InputRecord rec = plain_text_record(io.text, 0);
    if (!rec.ok()) fail(rec.error_code, rec.error_message);
    json added = process({rec.text}).at(0);
    if (added.contains("error"))
      fail(added["error"]["code"].get<std::string>(), added["error"]["message"].get<std::string>());
    *out << dump_line(output_record(rec, added)) << '\n';
    out->flush();
    if (!*out) fail("io_error", "cannot write the output");
    return 0;
  }

  const bool jsonl = !io.input.empty();
  const bool from_stdin = !jsonl || io.input == "-";
  std::ifstream in_file;
  std::istream* in = &std::cin;
  if (!from_stdin) {
    // A folder opens as a stream that just reads nothing: say so rather than exit 0 with no output.
    if (fs::is_directory(io.input)) fail("io_error", io.input + " is a folder, not a JSONL file");
    in_file.open(io.input, std::ios::binary);
    if (!in_file) fail("io_error", "cannot read " + io.input);
    in = &in_file;
  }
  const bool show_progress = !from_stdin && isatty(STDERR_FILENO);
  Progress progress(show_progress ? count_lines(io.input) : 0, show_progress);

  std::string line;
  size_t line_no = 0;
  bool eof = false;
  while (!eof) {
    std::vector<InputRecord> records;
    size_t lines_read = 0;
    while (records.size() < io.batch_size) {
      if (!std::getline(*in, line)) {
        eof = true;
        break;
      }
      ++line_no;
      ++lines_read;
      if (line_no == 1 && line.starts_with("\xEF\xBB\xBF")) line.erase(0, 3);  // UTF-8 BOM
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (jsonl) {
        if (is_blank(line)) continue;
        records.push_back(parse_jsonl_record(line, line_no));
      } else {
        records.push_back(plain_text_record(line, line_no));
      }
    }
    std::vector<std::string> texts;
    for (const auto& r : records)
      if (r.ok()) texts.push_back(r.text);
    std::vector<json> added = texts.empty() ? std::vector<json>{} : process(texts);
    if (added.size() != texts.size()) fail("internal", "a batch produced a wrong number of results");
    size_t k = 0;
    for (const auto& r : records) {
      json result = r.ok() ? output_record(r, added[k++]) : output_record(r, json::object());
      *out << dump_line(result) << '\n';
    }
    out->flush();
    if (!*out) fail("io_error", "cannot write the output");
    progress.advance(lines_read);
  }
  return 0;
}

}  // namespace tanzhen::cli
