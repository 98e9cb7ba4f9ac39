#!/usr/bin/env bash
# ONNX Runtime vs tanzhen on the same BERT-base-shaped checkpoint and shapes, in one run.
#
#   bench/compare_ort.sh                      # BERT-base NER, 2 threads, 1x32,1x128,1x302,8x32,8x128
#   THREADS=1 SHAPES=1x128 ITERS=50 bench/compare_ort.sh
#
# Environment (all optional):
#   THREADS=2  SHAPES=1x32,1x128,1x302,8x32,8x128  ITERS=20  WARMUP=3
#   ROUNDS=1                      repeat the whole set of runs (ORT and tanzhen alternate) and keep,
#                                 per engine and shape, the lowest median: on a shared machine a
#                                 burst of someone else's work then spoils one round, not the table
#   PEER_DIR=/tmp/peer            copy of ../shared/peer with node_modules (made if missing)
#   MODEL_DIR=/tmp/bert-base-ner  random BERT-base checkpoint, HF layout (made if missing)
#   ONNX=$MODEL_DIR.onnx  ONNX_INT8=$MODEL_DIR-int8.onnx   exports of it (made if missing)
#   TANZHEN=path/to/tanzhen       binary to time (default: build one in build-bench/)
#   SHARED=<repo>/../shared       the shared folder (peer/, vocab/)
#   PYTHON=/usr/bin/python3       a Python with torch + onnx (Debian's python3-torch, python3-onnx)
# Every setup step is skipped when its output is already there, so re-runs only measure.
# Prints the raw timings, then a table of median ms and ratios ORT ms / tanzhen ms (> 1: tanzhen
# is faster).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
THREADS="${THREADS:-2}"
SHAPES="${SHAPES:-1x32,1x128,1x302,8x32,8x128}"
ITERS="${ITERS:-20}"
ROUNDS="${ROUNDS:-1}"
WARMUP="${WARMUP:-3}"
SHARED="${SHARED:-$REPO/../shared}"
PEER_DIR="${PEER_DIR:-/tmp/peer}"
MODEL_DIR="${MODEL_DIR:-/tmp/bert-base-ner}"
ONNX="${ONNX:-$MODEL_DIR.onnx}"
ONNX_INT8="${ONNX_INT8:-$MODEL_DIR-int8.onnx}"
PYTHON="${PYTHON:-/usr/bin/python3}"   # pyenv's python3 on PATH has no torch
# Debian's OpenBLAS is used by torch for the export only.
. "$REPO/training/openblas_env.sh"

say() { echo "== $*" >&2; }
die() { echo "compare_ort.sh: $*" >&2; exit 1; }

# --- setup (each step guarded) ----------------------------------------------------------------
command -v node >/dev/null || die "node is required (apt-get install -y nodejs npm)"
"$PYTHON" -c 'import torch, onnx' 2>/dev/null ||
  die "$PYTHON lacks torch/onnx: apt-get install -y python3-torch python3-onnx libopenblas0-pthread"
[ -d "$SHARED/peer" ] || die "no $SHARED/peer (set SHARED=)"

if [ ! -d "$PEER_DIR/node_modules/onnxruntime-node" ]; then
  say "setting up ONNX Runtime in $PEER_DIR"
  mkdir -p "$PEER_DIR"
  cp -r "$SHARED/peer/." "$PEER_DIR/"
  # --ignore-scripts: skips onnxruntime-node's CUDA download; the CPU library ships in the package.
  (cd "$PEER_DIR" && npm install --ignore-scripts --no-audit --no-fund >&2)
fi
# The peer scripts may be newer in shared/ than in an old copy.
for f in bert_torch.py ort_bench.mjs quantize_dynamic.py; do
  cmp -s "$SHARED/peer/$f" "$PEER_DIR/$f" || cp "$SHARED/peer/$f" "$PEER_DIR/$f"
done

if [ ! -f "$MODEL_DIR/model.safetensors" ] || [ ! -f "$MODEL_DIR/config.json" ]; then
  say "making a random BERT-base NER checkpoint in $MODEL_DIR"
  "$PYTHON" "$PEER_DIR/bert_torch.py" random-hf "$MODEL_DIR" ner --vocab "$SHARED/vocab/bert-base-chinese" >&2
  rm -f "$ONNX" "$ONNX_INT8"   # new weights: old exports no longer match
fi
# A checkpoint made with a bert_torch.py that could not find the vocabulary lacks these files.
for f in vocab.txt tokenizer.json tokenizer_config.json; do
  [ -f "$MODEL_DIR/$f" ] || cp "$SHARED/vocab/bert-base-chinese/$f" "$MODEL_DIR/"
done
if [ ! -f "$ONNX" ]; then
  say "exporting $ONNX"
  "$PYTHON" "$PEER_DIR/bert_torch.py" export "$MODEL_DIR" ner "$ONNX" >&2
