"""Masked-LM pretraining of a small BERT on /work/shared/corpus (see README.md).

Resumable: every --save-every steps the model, optimizer, step and the packer's data
position (per-source pointers + sampling RNG) go to OUT/checkpoint.pt (written atomically);
rerunning the same command continues from there. Losses are appended to OUT/log.csv.
"""
import argparse
import csv
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anchor import anchored_indices, cloze_positions  # noqa: E402
from bert_model import BertConfig, BertForMaskedLM, load_mlm_checkpoint  # noqa: E402
from corpus import HEADWORDS, LIST_SOURCES, VERSES, Packer, load_sources  # noqa: E402
from cpu_features import resolve_bf16  # noqa: E402
import pause  # noqa: E402
from phrase_masking import (PHRASE_SENTENCES, PhraseMatcher, phrase_clozes, phrase_list,  # noqa: E402
                            scan_phrases, used_entries)
from zh_tokenizer import ZhTokenizer  # noqa: E402

FIRST_NORMAL_ID = 106   # ids below are [PAD], [unusedN], [UNK], [CLS], [SEP], [MASK], <S>, <T>
ANCHOR_TOP_K = 100      # --anchor: the anchor's likeliest tokens its KL term covers (anchor_kl)


def two_counts(text):
    """--list-min-uses "10,3" -> [10, 3]."""
    try:
        counts = [int(x) for x in text.split(",")]
    except ValueError:
        counts = []
    if len(counts) != 2 or min(counts) < 0:
        raise argparse.ArgumentTypeError(f"want two counts >= 0 as IDIOMS,VERSES, got {text!r}")
    return counts


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="training/runs/mlm")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.0,
                   help="0 for short pretraining runs (underfitting regime, and dropout is slow on CPU)")
    p.add_argument("--max-steps", type=int, default=3400,
                   help="length of the LR schedule; may be changed when resuming")
    p.add_argument("--time-budget-min", type=float, default=0,
                   help="if > 0: the linear decay runs over this many minutes of training time "
                        "instead of --max-steps, and training stops when they are used up "
                        "(the CPU is shared, so steps/s is unpredictable)")
    p.add_argument("--stop-after", type=int, default=0, help="stop at this step (0 = max-steps)")
    p.add_argument("--lr", type=float, default=6e-4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--mask-prob", type=float, default=0.15)
    p.add_argument("--bf16", type=int, default=-1,
                   help="bf16 autocast: 1 on, 0 off, -1 (default) on where the CPU has native bf16 "
                        "(AVX512-BF16, AMX; ~3x faster than F32 there) or on CUDA, else off")
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--source-weight", action="append", default=[], metavar="NAME=FACTOR",
                   help="multiply corpus source NAME's sampling weight by FACTOR (repeatable); "
                        f"naming {HEADWORDS}, {VERSES} or {PHRASE_SENTENCES} adds that derived "
                        "source (corpus.idiom_headwords, corpus.quoted_verses, "
                        "the sentences phrase_masking.scan_phrases finds); "
                        "a resumed run takes them from the command line, not the checkpoint, so resume with the same ones")
    p.add_argument("--list-masking", choices=["random", "entry"], default="random",
                   help="in sequences of the derived list sources (idioms, verses): mask tokens "
                        "at random like elsewhere, or 'entry': in every list entry exactly "
                        "max(1, round(mask-prob x its length)) tokens, so each idiom is a "
                        "one-character cloze every time it is drawn")
    p.add_argument("--list-min-uses", default=None, type=two_counts, metavar="IDIOMS,VERSES",
                   help="pack only the list entries that running text uses: the idiom headwords "
                        "held by at least IDIOMS training lines outside the idiom dictionary, "
                        "the couplets with a line held by at least VERSES lines outside poetry "
                        "(phrase_masking.used_entries; phrase masking still matches the whole "
                        "lists). Default: the whole lists")
    p.add_argument("--phrase-masking", type=float, default=0.0, metavar="P",
                   help="in sequences of the ordinary sources: each occurrence of a 4-character "
                        "idiom headword or a quoted verse line becomes, with probability P, a "
                        "one-character cloze (one of its characters masked, the others visible; "
                        "phrase_masking.py). 0 (default) = off")
    p.add_argument("--anchor", metavar="CHECKPOINT",
                   help="pull the predictions at ordinary masked positions towards this frozen "
                        "model's (KL divergence; list rows and phrase clozes stay free: anchor.py)")
    p.add_argument("--anchor-weight", type=float, default=1.0,
                   help="weight of the --anchor KL term beside the masked-LM cross-entropy")
    p.add_argument("--bare-end", type=float, default=0.0, metavar="P",
                   help="pack this share of the training lines without their sentence-final "
                        "marks (corpus.bare_ending), as fill-mask texts are usually typed; "
                        "0 (default) = every line as it is")
    p.add_argument("--lone-lines", type=float, default=0.0, metavar="P",
                   help="a share P of each batch's rows hold one line alone, padded "
                        "(corpus.Packer.next_lone_line), as a fill-mask text is typed; "
                        "free of --anchor; drawn per row from the step's seed, so a resumed "
                        "run repeats it")
    p.add_argument("--pos-init", choices=["normal", "sinusoidal"], default="sinusoidal",
                   help="initial position embeddings: BERT's N(0, 0.02), or sinusoids (as in the "
                        "original Transformer) scaled to the word embeddings' row norm, which give "
                        "attention a relative-position structure to start from")
    p.add_argument("--reinit-positions", action="store_true",
                   help="when resuming: replace the position embeddings by the sinusoidal ones "
                        "(and clear their optimizer moments), once per run; how the shipped run switched at step 800")
    p.add_argument("--init-from", help="new run only: start from this pretraining checkpoint's "
                                       "weights (not its optimizer, schedule or data position)")
    p.add_argument("--init-encoder", help="new run only, after --init-from: take the encoder "
                                          "(bert.*) from this checkpoint instead, e.g. the NER "
                                          "fine-tuning's, whose attention has learnt to look at "
                                          "neighbouring characters (see training/README.md)")
    p.add_argument("--grow-layers", type=int, default=0,
                   help="new run only, with --init-from: a deeper encoder of this many layers; "
                        "the extra layers start as copies of the last one with their output "
                        "projections zeroed (grown_state), so training starts near the smaller "
                        "model's loss")
    a = p.parse_args()
    a.bf16 = resolve_bf16(a.bf16, a.device)
    try:
        a.source_weight = {n: float(f) for n, f in (x.split("=", 1) for x in a.source_weight)}
    except ValueError:
        p.error("--source-weight takes NAME=FACTOR, e.g. poetry=3")
    if a.grow_layers and not a.init_from:
        p.error("--grow-layers grows the checkpoint of --init-from; give both")
    return a


