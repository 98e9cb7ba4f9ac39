// Result cache: per-text model results keyed by (model, task, options, text). An in-process LRU
// with a TTL and a memory cap, optionally in front of a shared Redis (redis_cache.h).
#pragma once
#include <chrono>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace tanzhen::server {

class CacheBackend {
 public:
  virtual ~CacheBackend() = default;
  virtual std::optional<std::string> get(const std::string& key) = 0;
  virtual void put(const std::string& key, const std::string& value) = 0;
  virtual const char* name() const = 0;  // "memory" | "redis": the metrics label
};

// One key for one text's result. Every part is length-prefixed, so no choice of text or options
// can make two different tuples produce the same key.
std::string cache_key(const std::string& model_id, const std::string& task,
                      const std::string& options, const std::string& text);

class LruCache : public CacheBackend {
 public:
  // max_bytes counts keys, values and a fixed per-entry overhead; ttl 0 = entries never expire.
  LruCache(size_t max_bytes, std::chrono::seconds ttl);
  std::optional<std::string> get(const std::string& key) override;
  void put(const std::string& key, const std::string& value) override;
  const char* name() const override { return "memory"; }

  size_t bytes() const;
  size_t entries() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::string key, value;
    Clock::time_point expires;
  };
  static size_t cost(const std::string& key, const std::string& value) {
    return key.size() + value.size() + kEntryOverhead;
  }
  static constexpr size_t kEntryOverhead = 96;  // list node + hash node + string headers, roughly
  void erase(std::list<Entry>::iterator it);

  const size_t max_bytes_;
  const std::chrono::seconds ttl_;
  mutable std::mutex mu_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // views into lru_ keys
  size_t bytes_ = 0;
};

// Looks backends up in order (memory first); a hit in a later one is copied into the earlier
// ones; put writes to all.
class ResultCache {
 public:
  void add(std::shared_ptr<CacheBackend> backend) { backends_.push_back(std::move(backend)); }
  bool enabled() const { return !backends_.empty(); }

  struct Hit {
    std::string value;
    const char* backend;
  };
  std::optional<Hit> get(const std::string& key);
  void put(const std::string& key, const std::string& value);
  // The in-process LRU when there is one (for its size metrics).
  const LruCache* memory() const;

 private:
  std::vector<std::shared_ptr<CacheBackend>> backends_;
};

}  // namespace tanzhen::server
