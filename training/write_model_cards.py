"""Writes models/zh-mlm-small/MODEL_CARD.md and models/zh-ner-small/MODEL_CARD.md from the
run's own records (checkpoints, log.csv, dev_scores.jsonl, the fill-mask evaluation JSON), so
the cards quote measured numbers only.

  write_model_cards.py --eval-json training/runs/ner_eval.json --mlm-eval-json training/runs/mlm_eval.json
(the run folders default to the recipe's: run_recipe.sh). A run whose folder is gone (a fresh
clone) is read from training/records/<run>/ (save_records.py); the earliest masked-LM stages
there hold only the summary their session-7 card gave (first/last loss, steps, minutes).
Where the records of the previous NER model or of the head comparison are gone too (ner6's,
ner2's), the NER card takes those figures from the card it replaces, and says so:

  write_model_cards.py --cards ner --ner-run training/runs/ner9-mlm9 --ner-earlier '' \
      --eval-json training/runs/ner_eval.json --mlm-eval-json training/runs/mlm_eval.json
"""
import argparse
import csv
import json
import math
import os
import re

import torch

def imported_note(checkpoints):
    """A sentence for each checkpoint of the card's recipe lines (the last stage's --init-from and
    the averaged stages) that stage import rebuilt rather than trained here."""
    notes = []
    for ck in dict.fromkeys(filter(None, checkpoints)):
        if not os.path.exists(os.path.join(os.path.dirname(ck), "IMPORTED")):
            continue
        stage = os.path.basename(os.path.dirname(ck))
        notes.append(f"(`{ck}` was rebuilt from the model shipped before it (training/import_hf.py: "
                     f"its F16 weights, 256 positions), its own run folder being gone with an earlier "
                     f"session; on a fresh clone recipe stage `import-{stage}` rebuilds it from the git "
                     f"history)\n")
    return "".join(notes)


# Runs that trained on a machine the checkpoint's arguments do not tell apart (bf16 on, but not
# on the AVX-512 EPYC): what the card says about their hardware.
AMX_STAGES = ("on an Intel Xeon with AMX (bf16 and int8 tiles), bf16 autocast, whose matmuls "
              "PyTorch's oneDNN runs on AMX (~10,000 tokens/s); mlm8-mlm10 on an EPYC with AVX2 "
              "only, in F32 on OpenBLAS; the stages before on one with AVX-512 (VNNI, BF16), bf16 "
              "autocast")
RUN_HARDWARE = {
    "mlm11": f"this stage {AMX_STAGES}",
    "mlm12": f"this stage and mlm11 {AMX_STAGES}",
    "mlm13": f"this stage, mlm12 and mlm11 {AMX_STAGES}",
}


def hardware(args, run=""):
    """Where the shown run trained: the runs before session 9 on an AVX-512 EPYC under bf16
    autocast; a run saved with bf16 off (--bf16 auto on a CPU without bf16 instructions) in F32;
    the runs in RUN_HARDWARE where that table says."""
    software = "PyTorch 1.13 (Debian python3-torch), `nice -n 10`; no GPU was available"
    common = f"CPU only: 2 cores of an AMD EPYC shared with C++ builds and benchmarks, {software}"
    name = os.path.basename(os.path.normpath(run)) if run else ""
    if name in RUN_HARDWARE:
        return (f"CPU only: 2 cores shared with C++ builds and tests, {software}; "
                f"{RUN_HARDWARE[name]}")
    if args.get("bf16", 1):
        return f"{common}; AVX-512 with VNNI and BF16 (no AMX), bf16 autocast"
    return (f"{common}; this stage on an EPYC with AVX2 only (no bf16 instructions), in F32 on "
            f"OpenBLAS; the stages before it on one with AVX-512 (VNNI, BF16), bf16 autocast")


def command_line(script, run_dir, args, keys):
    """The command that reproduces a run: its non-default arguments, as the checkpoint saved them."""
    parts = [f"nice -n 10 /usr/bin/python3 training/{script}"]
    if "pretrained" in keys:
        parts.append(f"--pretrained {args['pretrained']}")
    parts.append(f"--out {run_dir}")
    for k in keys:
        v = args.get(k)
        if k == "pretrained" or not v or (k == "list_masking" and v == "random"):
            continue
        flag = f"--{k.replace('_', '-')}"
        if isinstance(v, dict):      # --source-weight NAME=FACTOR, repeated
            parts += [f"{flag} {n}={f:g}" for n, f in v.items()]
        elif isinstance(v, list):    # --list-min-uses IDIOMS,VERSES
            parts.append(f"{flag} {','.join(str(x) for x in v)}")
        else:
            parts.append(f"{flag} {v:g}" if isinstance(v, float) else f"{flag} {v}")
    return " ".join(parts)


