#!/usr/bin/env python3
"""Averages the weights of several checkpoints into one checkpoint that export_hf.py reads: the
epochs of one fine-tuning run that finetune_ner.py --keep-epochs kept, or the final weights of
consecutive masked-LM stages (run_recipe.sh mlm_average).

    python3 training/average_checkpoints.py --out training/runs/ner5-mlm5/averaged.pt \\
        training/runs/ner5-mlm5/epochs/step-*.pt

Why: near the end of a run whose learning rate decays to zero, the weights of the last few
epochs sit around the same optimum; their mean is often a little better on held-out data than
any one of them (training/README.md, stage ner5, says whether it was here). Consecutive
masked-LM stages each continue from the one before, so their final weights are close too.
Floating-point tensors are averaged; everything else (metadata, integer buffers) is taken from
the last checkpoint given.
"""
import argparse

import torch


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    cks = [torch.load(c, map_location="cpu") for c in a.checkpoints]
    models = [c["model"] for c in cks]
    keys = list(models[-1].keys())
    for m in models:
        if list(m.keys()) != keys:
            raise SystemExit("the checkpoints do not hold the same tensors")
    avg = {}
    for k in keys:
        t = models[-1][k]
        if t.is_floating_point():
            avg[k] = torch.stack([m[k].float() for m in models]).mean(0).to(t.dtype)
        else:
            avg[k] = t
    out = {k: v for k, v in cks[-1].items() if k not in ("model", "optimizer")}
    out["model"] = avg
    out["averaged_from"] = list(a.checkpoints)
    torch.save(out, a.out)
    print(f"averaged {len(cks)} checkpoints -> {a.out}")


if __name__ == "__main__":
    main()
