// A small thread-safe LRU map from a shape key to a oneDNN primitive (or a group of them).
//
// Creating a oneDNN primitive costs tens to hundreds of microseconds, so the encoder keeps the
// ones it made per row count / sequence length. Values are handed out as shared_ptr so that an
// entry evicted while a call still uses it stays alive until that call ends.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

namespace tanzhen::kernels {

template <class Key, class Value>
class PrimitiveCache {
 public:
  explicit PrimitiveCache(size_t capacity) : capacity_(capacity) {}

  // The cached value for `key`, made with make() (outside the lock) when absent.
  template <class Make>
  std::shared_ptr<const Value> get(const Key& key, Make&& make) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find(key);
      if (it != entries_.end()) {
        it->second.last_use = ++tick_;
        return it->second.value;
      }
    }
    std::shared_ptr<const Value> made = std::make_shared<const Value>(make());
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = entries_.try_emplace(key, Entry{made, ++tick_});
    if (inserted && entries_.size() > capacity_) evict_oldest();
    return it->second.value;
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_.size();
  }

 private:
  struct Entry {
    std::shared_ptr<const Value> value;
    uint64_t last_use;
  };

  void evict_oldest() {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    entries_.erase(oldest);
  }

  size_t capacity_;
  mutable std::mutex mu_;
  uint64_t tick_ = 0;
  std::map<Key, Entry> entries_;
};

}  // namespace tanzhen::kernels
