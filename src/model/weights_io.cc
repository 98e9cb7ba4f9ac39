#include "weights_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tanzhen/error.h"

namespace tanzhen::weights_io {

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

std::shared_ptr<uint8_t[]> allocate_bytes(size_t n) {
  return std::shared_ptr<uint8_t[]>(new uint8_t[n == 0 ? 1 : n]);
}

Tensor view_or_copy(DType dtype, std::vector<int64_t> shape, const uint8_t* data,
                    const std::shared_ptr<const void>& owner) {
  const size_t esize = dtype_size(dtype);
  if (reinterpret_cast<uintptr_t>(data) % esize == 0) return Tensor(dtype, std::move(shape), data, owner);
  uint64_t nbytes = 0;
  byte_size(shape, esize, &nbytes);  // checked by the caller before it got here
  auto buf = allocate_bytes(nbytes);
  std::memcpy(buf.get(), data, nbytes);
  const uint8_t* p = buf.get();
  return Tensor(dtype, std::move(shape), p, std::shared_ptr<const void>(std::move(buf), p));
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
