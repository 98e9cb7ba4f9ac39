// Dynamic batching: one queue and one worker thread per task (so one model copy per task).
// Requests from many connections enqueue one job per text; the worker packs jobs with the same
// options into a batch until a token budget is reached or the oldest job has waited max_wait,
// sorts the batch by length and runs the model once for all of it.
//
// Bounded: submit() refuses (the caller answers 429) instead of queueing without limit. Jobs
// whose deadline passed or whose client went away are dropped before they cost model time.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tanzhen/error.h"

namespace tanzhen::server {

using Clock = std::chrono::steady_clock;
// Set by the HTTP layer when the client disconnects; read by the worker.
using CancelFlag = std::shared_ptr<std::atomic<bool>>;

struct BatcherOptions {
  size_t max_batch_tokens = 4096;       // approximate tokens per batch (see approx_tokens)
  std::chrono::milliseconds max_wait{2};  // how long the oldest job may wait for company
  size_t queue_size = 256;              // jobs (texts) waiting, at most
  bool batching = true;                 // false: one text per model call, no waiting
};

// The batch budget's token estimate: code points + [CLS] + [SEP]. Chinese BERT vocabularies
// give about one token per character, and the estimate needs no tokenizer call.
size_t approx_tokens(std::string_view utf8_text);

// Where the batcher reports what it does (the server's Prometheus metrics).
class BatchObserver {
 public:
  virtual ~BatchObserver() = default;
  virtual void on_queue_depth(const std::string& task, size_t depth) = 0;
  virtual void on_batch(const std::string& task, size_t texts, size_t tokens, double seconds) = 0;
  virtual void on_drop(const std::string& task, const std::string& reason) = 0;
};

enum class JobStatus { kOk, kFailed, kExpired, kCancelled };

template <class Options, class Result>
class Batcher {
 public:
  using OptionsType = Options;
  using ResultType = Result;
  using RunFn = std::function<std::vector<Result>(const std::vector<std::string>&, const Options&)>;

  struct Outcome {
    JobStatus status = JobStatus::kOk;
    Result result{};
    std::string error_code, error_message;  // kFailed: tanzhen::Error code, or "internal"
    double queue_ms = 0, model_ms = 0;
    size_t batch_size = 0;
  };

  struct Job {
    std::string text;
    Options options{};
    std::string group;  // only jobs with equal groups (their options' key) share a batch
    Clock::time_point deadline = Clock::time_point::max();
    CancelFlag cancelled;                  // may be null
    std::function<void(Outcome&&)> done;   // called exactly once, on the worker thread
    size_t tokens = 0;                     // set by submit()
    Clock::time_point enqueued{};          // set by submit()
  };

