// The dynamic batcher with a fake model: batch formation, budgets, groups, limits, drops.
#include "server/batcher.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>

namespace tanzhen::server {
namespace {

using namespace std::chrono_literals;

// A fake model that records the batches it is given and answers each text with its length.
struct FakeModel {
  std::mutex mu;
  std::vector<std::vector<std::string>> batches;
  std::chrono::milliseconds delay{0};
  std::vector<size_t> run(const std::vector<std::string>& texts, const int& /*options*/) {
    std::this_thread::sleep_for(delay);
    std::lock_guard lk(mu);
    batches.push_back(texts);
    std::vector<size_t> out;
    for (const auto& t : texts) out.push_back(t.size());
    return out;
  }
};

using TestBatcher = Batcher<int, size_t>;

struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<TestBatcher::Outcome> outcomes;
  std::vector<std::string> texts;  // in completion order
  void add(const std::string& text, TestBatcher::Outcome&& o) {
    std::lock_guard lk(mu);
    outcomes.push_back(std::move(o));
    texts.push_back(text);
    cv.notify_all();
  }
  void wait_for(size_t n) {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 10s, [&] { return outcomes.size() >= n; })) << "only " << outcomes.size();
  }
};

TestBatcher::Job job(const std::string& text, Collector& c, std::string group = "g") {
  TestBatcher::Job j;
  j.text = text;
  j.group = std::move(group);
  j.done = [&c, text](TestBatcher::Outcome&& o) { c.add(text, std::move(o)); };
  return j;
}

std::vector<TestBatcher::Job> jobs_of(std::vector<TestBatcher::Job> v) { return v; }

TEST(ApproxTokens, CountsCodePointsPlusSpecials) {
  EXPECT_EQ(approx_tokens(""), 2u);
  EXPECT_EQ(approx_tokens("abc"), 5u);
  EXPECT_EQ(approx_tokens("北京"), 4u);     // 6 bytes, 2 code points
  EXPECT_EQ(approx_tokens("\xF0\x9F\x98\x80"), 3u);  // one emoji
}

TEST(Batcher, WaitsForCompanyAndBatchesTextsSubmittedTogether) {
  FakeModel model;
  BatcherOptions o;
  o.max_wait = 200ms;
  TestBatcher b("t", [&](auto& t, auto& opt) { return model.run(t, opt); }, o);
  Collector c;
  // Three requests, from "different connections", within the wait window.
  ASSERT_TRUE(b.submit(jobs_of({job("aaaa", c)})));
  ASSERT_TRUE(b.submit(jobs_of({job("b", c)})));
  ASSERT_TRUE(b.submit(jobs_of({job("cc", c)})));
  c.wait_for(3);
  ASSERT_EQ(model.batches.size(), 1u);
  // Sorted by length inside the batch.
  EXPECT_EQ(model.batches[0], (std::vector<std::string>{"b", "cc", "aaaa"}));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.outcomes[i].status, JobStatus::kOk);
    EXPECT_EQ(c.outcomes[i].result, c.texts[i].size()) << "results must go back to their own texts";
    EXPECT_EQ(c.outcomes[i].batch_size, 3u);
  }
}

