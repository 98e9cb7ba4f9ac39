"""Fine-tunes the pretrained small BERT for PER/LOC/ORG NER on MSRA (split in ner_data.py).

Token-classification head with softmax over BIO (or BIOES) tags, or (--head crf) a linear-chain
CRF over the same scores, trained on the path likelihood and decoded by Viterbi. Reports entity-level
exact-match P/R/F1 (conlleval chunking, spans mapped back to character offsets) on the dev
split after every epoch into OUT/dev_scores.jsonl. Resumable: OUT/checkpoint.pt holds model,
optimizer, step (the batch order of every epoch is a fixed function of seed and epoch).
"""
import argparse
import csv
import json
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_model import BertConfig, BertForTokenClassification  # noqa: E402
from crf import scheme_constraints  # noqa: E402
from ner_data import decode_entities, labels_for, load_split, score, token_tags  # noqa: E402
from zh_tokenizer import ZhTokenizer  # noqa: E402
from cpu_features import resolve_bf16  # noqa: E402
import pause  # noqa: E402

MAX_TOKENS = 254   # + [CLS] + [SEP]; MSRA pieces are <= 100 characters


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pretrained", default="training/runs/mlm/checkpoint.pt")
    p.add_argument("--init-from", default="",
                   help="a NER checkpoint (finetune_ner.py's) to start from instead of the "
                        "pretrained encoder: encoder and classifier are loaded, a CRF the "
                        "checkpoint lacks starts at zero (= that classifier's argmax)")
    p.add_argument("--out", default="training/runs/ner")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--scheme", default="BIO", choices=["BIO", "BIOES"])
    p.add_argument("--head", default="softmax", choices=["softmax", "crf"])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--time-budget-min", type=float, default=0,
                   help="if > 0: the LR decays linearly over this many minutes of training "
                        "time (instead of over --epochs) and training stops then; dev is scored "
                        "after every epoch and at the end")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--warmup-frac", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--bf16", type=int, default=-1,
                   help="bf16 autocast: 1 on, 0 off, -1 (default) on where the CPU has native bf16 "
                        "(AVX512-BF16, AMX; ~3x faster than F32 there) or on CUDA, else off")
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--keep-epochs", type=int, default=0,
                   help="also keep the weights after each of the last N dev evaluations "
                        "(OUT/epochs/step-S.pt, no optimizer state) for average_checkpoints.py")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--limit-train", type=int, default=0, help="debug: use only N sentences")
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    a.bf16 = resolve_bf16(a.bf16, a.device)
    return a


def keep_epoch_weights(a, step, model, cfg, labels):
    """Writes OUT/epochs/step-STEP.pt (weights and what export_hf.py needs) and deletes all
    but the newest --keep-epochs of them."""
    d = os.path.join(a.out, "epochs")
    os.makedirs(d, exist_ok=True)
    torch.save({"model": model.state_dict(), "step": step, "config": cfg.to_dict(),
                "labels": labels, "scheme": a.scheme, "head": a.head},
               os.path.join(d, f"step-{step}.pt"))
    snaps = sorted((f for f in os.listdir(d) if f.startswith("step-") and f.endswith(".pt")),
                   key=lambda f: int(f[5:-3]))
    for f in snaps[:-a.keep_epochs]:
        os.remove(os.path.join(d, f))


def encode(tok, data, scheme, label_ids):
    out = []
    for text, ents in data:
        ids, spans = tok.tokenize_with_spans(text)
        ids, spans = ids[:MAX_TOKENS], spans[:MAX_TOKENS]
        if not ids:   # nothing to tag (the CRF needs at least one step)
            continue
        tags = token_tags(spans, ents, scheme)
        out.append((ids, spans, [label_ids[t] for t in tags], text, ents))
    return out


