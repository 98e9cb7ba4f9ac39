#include "server/redis_cache.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <regex>

#include "tanzhen/error.h"

namespace tanzhen::server {
namespace {

constexpr size_t kMaxIdleConnections = 16;
const timeval kTimeout{0, 250'000};  // connect and command timeout: a cache must be fast or absent
constexpr auto kBackoff = std::chrono::seconds(1);
constexpr const char* kRecentlyDown = "recently unreachable";

uint64_t fnv1a(const std::string& s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

}  // namespace

RedisAddress parse_redis_url(const std::string& url) {
  static const std::regex re(R"(redis://([^:/]+)(?::(\d{1,5}))?(?:/(\d{1,2}))?/?)");
  std::smatch m;
  if (!std::regex_match(url, m, re))
    fail("bad_option", "--cache must look like redis://HOST[:PORT][/DB], got '" + url + "'");
  RedisAddress a;
  a.host = m[1];
  if (m[2].matched) a.port = std::stoi(m[2]);
  if (m[3].matched) a.db = std::stoi(m[3]);
  if (a.port < 1 || a.port > 65535) fail("bad_option", "Redis port out of range in '" + url + "'");
  return a;
}

RedisCache::RedisCache(RedisAddress addr, std::chrono::seconds ttl) : addr_(std::move(addr)), ttl_(ttl) {}

RedisCache::~RedisCache() {
  for (redisContext* c : idle_) redisFree(c);
}

std::string RedisCache::redis_key(const std::string& key) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "tanzhen:v1:%016llx%016llx",
                static_cast<unsigned long long>(fnv1a(key, 14695981039346656037ull)),
                static_cast<unsigned long long>(fnv1a(key, 0x9e3779b97f4a7c15ull)));
  return buf;
}

redisContext* RedisCache::acquire(std::string& error) {
  {
    std::lock_guard lk(mu_);
    if (!idle_.empty()) {
      redisContext* c = idle_.back();
      idle_.pop_back();
      return c;
    }
    if (std::chrono::steady_clock::now() < retry_after_) {
      error = kRecentlyDown;
      return nullptr;
    }
  }
  redisContext* c = redisConnectWithTimeout(addr_.host.c_str(), addr_.port, kTimeout);
  if (c == nullptr || c->err) {
    error = c ? c->errstr : "cannot allocate a Redis context";
    if (c) redisFree(c);
    return nullptr;
  }
  redisSetTimeout(c, kTimeout);
  if (addr_.db != 0) {
    Reply r(static_cast<redisReply*>(redisCommand(c, "SELECT %d", addr_.db)));
    if (!r || r->type == REDIS_REPLY_ERROR) {
      error = r ? std::string(r->str, r->len) : c->errstr;
      redisFree(c);
      return nullptr;
    }
  }
  return c;
}

void RedisCache::release(redisContext* c, bool healthy) {
  std::lock_guard lk(mu_);
  if (healthy && idle_.size() < kMaxIdleConnections) {
    idle_.push_back(c);
    return;
  }
  redisFree(c);
  if (!healthy) retry_after_ = std::chrono::steady_clock::now() + kBackoff;
}

void RedisCache::check() {
  std::string error;
  redisContext* c = acquire(error);
  if (!c) fail("redis_unavailable", "cannot connect to Redis at " + addr_.host + ":" +
                                        std::to_string(addr_.port) + ": " + error);
  Reply r(static_cast<redisReply*>(redisCommand(c, "PING")));
  const bool ok = r && r->type != REDIS_REPLY_ERROR;
  std::string why = ok ? "" : (r ? std::string(r->str, r->len) : std::string(c->errstr));
  release(c, ok);
  if (!ok) fail("redis_unavailable", "Redis PING failed: " + why);
}

std::optional<std::string> RedisCache::get(const std::string& key) {
  std::string error;
  redisContext* c = acquire(error);
  if (!c) {
    if (error != kRecentlyDown) {
      spdlog::warn("redis cache: {}", error);
      std::lock_guard lk(mu_);
      retry_after_ = std::chrono::steady_clock::now() + kBackoff;
    }
    return std::nullopt;
  }
  const std::string rkey = redis_key(key);
  Reply r(static_cast<redisReply*>(redisCommand(c, "GET %b", rkey.data(), rkey.size())));
  if (!r || r->type == REDIS_REPLY_ERROR) {
    spdlog::warn("redis cache GET failed: {}", r ? std::string(r->str, r->len) : std::string(c->errstr));
    release(c, false);
    return std::nullopt;
  }
  release(c, true);
  if (r->type != REDIS_REPLY_STRING) return std::nullopt;
  std::string_view stored(r->str, r->len);
  if (stored.size() < key.size() || stored.substr(0, key.size()) != key) return std::nullopt;
  return std::string(stored.substr(key.size()));
}

void RedisCache::put(const std::string& key, const std::string& value) {
  std::string error;
  redisContext* c = acquire(error);
  if (!c) return;  // get() already logged it
  const std::string rkey = redis_key(key);
  const std::string stored = key + value;
  Reply r;
  if (ttl_.count() > 0)
    r.reset(static_cast<redisReply*>(redisCommand(c, "SET %b %b EX %lld", rkey.data(), rkey.size(),
                                                  stored.data(), stored.size(),
                                                  static_cast<long long>(ttl_.count()))));
  else
    r.reset(static_cast<redisReply*>(
        redisCommand(c, "SET %b %b", rkey.data(), rkey.size(), stored.data(), stored.size())));
  const bool ok = r && r->type != REDIS_REPLY_ERROR;
  if (!ok) spdlog::warn("redis cache SET failed: {}", r ? std::string(r->str, r->len) : std::string(c->errstr));
  release(c, ok);
}

}  // namespace tanzhen::server
