"""MSRA NER data: the fixed train/dev split, tag schemes, and conlleval-style scoring.

Split: line i (0-based) of /work/shared/data/msra/train.jsonl with i % 20 == 0 is dev
(2,533 sentences), all other lines are fine-tuning data. The MSRA test set is not used here
(it is the project's independent evaluation).
"""
import json

from corpus import MSRA_TRAIN, NER_DEV_EVERY

TYPES = ("PER", "LOC", "ORG")


def labels_for(scheme):
    out = ["O"]
    prefixes = "BI" if scheme == "BIO" else "BIES"
    for t in TYPES:
        out += [f"{p}-{t}" for p in prefixes]
    return out


def load_split():
    train, dev = [], []
    with open(MSRA_TRAIN, encoding="utf-8") as f:
        for i, line in enumerate(f):
            r = json.loads(line)
            ents = [(e["start"], e["end"], e["type"]) for e in r["entities"]]
            (dev if i % NER_DEV_EVERY == 0 else train).append((r["text"], ents))
    return train, dev


def token_tags(spans, entities, scheme):
    """Tag per token from character-offset entities: a token is inside an entity when its
    first character is; it is the entity's first token when its first character is at or
    after the entity start and no earlier token of the entity exists."""
    tags = ["O"] * len(spans)
    for s, e, t in entities:
        idx = [k for k, (a, b) in enumerate(spans) if s <= a < e]
        if not idx:
            continue
        if scheme == "BIO":
            tags[idx[0]] = f"B-{t}"
            for k in idx[1:]:
                tags[k] = f"I-{t}"
        else:
            if len(idx) == 1:
                tags[idx[0]] = f"S-{t}"
            else:
                tags[idx[0]] = f"B-{t}"
                for k in idx[1:-1]:
                    tags[k] = f"I-{t}"
                tags[idx[-1]] = f"E-{t}"
    return tags


def decode_entities(tags):
    """conlleval chunking: a chunk starts at B-X, S-X, or an I-X/E-X whose previous tag is O
    or of another type; it ends before O, B, S, a type change, or after E/S.
    Returns [(first_token, last_token_exclusive, type)]."""
    out = []
    cur = None   # [start, type]
    for k, tag in enumerate(tags + ["O"]):
        p, t = (tag.split("-", 1) + [None])[:2] if tag != "O" else ("O", None)
        starts = p in ("B", "S") or (p in ("I", "E") and (cur is None or cur[1] != t))
        if cur is not None and (p == "O" or starts):
            out.append((cur[0], k, cur[1]))
            cur = None
        if p != "O" and starts:
            cur = [k, t]
        if cur is not None and p in ("E", "S"):
            out.append((cur[0], k + 1, cur[1]))
            cur = None
    return out


def score(gold_sets, pred_sets):
    """Entity-level exact-match P/R/F1 (percent), overall and per type.
    gold_sets/pred_sets: per sentence, sets of (char_start, char_end, type)."""
    res = {}
    for t in (None,) + TYPES:
        tp = fp = fn = 0
        for g, p in zip(gold_sets, pred_sets):
            g = {x for x in g if t is None or x[2] == t}
            p = {x for x in p if t is None or x[2] == t}
            tp += len(g & p)
            fp += len(p - g)
            fn += len(g - p)
        prec = 100.0 * tp / max(1, tp + fp)
        rec = 100.0 * tp / max(1, tp + fn)
        f1 = 2 * prec * rec / max(1e-9, prec + rec)
        res[t or "overall"] = {"precision": round(prec, 2), "recall": round(rec, 2),
                               "f1": round(f1, 2), "gold": tp + fn, "pred": tp + fp}
    return res