def make_batches(examples, batch, seed, shuffle=True):
    """Length-bucketed batches (little padding); batch order shuffled per epoch seed."""
    idx = list(range(len(examples)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(idx)
    # sort within chunks of 50 batches by length, then cut into batches
    chunk = batch * 50
    batches = []
    for c in range(0, len(idx), chunk):
        part = sorted(idx[c:c + chunk], key=lambda i: len(examples[i][0]))
        batches += [part[j:j + batch] for j in range(0, len(part), batch)]
    if shuffle:
        rng.shuffle(batches)
    return batches


def collate(examples, batch_idx, tok, device):
    rows = [examples[i] for i in batch_idx]
    t = max(len(r[0]) for r in rows) + 2
    ids = torch.full((len(rows), t), tok.pad_id, dtype=torch.long)
    labels = torch.full((len(rows), t), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    for b, r in enumerate(rows):
        n = len(r[0])
        ids[b, :n + 2] = torch.tensor([tok.cls_id] + r[0] + [tok.sep_id])
        labels[b, 1:n + 1] = torch.tensor(r[2])
        mask[b, :n + 2] = 1
    return ids.to(device), mask.to(device), labels.to(device)


def evaluate(model, examples, tok, labels, device, bf16, batch=64):
    """Entity P/R/F1 on `examples`; a CRF's path is the best valid one under the tag scheme, as
    tanzhen decodes the exported model (its config.json says "crf_constrained": true)."""
    model.eval()
    allowed = [m.to(device) for m in scheme_constraints(labels)]
    gold, pred = [], []
    with torch.no_grad():
        for bi in make_batches(examples, batch, 0, shuffle=False):
            ids, mask, _ = collate(examples, bi, tok, device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bool(bf16)):
                logits = model(ids, mask)
            if model.crf is not None:
                lens = torch.tensor([len(examples[i][1]) for i in bi], device=logits.device)
                steps = torch.arange(logits.shape[1] - 1, device=logits.device)
                best = model.crf.decode(logits.float()[:, 1:], steps < lens.unsqueeze(1), allowed)
            else:
                best = [r[1:].tolist() for r in logits.float().argmax(-1).cpu()]
            for row, i in enumerate(bi):
                _, spans, _, _, ents = examples[i]
                tags = [labels[k] for k in best[row][:len(spans)]]
                pred.append({(spans[a][0], spans[b - 1][1], t) for a, b, t in decode_entities(tags)})
                gold.append(set(ents))
    model.train()
    return score(gold, pred)


def load_encoder(model, ck):
    """The encoder (bert.*) of a pretraining checkpoint `ck` (already loaded) into model."""
    enc = {k: v for k, v in ck["model"].items() if k.startswith("bert.")}
    missing, unexpected = model.load_state_dict(enc, strict=False)
    head = {"classifier.weight", "classifier.bias"}
    assert not unexpected and head <= set(missing), missing
    assert all(k in head or k.startswith("crf.") for k in missing), missing
    return ck["config"], ck["step"]


def main():
    # First, so that a `kill -USR1` during the minute of corpus loading pauses the run at its
    # first step instead of ending it (SIGUSR1's default action).
    pause.install()
    a = parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    dev = torch.device(a.device)
    torch.manual_seed(a.seed)
    tok = ZhTokenizer()
    labels = labels_for(a.scheme)
    label_ids = {l: i for i, l in enumerate(labels)}

    train, dev_data = load_split()
    if a.limit_train:
        train = train[:a.limit_train]
    train_ex = encode(tok, train, a.scheme, label_ids)
    dev_ex = encode(tok, dev_data, a.scheme, label_ids)
    print(f"train {len(train_ex)} dev {len(dev_ex)} sentences, labels {labels}", flush=True)

    start = torch.load(a.init_from or a.pretrained, map_location="cpu")
    pre = dict(start["config"])
    pre.update(hidden_dropout_prob=a.dropout, attention_probs_dropout_prob=a.dropout)
    cfg = BertConfig(**pre)
    model = BertForTokenClassification(cfg, len(labels), a.dropout, crf=a.head == "crf").to(dev)
    if a.init_from:
        assert start["labels"] == labels, (start["labels"], labels)
        missing, unexpected = model.load_state_dict(start["model"], strict=False)
        assert not unexpected and all(k.startswith("crf.") for k in missing), (missing, unexpected)
        pre_step = start.get("pretrained_step")
    else:
        _, pre_step = load_encoder(model, start)
    del start

    is_head = lambda n: n.startswith(("classifier.", "crf."))  # noqa: E731
    head = [p for n, p in model.named_parameters() if is_head(n)]
    decay = [p for n, p in model.named_parameters() if not is_head(n) and p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if not is_head(n) and p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay, "base": a.lr},
                             {"params": no_decay, "weight_decay": 0.0, "base": a.lr},
                             {"params": head, "weight_decay": 0.0, "base": a.head_lr}], lr=a.lr)
    steps_per_epoch = len(make_batches(train_ex, a.batch, 0))
    total = steps_per_epoch * a.epochs   # with --time-budget-min: an upper bound
    warmup = max(1, int(total * a.warmup_frac))

    ckpt_path = os.path.join(a.out, "checkpoint.pt")
    step, train_seconds = 0, 0.0
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, train_seconds = ck["step"], ck["train_seconds"]
        print(f"resumed at step {step}", flush=True)

    def save():
        tmp = ckpt_path + ".tmp"
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "train_seconds": train_seconds, "config": cfg.to_dict(), "labels": labels,
                    "scheme": a.scheme, "head": a.head, "pretrained_step": pre_step, "args": vars(a)}, tmp)
        os.replace(tmp, ckpt_path)

    log_path = os.path.join(a.out, "log.csv")
    new_log = not os.path.exists(log_path)
    log_f = open(log_path, "a", newline="")
    log = csv.writer(log_f)
    if new_log:
        log.writerow(["step", "epoch", "train_seconds", "lr", "loss", "tokens_per_s"])

    model.train()
    acc_loss, acc_n, acc_tok, t_int = 0.0, 0, 0, time.time()
    last = step >= total
    while not last:
        epoch, in_epoch = divmod(step, steps_per_epoch)
        batches = make_batches(train_ex, a.batch, a.seed * 1000 + epoch)
        for bi in batches[in_epoch:]:
            t_int += pause.wait_if_paused()
            ids, mask, lab = collate(train_ex, bi, tok, dev)
            now = train_seconds + time.time() - t_int
            if step < warmup:
                f = (step + 1) / warmup
            elif a.time_budget_min > 0:
                f = max(0.0, 1.0 - now / (60.0 * a.time_budget_min))
            else:
                f = (total - step) / max(1, total - warmup)
            last = step + 1 >= total or (a.time_budget_min > 0 and now >= 60.0 * a.time_budget_min)
            for g in opt.param_groups:
                g["lr"] = g["base"] * f
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=bool(a.bf16)):
                logits = model(ids, mask)
            if model.crf is not None:
                steps = lab[:, 1:] != -100   # CLS/SEP/padding carry no tag
                loss = model.crf.nll(logits.float()[:, 1:], lab[:, 1:], steps) / steps.sum()
            else:
                loss = F.cross_entropy(logits.float().view(-1, len(labels)), lab.view(-1),
                                       ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            acc_loss += loss.item()
            acc_n += 1
            acc_tok += int(mask.sum())
            if step % a.log_every == 0 or last:
                dt = time.time() - t_int
                train_seconds += dt
                log.writerow([step, epoch, f"{train_seconds:.1f}", f"{opt.param_groups[0]['lr']:.2e}",
                              f"{acc_loss / acc_n:.4f}", f"{acc_tok / dt:.0f}"])
                log_f.flush()
                print(f"step {step}/{total} epoch {epoch} loss {acc_loss / acc_n:.4f} "
                      f"{acc_tok / dt:.0f} tok/s", flush=True)
                acc_loss, acc_n, acc_tok, t_int = 0.0, 0, 0, time.time()
            if step % a.save_every == 0:
                save()
            if step % steps_per_epoch == 0 or last:
                t_ev = time.time()
                res = evaluate(model, dev_ex, tok, labels, dev, a.bf16)
                with open(os.path.join(a.out, "dev_scores.jsonl"), "a") as sf:
                    sf.write(json.dumps({"step": step, "epoch": round(step / steps_per_epoch, 2),
                                         "train_seconds": round(train_seconds), "dev": res}) + "\n")
                print(f"epoch {step / steps_per_epoch:.2f} dev {json.dumps(res)}", flush=True)
                save()
                if a.keep_epochs > 0:
                    keep_epoch_weights(a, step, model, cfg, labels)
                t_int += time.time() - t_ev
            if last:
                break
        if last:
            break
    save()
    print(f"done at step {step}, {train_seconds / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
