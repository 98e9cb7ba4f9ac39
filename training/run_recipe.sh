#!/bin/sh
# The shipped default models, stage by stage, as they were run (training/README.md explains each
# stage). Every stage resumes where it stopped when rerun; the learning rates decay over budgets
# of training minutes, so a rerun on another machine is the same recipe, not the same bits.
#
#   sh training/run_recipe.sh            # all stages, then export to models/
#   STAGES="ner mlm2 export" sh training/run_recipe.sh
# Stages ner2 and mlm3 ran side by side, one core each (their --threads 1), and so did ner3 and
# mlm4, and ner4 and mlm5; run them as
#   STAGES=ner2 sh training/run_recipe.sh & STAGES=mlm3 sh training/run_recipe.sh; wait
# On a fresh clone (training/runs/ is not in git) a new stage can start from the shipped models
# instead of rerunning stages mlm1..mlm13: STAGES=import rebuilds stage mlm34-lone from the
# shipped zh-mlm-small, for a new stage from it; STAGES="import-avg-mlm28-mlm29 mlm34-lone"
# reruns the shipped model's last stage from the one before it, "import-avg-mlm27-mlm28
# mlm29-bare avg-mlm28-mlm29" that one's,
# "import-avg-mlm11to13-mlm27 mlm28-anchored3 avg-mlm27-mlm28" that one's, and
# "import-avg-mlm11-mlm13 mlm27-anchored avg-mlm11to13-mlm27" the one before
# (import-mlm11: mlm11 itself, from which "import-mlm11 mlm12 mlm13 avg-mlm11-mlm13" reruns that).
# zh-ner-small (stage ner11) was fine-tuned from mlm10, which zh-mlm-small shipped until session 18:
# STAGES="import-mlm10 ner11" takes mlm10 back from this repository's history (shipped_commit
# below) and reruns ner11 from it.
set -e
cd "$(dirname "$0")/.." || exit 1
STAGES=${STAGES:-"mlm1 ner mlm2 ner2 mlm3 ner3 mlm4 mlm5 ner5 mlm6 ner6 mlm7 mlm8 mlm9 ner9 mlm10 ner11 mlm11 mlm12 mlm13 avg-mlm11-mlm13 mlm27-anchored avg-mlm11to13-mlm27 mlm28-anchored3 avg-mlm27-mlm28 mlm29-bare avg-mlm28-mlm29 mlm34-lone export"}
PY=/usr/bin/python3
# The masked-LM stage that models/zh-mlm-small was exported from (stage import rebuilds its
# checkpoint from that folder).
SHIPPED_MLM=mlm34-lone
# The commit whose models/zh-mlm-small was masked-LM stage $1, for a stage shipped before
# $SHIPPED_MLM (stage import-$1 takes it back from the git history).
shipped_commit() {
  case $1 in
  mlm10) echo ed117de ;;
  mlm11) echo e3f6cf9 ;;
  avg-mlm11-mlm12) echo 5f3e8b0 ;;
  avg-mlm11-mlm13) echo 410cd75 ;;
  avg-mlm11to13-mlm27) echo b0a490d ;;
  avg-mlm27-mlm28) echo 8d660fb ;;
  avg-mlm28-mlm29) echo 83fdb93 ;;
  *) echo "no shipped commit recorded for stage $1" >&2; return 1 ;;
  esac
}

