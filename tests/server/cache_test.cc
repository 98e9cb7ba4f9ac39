// The in-process LRU (bytes cap, TTL, recency), cache keys, and the memory -> Redis chain.
#include "server/cache.h"

#include <gtest/gtest.h>

#include <thread>

#include "server/redis_cache.h"
#include "tanzhen/error.h"

namespace tanzhen::server {
namespace {

using namespace std::chrono_literals;

TEST(CacheKey, PartsCannotBleedIntoEachOther) {
  EXPECT_NE(cache_key("m", "ner", "a", "bc"), cache_key("m", "ner", "ab", "c"));
  EXPECT_NE(cache_key("m", "ner", "", "x"), cache_key("m", "fill_mask", "", "x"));
  EXPECT_NE(cache_key("m1", "ner", "o", "x"), cache_key("m2", "ner", "o", "x"));
  EXPECT_EQ(cache_key("m", "ner", "o", "北京"), cache_key("m", "ner", "o", "北京"));
}

TEST(LruCache, EvictsLeastRecentlyUsedPastTheByteCap) {
  // Each entry costs its key + value + a fixed overhead; room for exactly three of these.
  const std::string v(100, 'v');
  const size_t one = 1 + v.size() + 96;
  LruCache c(3 * one, 0s);
  c.put("a", v);
  c.put("b", v);
  c.put("c", v);
  EXPECT_EQ(c.entries(), 3u);
  EXPECT_EQ(c.bytes(), 3 * one);
  ASSERT_TRUE(c.get("a"));  // a is now the most recent; b the least
  c.put("d", v);
  EXPECT_FALSE(c.get("b"));
  EXPECT_TRUE(c.get("a"));
  EXPECT_TRUE(c.get("c"));
  EXPECT_TRUE(c.get("d"));
  EXPECT_LE(c.bytes(), 3 * one);
}

TEST(LruCache, ReplacingAKeyKeepsTheAccountingRight) {
  LruCache c(10000, 0s);
  c.put("k", "short");
  c.put("k", std::string(500, 'x'));
  EXPECT_EQ(c.entries(), 1u);
  EXPECT_EQ(c.bytes(), 1 + 500 + 96u);
  EXPECT_EQ(*c.get("k"), std::string(500, 'x'));
}

TEST(LruCache, TooLargeValuesAreNotCached) {
  LruCache c(200, 0s);
  c.put("small", "x");
  c.put("big", std::string(1000, 'x'));
  EXPECT_FALSE(c.get("big"));
  EXPECT_TRUE(c.get("small")) << "a value that cannot fit must not flush the cache";
}

TEST(LruCache, EntriesExpireAfterTheTtl) {
  LruCache c(10000, 1s);
  c.put("k", "v");
  EXPECT_TRUE(c.get("k"));
  std::this_thread::sleep_for(1100ms);
  EXPECT_FALSE(c.get("k"));
  EXPECT_EQ(c.entries(), 0u);
}

// A backend that remembers what it was given.
struct MapBackend : CacheBackend {
  std::map<std::string, std::string> m;
  std::optional<std::string> get(const std::string& k) override {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
  }
  void put(const std::string& k, const std::string& v) override { m[k] = v; }
  const char* name() const override { return "redis"; }
};

TEST(ResultCache, HitsInTheSecondBackendFillTheFirst) {
  auto lru = std::make_shared<LruCache>(10000, 0s);
  auto remote = std::make_shared<MapBackend>();
  ResultCache c;
  c.add(lru);
  c.add(remote);
  remote->m["k"] = "from redis";
  auto hit = c.get("k");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->value, "from redis");
  EXPECT_STREQ(hit->backend, "redis");
  hit = c.get("k");
  EXPECT_STREQ(hit->backend, "memory");
  c.put("n", "new");
  EXPECT_EQ(remote->m["n"], "new");
  EXPECT_EQ(*lru->get("n"), "new");
  EXPECT_EQ(c.memory(), lru.get());
}

TEST(RedisUrl, ParsesHostPortAndDb) {
  auto a = parse_redis_url("redis://127.0.0.1:6390");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6390);
  EXPECT_EQ(a.db, 0);
  a = parse_redis_url("redis://cache.local/3");
  EXPECT_EQ(a.host, "cache.local");
  EXPECT_EQ(a.port, 6379);
  EXPECT_EQ(a.db, 3);
  EXPECT_THROW(parse_redis_url("http://x:1"), Error);
  EXPECT_THROW(parse_redis_url("redis://x:99999"), Error);
}

TEST(RedisCache, KeysAreShortAndDistinct) {
  const std::string k1 = RedisCache::redis_key(cache_key("m", "ner", "o", std::string(5000, 'x')));
  const std::string k2 = RedisCache::redis_key(cache_key("m", "ner", "o", std::string(4999, 'x')));
  EXPECT_EQ(k1.size(), std::string("tanzhen:v1:").size() + 32);
  EXPECT_NE(k1, k2);
}

TEST(RedisCache, UnreachableRedisIsAMissNotAFailure) {
  RedisCache r({"127.0.0.1", 1, 0}, 0s);  // port 1: nothing listens there
  EXPECT_THROW(r.check(), Error);
  EXPECT_FALSE(r.get("k"));
  r.put("k", "v");  // must not throw
}

}  // namespace
}  // namespace tanzhen::server