def sinusoidal_positions(n, d, row_norm):
    """[n x d] sin/cos position table (Vaswani et al.), every row scaled to row_norm."""
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    freq = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float32) / d)
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe * (row_norm / pe.norm(dim=1, keepdim=True))


def set_sinusoidal_positions(model, opt=None):
    emb = model.bert.embeddings
    table = emb.position_embeddings.weight
    norm = emb.word_embeddings.weight.detach().norm(dim=1).mean().item()
    with torch.no_grad():
        table.copy_(sinusoidal_positions(table.shape[0], table.shape[1], norm))
    if opt is not None:
        opt.state.pop(table, None)   # Adam moments of the old table mean nothing for the new one
    return norm


def entry_choice(row, mask_prob, gen):
    """[len(row)] bool: in each run of normal tokens between special ones (a list entry:
    one idiom, one couplet), exactly max(1, round(mask_prob x its length)) of them."""
    chosen = torch.zeros(row.shape, dtype=torch.bool)
    normal = (row >= FIRST_NORMAL_ID).tolist()
    start = None
    for j, is_normal in enumerate(normal + [False]):
        if is_normal and start is None:
            start = j
        elif not is_normal and start is not None:
            n = j - start
            k = max(1, round(mask_prob * n))
            chosen[start + torch.randperm(n, generator=gen)[:k]] = True
            start = None
    return chosen


