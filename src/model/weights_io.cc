#include "weights_io.h"

#include <fcntl.h>
#include <immintrin.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "tanzhen/error.h"

namespace tanzhen::weights_io {

namespace {

constexpr size_t kHugeBufferBytes = 4u << 20;  // from here on, a mapping with huge pages
constexpr size_t kCopyChunkBytes = 4u << 20;
constexpr size_t kConvertChunk = 1u << 20;  // elements

size_t max_threads() {
  static const size_t n = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  return n;
}

float half_to_float_scalar(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

void half_to_float(const uint16_t* src, float* dst, size_t n) {
  size_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) dst[i] = half_to_float_scalar(src[i]);
}

void bf16_to_float(const uint16_t* src, float* dst, size_t n) {
  auto* out = reinterpret_cast<uint32_t*>(dst);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint32_t>(src[i]) << 16;  // vectorised by the compiler
}

}  // namespace

MappedFile map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("bad_checkpoint", path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("bad_checkpoint", path + ": not a regular file");
  }
  MappedFile m;
  m.size = static_cast<size_t>(st.st_size);
  if (m.size == 0) {  // mmap refuses empty files; readers report "too short" themselves
    ::close(fd);
    static const uint8_t kEmpty = 0;
    m.data = &kEmpty;
    m.owner = std::make_shared<int>(0);
    return m;
  }
  void* p = ::mmap(nullptr, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);  // the mapping keeps the file alive
  if (p == MAP_FAILED) fail("bad_checkpoint", path + ": cannot map (" + std::strerror(mmap_errno) + ")");
  // Weights are read front to back right after loading (packing, first request).
  ::madvise(p, m.size, MADV_WILLNEED);
  const size_t size = m.size;
  m.data = static_cast<const uint8_t*>(p);
  m.owner = std::shared_ptr<const void>(p, [size](const void* q) { ::munmap(const_cast<void*>(q), size); });
  return m;
}

void release_pages(const void* p, size_t n) {
#ifdef MADV_PAGEOUT
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);
#else
  (void)p;
  (void)n;
#endif
}

std::shared_ptr<uint8_t[]> allocate_bytes(size_t n) {
  if (n >= kHugeBufferBytes) {
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ::madvise(p, n, MADV_HUGEPAGE);  // advisory: fine if unsupported
    return std::shared_ptr<uint8_t[]>(static_cast<uint8_t*>(p), [n](uint8_t* q) { ::munmap(q, n); });
  }
  return std::shared_ptr<uint8_t[]>(new uint8_t[n == 0 ? 1 : n]);
}

void parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  const size_t threads = std::min(n, max_threads());
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (size_t i; !failed && (i = next.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

void parallel_copy(uint8_t* dst, const uint8_t* src, size_t n) {
  const size_t chunks = (n + kCopyChunkBytes - 1) / kCopyChunkBytes;
  parallel_for(chunks, [&](size_t c) {
    const size_t begin = c * kCopyChunkBytes;
    std::memcpy(dst + begin, src + begin, std::min(kCopyChunkBytes, n - begin));
  });
}

Tensor view_or_copy(DType dtype, std::vector<int64_t> shape, const uint8_t* data,
                    const std::shared_ptr<const void>& owner) {
  const size_t esize = dtype_size(dtype);
  if (reinterpret_cast<uintptr_t>(data) % esize == 0) return Tensor(dtype, std::move(shape), data, owner);
  uint64_t nbytes = 0;
  byte_size(shape, esize, &nbytes);  // checked by the caller before it got here
  auto buf = allocate_bytes(nbytes);
  parallel_copy(buf.get(), data, nbytes);
  const uint8_t* p = buf.get();
  return Tensor(dtype, std::move(shape), p, std::shared_ptr<const void>(std::move(buf), p));
}

Tensor allocate_f32(std::vector<int64_t> shape, float** data) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  auto buf = allocate_bytes(n * sizeof(float));
  *data = reinterpret_cast<float*>(buf.get());
  const void* p = *data;
  return Tensor(DType::F32, std::move(shape), p, std::shared_ptr<const void>(std::move(buf), p));
}

Tensor convert_to_f32(const Tensor& t) {
  if (t.dtype() == DType::F32) return t;
  if (t.dtype() != DType::F16 && t.dtype() != DType::BF16 && t.dtype() != DType::F64)
    fail("dtype", std::string("cannot convert ") + dtype_name(t.dtype()) + " tensor to F32");
  const size_t n = static_cast<size_t>(t.numel());
  float* out = nullptr;
  Tensor result = allocate_f32(t.shape(), &out);
  const DType dtype = t.dtype();
  const void* in = t.data();
  parallel_for((n + kConvertChunk - 1) / kConvertChunk, [&](size_t c) {
    const size_t begin = c * kConvertChunk, count = std::min(kConvertChunk, n - begin);
    if (dtype == DType::F16) {
      half_to_float(static_cast<const uint16_t*>(in) + begin, out + begin, count);
    } else if (dtype == DType::BF16) {
      bf16_to_float(static_cast<const uint16_t*>(in) + begin, out + begin, count);
    } else {
      const double* d = static_cast<const double*>(in) + begin;
      for (size_t i = 0; i < count; ++i) out[begin + i] = static_cast<float>(d[i]);
    }
  });
  return result;
}

bool byte_size(const std::vector<int64_t>& shape, size_t elem_size, uint64_t* out) {
  uint64_t n = elem_size;
  for (int64_t d : shape) {
    if (d < 0 || !mul_ok(n, static_cast<uint64_t>(d), &n)) return false;
  }
  *out = n;
  return true;
}

}  // namespace tanzhen::weights_io