TEST(Batcher, TokenBudgetSplitsBatchesAndFullBudgetStopsWaiting) {
  FakeModel model;
  BatcherOptions o;
  o.max_wait = 5s;  // only a full budget can start a batch this early
  o.max_batch_tokens = 10;  // 4-char texts cost 6 tokens: one per batch... two cost 12
  TestBatcher b("t", [&](auto& t, auto& opt) { return model.run(t, opt); }, o);
  Collector c;
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(b.submit(jobs_of({job("aaaa", c), job("bbbb", c), job("cc", c)})));
  c.wait_for(3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
  ASSERT_EQ(model.batches.size(), 2u);
  EXPECT_EQ(model.batches[0], (std::vector<std::string>{"aaaa"}));
  EXPECT_EQ(model.batches[1], (std::vector<std::string>{"cc", "bbbb"}));  // 6 + 4 tokens = 10
}

TEST(Batcher, DifferentOptionGroupsNeverShareABatch) {
  FakeModel model;
  BatcherOptions o;
  o.max_wait = 100ms;
  TestBatcher b("t", [&](auto& t, auto& opt) { return model.run(t, opt); }, o);
  Collector c;
  ASSERT_TRUE(b.submit(jobs_of({job("a", c, "x"), job("b", c, "y"), job("c", c, "x")})));
  c.wait_for(3);
  ASSERT_EQ(model.batches.size(), 2u);
  EXPECT_EQ(model.batches[0], (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(model.batches[1], (std::vector<std::string>{"b"}));
}

TEST(Batcher, NoBatchingRunsOneTextPerCall) {
  FakeModel model;
  BatcherOptions o;
  o.batching = false;
  o.max_wait = 5s;  // ignored without batching
  TestBatcher b("t", [&](auto& t, auto& opt) { return model.run(t, opt); }, o);
  Collector c;
  ASSERT_TRUE(b.submit(jobs_of({job("a", c), job("b", c), job("c", c)})));
  c.wait_for(3);
  ASSERT_EQ(model.batches.size(), 3u);
  for (const auto& batch : model.batches) EXPECT_EQ(batch.size(), 1u);
}

TEST(Batcher, FullQueueRefusesAllOrNothing) {
  FakeModel model;
  BatcherOptions o;
  o.max_wait = 300ms;
  o.queue_size = 3;
  TestBatcher b("t", [&](auto& t, auto& opt) { return model.run(t, opt); }, o);
  Collector c;
  ASSERT_TRUE(b.submit(jobs_of({job("a", c), job("b", c)})));
  EXPECT_FALSE(b.submit(jobs_of({job("c", c), job("d", c)}))) << "2 more do not fit in 3";
  EXPECT_EQ(b.depth(), 2u) << "a refused request leaves nothing behind";
  EXPECT_TRUE(b.submit(jobs_of({job("e", c)})));
  c.wait_for(3);
  EXPECT_EQ(c.outcomes.size(), 3u);
}

TEST(Batcher, ExpiredJobsAreDroppedBeforeTheModelRuns) {
  FakeModel model;
  BatcherOptions o;
  o.max_wait = 3s;
  TestBatcher b("t", [&](auto& t, auto& opt) { return model.run(t, opt); }, o);
  Collector c;
  auto late = job("late", c);
  late.deadline = Clock::now() + 50ms;
  ASSERT_TRUE(b.submit(jobs_of({std::move(late), job("fine", c)})));
  c.wait_for(2);
  EXPECT_EQ(c.texts[0], "late");
  EXPECT_EQ(c.outcomes[0].status, JobStatus::kExpired);
  EXPECT_LT(c.outcomes[0].queue_ms, 1500) << "expired jobs are answered at their deadline, not with the batch";
  EXPECT_EQ(c.outcomes[1].status, JobStatus::kOk);
  ASSERT_EQ(model.batches.size(), 1u);
  EXPECT_EQ(model.batches[0], (std::vector<std::string>{"fine"}));
}

TEST(Batcher, CancelledJobsAreDropped) {
  FakeModel model;
  BatcherOptions o;
  o.max_wait = 200ms;
  TestBatcher b("t", [&](auto& t, auto& opt) { return model.run(t, opt); }, o);
  Collector c;
  auto gone = job("gone", c);
  gone.cancelled = std::make_shared<std::atomic<bool>>(false);
  auto flag = gone.cancelled;
  ASSERT_TRUE(b.submit(jobs_of({std::move(gone), job("stays", c)})));
  flag->store(true);  // the client disconnects while its text waits
  c.wait_for(2);
  EXPECT_EQ(c.texts[0], "gone");
  EXPECT_EQ(c.outcomes[0].status, JobStatus::kCancelled);
  ASSERT_EQ(model.batches.size(), 1u);
  EXPECT_EQ(model.batches[0], (std::vector<std::string>{"stays"}));
}

TEST(Batcher, ModelErrorsReachEveryJobOfTheBatch) {
  BatcherOptions o;
  o.max_wait = 50ms;
  TestBatcher b("t", [](auto&, auto&) -> std::vector<size_t> { throw Error("invalid_option", "bad window"); }, o);
  Collector c;
  ASSERT_TRUE(b.submit(jobs_of({job("a", c), job("b", c)})));
  c.wait_for(2);
  for (auto& out : c.outcomes) {
    EXPECT_EQ(out.status, JobStatus::kFailed);
    EXPECT_EQ(out.error_code, "invalid_option");
  }
}

TEST(Batcher, StopRunsWhatIsQueuedWithoutWaiting) {
  FakeModel model;
  BatcherOptions o;
  o.max_wait = 10s;
  auto b = std::make_unique<TestBatcher>("t", [&](auto& t, auto& opt) { return model.run(t, opt); }, o);
  Collector c;
  ASSERT_TRUE(b->submit(jobs_of({job("a", c), job("b", c)})));
  const auto start = Clock::now();
  b->stop();
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_EQ(c.outcomes.size(), 2u);
  for (auto& out : c.outcomes) EXPECT_EQ(out.status, JobStatus::kOk);
  EXPECT_FALSE(b->submit(jobs_of({job("late", c)}))) << "a stopped batcher takes nothing";
}

TEST(Batcher, ManyThreadsGetTheirOwnResults) {
  FakeModel model;
  model.delay = 2ms;
  BatcherOptions o;
  o.max_wait = 2ms;
  o.queue_size = 10000;
  TestBatcher b("t", [&](auto& t, auto& opt) { return model.run(t, opt); }, o);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0}, done{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::promise<size_t> p;
        auto f = p.get_future();
        TestBatcher::Job j;
        j.text = std::string(static_cast<size_t>(1 + (t * 50 + i) % 37), 'x');
        j.group = "g";
        const size_t want = j.text.size();
        j.done = [&p](TestBatcher::Outcome&& o) { p.set_value(o.result); };
        std::vector<TestBatcher::Job> v;
        v.push_back(std::move(j));
        ASSERT_TRUE(b.submit(std::move(v)));
        if (f.get() != want) ++wrong;
        ++done;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(done.load(), 400);
  EXPECT_EQ(wrong.load(), 0);
  size_t biggest = 0;
  for (const auto& batch : model.batches) biggest = std::max(biggest, batch.size());
  EXPECT_GT(biggest, 1u) << "8 concurrent clients should share batches";
}

}  // namespace
}  // namespace tanzhen::server
