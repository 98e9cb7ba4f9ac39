#!/bin/sh
# Background NER fine-tuning run as started for the shipped model (see README.md).
cd "$(dirname "$0")/.." || exit 1
mkdir -p training/runs/ner
export OPENBLAS_CORETYPE=SKYLAKEX OMP_WAIT_POLICY=PASSIVE
exec nice -n 10 /usr/bin/python3 training/finetune_ner.py --pretrained training/runs/mlm/checkpoint.pt \
  --out training/runs/ner "$@" >>training/runs/ner/stdout.log 2>&1