# The pretrain_mlm.py flags a stage's recipe line shows, where the checkpoint has them set.
MLM_KEYS = ["init_from", "init_encoder", "seed", "batch", "seq_len", "lr", "warmup",
            "time_budget_min", "stop_after", "threads", "phrase_masking", "source_weight",
            "list_min_uses", "list_masking", "anchor", "anchor_weight", "bare_end", "lone_lines"]


def mix_text(args):
    """The card's sentence on what a masked-LM stage added to plain masking (training/README.md
    items 19m-19w), from its saved arguments; empty for a plain stage."""
    parts = []
    if args.get("source_weight"):
        parts.append("sources drawn more often (" + ", ".join(
            f"{n} x{f:g}" for n, f in args["source_weight"].items()) + "; idiom_headwords, "
            "quoted_verses and phrase_sentences are the derived sources of the idiom dictionary's "
            "headwords, the couplets the corpus quotes and the sentences holding either)")
    if args.get("list_min_uses"):
        idioms, verses = args["list_min_uses"]
        parts.append(f"the two lists cut to the entries running text uses (an idiom in at least "
                     f"{idioms} lines, a couplet line in at least {verses})")
    if args.get("list_masking") == "entry":
        parts.append("in list sequences 15% of each entry masked")
    if args.get("phrase_masking"):
        parts.append(f"phrase masking (p = {args['phrase_masking']:g}: one character of each idiom "
                     f"or quoted verse line in running text masked, the rest of it left visible)")
    if args.get("anchor"):
        parts.append(f"anchored to `{args['anchor']}` (weight {args.get('anchor_weight', 1.0):g}: "
                     f"at ordinary masked positions the loss adds the KL divergence from that "
                     f"frozen model's predictions)")
    if args.get("bare_end"):
        parts.append(f"{args['bare_end']:.0%} of the lines packed without their sentence-final "
                     f"marks, as fill-mask texts are usually typed")
    if args.get("lone_lines"):
        parts.append(f"{args['lone_lines']:.0%} of each batch's rows one line alone, `[CLS] line "
                     f"[SEP]` padded to the row's length, as a fill-mask text comes, without the "
                     f"neighbouring lines that tell a packed line's source (free of the anchor; "
                     f"the token counts here count such a row as a full one)")
    return ("This stage also had " + "; ".join(parts) + ".\n") if parts else ""


RECORDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "records")


def find_records(run):
    """The run's folder while its own checkpoint is there (not one that import_hf.py rebuilt
    from an exported model), else its committed records folder, else None."""
    if os.path.exists(os.path.join(run, "checkpoint.pt")) and \
            not os.path.exists(os.path.join(run, "IMPORTED")):
        return run
    rec = os.path.join(RECORDS, os.path.basename(os.path.normpath(run)))
    return rec if os.path.exists(os.path.join(rec, "info.json")) else None


def record_dir(run):
    d = find_records(run)
    if d is None:
        raise SystemExit(f"{run}: no checkpoint of its own and no records (save_records.py)")
    return d


def run_info(run):
    """The run's checkpoint fields that the cards quote (step, train_seconds, args, config, ...)."""
    d = record_dir(run)
    if d != run:
        with open(os.path.join(d, "info.json")) as f:
            return json.load(f)
    ck = torch.load(os.path.join(run, "checkpoint.pt"), map_location="cpu")
    return {k: v for k, v in ck.items() if k not in ("model", "optimizer", "data")}


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def run_log(run, info):
    """log.csv rows up to the checkpoint (rows logged after it, by a run stopped between
    checkpoints, are not in the model); [] where only a summary was kept."""
    path = os.path.join(record_dir(run), "log.csv")
    if not os.path.exists(path):
        return []
    return [r for r in read_log(path) if int(r["step"]) <= info["step"]]


