"""Writes a training checkpoint as a Hugging Face-format model folder:
config.json, vocab.txt, tokenizer_config.json, tokenizer.json (bert-base-chinese's) and
model.safetensors, written by hand (8-byte little-endian header length, JSON header
{name: {dtype, shape, data_offsets}}, raw little-endian tensor data).

F16 by default: both shipped models must fit in 60 MB together and an F32 4-layer/256-wide
model with the 21128-token vocabulary is ~35 MB on its own. tanzhen computes in F32 from F16
weights. The MLM decoder is tied to the word embeddings and is not written.

  export_hf.py --kind mlm --checkpoint training/runs/mlm/checkpoint.pt --out models/zh-mlm-small
  export_hf.py --kind ner --checkpoint training/runs/ner/checkpoint.pt --out models/zh-ner-small
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zh_tokenizer import DEFAULT_VOCAB  # noqa: E402

VOCAB_DIR = os.path.dirname(DEFAULT_VOCAB)
DTYPES = {"F16": np.float16, "F32": np.float32}


def write_safetensors(tensors, path, dtype):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name].detach().cpu().float().numpy().astype(
            DTYPES[dtype]).astype("<" + DTYPES[dtype]().dtype.str[1:]))
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)   # data section 8-byte aligned, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def hf_config(cfg, arch, labels=None):
    out = {"architectures": [arch], "model_type": "bert", "hidden_act": "gelu",
           "hidden_size": cfg["hidden_size"], "intermediate_size": cfg["intermediate_size"],
           "num_attention_heads": cfg["num_attention_heads"],
           "num_hidden_layers": cfg["num_hidden_layers"], "layer_norm_eps": cfg["layer_norm_eps"],
           "max_position_embeddings": cfg["max_position_embeddings"],
           "type_vocab_size": cfg["type_vocab_size"], "vocab_size": cfg["vocab_size"],
           "pad_token_id": 0, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
           "initializer_range": cfg["initializer_range"]}
    if labels:
        out["id2label"] = {str(i): l for i, l in enumerate(labels)}
        out["label2id"] = {l: i for i, l in enumerate(labels)}
    return out


TOKENIZER_CONFIG = {"tokenizer_class": "BertTokenizer", "do_lower_case": False,
                    "tokenize_chinese_chars": True, "strip_accents": None, "unk_token": "[UNK]",
                    "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                    "mask_token": "[MASK]", "model_max_length": 512}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kind", choices=["mlm", "ner"], required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", choices=["F16", "F32"], default="F16")
    p.add_argument("--max-positions", type=int, default=0,
                   help="keep only the first N position embeddings and declare N positions "
                        "(the length pretraining ran at): rows past it were never trained, "
                        "and tanzhen cuts long texts into windows of the declared length")
    a = p.parse_args()
    ck = torch.load(a.checkpoint, map_location="cpu")
    sd = ck["model"]
    if a.kind == "mlm":
        keep = {k: v for k, v in sd.items() if k.startswith(("bert.", "cls.predictions."))}
        cfg = hf_config(ck["config"], "BertForMaskedLM")
    else:
        keep = {k: v for k, v in sd.items() if k.startswith(("bert.", "classifier.", "crf."))}
        crf = any(k.startswith("crf.") for k in keep)
        arch = "BertCrfForTokenClassification" if crf else "BertForTokenClassification"
        cfg = hf_config(ck["config"], arch, ck["labels"])
        if crf:
            # tanzhen then decodes the best path among those the tag scheme allows, as
            # finetune_ner.py's evaluation does (a trained CRF still scores O -> I-PER above -inf).
            cfg["crf_constrained"] = True
    if a.max_positions:
        name = "bert.embeddings.position_embeddings.weight"
        keep[name] = keep[name][:a.max_positions]
        cfg["max_position_embeddings"] = a.max_positions
    tokenizer_config = dict(TOKENIZER_CONFIG, model_max_length=cfg["max_position_embeddings"])
    os.makedirs(a.out, exist_ok=True)
    write_safetensors(keep, os.path.join(a.out, "model.safetensors"), a.dtype)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(a.out, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config, f, indent=2)
        f.write("\n")
    for name in ("vocab.txt", "tokenizer.json"):
        shutil.copyfile(os.path.join(VOCAB_DIR, name), os.path.join(a.out, name))
    n = sum(v.numel() for v in keep.values())
    print(f"wrote {a.out}: {len(keep)} tensors, {n} parameters, "
          f"{os.path.getsize(os.path.join(a.out, 'model.safetensors')) / 1e6:.1f} MB ({a.dtype})")


if __name__ == "__main__":
    main()
