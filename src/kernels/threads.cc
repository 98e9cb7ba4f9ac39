// oneDNN is built with GNU OpenMP here, but our targets do not link OpenMP themselves; libgomp
// is loaded as libdnnl's dependency, so omp_set_num_threads is looked up in the global scope.
// Should a oneDNN without OpenMP be used, the lookup fails and the setting is a no-op.
#include "tanzhen/kernels/threads.h"

#include <dlfcn.h>
#include <sched.h>

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

}  // namespace tanzhen::kernels
