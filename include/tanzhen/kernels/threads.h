// How many threads the compute library (oneDNN, built on OpenMP in Debian) may use.
#pragma once

namespace tanzhen::kernels {

// CPUs this process may run on (its affinity mask), at least 1.
int available_cores();

// Sets the OpenMP thread count for parallel regions started by the *calling* thread (OpenMP
// keeps it per thread), so every encoder entry point calls this before running primitives.
// n <= 0 means available_cores().
void set_compute_threads(int n);

// Spin-waits of OpenMP's idle threads between parallel regions, set for the process unless the
// user chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT in the environment).
//
// Why: one BERT-base call runs many short parallel regions (GEMMs, quantization, LayerNorm,
// attention; at 1x302, 82 per FP32 call and 133 per INT8 call, counted with a uprobe on
// GOMP_parallel). With OMP_WAIT_POLICY=passive every region wakes sleeping threads through a
// futex, which on virtual machines costs tens of microseconds each: measured here (2 threads,
// INT8, length 302) 81 ms per call passive against 62 ms with a bounded spin, when a call ran
// ~700 regions (softmax per head); with today's 133, 56-57 against 51-52 ms (1x32: 7.8-8.2
// against 6.0-6.5 ms). libgomp's default spin (300,000 rounds) instead burns a core
// for milliseconds after every call, which hurts a busy shared machine (the other tenants'
// work, and ours) and an idle server. kSpinCount rounds of `pause` (well under a millisecond)
// cover the gaps inside one encoder call and then sleep.
//
// libgomp reads its environment once, while it is loaded (before main), so the setting needs a
// fresh start: the process re-executes itself (/proc/self/exe) with GOMP_SPINCOUNT set. Call it
// first thing in main(); it returns (doing nothing) when a policy is already set, when
// TANZHEN_NO_REEXEC is set, or when the exec fails.
void apply_default_wait_policy(char** argv);
inline constexpr const char* kSpinCount = "20000";

}  // namespace tanzhen::kernels