def loss_span(info, log):
    """First and last logged training loss, from the log or the kept summary."""
    if log:
        return log[0]["loss"], log[-1]["loss"]
    return info["summary"]["first_loss"], info["summary"]["last_loss"]


def dev_scores(run):
    """A fine-tuning run's dev evaluations, one per epoch (dev_scores.jsonl)."""
    with open(os.path.join(record_dir(run), "dev_scores.jsonl")) as f:
        return [json.loads(line) for line in f]


def card_sections(path, ner_run):
    """What the card being replaced says that no records hold any more (runs whose folders went
    with an earlier session): its model's run, final dev F1, tanzhen F1 and dev curve, and its
    head-comparison block. Empty where there is no card, or it already describes ner_run."""
    if not os.path.exists(path):
        return {}
    text = open(path, encoding="utf-8").read()
    run = re.search(r"finetune_ner\.py .*--out (\S+)", text)
    if not run or os.path.normpath(run.group(1)) == os.path.normpath(ner_run):
        return {}
    found = {"run": run.group(1)}
    for key, pattern in (("f1", r"\| overall \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|"),
                         ("tanzhen_f1", r"\*\*F1 ([\d.]+)\*\*"),
                         ("curve", r"Dev F1 during fine-tuning: (.*?)\. Project target"),
                         ("head_compare", r"(\nHead comparison .*?)\n\n## Limitations")):
        m = re.search(pattern, text, re.S)
        if m:
            found[key] = m.group(1)
    return found


def start_text(init_from):
    """The card's sentence on the last stage's starting weights where they are a mean of stages
    (recipe stages avg-*), whose own lines the card does not show; else empty."""
    start = os.path.basename(os.path.dirname(init_from or ""))
    if not start.startswith("avg-"):
        return ""
    return (f"It started from the weights of recipe stage `{start}`, an element-wise mean of the "
            f"final weights of stages before it (`training/average_checkpoints.py`; "
            f"training/README.md gives its stages and scores).\n")


def average_text(avg, runs):
    """For weights averaged over the runs `runs` into run `avg` (--mlm-average AVG
    --mlm-average-runs R1,R2): the recipe line that builds it and the card's sentence on it; without
    AVG empty text."""
    if not avg:
        return "", ""
    names = [os.path.basename(os.path.normpath(r)) for r in runs]
    line = ("/usr/bin/python3 training/average_checkpoints.py --out " + f"{avg}/checkpoint.pt "
            + " ".join(f"{r}/checkpoint.pt" for r in runs) + "\n")
    means = [n for n in names if n.startswith("avg-")]
    means_text = (f" ({', '.join(means)} being itself such a mean, recipe stage of that name)"
                  if means else "")
    note = (f"The shipped weights are the element-wise mean of the final weights of stages "
            f"{', '.join(names[:-1])} and {names[-1]} (`training/average_checkpoints.py`, recipe stage "
            f"`{os.path.basename(os.path.normpath(avg))}`){means_text}: each stage continued from the "
            f"one before, so their weights lie close together (training/README.md gives the scores of "
            f"the mean and of each stage).\n")
    return line, note


def exported_positions(folder):
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)["max_position_embeddings"]


def arch_lines(cfg, n_params, size_mb, positions, seq_len):
    return (f"- BERT encoder, {cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, "
            f"{cfg['num_attention_heads']} heads, FFN {cfg['intermediate_size']}, "
            f"{positions} positions (pretrained on sequences of {seq_len} tokens; tanzhen cuts "
            f"longer texts into windows of {positions}), "
            f"vocabulary {cfg['vocab_size']} (bert-base-chinese `vocab.txt`, `do_lower_case: false`)\n"
            f"- {n_params / 1e6:.2f} M parameters, `model.safetensors` in F16 ({size_mb:.1f} MB)\n")


