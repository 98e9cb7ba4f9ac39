// Private to the encoder: per-call scratch memory, pooled so that steady-state calls allocate
// no activation buffers, and so that concurrent calls never share one.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include <dnnl.hpp>

namespace tanzhen::bert {

// A 64-byte aligned float buffer that only grows.
class FloatBuffer {
 public:
  float* data() const { return data_.get(); }
  float* ensure(size_t floats) {
    if (floats > capacity_) {
      const size_t bytes = ((floats * sizeof(float) + 63) / 64) * 64;
      float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!p) throw std::bad_alloc();
      data_.reset(p);
      capacity_ = bytes / sizeof(float);
    }
    return data_.get();
  }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  size_t capacity_ = 0;
};

struct Workspace {
  explicit Workspace(const dnnl::engine& engine) : stream(engine) {}
  dnnl::stream stream;
  FloatBuffer hidden;     // [tokens x H]: the residual stream
  FloatBuffer qkv;        // [tokens x 3H]
  FloatBuffer context;    // [tokens x H]: attention output, heads merged
  FloatBuffer projected;  // [tokens x H]: dense output before residual + LayerNorm
  FloatBuffer ffn;        // [tokens x I]
  FloatBuffer ffn_link;   // [tokens x I] quantized FFN activations between two INT8 layers
  FloatBuffer attention;  // dense Q, K, V, context and [heads x L x L] scores of a sequence
  FloatBuffer head_in;    // head inputs / intermediates
  FloatBuffer head_out;   // head outputs
  FloatBuffer scratch;    // oneDNN scratchpad
};

class WorkspacePool {
 public:
  explicit WorkspacePool(const dnnl::engine& engine) : engine_(engine) {}

  // A workspace for the duration of one call; handed back to the pool when destroyed.
  class Lease {
   public:
    Lease(WorkspacePool* pool, std::unique_ptr<Workspace> ws) : pool_(pool), ws_(std::move(ws)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (ws_) pool_->give_back(std::move(ws_));
    }
    Workspace& operator*() const { return *ws_; }
    Workspace* operator->() const { return ws_.get(); }

   private:
    WorkspacePool* pool_;
    std::unique_ptr<Workspace> ws_;
  };

  Lease take() {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return Lease(this, std::make_unique<Workspace>(engine_));
    auto ws = std::move(free_.back());
    free_.pop_back();
    return Lease(this, std::move(ws));
  }

 private:
  void give_back(std::unique_ptr<Workspace> ws) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(ws));
  }

  dnnl::engine engine_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Workspace>> free_;
};

}  // namespace tanzhen::bert