fi
if [ ! -f "$ONNX_INT8" ]; then
  say "quantizing $ONNX_INT8"
  "$PYTHON" "$PEER_DIR/quantize_dynamic.py" "$ONNX" "$ONNX_INT8" >&2
fi

if [ -z "${TANZHEN:-}" ]; then
  say "building tanzhen in $REPO/build-bench"
  cmake -S "$REPO" -B "$REPO/build-bench" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build "$REPO/build-bench" -j"$(nproc)" --target tanzhen >&2
  TANZHEN="$REPO/build-bench/tanzhen"
fi
[ -x "$TANZHEN" ] || die "no tanzhen binary at $TANZHEN"

# --- measure ------------------------------------------------------------------------------------
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
PEAK=""   # measured by the first tanzhen run, then passed on so that every row uses the same peak
for round in $(seq 1 "$ROUNDS"); do
  say "round $round of $ROUNDS: ONNX Runtime FP32 ($THREADS threads)"
  node "$PEER_DIR/ort_bench.mjs" "$ONNX" "$THREADS" "$SHAPES" "$ITERS" | tee -a "$OUT/ort_fp32.txt" >&2
  say "round $round of $ROUNDS: ONNX Runtime INT8 ($THREADS threads)"
  node "$PEER_DIR/ort_bench.mjs" "$ONNX_INT8" "$THREADS" "$SHAPES" "$ITERS" | tee -a "$OUT/ort_int8.txt" >&2
  for dtype in fp32 bf16 int8; do
    say "round $round of $ROUNDS: tanzhen $dtype ($THREADS threads)"
    if "$TANZHEN" bench -m "$MODEL_DIR" --dtype "$dtype" --shape "$SHAPES" --threads "$THREADS" \
        --iters "$ITERS" --warmup "$WARMUP" ${PEAK:+--gemm-peak "$PEAK"} --json > "$OUT/run.jsonl" 2> "$OUT/run.err"; then
      cat "$OUT/run.jsonl" | tee -a "$OUT/tz_$dtype.jsonl" >&2
      [ -n "$PEAK" ] || PEAK="$("$PYTHON" -c 'import json,sys; print(json.loads(sys.stdin.readline())["peak_gflops"])' < "$OUT/run.jsonl")"
    else
      cat "$OUT/run.err" >&2   # e.g. a dtype this build does not support
    fi
  done
done

# --- table --------------------------------------------------------------------------------------
"$PYTHON" - "$OUT" "$SHAPES" "$THREADS" "$ROUNDS" <<'EOF'
import json, os, re, sys
out, shapes, threads = sys.argv[1], sys.argv[2].split(","), sys.argv[3]

# Per shape, the lowest median over the rounds.
def ort(name):
    ms = {}
    for line in open(os.path.join(out, name)):
        m = re.search(r"B=(\d+) L=(\d+) median_ms=([\d.]+)", line)
        if m: ms[f"{m[1]}x{m[2]}"] = min(float(m[3]), ms.get(f"{m[1]}x{m[2]}", float("inf")))
    return ms

def tz(dtype):
    path = os.path.join(out, f"tz_{dtype}.jsonl")
    if not os.path.exists(path): return {}
    best = {}
    for r in (json.loads(l) for l in open(path) if l.strip()):
        s = f"{r['batch']}x{r['length']}"
        if s not in best or r["median_ms"] < best[s]["median_ms"]: best[s] = r
    return best

o32, o8 = ort("ort_fp32.txt"), ort("ort_int8.txt")
t = {d: tz(d) for d in ("fp32", "bf16", "int8")}
cols = ["shape", "ORT fp32 ms", "tanzhen fp32 ms", "ratio fp32", "tanzhen GFLOP/s", "% GEMM peak",
        "ORT int8 ms"]
extra = [d for d in ("bf16", "int8") if t[d]]
for d in extra: cols += [f"tanzhen {d} ms", f"ratio ORT {'fp32' if d == 'bf16' else 'int8'}/{d}"]
rounds = sys.argv[4]
print(f"\nmedian ms per call, {threads} threads, best of {rounds} round(s) "
      "(ratio = ORT ms / tanzhen ms; > 1: tanzhen faster)\n")
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
f = lambda x, p=1: "n/a" if x is None else f"{x:.{p}f}"
for s in shapes:
    r = t["fp32"].get(s)
    a, b = o32.get(s), r["median_ms"] if r else None
    row = [s, f(a), f(b), f(a / b if a and b else None, 2), f(r["gflops"] if r else None),
           f(r["pct_of_peak"] if r else None), f(o8.get(s))]
    for d in extra:
        x = t[d].get(s, {}).get("median_ms")
        ref = o32.get(s) if d == "bf16" else o8.get(s)
        row += [f(x), f(ref / x if ref and x else None, 2)]
    print("| " + " | ".join(row) + " |")
if t["fp32"]:
    print(f"\nGEMM peak: {next(iter(t['fp32'].values()))['peak_gflops']:.1f} GFLOP/s "
          "(oneDNN sgemm M=256 K=768 N=3072, same threads)")
EOF
