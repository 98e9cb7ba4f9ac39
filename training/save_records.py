"""Copies a run's small records into training/records/<run>/, which is in git (training/runs/,
with ~100 MB checkpoints, is not): info.json (the checkpoint without weights, optimizer or
data pointers: step, training time, arguments, config, labels), log.csv and, for NER runs,
dev_scores.jsonl. write_model_cards.py reads a run from there when its folder is gone, so the
cards of the shipped models can be rewritten on a fresh clone.

  save_records.py training/runs/mlm8 [training/runs/ner8-mlm8 ...]
"""
import json
import os
import shutil
import sys

import torch

RECORDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "records")
BULKY = {"model", "optimizer", "data"}


def save(run):
    ck = torch.load(os.path.join(run, "checkpoint.pt"), map_location="cpu")
    info = {k: v for k, v in ck.items() if k not in BULKY}
    out = os.path.join(RECORDS, os.path.basename(os.path.normpath(run)))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "info.json"), "w") as f:
        json.dump(info, f, indent=1, sort_keys=True, default=str)
        f.write("\n")
    for name in ("log.csv", "dev_scores.jsonl"):
        if os.path.exists(os.path.join(run, name)):
            shutil.copyfile(os.path.join(run, name), os.path.join(out, name))
    print(f"records of {run} (step {ck['step']}) in {out}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for r in sys.argv[1:]:
        save(r)
