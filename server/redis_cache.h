// Redis result cache (hiredis, synchronous, small connection pool): lets several server
// processes share results. Failures never fail a request: a down Redis reads as a miss, and is
// not retried for a second so that it costs no latency meanwhile.
#pragma once
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "server/cache.h"

struct redisContext;

namespace tanzhen::server {

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
};
// redis://HOST[:PORT][/DB]; throws tanzhen::Error("bad_option") on anything else.
RedisAddress parse_redis_url(const std::string& url);

class RedisCache : public CacheBackend {
 public:
  // ttl 0 = no expiry. Does not connect until first used; check() connects now.
  RedisCache(RedisAddress addr, std::chrono::seconds ttl);
  ~RedisCache() override;
  std::optional<std::string> get(const std::string& key) override;
  void put(const std::string& key, const std::string& value) override;
  const char* name() const override { return "redis"; }

  // PING; throws tanzhen::Error("redis_unavailable") when Redis cannot be reached.
  void check();

  // The Redis key for a cache key (a 128-bit hash of it, so keys stay short; the value starts
  // with the full cache key, which get() compares, so a hash collision is a miss, not a wrong
  // answer).
  static std::string redis_key(const std::string& key);

 private:
  redisContext* acquire(std::string& error);
  void release(redisContext* c, bool healthy);

  RedisAddress addr_;
  std::chrono::seconds ttl_;
  std::mutex mu_;
  std::vector<redisContext*> idle_;
  std::chrono::steady_clock::time_point retry_after_{};
};

}  // namespace tanzhen::server