# NER fine-tuned afresh (CRF head) on both cores from masked-LM run $2's encoder, into run $1,
# with the settings of stage ner6. The schedule is the remaining arguments; without them, ner5's
# and ner6's 106-minute budget. Stages ner9 and ner10 pass --epochs 19 (what ner6 reached in its
# 106 minutes) instead, so that the schedule is the same on a slower CPU and across sessions.
# Rerun a stage to resume it.
ner_from() {
  run=$1 encoder=$2
  shift 2
  [ $# -gt 0 ] || set -- --time-budget-min 106 --epochs 40
  OUT=training/runs/$run sh training/run_finetune.sh --pretrained training/runs/$encoder/checkpoint.pt \
    --head crf --threads 2 --seed 17 --lr 5e-4 --batch 64 --warmup-frac 0.02 --keep-epochs 4 "$@"
  $PY training/save_records.py training/runs/$run
}
# Exported masked-LM model $2 back as run $1's checkpoint (training/import_hf.py), unless that run
# already has one.
import_mlm() {
  [ -e training/runs/$1/checkpoint.pt ] || $PY training/import_hf.py --model "$2" \
    --out training/runs/$1/checkpoint.pt
}
# The element-wise mean of the final weights of masked-LM runs $2 $3 ... (training/
# average_checkpoints.py; metadata from the last) as run $1's checkpoint, unless it has one.
mlm_average() {
  out=$1
  shift
  [ -e training/runs/$out/checkpoint.pt ] && return 0
  mkdir -p training/runs/$out
  $PY training/average_checkpoints.py --out training/runs/$out/checkpoint.pt \
    $(for run in "$@"; do echo training/runs/$run/checkpoint.pt; done)
}
# Masked LM continued from run $2 with a fresh learning-rate cycle (lr 3e-4, 50 warm-up steps,
# 16 x 256 tokens a step) into run $1: seed $3, budget $4 minutes, $5 threads; any further
# arguments go to pretrain_mlm.py.
mlm_continue() {
  run=$1 from=$2 seed=$3 budget=$4 threads=$5
  shift 5
  OUT=training/runs/$run sh training/run_pretrain.sh --init-from training/runs/$from/checkpoint.pt \
    --seed "$seed" --lr 3e-4 --warmup 50 --time-budget-min "$budget" --batch 16 --seq-len 256 \
    --threads "$threads" "$@"
  $PY training/save_records.py training/runs/$run
}

# mlm_continue on both cores with stage mlm23-balance's mix (training/README.md, item 19q), which
# stage mlm24-from-shipped reuses from other weights: phrase masking, lr 1e-4, the quoted
# couplets ~5%, the four everyday modern sources 2x. Arguments: run, from, seed, budget minutes.
balance_mix_continue() {
  mlm_continue "$1" "$2" "$3" "$4" 2 --lr 1e-4 --phrase-masking 1 \
    --source-weight phrase_sentences=3 --source-weight idiom_headwords=10 \
    --source-weight quoted_verses=40 --list-masking entry --source-weight reviews=2 \
    --source-weight dialogue_qa=2 --source-weight zhihu_questions=2 \
    --source-weight sentence_pairs=2
}

# mlm_continue on both cores with stage mlm25-used-lists' mix (training/README.md, item 19s),
# which stage mlm26-short-lists runs for a shorter budget: phrase masking, lr 1e-4, the idiom and
# couplet lists cut to the entries running text uses (~5% / ~2.3% of the sequences, entry
# masking), the ordinary sources unboosted. Arguments: run, from, seed, budget minutes, then
# any further pretrain_mlm.py flags (a later --source-weight for a name replaces this one).
used_lists_continue() {
  run=$1 from=$2 seed=$3 budget=$4
  shift 4
  mlm_continue "$run" "$from" "$seed" "$budget" 2 --lr 1e-4 --phrase-masking 1 \
    --source-weight phrase_sentences=3 --list-min-uses 10,3 --list-masking entry \
    --source-weight idiom_headwords=80 --source-weight quoted_verses=100 "$@"
}

# used_lists_continue with the cut lists drawn 1.5x as often, anchored to run $3's weights
# (pretrain_mlm.py --anchor; training/README.md, items 19u-19z; until item 19z always the
# starting run $2). Arguments: run, from, anchor run, seed, budget minutes, anchor weight, then
# any further pretrain_mlm.py flags.
anchored_lists_continue() {
  run=$1 from=$2 anchor=$3 seed=$4 budget=$5 weight=$6
  shift 6
  used_lists_continue "$run" "$from" "$seed" "$budget" --source-weight idiom_headwords=120 \
    --source-weight quoted_verses=150 --anchor "training/runs/$anchor/checkpoint.pt" \
    --anchor-weight "$weight" "$@"
}

for stage in $STAGES; do
  case $stage in
  import)
    # The shipped masked-LM model back as stage $SHIPPED_MLM's checkpoint (F16-rounded weights,
    # positions cut to 256, no optimizer state: training/import_hf.py), for the stages that
    # start from it; its run's records are in training/records/$SHIPPED_MLM.
    import_mlm $SHIPPED_MLM models/zh-mlm-small
    ;;
  import-*)
    # An earlier shipped masked-LM stage's checkpoint (import-mlm10: the encoder of the shipped
    # zh-ner-small), from models/zh-mlm-small as shipped_commit gives it (needs the git history;
    # a shallow clone lacks it).
    old=${stage#import-}
    if [ ! -e training/runs/$old/checkpoint.pt ]; then
      commit=$(shipped_commit "$old")
      tmp=$(mktemp -d)
      git archive "$commit" models/zh-mlm-small | tar -x -C "$tmp"
      import_mlm "$old" "$tmp/models/zh-mlm-small"
      rm -rf "$tmp"
    fi
    ;;
  mlm1)
    # Masked-LM warm-up of the encoder: 1,400 steps of 4,096 tokens. Steps 0-800 at 256 tokens
    # (BERT's N(0, 0.02) position init), then the position table replaced by sinusoids, then
    # from step 1000 sequences of 64 tokens, whose neighbours get a larger share of the initially
    # uniform attention.
    COMMON="--lr 1e-3 --warmup 300 --time-budget-min 75"
    OUT=training/runs/mlm sh training/run_pretrain.sh $COMMON --batch 16 --seq-len 256 --pos-init normal --stop-after 800
    OUT=training/runs/mlm sh training/run_pretrain.sh $COMMON --batch 16 --seq-len 256 --reinit-positions --stop-after 1000
    OUT=training/runs/mlm sh training/run_pretrain.sh $COMMON --batch 64 --seq-len 64 --stop-after 1400
    ;;
  ner)
    # NER fine-tuning (BIO, softmax) from that encoder. (The shipped run was started with a
    # 35-minute budget and resumed at step 3600, after 27.8 minutes, with 45.)
    sh training/run_finetune.sh --time-budget-min 45 --epochs 20 --lr 5e-4 --batch 64 --warmup-frac 0.02
    ;;
  mlm2)
    # Masked LM again, from the NER-tuned encoder (its attention already looks at neighbouring
    # characters) and stage mlm1's prediction head. (The shipped run was started with a
    # 28-minute budget and resumed at step 800, after 12.6 minutes, with 36.)
    OUT=training/runs/mlm2 sh training/run_pretrain.sh --init-from training/runs/mlm/checkpoint.pt \
      --init-encoder training/runs/ner/checkpoint.pt --seed 4321 --lr 5e-4 --warmup 100 \
      --time-budget-min 36 --batch 16 --seq-len 256
    ;;
  ner2)
    # CRF head on the stage-ner model (transitions start at zero, i.e. at the softmax model's
    # own decisions), fine-tuned further with a fresh learning-rate cycle. Compared with the
    # same continuation keeping the softmax head (OUT=training/runs/ner2-softmax, --head
    # softmax, otherwise identical), the CRF was ahead by 5.2 and 3.6 F1 after epochs 1 and 2,
    # so the softmax run was stopped there and the CRF kept (training/README.md).
    OUT=training/runs/ner2-crf sh training/run_finetune.sh --init-from training/runs/ner/checkpoint.pt \
      --head crf --threads 1 --seed 7 --time-budget-min 90 --epochs 40 --lr 3e-4 --batch 64 --warmup-frac 0.01
    ;;
  mlm3)
    # Masked LM continued from stage mlm2 with a fresh learning-rate cycle. (The shipped run was
    # restarted with --threads 2 at step 2400, 75.7 minutes in, once stage ner2 had finished.)
    mlm_continue mlm3 mlm2 999 100 1
    ;;
  ner3)
    # NER fine-tuned afresh (CRF head from the start) from stage mlm3's encoder, which has seen
    # 31.7 M masked-LM tokens against stage mlm1's 5.7 M. (A continuation of stage ner2 with a
    # fresh cycle was dropped after 100 steps: its training loss was already ~0.002, the model
    # fits the training set, and what it lacks is a better encoder.)
    OUT=training/runs/ner3-mlm3 sh training/run_finetune.sh --pretrained training/runs/mlm3/checkpoint.pt \
      --head crf --threads 1 --seed 11 --time-budget-min 105 --epochs 40 --lr 5e-4 --batch 64 --warmup-frac 0.02
    ;;
  mlm4)
    # Masked LM continued from stage mlm3 with a fresh learning-rate cycle, beside stage ner3.
    mlm_continue mlm4 mlm3 2026 105 1
    ;;
  ner4)
    # Not part of the shipped models (not in the default STAGES): NER fine-tuned afresh (CRF
    # head) from stage mlm4's encoder, as ner3 was from mlm3's. It had 10.5 epochs in its 108
    # minutes (ner3: 13.45 in 105; the cores were busier) and ended at dev F1 88.74 (tanzhen:
    # 88.86) against ner3's 89.46 (89.56), so zh-ner-small stays ner3.
    OUT=training/runs/ner4-mlm4 sh training/run_finetune.sh --pretrained training/runs/mlm4/checkpoint.pt \
      --head crf --threads 1 --seed 13 --time-budget-min 108 --epochs 40 --lr 5e-4 --batch 64 --warmup-frac 0.02
    ;;
  ner5)
    # NER fine-tuned afresh (CRF head) from stage mlm5's encoder (56.2 M masked-LM tokens), on
    # both cores with nothing else training. (The shipped run started on one core with a
    # 105-minute budget, was resumed at step 2000 (17.8 minutes) on two cores with 112, and at
    # step 5800 (53.8 minutes) with 106 and --keep-epochs 4.)
    ner_from ner5-mlm5 mlm5
    ;;
  mlm5)
    # Masked LM continued from stage mlm4 with a fresh learning-rate cycle, beside stage ner4.
    mlm_continue mlm5 mlm4 77 100 1
    ;;
  mlm6)
    # Masked LM continued from stage mlm5 with a fresh learning-rate cycle, on both cores
    # (session 6; C++ work and benchmarks beside it, the run paused during benchmarks).
    mlm_continue mlm6 mlm5 606 100 2
    ;;
  ner6)
    # NER fine-tuned afresh (CRF head) from stage mlm6's encoder (78.6 M masked-LM tokens), as
    # ner5, on both cores (started at the end of session 6, resumed in session 7 at step ~10,800
    # with the same command).
    ner_from ner6-mlm6 mlm6
    ;;
  mlm7)
    # Masked LM continued from stage mlm6 with a fresh learning-rate cycle, on both cores
    # (session 7; the run paused during benchmarks; restarted once at step 60, before its first
    # checkpoint, with the budget cut from 90 to 50 minutes).
    mlm_continue mlm7 mlm6 707 50 2
    ;;
  ner7)
    # NER fine-tuned afresh (CRF head) from stage mlm7's encoder (89.3 M masked-LM tokens), as
    # ner6, on both cores (started at the end of session 7, resumed in session 8 at step 200
    # with the same command).
    ner_from ner7-mlm7 mlm7
    ;;
  mlm8)
    # Masked LM continued from stage mlm7 with a fresh learning-rate cycle, on both cores. (Run
    # in session 9 from the mlm7 checkpoint that stage import had rebuilt from the then shipped
    # model, in F32 (--bf16 auto: that machine's CPU had no AVX-512); session 8's start of it was
    # lost with its run folder.) 3,640 steps; shipped as zh-mlm-small in session 9.
    mlm_continue mlm8 mlm7 808 85 2
    ;;
  ner8)
    # Not run yet (not in the default STAGES): NER fine-tuned afresh from stage mlm8's encoder,
    # as ner6 / ner7; needs stage mlm8's checkpoint, which only a rerun of mlm1..mlm8 gives on a
    # fresh clone.
    ner_from ner8-mlm8 mlm8
    ;;
  mlm9)
    # Masked LM continued from stage mlm8 with a fresh learning-rate cycle, on both cores
    # (session 10, AVX2 CPU, F32; started with a 110-minute budget, restarted at step 200 with
    # 125 and at step 600 with 115, from its checkpoints). NER fine-tuning in F32 on that CPU
    # ran at half ner6's steps per second (~1.15 steps/s: 9.7 epochs in 106 minutes against
    # ner6's 19), so that session's two cores went to masked LM. 4,447 steps; shipped as
    # zh-mlm-small.
    mlm_continue mlm9 mlm8 909 115 2
    ;;
  mlm10)
    # Masked LM continued from stage mlm9 with a fresh learning-rate cycle and a 150-minute
    # budget on both cores (sessions 12-13, AVX2 CPU, F32; resumed once from its step-800
    # checkpoint with the same command: the budget counts training time and is kept in the
    # checkpoint). 5,694 steps; shipped as zh-mlm-small until session 18 (commit ed117de).
    mlm_continue mlm10 mlm9 1010 150 2
    ;;
  mlm11)
    # Masked LM continued from stage mlm10 with a fresh learning-rate cycle and a 130-minute
    # budget on both cores (session 18, an Intel Xeon with AMX: bf16 autocast runs on AMX tiles,
    # ~10,000 tokens/s). Shipped as zh-mlm-small in sessions 18-20 (commit e3f6cf9).
    mlm_continue mlm11 mlm10 1111 130 2
    ;;
  mlm12)
    # Masked LM continued from stage mlm11 with a fresh learning-rate cycle and a 125-minute
    # budget on both cores (session 19, the same kind of AMX Xeon as mlm11; rerun in session 21).
    # Alone not shipped (its demos were worse than mlm11's: training/README.md, item 19d); the
    # mean of mlm11, mlm12 and mlm13 (stage avg-mlm11-mlm13) was zh-mlm-small in sessions 22-33.
    mlm_continue mlm12 mlm11 1212 125 2
    ;;
  mlm13)
    # Masked LM continued from stage mlm12 with a fresh learning-rate cycle and a 110-minute
    # budget on both cores (session 20, the same kind of AMX Xeon as mlm11 and mlm12, whose
    # checkpoint was lost before its evaluation; rerun in session 22 from session 21's mlm12).
    # Alone not shipped (好 and 途 ranked lower than in the shipped model: training/README.md,
    # item 19g); its mean with mlm11 and mlm12 (stage avg-mlm11-mlm13) was zh-mlm-small in
    # sessions 22-33 and is the start of stage mlm27-anchored.
    mlm_continue mlm13 mlm12 1313 110 2
    ;;
  mlm14)
    # Not shipped (not in the default STAGES): masked LM continued from stage mlm13 with a fresh
    # learning-rate cycle and a 110-minute budget on both cores. Started at the end of session 22
    # and left unfinished (training/README.md, item 19h); rerun to resume it where its last
    # checkpoint stopped, if training/runs/mlm14 is still there.
    mlm_continue mlm14 mlm13 1414 110 2
    ;;
  mlm14-poetry)
    # Masked LM continued from the shipped zh-mlm-small (stage avg-mlm11-mlm13; on a fresh clone
    # STAGES="import-avg-mlm11-mlm13 mlm14-poetry") with a fresh learning-rate cycle and an 85-minute budget on
    # both cores, drawing poetry three times and idioms twice as often as the other stages did:
    # poetry is the weakest held-out source (top-5 28%), and the poem demo and the idiom demo
    # are the two that do not yet answer first (sessions 23-24, AVX-512 EPYCs; training/README.md,
    # item 19i). Session 23's 120-minute run finished but its checkpoint was lost with the
    # machine before it was evaluated; its log is in training/records/mlm14-poetry-try1.
    mlm_continue mlm14-poetry $SHIPPED_MLM 1415 85 2 \
      --source-weight poetry=3 --source-weight idioms_xiehouyu=2
    ;;
  mlm15-grow6)
    # Masked LM continued from the shipped zh-mlm-small (stage avg-mlm11-mlm13; on a fresh clone
    # STAGES="import-avg-mlm11-mlm13 mlm15-grow6") grown from 4 to 6 layers (pretrain_mlm.py --grow-layers: the
    # two new layers start as zeroed-output copies of the last), with a fresh learning-rate cycle
    # and a 90-minute budget on both cores, at half the usual peak learning rate (the later
    # argument wins): restarts at 3e-4 cost more loss than a run on this CPU wins back (session
    # 25, AVX-512 EPYC; training/README.md, item 19j).
    mlm_continue mlm15-grow6 $SHIPPED_MLM 1515 90 2 --grow-layers 6 --lr 1.5e-4
    ;;
  mlm16-grow6)
    # The 6-layer model of stage mlm15-grow6 continued with another fresh learning-rate cycle at a
    # third of the usual peak (1e-4: each warm restart first costs loss, and a smaller one costs
    # less) for 105 minutes on both cores, drawing poetry and idioms twice as often: those hold
    # the two demos that do not yet answer first (session 26; training/README.md, item 19k).
    # Needs stage mlm15-grow6's checkpoint.
    mlm_continue mlm16-grow6 mlm15-grow6 1616 105 2 --lr 1e-4 \
      --source-weight poetry=2 --source-weight idioms_xiehouyu=2
    ;;
  mlm17-grow6)
    # Stage mlm15-grow6's command again (shipped zh-mlm-small grown to 6 layers; on a fresh clone
    # STAGES="import-avg-mlm11-mlm13 mlm17-grow6"), with poetry and idioms drawn twice as often, for 95 minutes on
    # both cores of a faster machine (session 28, Xeon with AMX: about 1.6x the tokens a minute
    # of the EPYCs). Stage mlm16-grow6's checkpoint, which this would otherwise continue, was
    # lost with its machine (training/README.md, item 19l).
    mlm_continue mlm17-grow6 $SHIPPED_MLM 1717 95 2 --grow-layers 6 --lr 1.5e-4 \
      --source-weight poetry=2 --source-weight idioms_xiehouyu=2
    ;;
  mlm18-idioms)
    # Masked LM continued from the shipped zh-mlm-small (on a fresh clone STAGES="import-avg-mlm11-mlm13
    # mlm18-idioms"), 4 layers, drawing idioms eight times and poetry four times as often (about
    # 13% and 21% of the sequences, against 2% and 7%), lr 1.5e-4 over a 105-minute schedule,
    # stopped at step 2,000 (about 27 minutes; not in the default STAGES) for stage
    # mlm19-headwords, which continues it: probes of its snapshots had moved the poem's 上 up but
    # the idiom's 途 not at all (session 29, AVX-512 EPYC; training/README.md, item 19m).
    mlm_continue mlm18-idioms $SHIPPED_MLM 1818 105 2 --lr 1.5e-4 \
      --source-weight poetry=4 --source-weight idioms_xiehouyu=8 --stop-after 2000
    ;;
  mlm19-headwords)
    # Stage mlm18-idioms continued with a fresh cycle (lr 1.5e-4, 75 minutes on both cores), the
    # same mix plus the derived source idiom_headwords (corpus.idiom_headwords: the 12,563 idioms
    # heading the training lines' dictionary entries, one a line) drawn 100 times its size's
    # share, about 14% of the sequences: ~50 passes over the list in the 21.9 M tokens of session
    # 29's run. Not shipped (not in the default STAGES): the idiom cloze rose, the demo ranks fell
    # (training/README.md, item 19m).
    mlm_continue mlm19-headwords mlm18-idioms 1919 75 2 --lr 1.5e-4 \
      --source-weight poetry=4 --source-weight idioms_xiehouyu=8 \
      --source-weight idiom_headwords=100
    ;;
  mlm20-cloze)
    # Stage mlm19-headwords continued with a fresh cycle (lr 2.5e-4, 70 minutes on both cores):
    # idiom_headwords drawn for ~20% of the sequences and the derived source quoted_verses
    # (corpus.quoted_verses: the ~2,700 regular couplets of poetry whose lines the corpus quotes
    # at least 3 times) for ~9%, poetry and the idiom dictionary at half mlm19's boost, and
    # --list-masking entry: every idiom and couplet drawn is a cloze of 1-2 characters. Not
    # shipped (not in the default STAGES): the idiom cloze rose, 好 fell (training/README.md,
    # item 19n).
    mlm_continue mlm20-cloze mlm19-headwords 2020 70 2 --lr 2.5e-4 \
      --source-weight poetry=2 --source-weight idioms_xiehouyu=4 \
      --source-weight idiom_headwords=140 --source-weight quoted_verses=80 --list-masking entry
    ;;
  avg-mlm11to13-mlm20)
    # The mean of avg-mlm11-mlm13 (shipped then) and stage mlm20-cloze (mlm_average; training/README.md,
    # item 19n).
    mlm_average avg-mlm11to13-mlm20 avg-mlm11-mlm13 mlm20-cloze
    ;;
  mlm21-cooldown)
    # Stage mlm20-cloze's weights cooled down on the ordinary mix (lr 1e-4, 30 minutes on both
    # cores), the two list sources kept at ~4% and ~3% of the sequences with entry masking, so that
    # the general text mlm20 lost comes back while its idioms stay. Not shipped (training/README.md,
    # item 19o), nor is either mean with the shipped weights (avg-mlm11to13-mlm20, -mlm21).
    mlm_continue mlm21-cooldown mlm20-cloze 2121 30 2 --lr 1e-4 \
      --source-weight idiom_headwords=20 --source-weight quoted_verses=20 --list-masking entry
    ;;
  avg-mlm11to13-mlm21)
    # The mean of avg-mlm11-mlm13 (shipped then) and stage mlm21-cooldown (item 19o).
    mlm_average avg-mlm11to13-mlm21 avg-mlm11-mlm13 mlm21-cooldown
    ;;
  mlm22-phrases)
    # Stage mlm21-cooldown's weights with phrase masking (phrase_masking.py, ERNIE-style): every
    # 4-character idiom or quoted verse line in running text becomes a one-character cloze, and
    # the sentences of the corpus that hold one are a source of their own (22% of the
    # sequences); the two lists stay at 1.7% / 1.4% with entry masking; lr 1e-4, 70 minutes on
    # both cores. Not shipped (training/README.md, item 19p: 途 first, 上 / 好 5th / 6th), nor is
    # its mean with the shipped weights (avg-mlm11to13-mlm22).
    mlm_continue mlm22-phrases mlm21-cooldown 2222 70 2 --lr 1e-4 --phrase-masking 1 \
      --source-weight phrase_sentences=5 --source-weight idiom_headwords=10 \
      --source-weight quoted_verses=10 --list-masking entry
    ;;
  avg-mlm11to13-mlm22)
    # The mean of avg-mlm11-mlm13 (shipped then) and stage mlm22-phrases (item 19p).
    mlm_average avg-mlm11to13-mlm22 avg-mlm11-mlm13 mlm22-phrases
    ;;
  mlm23-balance)
    # Stage mlm22-phrases' weights, phrase masking kept, with the quoted couplets drawn ~4x as
    # often (for the poem demo) and the four sources of everyday modern Chinese (reviews,
    # dialogues, questions, sentence pairs) 2x (against the drift to 正 / 是 for 今天天气真[MASK]啊
    # since the literary stages); lr 1e-4, 40 minutes on both cores. Not shipped (training/
    # README.md, item 19q: 上 / 好 / 途 3rd / 6th / first), nor is avg-mlm11to13-mlm23.
    balance_mix_continue mlm23-balance mlm22-phrases 2323 40
    ;;
  avg-mlm11to13-mlm23)
    # The mean of avg-mlm11-mlm13 (shipped then) and stage mlm23-balance (item 19q).
    mlm_average avg-mlm11to13-mlm23 avg-mlm11-mlm13 mlm23-balance
    ;;
  mlm24-from-shipped)
    # Stage mlm23-balance's mix and phrase masking, but from the shipped weights
    # (avg-mlm11-mlm13) instead of the idiom-list lineage mlm18..mlm23, whose list-heavy stages
    # moved 今天天气真[MASK]啊 from 好 to 正; lr 1e-4, 75 minutes on both cores. Not shipped
    # (training/README.md, item 19r: 上 / 好 / 途 4th / 2nd / 2nd), nor is avg-mlm11to13-mlm24.
    balance_mix_continue mlm24-from-shipped avg-mlm11-mlm13 2424 75
    ;;
  avg-mlm11to13-mlm24)
    # The mean of avg-mlm11-mlm13 (shipped then) and stage mlm24-from-shipped (item 19r).
    mlm_average avg-mlm11to13-mlm24 avg-mlm11-mlm13 mlm24-from-shipped
    ;;
  mlm25-used-lists)
    # From the shipped weights (which answer 好), phrase masking and the ordinary mix (no
    # everyday boost: mlm24's 2x dialogue put 的 before 好), with the two lists cut to what running
    # text uses (--list-min-uses 10,3: 2,945 idioms, 194 couplets) and drawn often enough to be
    # memorised: ~5% / ~2.3% of the sequences with entry masking; lr 1e-4, 70 minutes on both
    # cores. Not shipped (training/README.md, item 19s: 上 / 好 / 途 2nd / 4th / 2nd), nor is
    # avg-mlm11to13-mlm25 (2nd / 2nd / 2nd).
    used_lists_continue mlm25-used-lists avg-mlm11-mlm13 2525 70
    ;;
  avg-mlm11to13-mlm25)
    # The mean of avg-mlm11-mlm13 (shipped then) and stage mlm25-used-lists (item 19s).
    mlm_average avg-mlm11to13-mlm25 avg-mlm11-mlm13 mlm25-used-lists
    ;;
  mlm26-short-lists)
    # Stage mlm25-used-lists' command for 25 minutes instead of 70 (seed 2626): fewer passes of
    # the cut lists, so that 上 may move while 好 holds. Not shipped (training/README.md, item
    # 19t: 上 / 好 / 途 4th / 2nd / 2nd), nor is avg-mlm11to13-mlm26 (5th / 1st / 2nd).
    used_lists_continue mlm26-short-lists avg-mlm11-mlm13 2626 25
    ;;
  avg-mlm11to13-mlm26)
    # The mean of avg-mlm11-mlm13 (shipped then) and stage mlm26-short-lists (item 19t).
    mlm_average avg-mlm11to13-mlm26 avg-mlm11-mlm13 mlm26-short-lists
    ;;
  mlm27-anchored)
    # Stage mlm25-used-lists' mix with the cut lists drawn 1.5x as often, anchored to the shipped
    # weights (--anchor: ordinary masked positions are also pulled towards the shipped model's
    # predictions, so that drawing the lists need not move 今天天气真[MASK]啊 off 好), 85 minutes,
    # seed 2727 (training/README.md, item 19u).
    anchored_lists_continue mlm27-anchored avg-mlm11-mlm13 avg-mlm11-mlm13 2727 85 1
    ;;
  avg-mlm11to13-mlm27)
    # The mean of avg-mlm11-mlm13 and stage mlm27-anchored (item 19u): shipped as zh-mlm-small
    # in session 34 until avg-mlm27-mlm28 replaced it (item 19v).
    mlm_average avg-mlm11to13-mlm27 avg-mlm11-mlm13 mlm27-anchored
    ;;
  mlm28-anchored3)
    # Stage mlm27-anchored's command from the shipped avg-mlm11to13-mlm27, anchored to it three
    # times as strongly (--anchor-weight 3), 30 minutes, seed 2828 (training/README.md, item 19v).
    anchored_lists_continue mlm28-anchored3 avg-mlm11to13-mlm27 avg-mlm11to13-mlm27 2828 30 3
    ;;
  avg-mlm27-mlm28)
    # The mean of avg-mlm11to13-mlm27 and stage mlm28-anchored3 (item 19v): shipped as
    # zh-mlm-small at the end of session 34 until avg-mlm28-mlm29 replaced it (item 19w).
    mlm_average avg-mlm27-mlm28 avg-mlm11to13-mlm27 mlm28-anchored3
    ;;
  mlm29-bare)
    # Stage mlm28-anchored3's command from the shipped avg-mlm27-mlm28 for 85 minutes (seed
    # 2929), with half of the training lines packed without their sentence-final marks
    # (--bare-end 0.5), as fill-mask texts are usually typed (training/README.md, item 19w).
    anchored_lists_continue mlm29-bare avg-mlm27-mlm28 avg-mlm27-mlm28 2929 85 3 --bare-end 0.5
    ;;
  avg-mlm28-mlm29)
    # The mean of avg-mlm27-mlm28 and stage mlm29-bare (item 19w): zh-mlm-small in sessions 35-36.
    mlm_average avg-mlm28-mlm29 avg-mlm27-mlm28 mlm29-bare
    ;;
  mlm30-bare2)
    # Stage mlm29-bare's command from avg-mlm28-mlm29, anchored to it, 25 minutes, seed 3030
    # (training/README.md, item 19x). Not shipped (上 / 好 / 途 2 / 2 / 1), nor is
    # avg-mlm29-mlm30 (2 / 1 / 1, idiom cloze +2.3 points: no gain the rule counts).
    anchored_lists_continue mlm30-bare2 avg-mlm28-mlm29 avg-mlm28-mlm29 3030 25 3 --bare-end 0.5
    ;;
  avg-mlm29-mlm30)
    # The mean of avg-mlm28-mlm29 and stage mlm30-bare2 (item 19x).
    mlm_average avg-mlm29-mlm30 avg-mlm28-mlm29 mlm30-bare2
    ;;
  mlm31-bare3)
    # Stage mlm30-bare2's command from avg-mlm29-mlm30 (its mean with the shipped model: same
    # demo ranks, higher held-out top-5 and idiom cloze), anchored to it, with three quarters of
    # the lines bare (--bare-end 0.75), 90 minutes, seed 3131 (training/README.md, item 19y).
    # Not shipped, nor is avg-mlm30-mlm31: both answer 上 first but 好 behind 正 (1 / 2 / 1).
    anchored_lists_continue mlm31-bare3 avg-mlm29-mlm30 avg-mlm29-mlm30 3131 90 3 --bare-end 0.75
    ;;
  avg-mlm30-mlm31)
    # The mean of avg-mlm29-mlm30 and stage mlm31-bare3 (item 19y).
    mlm_average avg-mlm30-mlm31 avg-mlm29-mlm30 mlm31-bare3
    ;;
  mlm32-reanchor)
    # Stage mlm31-bare3's command from mlm31-bare3 (上 and 途 first, 好 behind 正), anchored
    # twice as strongly to the then shipped avg-mlm28-mlm29 (好 first) instead of its start, 25
    # minutes, seed 3232 (training/README.md, item 19z). Not shipped (1 / 2 / 1), nor is
    # avg-mlm29-mlm32 (2 / 2 / 1).
    anchored_lists_continue mlm32-reanchor mlm31-bare3 avg-mlm28-mlm29 3232 25 6 --bare-end 0.75
    ;;
  avg-mlm29-mlm32)
    # The mean of the then shipped avg-mlm28-mlm29 and stage mlm32-reanchor (item 19z).
    mlm_average avg-mlm29-mlm32 avg-mlm28-mlm29 mlm32-reanchor
    ;;
  mlm33-short)
    # Stage mlm31-bare3's command from the then shipped avg-mlm28-mlm29 (import-avg-mlm28-mlm29),
    # anchored to it, 30 minutes instead of 90, seed 3333 (training/README.md, item 19aa): that
    # stage's snapshots answered all three demos first up to step ~1,200. Not shipped (2 / 2 /
    # 1), nor is avg-mlm29-mlm33 (2 / 2 / 1).
    anchored_lists_continue mlm33-short avg-mlm28-mlm29 avg-mlm28-mlm29 3333 30 3 --bare-end 0.75
    ;;
  avg-mlm29-mlm33)
    # The mean of the then shipped avg-mlm28-mlm29 and stage mlm33-short (item 19aa).
    mlm_average avg-mlm29-mlm33 avg-mlm28-mlm29 mlm33-short
    ;;
  mlm34-lone)
    # Stage mlm33-short's command with a quarter of each batch's rows one line alone, padded
    # (--lone-lines 0.25, free of the anchor), as fill-mask texts come: from the then shipped
    # avg-mlm28-mlm29, 60 minutes, seed 3434 (training/README.md, item 19ab). Shipped as
    # zh-mlm-small in session 37: the first model to answer all three demos first.
    anchored_lists_continue mlm34-lone avg-mlm28-mlm29 avg-mlm28-mlm29 3434 60 3 --bare-end 0.75 \
      --lone-lines 0.25
    ;;
  avg-mlm29-mlm34)
    # The mean of avg-mlm28-mlm29 and stage mlm34-lone (item 19ab). Not shipped: it passes the
    # rule's (a)-(c) too, but answers 上 / 好 / 途 2 / 1 / 1, and mlm34-lone won the tie-break.
    mlm_average avg-mlm29-mlm34 avg-mlm28-mlm29 mlm34-lone
    ;;
  avg-mlm11-mlm12)
    # The mean of stages mlm11's and mlm12's final weights (mlm_average); shipped as zh-mlm-small
    # in session 21 (commit 5f3e8b0; training/README.md, item 19f).
    mlm_average avg-mlm11-mlm12 mlm11 mlm12
    ;;
  avg-mlm11-mlm13)
    # The mean of stages mlm11's, mlm12's and mlm13's final weights (mlm_average); shipped as
    # zh-mlm-small since session 22 (training/README.md, item 19g).
    mlm_average avg-mlm11-mlm13 mlm11 mlm12 mlm13
    ;;
  ner10)
    # Not shipped (not in the default STAGES): ner9's command from stage mlm10's encoder
    # (sessions 13-15, 223 minutes of training time). Dev F1 in tanzhen 91.79 against ner9's
    # 92.00, so zh-ner-small stayed ner9.
    ner_from ner10-mlm10 mlm10 --epochs 19
    ;;
  ner11)
    # Shipped as zh-ner-small (session 17): as ner10 with another seed (data order, head
    # initialisation and dropout; a later --seed overrides ner_from's) and 22 epochs. Rerun the
    # same command to resume.
    ner_from ner11-mlm10 mlm10 --epochs 22 --seed 29
    ;;
  ner9)
    # NER from stage mlm9's encoder over 19 epochs (see ner_from). Run in sessions 11-12 on an
    # AVX2-only CPU, F32, both cores: 14,288 steps, 215 minutes of training time. Shipped as
    # zh-ner-small (dev F1 92.00 in tanzhen with constrained decoding, 91.87 without; ner6 had
    # 91.33 in training).
    ner_from ner9-mlm9 mlm9 --epochs 19
    ;;
  export)
    # NER: 128 positions. MSRA sentences have at most 126 characters, so fine-tuning trained no
    # position past that; tanzhen cuts longer texts into 128-token windows, each token labelled
    # from the window where it is most central.
    $PY training/export_hf.py --kind ner --checkpoint training/runs/ner11-mlm10/checkpoint.pt --out models/zh-ner-small --max-positions 128
    $PY training/export_hf.py --kind mlm --checkpoint training/runs/$SHIPPED_MLM/checkpoint.pt --out models/zh-mlm-small --max-positions 256
    ;;
  *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
