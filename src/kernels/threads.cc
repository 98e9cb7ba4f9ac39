// oneDNN is built with GNU OpenMP here, but our targets do not link OpenMP themselves; libgomp
// is loaded as libdnnl's dependency, so omp_set_num_threads is looked up in the global scope.
// Should a oneDNN without OpenMP be used, the lookup fails and the setting is a no-op.
#include "tanzhen/kernels/threads.h"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>

namespace tanzhen::kernels {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return 1;
}

void set_compute_threads(int n) {
  using SetFn = void (*)(int);
  static const SetFn set_num_threads =
      reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set_num_threads) set_num_threads(n > 0 ? n : available_cores());
}

void apply_default_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") ||
      std::getenv("TANZHEN_NO_REEXEC")) {
    return;
  }
  if (::setenv("GOMP_SPINCOUNT", kSpinCount, 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // Only reached when the exec failed: go on with libgomp's defaults (correct, a little slower).
  ::unsetenv("GOMP_SPINCOUNT");
}

}  // namespace tanzhen::kernels
