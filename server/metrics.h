// Prometheus metrics for the server: counters, gauges and histograms with labels, rendered in
// the text exposition format (version 0.0.4) for GET /metrics. Thread-safe; one mutex is plenty
// at the rates a CPU model server sees (thousands of updates per second).
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace tanzhen::server {

// Label values in a fixed order given by the family's label names.
using Labels = std::vector<std::string>;

class Metrics {
 public:
  Metrics();

  // HTTP layer: one observation per finished request. `route` is the route template (never the
  // raw path, so that unknown paths cannot create unbounded label sets).
  void observe_request(const std::string& route, int status, double seconds);
  void connection_opened();
  void connection_closed();

  // Batching layer (per task: "ner", "fill_mask").
  void set_queue_depth(const std::string& task, size_t depth);
  void observe_batch(const std::string& task, size_t texts, size_t tokens, double seconds);
  void dropped(const std::string& task, const std::string& reason);  // expired, cancelled, ...
  void rejected(const std::string& task);                             // queue full (429)

  // Cache layer; `backend` is "memory" or "redis".
  void cache_hit(const std::string& task, const std::string& backend);
  void cache_miss(const std::string& task);
  void set_cache_bytes(size_t bytes, size_t entries);

  // Text exposition of everything, plus process_resident_memory_bytes read now.
  std::string render() const;

  // For tests and the load benchmark: the sum of a counter/histogram-count over label sets
  // whose labels match `match` (empty strings match anything).
  double counter_value(const std::string& name, const Labels& match) const;

 private:
  struct Histogram {
    std::vector<double> counts;  // one per bucket bound, not cumulative
    double sum = 0;
    double count = 0;
  };
  struct Family {
    std::string name, help, type;  // type: counter | gauge | histogram
    std::vector<std::string> label_names;
    std::vector<double> bounds;  // histograms only
    std::map<Labels, double> values;
    std::map<Labels, Histogram> histograms;
  };

  Family& family(const std::string& name);
  void add(const std::string& name, const Labels& labels, double v);
  void set(const std::string& name, const Labels& labels, double v);
  void observe(const std::string& name, const Labels& labels, double v);
  void define(std::string name, std::string help, std::string type, std::vector<std::string> labels,
              std::vector<double> bounds = {});

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::vector<std::string> order_;  // families in definition order, for stable output
};

// Resident set size of this process in bytes (from /proc/self/statm), 0 when unavailable.
size_t process_rss_bytes();

}  // namespace tanzhen::server