def safetensors_info(folder):
    import struct
    path = os.path.join(folder, "model.safetensors")
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    params = 0
    for k, v in h.items():
        if k != "__metadata__":
            c = 1
            for s in v["shape"]:
                c *= s
            params += c
    return params, os.path.getsize(path) / 1e6


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mlm-run", default="training/runs/mlm34-lone", help="the last masked-LM stage of the shipped model (recipe stage mlm34-lone)")
    p.add_argument("--mlm-earlier", default="training/runs/mlm2,training/runs/mlm3,training/runs/mlm4,training/runs/mlm5,training/runs/mlm6,training/runs/mlm7,training/runs/mlm8,training/runs/mlm9,training/runs/mlm10,training/runs/mlm11,training/runs/mlm12,training/runs/mlm13,training/runs/mlm27-anchored,training/runs/mlm28-anchored3,training/runs/mlm29-bare",
                   help="comma-separated masked-LM stages between mlm1 and --mlm-run, in order")
    p.add_argument("--mlm-stage1", default="training/runs/mlm",
                   help="the masked-LM warm-up run the NER model started from (recipe stage mlm1)")
    p.add_argument("--ner-run", default="training/runs/ner9-mlm9", help="the shipped NER run (stage ner9)")
    p.add_argument("--ner-earlier", default="",
                   help="an earlier NER run to compare with (the previous default model), or ''")
    p.add_argument("--head-compare", default="training/runs/ner2-crf,training/runs/ner2-softmax",
                   help="CRF run,softmax run: the same continuation with either head (stage ner2)")
    p.add_argument("--fill-mask", default="training/runs/fill_mask.json")
    p.add_argument("--mlm-out", default="models/zh-mlm-small")
    p.add_argument("--ner-out", default="models/zh-ner-small")
    p.add_argument("--mlm-average", default="",
                   help="where the shipped weights are the mean of the final weights of the "
                        "--mlm-average-runs (run_recipe.sh mlm_average): the averaged run, or '' "
                        "when --mlm-run itself was exported")
    p.add_argument("--mlm-average-runs", default="",
                   help="comma-separated runs (at least two) whose final weights --mlm-average took")
    p.add_argument("--cards", default="mlm,ner", help="which cards to write: mlm, ner or both")
    p.add_argument("--eval-json", help="tanzhen eval --json output of the exported NER model on the dev split")
    p.add_argument("--mlm-eval-json", help="tanzhen eval --task fill-mask --json output of the exported MLM")
    a = p.parse_args()

    mck = run_info(a.mlm_run)
    mlog = run_log(a.mlm_run, mck)
    vals = [r for r in mlog if r["val_loss"]]
    fm = json.load(open(a.fill_mask))
    cfg = mck["config"]
    tokens = mck["step"] * mck["args"]["batch"] * mck["args"]["seq_len"]
    s1 = run_info(a.mlm_stage1)
    s1_loss = loss_span(s1, run_log(a.mlm_stage1, s1))
    s1_tokens = s1["step"] * 4096   # every phase of stage mlm1 ran 4,096 tokens a step
    earlier = []
    for run in filter(None, a.mlm_earlier.split(",")):
        ck = run_info(run)
        first, last = loss_span(ck, run_log(run, ck))
        earlier.append({"run": run, "step": ck["step"], "minutes": ck["train_seconds"] / 60,
                        "tokens": ck["step"] * ck["args"]["batch"] * ck["args"]["seq_len"],
                        "first": first, "last": last, "args": ck["args"]})
    total_tokens = tokens + s1_tokens + sum(e["tokens"] for e in earlier)
    earlier_text = "".join(
        f" Stage {e['run'].rsplit('/', 1)[-1]}: {e['step']} steps of {e['args']['batch']} x "
        f"{e['args']['seq_len']} tokens ({e['tokens'] / 1e6:.1f} M tokens, {e['minutes']:.0f} minutes, "
        f"lr {e['args']['lr']:g}), loss {e['first']} -> {e['last']}." for e in earlier)
    continued = ", ".join(f"stage {r.rsplit('/', 1)[-1]}" for r in
                          [e["run"] for e in earlier[1:]] + [a.mlm_run])
    n, mb = safetensors_info(a.mlm_out)
    averaged = list(filter(None, a.mlm_average_runs.split(","))) if a.mlm_average else []
    if a.mlm_average and len(averaged) < 2:
        raise SystemExit("--mlm-average needs at least two --mlm-average-runs")
    shipped_run = a.mlm_average or a.mlm_run
    average_line, average_note = average_text(a.mlm_average, averaged)
    per_src = "\n".join(f"| {k} | {v['n']} | {v['top1']} | {v['top5']} |"
                        for k, v in fm["per_source"].items())
    demos = "\n".join(f"| `{k}` | {' '.join(v)} |" for k, v in fm["demos"].items())
    mlm_eval = ""
    if a.mlm_eval_json:
        ev = json.load(open(a.mlm_eval_json))
        mlm_eval = (f"\nIn tanzhen (`tanzhen eval --task fill-mask -d heldout.txt` on the lines above, written by `eval_fill_mask.py --write-lines`, 15% of the CJK "
                    f"characters of each held-out line masked at once, fp32): top-1 "
                    f"{100 * ev['top1_accuracy']:.2f}%, top-5 {100 * ev['top5_accuracy']:.2f}% over {ev['masks']} masks; "
                    f"{ev['throughput']['sentences_per_s']:.0f} sentences/s on "
                    f"{ev['throughput']['threads']} threads.\n")
    # With n masks the top-5 estimate has a standard error of sqrt(p (1 - p) / n) (~1.2 points
    # at n = 1,678): say how far the score is from the target in those units, either way.
    se = 100 * math.sqrt(fm['top5'] / 100 * (1 - fm['top5'] / 100) / fm['n'])
    if fm['top5'] >= 60:
        narrow = fm['top5'] - 60 < se
        target_note = (f"reached by {fm['top5'] - 60:.2f} points, within one standard error of this "
                       f"{fm['n']}-mask estimate ({se:.1f} points)" if narrow else "reached")
        limit_note = ", and the top-5 target is met only narrowly" if narrow else ""
    else:
        target_note = f"not reached, the model saw only {total_tokens / 1e6:.1f} M tokens on a shared 2-core CPU"
        limit_note = ", and it is below the project's accuracy target"
    # eval_fill_mask.py --idioms: the idiom cloze on the same held-out lines, where it was run.
    idiom_text = idiom_limit = ""
    if "idioms" in fm:
        fi = fm["idioms"]
        idiom_text = (f"Idioms (`--idioms`: the first dictionary idiom in each held-out line, one of its "
                      f"characters masked, {fi['n']} lines): top-1 {fi['top1']}%, top-5 {fi['top5']}%.\n")
        idiom_limit = f", and it knows few idioms (top-5 {fi['top5']}% on the idiom cloze above)"
    mlm_card = f"""# zh-mlm-small

Small Chinese masked-language model (fill-mask), trained from scratch for tanzhen's default
fill-mask task. Hugging Face `BertForMaskedLM` layout; the decoder is tied to the word
embeddings and not stored.

## Architecture

{arch_lines(cfg, n, mb, exported_positions(a.mlm_out), mck['args']['seq_len'])}
## Data

`../shared/corpus/*.txt.xz` (18 sources, ~92 M characters: news, encyclopedic text, Q&A,
reviews, laws, science abstracts, novels, classical poetry, NER train-split text; provenance in
the corpus's `SOURCES.md`), mixed by sampling each sequence's source with probability
proportional to characters^0.7. Held out of training: line i of every file with i % 200 == 0
(used for the evaluation below), and `ner_train_text` lines overlapping the NER dev split.

## Recipe

```sh
{command_line("pretrain_mlm.py", a.mlm_run, mck['args'], MLM_KEYS)}
{average_line}/usr/bin/python3 training/export_hf.py --kind mlm --checkpoint {shipped_run}/checkpoint.pt --out models/zh-mlm-small --max-positions {mck['args']['seq_len']}
```
{imported_note([mck['args'].get('init_from')] + [f'{r}/checkpoint.pt' for r in averaged])}(some stages were stopped and resumed, with larger budgets or more threads; how exactly,
including the switch to sinusoidal position embeddings, is in training/README.md and
training/run_recipe.sh)

Stages (training/README.md): (1) masked-LM warm-up, {s1['step']} steps of 4,096 tokens
({s1_tokens / 1e6:.1f} M tokens, {s1['train_seconds'] / 60:.0f} minutes; loss {s1_loss[0]} ->
{s1_loss[1]}, still on the character-frequency plateau); (2) NER fine-tuning of that
encoder on MSRA (recipe stage ner); (3) masked LM again from the NER-tuned encoder and
stage 1's prediction head (stage mlm2); then masked LM continued with a fresh learning-rate
cycle each ({continued}), the last being the run this card's recipe line shows.{earlier_text}
Last stage: masked LM only (no NSP), 15% of tokens (80/10/10), sequences of {mck['args']['seq_len']}
tokens packed from consecutive lines, batch {mck['args']['batch']} x {mck['args']['seq_len']}, AdamW
lr {mck['args']['lr']:g}, {mck['args']['warmup']} warm-up steps then linear decay over the time
budget, no dropout: **{mck['step']} steps, {tokens / 1e6:.1f} M tokens, {mck['train_seconds'] / 60:.0f} minutes**
of training time. Masked-LM tokens over all stages: {total_tokens / 1e6:.1f} M. Hardware: {hardware(mck['args'], a.mlm_run)}.
{mix_text(mck['args'])}{start_text(mck['args'].get('init_from'))}{average_note}
Loss (masked-token cross-entropy{" plus the anchor's weighted KL term" if mck['args'].get('anchor') else ""}): first logged {mlog[0]['loss']} (step {mlog[0]['step']}),
last {mlog[-1]['loss']} (step {mlog[-1]['step']}); held-out validation batch: first
{vals[0]['val_loss']} / accuracy {vals[0]['val_acc']} (step {vals[0]['step']}), last
{vals[-1]['val_loss']} / accuracy {vals[-1]['val_acc']} (step {vals[-1]['step']}).

## Evaluation (exported F16 weights)

`training/eval_fill_mask.py --model models/zh-mlm-small --per-source {max(v['n'] for v in fm['per_source'].values())}`:
one random CJK character masked per held-out line, {fm['n']} lines (up to
{max(v['n'] for v in fm['per_source'].values())} per source; small sources have fewer held-out lines):
**top-1 {fm['top1']}%, top-5 {fm['top5']}%** (project target: top-5 >= 60%; {target_note}).
{idiom_text}{mlm_eval}

| source | n | top-1 % | top-5 % |
|---|---:|---:|---:|
{per_src}

Demo sentences (top-5, best first):

| input | top-5 |
|---|---|
{demos}

## Limitations

Very small and far too briefly trained ({total_tokens / 1e6:.1f} M tokens; BERT-style models usually
see billions (bert-base-chinese: BERT's 128,000 steps of 256 x 512 tokens), which 2 shared CPU cores do not give): its
candidates lean to frequent characters{idiom_limit}{limit_note}. Rerun the
recipe longer (it resumes where it stopped), or with `--device cuda`, for a real one. Upper-case
Latin letters are `[UNK]` (bert-base-chinese vocabulary without lower-casing).
"""
    with open(os.path.join(a.mlm_out, "MODEL_CARD.md"), "w") as f:
        f.write(mlm_card)

    if "ner" not in a.cards.split(","):
        print("wrote the masked-LM card")
        return
    nck = run_info(a.ner_run)
    scores = dev_scores(a.ner_run)
    nargs = nck["args"]
    crf = nck.get("head") == "crf"
    # Where the encoder came from: a pretraining checkpoint, or (--init-from) an earlier NER run.
    stage1 = ""
    recipe = []
    pre_run = os.path.dirname(nargs["pretrained"])
    if nargs.get("init_from"):
        s1_dir = os.path.dirname(nargs["init_from"])
        s1ck = run_info(s1_dir)
        s1_scores = dev_scores(s1_dir)
        s1_args = s1ck["args"]
        added_crf = "CRF added, its transitions starting at zero, i.e. at stage 1's own decisions; "
        recipe.append(command_line("finetune_ner.py", s1_dir, s1_args, ["pretrained", "time_budget_min", "epochs", "lr", "batch", "warmup_frac"]))
        stage1 = (f"Stage 1 (`{s1_dir}`, {s1ck.get('head', 'softmax')} head): batch {s1_args['batch']}, lr {s1_args['lr']:g}, "
                  f"{s1ck['step']} steps ({s1_scores[-1]['epoch']} epochs), {s1ck['train_seconds'] / 60:.0f} minutes, "
                  f"dev F1 {s1_scores[-1]['dev']['overall']['f1']}. Stage 2, this model, continues from it "
                  f"({added_crf if crf and s1ck.get('head') != 'crf' else ''}fresh learning-rate cycle).\n")
        epochs_total = f"{s1_scores[-1]['epoch']} + {scores[-1]['epoch']}"
        origin = f"the NER run `{s1_dir}`, itself fine-tuned from the masked-LM checkpoint `{pre_run}` (step {nck['pretrained_step']})"
    else:
        epochs_total = f"{scores[-1]['epoch']}"
        origin = (f"the masked-LM checkpoint `{pre_run}` (step {nck['pretrained_step']}), the same encoder "
                  f"lineage as zh-mlm-small's (training/README.md), fine-tuned in one stage")
    # Masked-LM tokens behind the NER encoder: stage mlm1, then the later stages up to the one
    # it was initialised from (when that is one of them).
    lineage = earlier + [{"run": a.mlm_run, "tokens": tokens}]
    ner_mlm_tokens = s1_tokens
    if os.path.normpath(pre_run) in [os.path.normpath(e["run"]) for e in lineage]:
        for e in lineage:
            ner_mlm_tokens += e["tokens"]
            if os.path.normpath(e["run"]) == os.path.normpath(pre_run):
                break
    recipe.append(command_line("finetune_ner.py", a.ner_run, nargs, (["init_from"] if nargs.get("init_from") else ["pretrained"]) + ["head", "threads", "seed", "time_budget_min", "epochs", "lr", "batch", "warmup_frac"]))
    compare = ""
    crf_run, softmax_run = (a.head_compare.split(",") + ["", ""])[:2]
    if crf_run and softmax_run and all(
            find_records(d) and os.path.exists(os.path.join(find_records(d), "dev_scores.jsonl"))
            for d in (crf_run, softmax_run)):
        other = {round(x["epoch"], 2): x["dev"] for x in dev_scores(softmax_run)}
        mine = {round(x["epoch"], 2): x["dev"] for x in dev_scores(crf_run)}
        both = [e for e in sorted(other) if e in mine and float(e).is_integer()]
        table = "\n".join(f"| {e:g} | {other[e]['overall']['f1']} | {mine[e]['overall']['f1']} |" for e in both)
        compare = f"""
Head comparison (recipe stage ner2): the same continuation of an earlier softmax model (same
seed, data order and learning rates), once with a CRF head (`{crf_run}`) and once keeping the
softmax head (`{softmax_run}`, stopped after {max(both):g} epochs once the difference was clear).
Dev F1:

| epoch | softmax | CRF |
|---|---:|---:|
{table}
"""
    old_card = card_sections(os.path.join(a.ner_out, "MODEL_CARD.md"), a.ner_run)
    if not compare and "head_compare" in old_card:
        compare = old_card["head_compare"]
    previous = ""
    if a.ner_earlier and find_records(a.ner_earlier) and \
            os.path.exists(os.path.join(find_records(a.ner_earlier), "dev_scores.jsonl")):
        e_scores = dev_scores(a.ner_earlier)
        e_args = run_info(a.ner_earlier)["args"]
        e_from = os.path.dirname(e_args.get("init_from") or e_args["pretrained"])
        previous = (f"\nThe previous default model (`{a.ner_earlier}`, fine-tuned from `{e_from}`, a "
                   f"shorter encoder lineage) ended at dev F1 {e_scores[-1]['dev']['overall']['f1']} after "
                   f"{e_scores[-1]['epoch']} epochs of its last stage: "
                   + ", ".join(f"epoch {x['epoch']}: {x['dev']['overall']['f1']}" for x in e_scores) + ".\n")
    elif "f1" in old_card:
        # Its records are gone; the figures are those of the card this one replaces.
        previous = (f"\nThe previous default model (`{old_card['run']}`; figures from its model card, "
                    f"its run folder being gone) ended at dev F1 {old_card['f1']}"
                    + (f" ({old_card['tanzhen_f1']} in tanzhen)" if "tanzhen_f1" in old_card else "")
                    + (f"; by epoch: {old_card['curve']}" if "curve" in old_card else "") + ".\n")
    final = scores[-1]["dev"]
    met = float(final["overall"]["f1"]) >= 92
    n, mb = safetensors_info(a.ner_out)
    rows = "\n".join(f"| {t} | {final[t]['precision']} | {final[t]['recall']} | {final[t]['f1']} | "
                     f"{final[t]['gold']} |" for t in ("overall", "PER", "LOC", "ORG"))
    curve = ", ".join(f"epoch {s['epoch']}: F1 {s['dev']['overall']['f1']}" for s in scores)
    nlog = run_log(a.ner_run, nck)
    tanzhen_eval = ""
    if a.eval_json:
        ev = json.load(open(a.eval_json))
        o = ev["overall"]
        tanzhen_eval = (f"\nThe exported model in tanzhen (`tanzhen eval -d msra-dev.jsonl`, dev split as above, "
                        f"fp32): P {100 * o['precision']:.2f}, R {100 * o['recall']:.2f}, "
                        f"**F1 {100 * o['f1']:.2f}**; {ev['throughput']['sentences_per_s']:.0f} sentences/s "
                        f"on {ev['throughput']['threads']} threads"
                        + (" (tanzhen takes the best Viterbi path the tag scheme allows, as config.json's "
                           "crf_constrained says and training's evaluation does since session 14, then "
                           "conlleval chunking)" if crf else "") + ".\n")
    recipe_lines = "\n".join(recipe)
    ner_card = f"""# zh-ner-small

Small Chinese NER model (PER / LOC / ORG), tanzhen's default NER model. {"A BERT token classifier whose tag scores are the emissions of a linear-chain **CRF** (`BertCrfForTokenClassification`; `crf.transitions` / `crf.start_transitions` / `crf.end_transitions` as in DAMO's RaNER and pytorch-crf), decoded by Viterbi" if crf else "Hugging Face `BertForTokenClassification` layout with a softmax head"};
**{nck['scheme']}** tags (labels: {', '.join(nck['labels'])}).

## Architecture

{arch_lines(nck['config'], n, mb, exported_positions(a.ner_out), mck['args']['seq_len']).replace("pretrained on sequences of", "fine-tuned on MSRA sentences of at most 126 characters after pretraining on sequences of")}- encoder initialised from {origin}

## Data

MSRA NER (SIGHAN 2006) training set, `../shared/data/msra/train.jsonl` (character offsets).
Fixed dev split: line i (0-based) with i % 20 == 0 is dev (2,533 sentences), the remaining
48,125 sentences are fine-tuning data. The MSRA test set was not used. (The masked-LM corpus
leaves out the `ner_train_text` lines that overlap this dev split.)

## Recipe

```sh
{recipe_lines}
/usr/bin/python3 training/export_hf.py --kind ner --checkpoint {a.ner_run}/checkpoint.pt --out models/zh-ner-small --max-positions {exported_positions(a.ner_out)}
```

{stage1}Fine-tuning of this model: batch {nargs['batch']} sentences (length-bucketed), AdamW lr {nargs['lr']:g} (classifier{" and CRF" if crf else ""} {nargs['head_lr']:g}),
{100 * nargs['warmup_frac']:g}% warm-up then linear decay over {"the time budget" if nargs.get("time_budget_min") else f"{nargs['epochs']} epochs"}, dropout {nargs['dropout']:g}, {"bf16 autocast" if nargs.get("bf16", 1) else "F32"}{", loss = CRF negative log-likelihood per token" if crf else ""}.
Training: **{nck['step']} steps ({scores[-1]['epoch']} epochs), {nck['train_seconds'] / 60:.0f} minutes**
of training time{" on one core" if nargs.get("threads") == 1 else ""}; loss {nlog[0]['loss']} (step {nlog[0]['step']}) -> {nlog[-1]['loss']} (step {nlog[-1]['step']}).
Hardware: {hardware(nargs)}.

## Dev-set scores (entity level, exact match, conlleval chunking)

Final model (the one exported; dev was not used to pick a checkpoint):

| type | precision | recall | F1 | gold entities |
|---|---:|---:|---:|---:|
{rows}

Dev F1 during fine-tuning: {curve}. Project target: F1 >= 92 ({"reached" if met else "not reached on this CPU budget"}).
The scores were computed with the training-time F32/bf16 model (conlleval chunking of the
{"Viterbi path" if crf else "argmax tags"}); the exported weights are F16.
{tanzhen_eval}{previous}{compare}

## Limitations

{"Small by BERT standards" if met else "Below the project target"}: the encoder's masked-LM pretraining saw {ner_mlm_tokens / 1e6:.1f} M tokens
on 2 shared CPU cores (BERT-style models usually see billions), and fine-tuning had
{epochs_total} epochs of CPU time. Trained on 1990s People's Daily news (MSRA); weaker on other
domains. Entities whose boundary falls inside a multi-character token (digit/Latin word pieces)
cannot be matched exactly.
"""
    with open(os.path.join(a.ner_out, "MODEL_CARD.md"), "w") as f:
        f.write(ner_card)
    print("wrote model cards")


if __name__ == "__main__":
    main()
