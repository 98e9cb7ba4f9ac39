// How many threads the compute library (oneDNN, built on OpenMP in Debian) may use.
#pragma once

namespace tanzhen::kernels {

// CPUs this process may run on (its affinity mask), at least 1.
int available_cores();

// Sets the OpenMP thread count for parallel regions started by the *calling* thread (OpenMP
// keeps it per thread), so every encoder entry point calls this before running primitives.
// n <= 0 means available_cores().
void set_compute_threads(int n);

}  // namespace tanzhen::kernels
