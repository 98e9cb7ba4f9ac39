#include "server/metrics.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace tanzhen::server {
namespace {

// Latency buckets from 1 ms to 30 s: model calls on a CPU sit between a few ms and seconds.
const std::vector<double> kLatencyBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,  0.5,    1,     2.5,  5,     10,  30};
// Batch size in texts, and in approximate tokens (chars + 2 per text).
const std::vector<double> kBatchSizeBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256};
const std::vector<double> kBatchTokenBounds = {16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};

std::string format_value(double v) {
  char buf[64];
  if (v == static_cast<double>(static_cast<long long>(v)) && v < 1e15 && v > -1e15)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  else
    std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Label values are escaped as the exposition format requires (backslash, quote, newline).
std::string escape_label(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string label_text(const std::vector<std::string>& names, const Labels& values,
                       const std::string& extra = {}) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!out.empty()) out += ',';
    out += names[i] + "=\"" + escape_label(values[i]) + "\"";
  }
  if (!extra.empty()) {
    if (!out.empty()) out += ',';
    out += extra;
  }
  return out.empty() ? "" : "{" + out + "}";
}

bool matches(const Labels& labels, const Labels& match) {
  for (size_t i = 0; i < match.size() && i < labels.size(); ++i)
    if (!match[i].empty() && match[i] != labels[i]) return false;
  return true;
}

}  // namespace

size_t process_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0;
  return pages_resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

Metrics::Metrics() {
  define("tanzhen_http_requests_total", "HTTP requests by route and status code.", "counter",
         {"route", "status"});
  define("tanzhen_http_request_duration_seconds", "HTTP request latency by route.", "histogram",
         {"route"}, kLatencyBounds);
  define("tanzhen_http_connections_open", "Open client connections.", "gauge", {});
  define("tanzhen_queue_depth", "Texts waiting in the batching queue.", "gauge", {"task"});
  define("tanzhen_batch_size", "Texts per model batch.", "histogram", {"task"}, kBatchSizeBounds);
  define("tanzhen_batch_tokens", "Approximate tokens (chars + 2 per text) per model batch.",
         "histogram", {"task"}, kBatchTokenBounds);
  define("tanzhen_batch_duration_seconds", "Model time per batch.", "histogram", {"task"},
         kLatencyBounds);
  define("tanzhen_dropped_total", "Queued texts dropped before running, by reason.", "counter",
         {"task", "reason"});
  define("tanzhen_rejected_total", "Requests rejected because the queue was full (429).",
         "counter", {"task"});
  define("tanzhen_cache_hits_total", "Result cache hits by backend.", "counter",
         {"task", "backend"});
  define("tanzhen_cache_misses_total", "Result cache misses.", "counter", {"task"});
  define("tanzhen_cache_bytes", "Bytes held by the in-process cache.", "gauge", {});
  define("tanzhen_cache_entries", "Entries in the in-process cache.", "gauge", {});
}

void Metrics::define(std::string name, std::string help, std::string type,
                     std::vector<std::string> labels, std::vector<double> bounds) {
  Family f{name, std::move(help), std::move(type), std::move(labels), std::move(bounds), {}, {}};
  order_.push_back(name);
  families_.emplace(std::move(name), std::move(f));
}

Metrics::Family& Metrics::family(const std::string& name) { return families_.at(name); }

void Metrics::add(const std::string& name, const Labels& labels, double v) {
  std::lock_guard lk(mu_);
  family(name).values[labels] += v;
}

void Metrics::set(const std::string& name, const Labels& labels, double v) {
  std::lock_guard lk(mu_);
  family(name).values[labels] = v;
}

void Metrics::observe(const std::string& name, const Labels& labels, double v) {
  std::lock_guard lk(mu_);
  Family& f = family(name);
  Histogram& h = f.histograms[labels];
  if (h.counts.empty()) h.counts.assign(f.bounds.size(), 0);
  for (size_t i = 0; i < f.bounds.size(); ++i)
    if (v <= f.bounds[i]) {
      h.counts[i] += 1;
      break;
    }
  h.sum += v;
  h.count += 1;
}

void Metrics::observe_request(const std::string& route, int status, double seconds) {
  add("tanzhen_http_requests_total", {route, std::to_string(status)}, 1);
  observe("tanzhen_http_request_duration_seconds", {route}, seconds);
}
void Metrics::connection_opened() { add("tanzhen_http_connections_open", {}, 1); }
void Metrics::connection_closed() { add("tanzhen_http_connections_open", {}, -1); }

void Metrics::set_queue_depth(const std::string& task, size_t depth) {
  set("tanzhen_queue_depth", {task}, static_cast<double>(depth));
}
void Metrics::observe_batch(const std::string& task, size_t texts, size_t tokens, double seconds) {
  observe("tanzhen_batch_size", {task}, static_cast<double>(texts));
  observe("tanzhen_batch_tokens", {task}, static_cast<double>(tokens));
  observe("tanzhen_batch_duration_seconds", {task}, seconds);
}
void Metrics::dropped(const std::string& task, const std::string& reason) {
  add("tanzhen_dropped_total", {task, reason}, 1);
}
void Metrics::rejected(const std::string& task) { add("tanzhen_rejected_total", {task}, 1); }
void Metrics::cache_hit(const std::string& task, const std::string& backend) {
  add("tanzhen_cache_hits_total", {task, backend}, 1);
}
void Metrics::cache_miss(const std::string& task) { add("tanzhen_cache_misses_total", {task}, 1); }
void Metrics::set_cache_bytes(size_t bytes, size_t entries) {
  set("tanzhen_cache_bytes", {}, static_cast<double>(bytes));
  set("tanzhen_cache_entries", {}, static_cast<double>(entries));
}

double Metrics::counter_value(const std::string& name, const Labels& match) const {
  std::lock_guard lk(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  double total = 0;
  for (const auto& [labels, v] : it->second.values)
    if (matches(labels, match)) total += v;
  for (const auto& [labels, h] : it->second.histograms)
    if (matches(labels, match)) total += h.count;
  return total;
}

std::string Metrics::render() const {
  std::ostringstream out;
  {
    std::lock_guard lk(mu_);
    for (const std::string& name : order_) {
      const Family& f = families_.at(name);
      out << "# HELP " << f.name << ' ' << f.help << '\n' << "# TYPE " << f.name << ' ' << f.type << '\n';
      if (f.type == "histogram") {
        for (const auto& [labels, h] : f.histograms) {
          double cumulative = 0;
          for (size_t i = 0; i < f.bounds.size(); ++i) {
            cumulative += h.counts[i];
            out << f.name << "_bucket"
                << label_text(f.label_names, labels, "le=\"" + format_value(f.bounds[i]) + "\"") << ' '
                << format_value(cumulative) << '\n';
          }
          out << f.name << "_bucket" << label_text(f.label_names, labels, "le=\"+Inf\"") << ' '
              << format_value(h.count) << '\n';
          out << f.name << "_sum" << label_text(f.label_names, labels) << ' ' << format_value(h.sum) << '\n';
          out << f.name << "_count" << label_text(f.label_names, labels) << ' ' << format_value(h.count)
              << '\n';
        }
      } else {
        if (f.values.empty() && f.label_names.empty()) out << f.name << " 0\n";
        for (const auto& [labels, v] : f.values)
          out << f.name << label_text(f.label_names, labels) << ' ' << format_value(v) << '\n';
      }
    }
  }
  out << "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
      << "# TYPE process_resident_memory_bytes gauge\n"
      << "process_resident_memory_bytes " << process_rss_bytes() << '\n';
  return out.str();
}

}  // namespace tanzhen::server
