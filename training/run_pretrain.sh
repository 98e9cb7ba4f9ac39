#!/bin/sh
# Background pretraining run as started for the shipped model (see README.md).
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-training/runs/mlm}
mkdir -p "$OUT"
export OMP_WAIT_POLICY=PASSIVE
. training/openblas_env.sh
exec nice -n 10 /usr/bin/python3 training/pretrain_mlm.py --out "$OUT" "$@" \
  >>"$OUT"/stdout.log 2>&1
