#include "server/cache.h"

namespace tanzhen::server {

std::string cache_key(const std::string& model_id, const std::string& task,
                      const std::string& options, const std::string& text) {
  std::string key;
  key.reserve(model_id.size() + task.size() + options.size() + text.size() + 32);
  for (const std::string* part : {&model_id, &task, &options, &text}) {
    key += std::to_string(part->size());
    key += ':';
    key += *part;
  }
  return key;
}

LruCache::LruCache(size_t max_bytes, std::chrono::seconds ttl) : max_bytes_(max_bytes), ttl_(ttl) {}

void LruCache::erase(std::list<Entry>::iterator it) {
  bytes_ -= cost(it->key, it->value);
  index_.erase(std::string_view(it->key));
  lru_.erase(it);
}

std::optional<std::string> LruCache::get(const std::string& key) {
  std::lock_guard lk(mu_);
  auto found = index_.find(std::string_view(key));
  if (found == index_.end()) return std::nullopt;
  auto it = found->second;
  if (ttl_.count() > 0 && Clock::now() >= it->expires) {
    erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it);  // most recently used first; iterators stay valid
  return it->value;
}

void LruCache::put(const std::string& key, const std::string& value) {
  const size_t c = cost(key, value);
  if (c > max_bytes_) return;  // would evict everything and still not fit
  std::lock_guard lk(mu_);
  if (auto found = index_.find(std::string_view(key)); found != index_.end()) erase(found->second);
  lru_.push_front(Entry{key, value, Clock::now() + ttl_});
  index_.emplace(std::string_view(lru_.front().key), lru_.begin());
  bytes_ += c;
  while (bytes_ > max_bytes_ && !lru_.empty()) erase(std::prev(lru_.end()));
}

size_t LruCache::bytes() const {
  std::lock_guard lk(mu_);
  return bytes_;
}

size_t LruCache::entries() const {
  std::lock_guard lk(mu_);
  return lru_.size();
}

std::optional<ResultCache::Hit> ResultCache::get(const std::string& key) {
  for (size_t i = 0; i < backends_.size(); ++i) {
    if (auto v = backends_[i]->get(key)) {
      for (size_t j = 0; j < i; ++j) backends_[j]->put(key, *v);
      return Hit{std::move(*v), backends_[i]->name()};
    }
  }
  return std::nullopt;
}

void ResultCache::put(const std::string& key, const std::string& value) {
  for (auto& b : backends_) b->put(key, value);
}

const LruCache* ResultCache::memory() const {
  for (const auto& b : backends_)
    if (auto* lru = dynamic_cast<const LruCache*>(b.get())) return lru;
  return nullptr;
}

}  // namespace tanzhen::server