def mask_batch(ids, mask_prob, vocab_size, mask_id, gen, entry_rows=(), clozes=()):
    """BERT masking over non-special tokens: choose mask_prob of them (in the rows entry_rows,
    entry_choice's; in each phrase span (row, start, length, k) of clozes only position k);
    80% -> [MASK], 10% -> random token, 10% unchanged. Returns (inputs, flat positions,
    targets)."""
    candidates = ids >= FIRST_NORMAL_ID
    chosen = (torch.rand(ids.shape, generator=gen) < mask_prob) & candidates
    for r in entry_rows:
        chosen[r] = entry_choice(ids[r], mask_prob, gen)
    for r, start, length, k in clozes:
        chosen[r, start:start + length] = False
        chosen[r, k] = True
    pos = chosen.flatten().nonzero().squeeze(1)
    targets = ids.flatten()[pos]
    inputs = ids.clone().flatten()
    r = torch.rand(pos.shape, generator=gen)
    inputs[pos[r < 0.8]] = mask_id
    rand_pos = pos[(r >= 0.8) & (r < 0.9)]
    inputs[rand_pos] = torch.randint(FIRST_NORMAL_ID, vocab_size, rand_pos.shape, generator=gen)
    return inputs.view_as(ids), pos, targets


def lr_at(step, a, train_seconds=0.0):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if a.time_budget_min > 0:
        return a.lr * max(0.0, 1.0 - train_seconds / (60.0 * a.time_budget_min))
    return a.lr * max(0.0, (a.max_steps - step) / max(1, a.max_steps - a.warmup))


def finished(step, a, train_seconds):
    if a.stop_after and step >= a.stop_after:
        return True
    if a.time_budget_min > 0:
        return train_seconds >= 60.0 * a.time_budget_min
    return step >= a.max_steps


def load_anchor(path, dev):
    """The frozen model of --anchor (a pretraining checkpoint of the same vocabulary)."""
    model = load_mlm_checkpoint(path).to(dev)
    for prm in model.parameters():
        prm.requires_grad_(False)
    print(f"anchored to {path}", flush=True)
    return model


def anchor_kl(anchor_logits, log_probs, anchored, k=ANCHOR_TOP_K):
    """Mean over the anchored rows of KL(anchor || model) between the two distributions coarsened
    to the anchor's k likeliest tokens plus one bucket for all the others, given the anchor's
    [n, vocab] logits, the model's [n, vocab] log-probabilities and the indices of the anchored
    rows (0 for none). Coarsened so that the rest of the vocabulary is neither pushed to zero
    nor pinned token by token. Measured on this CPU (500 x 21128): a second full log-softmax,
    or indexing the rows before the gather, each cost as much again as the anchor's forward
    pass, so the model's log-softmax is its cross-entropy's and the rows are weighted."""
    weight = torch.zeros(log_probs.shape[0], device=log_probs.device)
    weight[anchored] = 1.0
    with torch.no_grad():
        anchor_logits = anchor_logits.float()
        top, idx = anchor_logits.topk(k, -1)
        log_p = top - torch.logsumexp(anchor_logits, -1, keepdim=True)
        log_p = torch.cat([log_p, log_rest(log_p)], -1)
    log_q = log_probs.gather(-1, idx)
    log_q = torch.cat([log_q, log_rest(log_q)], -1)
    per_row = (log_p.exp() * (log_p - log_q)).sum(-1)
    return (per_row * weight).sum() / weight.sum().clamp_min(1.0)


