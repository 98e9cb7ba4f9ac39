// One request's texts on their way through the result cache and a batcher: hits are answered
// from the cache, misses become batch jobs, and every text's JSON result is reported as it is
// ready (from the I/O thread for hits, the batch worker for the rest). Shared by the NER,
// streaming NER and fill-mask routes.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/api_json.h"
#include "server/batcher.h"
#include "server/cache.h"
#include "server/metrics.h"

namespace tanzhen::server {

struct TextJobContext {
  ResultCache* cache = nullptr;
  Metrics* metrics = nullptr;
  std::string task;      // "ner" | "fill_mask"
  std::string model_id;  // cache key parts
  std::string group;     // the options' key: cache key part and batch group
  Clock::time_point deadline = Clock::time_point::max();
  CancelFlag cancelled;
  bool draining = false;
};

// Called for each text, in completion order, never concurrently: its JSON result (an object
// with "error" for a text that failed), and whether it came from the cache.
using OnItem = std::function<void(size_t index, json&& item, bool cached)>;
// Called once, after the last on_item (not concurrently with it): 200 when every text got a
// result; otherwise the first failure (429 queue_full and 503 shutting_down come before any
// on_item; 504 deadline_exceeded, 499 client_closed, 400/500 model errors after).
using OnDone = std::function<void(int status, const std::string& code, const std::string& message)>;

// Looks a text's result up (counting the hit or miss), and stores one (not errors).
std::optional<json> cache_lookup(const TextJobContext& ctx, const std::string& key);
void cache_store(const TextJobContext& ctx, const std::string& key, const json& item);

template <class B>
void run_texts(B& batcher, const TextJobContext& ctx, const typename B::OptionsType& options,
               const std::vector<std::string>& texts,
               std::function<json(const typename B::ResultType&)> to_json, OnItem on_item, OnDone on_done) {
  struct State {
    std::mutex mu;
    size_t remaining = 0;
    int status = 200;
    std::string code, message;
    OnItem on_item;
    OnDone on_done;
    void fail(int s, std::string c, std::string m) {
      if (status != 200) return;
      status = s;
      code = std::move(c);
      message = std::move(m);
    }
    void finish_one() {  // with mu held
      if (--remaining == 0) on_done(status, code, message);
    }
  };
  auto st = std::make_shared<State>();
  st->on_item = std::move(on_item);
  st->on_done = std::move(on_done);

  std::vector<std::pair<size_t, json>> hits;
  std::vector<typename B::Job> jobs;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string key = cache_key(ctx.model_id, ctx.task, ctx.group, texts[i]);
    if (auto v = cache_lookup(ctx, key)) {
      hits.emplace_back(i, std::move(*v));
      continue;
    }
    typename B::Job job;
    job.text = texts[i];
    job.options = options;
    job.group = ctx.group;
    job.deadline = ctx.deadline;
    job.cancelled = ctx.cancelled;
    job.done = [st, i, key, ctx, to_json](typename B::Outcome&& o) {
      json item;
      int status = 200;  // of the request, when this text failed
      std::string code = o.error_code, message = o.error_message;
      if (o.status == JobStatus::kOk) {
        item = to_json(o.result);
        cache_store(ctx, key, item);
      } else {
        if (o.status == JobStatus::kExpired) {
          status = 504;
          code = "deadline_exceeded";
          message = "the request's deadline passed before the model got to it";
        } else if (o.status == JobStatus::kCancelled) {
          status = 499;
          code = "client_closed";
          message = "the client went away";
        } else {
          status = code == "internal" ? 500 : 400;  // a tanzhen::Error is the input's fault
        }
        item = {{"error", {{"code", code}, {"message", message}}}};
      }
      std::lock_guard lk(st->mu);
      if (status != 200) st->fail(status, code, message);
      st->on_item(i, std::move(item), false);
      st->finish_one();
    };
    jobs.push_back(std::move(job));
  }

  std::lock_guard lk(st->mu);  // held while the hits are reported: jobs may finish meanwhile
  st->remaining = jobs.size() + 1;  // + 1: this function's own share, released below
  if (!jobs.empty()) {
    const size_t n = jobs.size();
    if (!batcher.submit(std::move(jobs))) {
      if (ctx.draining) st->on_done(503, "shutting_down", "the server is shutting down");
      else {
        if (ctx.metrics) ctx.metrics->rejected(ctx.task);
        st->on_done(429, "queue_full",
                    "the " + ctx.task + " queue is full (" + std::to_string(n) + " texts did not fit); retry later");
      }
      return;
    }
  }
  for (auto& [i, v] : hits) st->on_item(i, std::move(v), true);
  st->finish_one();
}

// Every text's result in input order, and whether it came from the cache: what a route that
// answers once for all its texts has in hand when they are done.
struct CollectedResults {
  std::vector<json> items;
  std::vector<bool> cached;
};

// run_texts for a route that answers once, when every text is done. The failures are answered
// here, in one way for both routes: a failed request with its error; a single-text request
// whose text failed with 400 and that text's error. Otherwise on_ok builds the answer; in a
// multi-text request a failed text's item is still its {"error": ...} object.
template <class B>
void run_texts_collected(B& batcher, const TextJobContext& ctx, const typename B::OptionsType& options,
                         const std::vector<std::string>& texts,
                         std::function<json(const typename B::ResultType&)> to_json,
                         std::shared_ptr<Responder> responder, bool single,
                         std::function<void(CollectedResults& got)> on_ok) {
  auto got = std::make_shared<CollectedResults>();
  got->items.resize(texts.size());
  got->cached.resize(texts.size());
  run_texts<B>(
      batcher, ctx, options, texts, std::move(to_json),
      [got](size_t i, json&& item, bool cached) {
        got->items[i] = std::move(item);
        got->cached[i] = cached;
      },
      [got, responder = std::move(responder), single, on_ok = std::move(on_ok)](
          int status, const std::string& code, const std::string& message) {
        if (status != 200) return responder->send(api_error_response(ApiError(status, code, message)));
        if (single && got->items[0].contains("error")) {
          const json& err = got->items[0]["error"];
          return responder->send(error_response(400, err.value("code", "invalid_text"), err.value("message", "")));
        }
        on_ok(*got);
      });
}

}  // namespace tanzhen::server
