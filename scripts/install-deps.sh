#!/usr/bin/env bash
# Installs the Debian packages tanzhen builds and tests with. Used by the README and by .ci/run.
# Usage: scripts/install-deps.sh [--training]   (--training adds python3-torch for training/)
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
PKGS=(
  build-essential cmake pkg-config
  libdnnl-dev            # GEMM (oneDNN)
  ocl-icd-opencl-dev opencl-headers  # required by Debian oneDNN's CMake config (built with OpenCL)
  nlohmann-json3-dev     # JSON
  libcli11-dev           # command line
  libspdlog-dev libfmt-dev
  libutf8proc-dev        # Unicode categories, NFD, case folding
  libzip-dev             # torch zip checkpoints
  libgtest-dev libgmock-dev libbenchmark-dev
  python3
  libboost-dev           # server: Boost.Beast/Asio (header-only)
  libhiredis-dev redis-server  # server: Redis result cache (redis-server for its test)
  wrk                    # server load benchmark (bench/load)
  chromium nodejs        # web UI browser test (playwright-core from npm drives Debian's chromium)
  fonts-wqy-microhei     # a CJK font, so that the browser test's screenshots show Chinese text
)
# libopenblas0-pthread: without it PyTorch's F32 matmuls run on the reference BLAS (libblas3),
# ~100x slower.
if [ "${1:-}" = "--training" ]; then PKGS+=(python3-torch python3-numpy libopenblas0-pthread); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
