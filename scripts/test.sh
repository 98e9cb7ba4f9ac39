#!/usr/bin/env bash
# The test command from the README: configure, build everything, run all tests with ctest.
# Reference data is read from ../shared (override with TANZHEN_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
SHARED=${TANZHEN_SHARED_DIR:-$(cd .. && pwd)/shared}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DTANZHEN_SHARED_DIR="$SHARED" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)"