  Batcher(std::string task, RunFn run, BatcherOptions opts, BatchObserver* observer = nullptr)
      : task_(std::move(task)), run_(std::move(run)), opts_(opts), observer_(observer) {
    if (opts_.max_batch_tokens == 0) opts_.max_batch_tokens = 1;
    worker_ = std::thread([this] { loop(); });
  }
  ~Batcher() { stop(); }
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues all of `jobs` or none of them (false: the queue has no room, or the batcher is
  // stopping); a request's texts are never half-admitted.
  bool submit(std::vector<Job>&& jobs) {
    const auto now = Clock::now();
    {
      std::lock_guard lk(mu_);
      if (stopping_ || queue_.size() + jobs.size() > opts_.queue_size) return false;
      for (Job& j : jobs) {
        j.tokens = approx_tokens(j.text);
        j.enqueued = now;
        queue_.push_back(std::move(j));
      }
      report_depth();
    }
    cv_.notify_one();
    return true;
  }

  // Runs what is queued (no more waiting for company), then joins the worker. Idempotent.
  void stop() {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (worker_.joinable()) worker_.join();
  }

  size_t depth() const {
    std::lock_guard lk(mu_);
    return queue_.size();
  }
  const std::string& task() const { return task_; }
  const BatcherOptions& options() const { return opts_; }

 private:
  using Queue = std::list<Job>;

  void report_depth() {
    if (observer_) observer_->on_queue_depth(task_, queue_.size());
  }

  // Moves expired and cancelled jobs out of the queue (their callbacks run outside the lock).
  void purge(Clock::time_point now, std::vector<std::pair<Job, JobStatus>>& dropped) {
    for (auto it = queue_.begin(); it != queue_.end();) {
      const bool cancelled = it->cancelled && it->cancelled->load();
      if (cancelled || now >= it->deadline) {
        dropped.emplace_back(std::move(*it), cancelled ? JobStatus::kCancelled : JobStatus::kExpired);
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
  }

  size_t group_tokens(const std::string& group) const {
    size_t total = 0;
    for (const Job& j : queue_)
      if (j.group == group) total += j.tokens;
    return total;
  }

  void finish_dropped(std::vector<std::pair<Job, JobStatus>>& dropped) {
    for (auto& [job, status] : dropped) {
      if (observer_) observer_->on_drop(task_, status == JobStatus::kCancelled ? "cancelled" : "expired");
      Outcome o;
      o.status = status;
      o.queue_ms = ms_since(job.enqueued);
      job.done(std::move(o));
    }
    dropped.clear();
  }

  static double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  }

  void loop() {
    std::vector<std::pair<Job, JobStatus>> dropped;
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained

      // Wait for company: until the oldest job has waited max_wait, its group fills the token
      // budget, or we are draining for shutdown.
      if (opts_.batching) {
        for (;;) {
          purge(Clock::now(), dropped);
          if (!dropped.empty()) {  // answer dropped jobs now, not when the batch forms
            report_depth();
            lk.unlock();
            finish_dropped(dropped);
            lk.lock();
            continue;
          }
          if (queue_.empty() || stopping_) break;
          const Job& oldest = queue_.front();
          const auto until = oldest.enqueued + opts_.max_wait;
          if (Clock::now() >= until || group_tokens(oldest.group) >= opts_.max_batch_tokens) break;
          // Also wake for the earliest deadline in the queue, to answer expired jobs promptly.
          auto wake = until;
          for (const Job& j : queue_) wake = std::min(wake, j.deadline);
          const size_t before = queue_.size();
          cv_.wait_until(lk, wake, [&] { return stopping_ || queue_.size() != before; });
        }
      }
      purge(Clock::now(), dropped);
      if (queue_.empty()) {
        report_depth();
        lk.unlock();
        finish_dropped(dropped);
        lk.lock();
        continue;
      }

      // Take the oldest job's group in arrival order while the budget allows (at least one).
      std::vector<Job> batch;
      size_t tokens = 0;
      const std::string group = queue_.front().group;
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (it->group != group) {
          ++it;
          continue;
        }
        if (!batch.empty() && (!opts_.batching || tokens + it->tokens > opts_.max_batch_tokens)) break;
        tokens += it->tokens;
        batch.push_back(std::move(*it));
        it = queue_.erase(it);
      }
      report_depth();
      lk.unlock();
      finish_dropped(dropped);
      run_batch(batch, tokens);
      lk.lock();
    }
  }

  void run_batch(std::vector<Job>& batch, size_t tokens) {
    // Sorted by length, so that sequences of similar length sit together in the model's batch.
    std::vector<size_t> order(batch.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return batch[a].tokens < batch[b].tokens; });
    std::vector<std::string> texts;
    texts.reserve(batch.size());
    for (size_t i : order) texts.push_back(batch[i].text);

    const auto start = Clock::now();
    std::vector<Result> results;
    std::string code, message;
    try {
      results = run_(texts, batch.front().options);
      if (results.size() != texts.size()) {
        code = "internal";
        message = "the model returned " + std::to_string(results.size()) + " results for " +
                  std::to_string(texts.size()) + " texts";
      }
    } catch (const tanzhen::Error& e) {
      code = e.code();
      message = e.what();
    } catch (const std::exception& e) {
      code = "internal";
      message = e.what();
    }
    const double model_ms = ms_since(start);
    if (observer_) observer_->on_batch(task_, batch.size(), tokens, model_ms / 1000.0);

    for (size_t k = 0; k < order.size(); ++k) {
      Job& job = batch[order[k]];
      Outcome o;
      o.queue_ms = std::chrono::duration<double, std::milli>(start - job.enqueued).count();
      o.model_ms = model_ms;
      o.batch_size = batch.size();
      if (code.empty()) {
        o.result = std::move(results[k]);
      } else {
        o.status = JobStatus::kFailed;
        o.error_code = code;
        o.error_message = message;
      }
      job.done(std::move(o));
    }
  }

  const std::string task_;
  const RunFn run_;
  BatcherOptions opts_;
  BatchObserver* observer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Queue queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace tanzhen::server
