#!/usr/bin/env bash
# The test command from the README: configure, build everything, run all tests with ctest.
# Reference data is read from ../shared (override with TANZHEN_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenMP threads sleep instead of spinning between parallel regions: on a shared or busy CI
# machine spinning makes every encoder call wait for time slices.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
BUILD=${BUILD_DIR:-build}
SHARED=${TANZHEN_SHARED_DIR:-$(cd .. && pwd)/shared}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTANZHEN_SHARED_DIR="$SHARED" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)"
