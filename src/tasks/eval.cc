#include "tanzhen/tasks/eval.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tanzhen/error.h"
#include "tanzhen/text/utf8.h"

namespace tanzhen {

// ---------------------------------------------------------------------------------------------
// Scores

namespace {
double ratio(int64_t num, int64_t den) { return den > 0 ? static_cast<double>(num) / static_cast<double>(den) : 0.0; }
bool overlaps(const LabeledSpan& a, const LabeledSpan& b) { return a.start < b.end && b.start < a.end; }
}  // namespace

double PrfCounts::precision() const { return ratio(tp, tp + fp); }
double PrfCounts::recall() const { return ratio(tp, tp + fn); }
double PrfCounts::f1() const {
  // 2PR/(P+R) = 2tp / (2tp + fp + fn): the same number without dividing twice.
  return ratio(2 * tp, 2 * tp + fp + fn);
}

PrfCounts& PrfCounts::operator+=(const PrfCounts& o) {
  tp += o.tp;
  fp += o.fp;
  fn += o.fn;
  return *this;
}

void EntityScorer::add(std::vector<LabeledSpan> gold, std::vector<LabeledSpan> predicted) {
  ++scores_.sentences;
  std::sort(gold.begin(), gold.end());
  std::sort(predicted.begin(), predicted.end());
  // Multiset intersection of two sorted lists: each gold entity matches at most one prediction.
  std::vector<bool> gold_hit(gold.size(), false), pred_hit(predicted.size(), false);
  for (size_t g = 0, p = 0; g < gold.size() && p < predicted.size();) {
    if (gold[g] < predicted[p]) {
      ++g;
    } else if (predicted[p] < gold[g]) {
      ++p;
    } else {
      gold_hit[g++] = pred_hit[p++] = true;
    }
  }

  for (size_t p = 0; p < predicted.size(); ++p) {
    const LabeledSpan& s = predicted[p];
    PrfCounts& c = scores_.per_type[s.type];
    if (pred_hit[p]) {
      ++c.tp;
      ++scores_.overall.tp;
      continue;
    }
    ++c.fp;
    ++scores_.overall.fp;
    bool same_span_other_type = false, overlap_other_span = false;
    for (const LabeledSpan& g : gold) {
      if (g.start == s.start && g.end == s.end) {
        if (g.type != s.type) same_span_other_type = true;
      } else if (overlaps(g, s)) {
        overlap_other_span = true;
      }
    }
    if (same_span_other_type)
      ++scores_.errors.type;
    else if (overlap_other_span)
      ++scores_.errors.boundary;
    else
      ++scores_.errors.spurious;  // includes a duplicate of an already matched prediction
  }

  for (size_t g = 0; g < gold.size(); ++g) {
    if (gold_hit[g]) continue;
    ++scores_.per_type[gold[g].type].fn;
    ++scores_.overall.fn;
    if (std::none_of(predicted.begin(), predicted.end(), [&](const LabeledSpan& s) { return overlaps(s, gold[g]); }))
      ++scores_.errors.missed;
  }
}

// ---------------------------------------------------------------------------------------------
// Type renaming and filtering

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f on each comma-separated item of spec, empty ones included ("a,,b" has three).
template <class F>
void for_each_item(std::string_view spec, F f) {
  for (size_t pos = 0; pos <= spec.size();) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    f(spec.substr(pos, comma - pos));
    pos = comma + 1;
  }
}
}  // namespace

TypeMap TypeMap::parse(std::string_view spec) {
  TypeMap m;
  if (trim(spec).empty()) return m;
  for_each_item(spec, [&](std::string_view pair) {
    size_t eq = pair.find('=');
    std::string_view from = eq == std::string_view::npos ? std::string_view() : trim(pair.substr(0, eq));
    std::string_view to = eq == std::string_view::npos ? std::string_view() : trim(pair.substr(eq + 1));
    if (from.empty() || to.empty() || to.find('=') != std::string_view::npos)
      fail("invalid_option", "--map: expected FROM=TO[,FROM=TO...], got \"" + std::string(pair) + "\"");
    if (!m.map_.emplace(std::string(from), std::string(to)).second)
      fail("invalid_option", "--map: type " + std::string(from) + " is mapped twice");
  });
  return m;
}

const std::string& TypeMap::apply(const std::string& type) const {
  auto it = map_.find(type);
  return it == map_.end() ? type : it->second;
}

void TypeMap::apply(std::vector<LabeledSpan>& spans) const {
  if (map_.empty()) return;
  for (LabeledSpan& s : spans) s.type = apply(s.type);
}

TypeFilter TypeFilter::parse(std::string_view spec) {
  TypeFilter f;
  if (trim(spec).empty()) return f;
  for_each_item(spec, [&](std::string_view item) {
    std::string_view name = trim(item);
    if (name.empty()) fail("invalid_option", "--types: expected T[,T...], got \"" + std::string(spec) + "\"");
    f.keep_.emplace(name);
  });
  return f;
}

std::vector<std::string> TypeFilter::missing_from(const std::set<std::string, std::less<>>& known) const {
  std::vector<std::string> missing;
  for (const std::string& t : keep_)
    if (!known.count(t)) missing.push_back(t);
  return missing;
}

