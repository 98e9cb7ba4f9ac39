"""Fill-mask accuracy on held-out corpus lines, and top-5 for demo sentences.

Held-out lines: line i of each corpus file with i % 200 == 0 (corpus.HELDOUT_EVERY), which
pretrain_mlm.py never trains on. From each file, --per-source lines are drawn with a fixed
seed; in each, one random CJK character (not [UNK]) is replaced by [MASK] and the model must
rank the original character. Context: the line's first 126 tokens.

  eval_fill_mask.py --model models/zh-mlm-small            # exported safetensors (F16/F32)
  eval_fill_mask.py --checkpoint training/runs/mlm/checkpoint.pt

--idioms adds an idiom cloze on the same held-out lines: every 4-character idiom of the training
lines' dictionary (corpus.idiom_headwords) found in a held-out line (its first one a line), one of
its characters masked, the line cut to IDIOM_CONTEXT characters either side. It measures whether
the model knows idioms in text it never saw, as the demo 他做事总是半[MASK]而废 asks.
"""
import argparse
import json
import os
import random
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_model import BertConfig, BertForMaskedLM, load_mlm_checkpoint  # noqa: E402
from corpus import idiom_headwords, load_sources  # noqa: E402
from zh_tokenizer import ZhTokenizer, is_cjk  # noqa: E402

DEMOS = ["床前明月光，疑是地[MASK]霜", "今天天气真[MASK]啊", "他做事总是半[MASK]而废"]
IDIOM_CONTEXT = 60


def read_safetensors(path):
    np_types = {"F16": np.float16, "F32": np.float32}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        a, b = h["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=np_types[h["dtype"]]).reshape(h["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32))
    return out


def load_model(a):
    if not a.model:
        return load_mlm_checkpoint(a.checkpoint)
    with open(os.path.join(a.model, "config.json")) as f:
        hc = json.load(f)
    cfg = BertConfig(**{k: hc[k] for k in BertConfig().to_dict() if k in hc})
    sd = read_safetensors(os.path.join(a.model, "model.safetensors"))
    model = BertForMaskedLM(cfg)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    return model.eval()


def topk(model, ids, positions, k=5):
    with torch.no_grad():
        lo = model.logits_at(torch.tensor([ids]), torch.tensor(positions))
    return lo.topk(k, dim=-1).indices.tolist()


def idiom_cloze(model, tok, heldout, rng):
    """Top-1 / top-5 hits and count of the --idioms cloze (see the module docstring)."""
    train_entries = load_sources(names=["idioms_xiehouyu"])["idioms_xiehouyu"]
    idioms = {h for h in idiom_headwords(train_entries) if len(h) == 4}
    hit1 = hit5 = n = 0
    for name in sorted(heldout):
        for line in heldout[name]:
            j = next((j for j in range(len(line) - 3) if line[j:j + 4] in idioms), None)
            if j is None:
                continue
            k = j + rng.randrange(4)
            lo = max(0, j - IDIOM_CONTEXT)
            text = line[lo:k] + "[MASK]" + line[k + 1:j + 4 + IDIOM_CONTEXT]
            ids = [tok.cls_id] + tok.encode(text) + [tok.sep_id]
            gold = tok.encode(line[k])[0]
            top = topk(model, ids, [ids.index(tok.mask_id)])[0]
            hit1, hit5, n = hit1 + (top[0] == gold), hit5 + (gold in top), n + 1
    return hit1, hit5, n


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", help="exported model folder")
    p.add_argument("--checkpoint", help="training checkpoint instead of --model")
    p.add_argument("--per-source", type=int, default=200)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json-out")
    p.add_argument("--idioms", action="store_true", help="also the idiom cloze (module docstring)")
    p.add_argument("--write-lines", help="also write the evaluated held-out lines here, one per "
                                         "line (input for `tanzhen eval --task fill-mask -d`)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    tok = ZhTokenizer()
    model = load_model(a)

    demos = {}
    for text in DEMOS:
        ids = [tok.cls_id] + tok.encode(text) + [tok.sep_id]
        pos = ids.index(tok.mask_id)
        demos[text] = tok.convert_ids_to_tokens(topk(model, ids, [pos])[0])
        print(text, " ".join(demos[text]))

    rng = random.Random(a.seed)
    per_source, hit1, hit5, n, used = {}, 0, 0, 0, []
    heldout = load_sources(heldout=True)
    for name, lines in sorted(heldout.items()):
        lines = list(lines)
        rng.shuffle(lines)
        s1 = s5 = sn = 0
        for line in lines:
            if sn >= a.per_source:
                break
            ids = tok.encode(line)[:126]
            cands = [i for i, t in enumerate(ids)
                     if t != tok.unk_id and len(tok.itos[t]) == 1 and is_cjk(ord(tok.itos[t]))]
            if not cands:
                continue
            i = rng.choice(cands)
            gold = ids[i]
            ids = [tok.cls_id] + ids[:i] + [tok.mask_id] + ids[i + 1:] + [tok.sep_id]
            top = topk(model, ids, [i + 1])[0]
            s1 += top[0] == gold
            s5 += gold in top
            sn += 1
            used.append(line)
        per_source[name] = {"n": sn, "top1": round(100 * s1 / sn, 2), "top5": round(100 * s5 / sn, 2)}
        hit1, hit5, n = hit1 + s1, hit5 + s5, n + sn
        print(f"{name:30s} n={sn} top1 {100 * s1 / sn:.1f} top5 {100 * s5 / sn:.1f}", flush=True)
    res = {"n": n, "top1": round(100 * hit1 / n, 2), "top5": round(100 * hit5 / n, 2),
           "per_source": per_source, "demos": demos}
    print(f"overall n={n} top1 {res['top1']} top5 {res['top5']}")
    if a.idioms:
        i1, i5, i_n = idiom_cloze(model, tok, heldout, random.Random(a.seed))
        res["idioms"] = {"n": i_n, "top1": round(100 * i1 / i_n, 2), "top5": round(100 * i5 / i_n, 2)}
        print(f"idioms in held-out lines n={i_n} top1 {res['idioms']['top1']} top5 {res['idioms']['top5']}")
    if a.write_lines:
        with open(a.write_lines, "w", encoding="utf-8") as f:
            f.writelines(line.replace("\n", " ") + "\n" for line in used)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(res, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
