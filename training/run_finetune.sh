#!/bin/sh
# Background NER fine-tuning run as started for the shipped model (see README.md).
# OUT picks the run folder (default training/runs/ner); arguments go to finetune_ner.py.
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-training/runs/ner}
mkdir -p "$OUT"
export OMP_WAIT_POLICY=PASSIVE
. training/openblas_env.sh
exec nice -n 10 /usr/bin/python3 training/finetune_ner.py --pretrained training/runs/mlm/checkpoint.pt \
  --out "$OUT" "$@" >>"$OUT/stdout.log" 2>&1