void TypeFilter::apply(std::vector<LabeledSpan>& spans) const {
  if (keep_.empty()) return;
  std::erase_if(spans, [this](const LabeledSpan& s) { return !keeps(s.type); });
}

// ---------------------------------------------------------------------------------------------
// Data files

namespace {

[[noreturn]] void bad_line(size_t line_no, const std::string& what) {
  fail("bad_data", "line " + std::to_string(line_no) + ": " + what);
}

std::ifstream open_input(const std::string& path) {
  // A folder opens as a stream that reads nothing ("holds no examples" would mislead).
  if (std::filesystem::is_directory(path)) fail("bad_data", path + " is a folder, not a data file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("file_not_found", "cannot open " + path);
  return in;
}

bool blank(std::string_view s) { return trim(s).empty(); }

void strip_cr(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

nlohmann::json parse_object(std::string_view line, size_t line_no) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad_line(line_no, "not valid JSON (or not valid UTF-8)");
  if (!j.is_object()) bad_line(line_no, "expected a JSON object");
  return j;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

NerExample parse_ner_example(std::string_view line, size_t line_no) {
  nlohmann::json j = parse_object(line, line_no);
  auto text = j.find("text");
  if (text == j.end() || !text->is_string()) bad_line(line_no, "\"text\" missing or not a string");
  auto entities = j.find("entities");
  if (entities == j.end() || !entities->is_array()) bad_line(line_no, "\"entities\" missing or not an array");
  NerExample ex;
  ex.text = text->get<std::string>();
  const int length = static_cast<int>(decode_utf8(ex.text).size());
  for (const auto& e : *entities) {
    if (!e.is_object()) bad_line(line_no, "an entity is not an object");
    auto start = e.find("start"), end = e.find("end"), type = e.find("type");
    if (start == e.end() || end == e.end() || !start->is_number_integer() || !end->is_number_integer())
      bad_line(line_no, "an entity lacks integer \"start\"/\"end\"");
    if (type == e.end() || !type->is_string() || type->get<std::string>().empty())
      bad_line(line_no, "an entity lacks a \"type\" string");
    const int64_t s = start->get<int64_t>(), t = end->get<int64_t>();
    if (s < 0 || t <= s || t > length)
      bad_line(line_no, "entity [" + std::to_string(s) + ", " + std::to_string(t) + ") is empty or outside the " +
                            std::to_string(length) + "-character text");
    ex.entities.push_back({type->get<std::string>(), static_cast<int>(s), static_cast<int>(t)});
  }
  return ex;
}

std::vector<NerExample> read_ner_examples(const std::string& path, size_t limit) {
  std::ifstream in = open_input(path);
  std::vector<NerExample> out;
  std::string line;
  for (size_t line_no = 1; (limit == 0 || out.size() < limit) && std::getline(in, line); ++line_no) {
    strip_cr(line);
    if (blank(line)) continue;
    out.push_back(parse_ner_example(line, line_no));
  }
  return out;
}

std::vector<std::string> read_sentences(const std::string& path, size_t limit) {
  const bool jsonl = ends_with(path, ".jsonl") || ends_with(path, ".json");
  std::ifstream in = open_input(path);
  std::vector<std::string> out;
  std::string line;
  for (size_t line_no = 1; (limit == 0 || out.size() < limit) && std::getline(in, line); ++line_no) {
    strip_cr(line);
    if (blank(line)) continue;
    if (jsonl) {
      nlohmann::json j = parse_object(line, line_no);
      auto text = j.find("text");
      if (text == j.end() || !text->is_string()) bad_line(line_no, "\"text\" missing or not a string");
      out.push_back(text->get<std::string>());
    } else {
      if (!is_valid_utf8(line)) bad_line(line_no, "not valid UTF-8");
      out.push_back(std::move(line));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Fill-mask

std::vector<int> choose_mask_positions(const std::vector<int>& candidates, double rate, std::mt19937& rng) {
  if (!(rate > 0 && rate <= 1)) fail("invalid_option", "the mask rate must be in (0, 1]");
  const size_t n = candidates.size();
  if (n == 0) return {};
  const size_t k = std::clamp<size_t>(static_cast<size_t>(std::llround(rate * static_cast<double>(n))), 1, n);
  std::vector<int> pool = candidates;
  for (size_t i = 0; i < k; ++i) {
    // rng() % m has a bias below 2^-20 for sentence-sized m: irrelevant here, and portable.
    const size_t j = i + static_cast<size_t>(rng() % (n - i));
    std::swap(pool[i], pool[j]);
  }
  pool.resize(k);
  std::sort(pool.begin(), pool.end());
  return pool;
}

void MaskAccuracy::add(const std::string& answer, const std::vector<std::string>& ranked) {
  ++masks;
  if (!ranked.empty() && ranked.front() == answer) ++top1;
  const size_t n = std::min<size_t>(ranked.size(), 5);
  if (std::find(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), answer) != ranked.begin() + static_cast<std::ptrdiff_t>(n))
    ++top5;
}

}  // namespace tanzhen
