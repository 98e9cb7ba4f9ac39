#include "server/text_jobs.h"

namespace tanzhen::server {

std::optional<json> cache_lookup(const TextJobContext& ctx, const std::string& key) {
  if (!ctx.cache || !ctx.cache->enabled()) return std::nullopt;
  if (auto hit = ctx.cache->get(key)) {
    try {
      json v = json::parse(hit->value);
      if (ctx.metrics) ctx.metrics->cache_hit(ctx.task, hit->backend);
      return v;
    } catch (const json::exception&) {
      // A foreign or truncated value (a Redis shared with something else): a miss.
    }
  }
  if (ctx.metrics) ctx.metrics->cache_miss(ctx.task);
  return std::nullopt;
}

void cache_store(const TextJobContext& ctx, const std::string& key, const json& item) {
  if (!ctx.cache || !ctx.cache->enabled() || item.contains("error")) return;
  ctx.cache->put(key, item.dump());
}

}  // namespace tanzhen::server
