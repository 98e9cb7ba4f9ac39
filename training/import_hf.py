"""Turns a shipped Hugging Face-format model folder back into a training checkpoint, so that a
later stage can start from the committed model when the run folders (training/runs/, not in
git: checkpoints are ~100 MB each) are gone, e.g. on a fresh clone:

  import_hf.py --model models/zh-mlm-small --out training/runs/mlm7/checkpoint.pt

The checkpoint holds what --init-from (pretrain_mlm.py) and --pretrained (finetune_ner.py)
read: {"config", "model", "step"}. It is the exported model, not the original run's file:
weights rounded to F16 by export_hf.py, the position table cut to the exported length (so
later stages must keep --seq-len at or below it), no optimizer state (continuation stages
start a fresh learning-rate cycle anyway). Dropout is set to pretraining's default, 0.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_model import BertConfig, BertForMaskedLM  # noqa: E402
from eval_fill_mask import read_safetensors  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="folder with config.json and model.safetensors")
    p.add_argument("--out", required=True, help="checkpoint path to write")
    p.add_argument("--dropout", type=float, default=0.0)
    a = p.parse_args()
    if os.path.exists(a.out):
        raise SystemExit(f"{a.out} exists; not overwriting a run's checkpoint")
    with open(os.path.join(a.model, "config.json")) as f:
        hf = json.load(f)
    if hf["architectures"] != ["BertForMaskedLM"]:
        raise SystemExit(f"{a.model}: only masked-LM models are imported (got {hf['architectures']})")
    fields = set(BertConfig.__dataclass_fields__)
    cfg = BertConfig(**{k: v for k, v in hf.items() if k in fields})
    cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = a.dropout
    state = read_safetensors(os.path.join(a.model, "model.safetensors"))
    model = BertForMaskedLM(cfg)
    model.load_state_dict(state, strict=True)   # every tensor present, none extra
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    torch.save({"config": cfg.to_dict(), "model": model.state_dict(), "step": 0,
                "imported_from": a.model}, a.out)
    # write_model_cards.py reads the original run's records, not this file, where this marker is
    with open(os.path.join(os.path.dirname(os.path.abspath(a.out)), "IMPORTED"), "w") as f:
        f.write(f"{a.out} was rebuilt from {a.model} by import_hf.py\n")
    print(f"wrote {a.out} from {a.model}: {len(state)} tensors, "
          f"{cfg.max_position_embeddings} positions")


if __name__ == "__main__":
    main()