def log_rest(log_top):
    """[n, 1] log(1 - sum(exp(log_top))): the log-probability of the tokens outside the top."""
    return torch.log1p(-log_top.exp().sum(-1, keepdim=True).clamp_max(1 - 1e-6))


def save_atomic(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def grown_state(state, n_old, n_new):
    """state (a BertForMaskedLM state_dict of n_old layers) grown to n_new layers. Each new
    layer is a copy of the last with attention.output.dense and output.dense zeroed: its
    attention and feed-forward add nothing to the residual at first, so the deeper model
    starts close to the smaller one (post-LN re-normalises the residual, so not exactly: val
    loss 2.846 -> 2.874 from 4 to 6 layers, training/README.md item 19j), while the copied
    input projections give the zeroed ones non-zero gradients from the first step."""
    last = f"bert.encoder.layer.{n_old - 1}."
    out = dict(state)
    for j in range(n_old, n_new):
        for k, v in state.items():
            if k.startswith(last):
                tail = k[len(last):]
                w = v.clone()
                if tail.startswith(("attention.output.dense.", "output.dense.")):
                    w.zero_()
                out[f"bert.encoder.layer.{j}.{tail}"] = w
    return out


def main():
    # First, so that a `kill -USR1` during the minute of corpus loading pauses the run at its
    # first step instead of ending it (SIGUSR1's default action).
    pause.install()
    a = parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    dev = torch.device(a.device)
    tok = ZhTokenizer()
    cfg = BertConfig(hidden_size=a.hidden, num_hidden_layers=a.layers,
                     num_attention_heads=a.heads, intermediate_size=a.ffn,
                     hidden_dropout_prob=a.dropout, attention_probs_dropout_prob=a.dropout)
    torch.manual_seed(a.seed)
    if a.init_from:
        cfg = BertConfig(**torch.load(a.init_from, map_location="cpu")["config"])
        n_init_layers = cfg.num_hidden_layers
        if a.grow_layers:
            if a.grow_layers <= n_init_layers:
                raise SystemExit(f"--grow-layers {a.grow_layers}: {a.init_from} already has "
                                 f"{n_init_layers} layers")
            cfg.num_hidden_layers = a.grow_layers
    model = BertForMaskedLM(cfg).to(dev)
    if a.pos_init == "sinusoidal" and not a.init_from:
        set_sinusoidal_positions(model)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-6)

    t0 = time.time()
    phrases_wanted = (a.phrase_masking > 0 or PHRASE_SENTENCES in a.source_weight
                      or a.list_min_uses is not None)
    sources = load_sources(headwords=phrases_wanted or HEADWORDS in a.source_weight,
                           verses=phrases_wanted or VERSES in a.source_weight)
    matcher = None
    if phrases_wanted:
        phrases = phrase_list(sources[HEADWORDS], sources[VERSES])
        if PHRASE_SENTENCES in a.source_weight or a.list_min_uses is not None:
            sentences, uses = scan_phrases({n: lines for n, lines in sources.items()
                                            if n not in LIST_SOURCES}, phrases)
        if PHRASE_SENTENCES in a.source_weight:
            sources[PHRASE_SENTENCES] = sentences
        if a.phrase_masking > 0:
            matcher = PhraseMatcher(phrases, tok.encode)
            print(f"phrase masking: {len(matcher)} phrases, p = {a.phrase_masking}", flush=True)
        if a.list_min_uses is not None:
            sources[HEADWORDS], sources[VERSES] = used_entries(
                sources[HEADWORDS], sources[VERSES], uses, a.list_min_uses,
                "idioms_xiehouyu", "poetry")
            print(f"lists cut to the entries text uses (min uses {a.list_min_uses}): "
                  f"{len(sources[HEADWORDS])} idioms, {len(sources[VERSES])} couplets", flush=True)
        for name in LIST_SOURCES:    # loaded for the phrases; packed only where asked for
            if name not in a.source_weight:
                del sources[name]
    packer = Packer(sources, tok, a.seq_len, seed=a.seed, boost=a.source_weight,
                    bare_end=a.bare_end)
    print(f"corpus loaded in {time.time() - t0:.0f}s: " + ", ".join(
        f"{n} {w:.3f}" for n, w in zip(packer.names, packer.weights)), flush=True)

    # Fixed validation batch from the held-out slice (same rule as eval_fill_mask.py).
    val_packer = Packer(load_sources(heldout=True), tok, a.seq_len, seed=99)
    val_ids = torch.tensor([val_packer.next_sequence() for _ in range(32)])
    val_in, val_pos, val_tgt = mask_batch(val_ids, a.mask_prob, cfg.vocab_size, tok.mask_id,
                                          torch.Generator().manual_seed(7))

    ckpt_path = os.path.join(a.out, "checkpoint.pt")
    step, train_seconds = 0, 0.0
    positions_replaced = False   # --reinit-positions happens once per run, however often resumed
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        packer.load_state_dict(ck["data"])
        step, train_seconds = ck["step"], ck.get("train_seconds", 0.0)
        positions_replaced = ck.get("positions_replaced", False)
        print(f"resumed at step {step}", flush=True)
        if finished(step, a, train_seconds):
            print("nothing to do: the checkpoint is already at the stop step / budget", flush=True)
            return
        if a.reinit_positions and not positions_replaced:
            positions_replaced = True
            norm = set_sinusoidal_positions(model, opt)
            print(f"position embeddings replaced by sinusoids (row norm {norm:.3f})", flush=True)
    elif a.init_from:
        state = torch.load(a.init_from, map_location="cpu")["model"]
        if a.grow_layers:
            state = grown_state(state, n_init_layers, a.grow_layers)
        model.load_state_dict(state)
        print(f"weights from {a.init_from}" + (f", grown from {n_init_layers} to {a.grow_layers} layers"
                                               if a.grow_layers else ""), flush=True)
        if a.init_encoder:
            enc = {k: v for k, v in torch.load(a.init_encoder, map_location="cpu")["model"].items()
                   if k.startswith("bert.")}
            missing, unexpected = model.load_state_dict(enc, strict=False)
            assert not unexpected and all(k.startswith("cls.") for k in missing), (missing, unexpected)
            print(f"encoder from {a.init_encoder}", flush=True)
    torch.save(cfg.to_dict(), os.path.join(a.out, "config.pt"))
    anchor = load_anchor(a.anchor, dev) if a.anchor else None

    log_path = os.path.join(a.out, "log.csv")
    new_log = not os.path.exists(log_path)
    log_f = open(log_path, "a", newline="")
    log = csv.writer(log_f)
    if new_log:
        log.writerow(["step", "train_seconds", "lr", "loss", "masked_acc", "tokens_per_s",
                      "val_loss", "val_acc"])

    def autocast():
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=bool(a.bf16))

    def evaluate():
        model.eval()
        with torch.no_grad(), autocast():
            lo = model.logits_at(val_in.to(dev), val_pos.to(dev)).float()
        model.train()
        tgt = val_tgt.to(dev)
        return F.cross_entropy(lo, tgt).item(), (lo.argmax(-1) == tgt).float().mean().item()

    model.train()
    acc_loss, acc_hit, acc_n, acc_steps, t_int = 0.0, 0, 0, 0, time.time()
    n_clozes, acc_kl = 0, 0.0
    while True:
        t_int += pause.wait_if_paused()
        now_seconds = train_seconds + time.time() - t_int
        last = finished(step + 1, a, now_seconds)
        seqs, entry_rows, lone_rows = [], [], []
        batch_seed = a.seed * 1000003 + step
        lone_rng = random.Random(f"{batch_seed}-lone") if a.lone_lines > 0 else None
        for r in range(a.batch):
            if lone_rng is not None and lone_rng.random() < a.lone_lines:
                seqs.append(packer.next_lone_line())
                lone_rows.append(r)
            else:
                seqs.append(packer.next_sequence())
            if a.list_masking == "entry" and packer.last_name in LIST_SOURCES:
                entry_rows.append(r)
        clozes = []
        if matcher is not None:
            rng = random.Random(batch_seed)
            for r, row in enumerate(seqs):
                if r not in entry_rows:
                    clozes += [(r, *c) for c in
                               phrase_clozes(matcher.spans(row), a.phrase_masking, rng)]
            n_clozes += len(clozes)
        seqs = torch.tensor(seqs)
        gen = torch.Generator().manual_seed(batch_seed)
        inputs, pos, targets = mask_batch(seqs, a.mask_prob, cfg.vocab_size, tok.mask_id, gen,
                                          entry_rows, clozes)
        inputs, pos, targets = inputs.to(dev), pos.to(dev), targets.to(dev)
        # Only lone lines are padded; a batch without one runs unmasked, as before --lone-lines.
        att = (seqs != tok.pad_id).to(dev) if lone_rows else None
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a, now_seconds)
        with autocast():
            logits = model.logits_at(inputs, pos, att)
        log_probs = F.log_softmax(logits.float(), -1)
        loss = F.nll_loss(log_probs, targets)
        if anchor is not None:
            # Lone lines are free too: the anchor would pull them towards how the starting
            # model reads a line without neighbours, which is what they are there to change.
            free_rows = entry_rows + lone_rows
            keep = torch.tensor(anchored_indices(pos.tolist(), a.seq_len, free_rows,
                                                 cloze_positions(clozes, a.seq_len)),
                                dtype=torch.long, device=dev)
            with torch.no_grad(), autocast():
                anchor_logits = anchor.logits_at(inputs, pos, att)
            kl = anchor_kl(anchor_logits, log_probs, keep)
            loss = loss + a.anchor_weight * kl
            acc_kl += kl.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        acc_loss += loss.item()
        acc_hit += (logits.argmax(-1) == targets).sum().item()
        acc_n += targets.numel()
        acc_steps += 1
        if step % a.log_every == 0 or last:
            dt = time.time() - t_int
            train_seconds += dt
            vl, va = evaluate() if step % (a.log_every * 5) == 0 or last else ("", "")
            tps = acc_steps * a.batch * a.seq_len / dt
            log.writerow([step, f"{train_seconds:.1f}", f"{opt.param_groups[0]['lr']:.2e}",
                          f"{acc_loss / acc_steps:.4f}", f"{acc_hit / max(1, acc_n):.4f}",
                          f"{tps:.0f}", vl if vl == "" else f"{vl:.4f}",
                          va if va == "" else f"{va:.4f}"])
            log_f.flush()
            print(f"step {step} loss {acc_loss / acc_steps:.4f} acc {acc_hit / max(1, acc_n):.3f} "
                  f"{tps:.0f} tok/s val {vl} {va}"
                  + (f" phrase clozes {n_clozes}" if matcher is not None else "")
                  + (f" anchor kl {acc_kl / acc_steps:.4f}" if anchor is not None else ""),
                  flush=True)
            acc_loss, acc_hit, acc_n, acc_steps, t_int = 0.0, 0, 0, 0, time.time()
            n_clozes, acc_kl = 0, 0.0
        if step % a.save_every == 0 or last:
            t_save = time.time()
            save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(),
                         "data": packer.state_dict(), "step": step, "config": cfg.to_dict(),
                         "train_seconds": train_seconds, "args": vars(a),
                         "positions_replaced": positions_replaced}, ckpt_path)
            t_int += time.time() - t_save
        if last:
            break
    log_f.close()
    print(f"done at step {step}, {train_seconds / 60:.1f} min of training", flush=True)


if __name__ == "__main__":
    main()
