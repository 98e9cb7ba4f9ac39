#!/bin/sh
# Background pretraining run as started for the shipped model (see README.md).
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-training/runs/mlm}
mkdir -p "$OUT"
export OMP_WAIT_POLICY=PASSIVE
# Debian's OpenBLAS 0.3.21 does not recognise AVX-512 Zen CPUs and falls back to slow kernels;
# forcing SKYLAKEX fixes that there, but is an illegal instruction on CPUs without AVX-512.
if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SKYLAKEX; fi
exec nice -n 10 /usr/bin/python3 training/pretrain_mlm.py --out "$OUT" "$@" \
  >>"$OUT"/stdout.log 2>&1
