#!/usr/bin/env bash
# Entity F1 of one NER model at each encoder precision on one labelled set, and the INT8 / BF16
# differences from FP32 (the speed issue's accuracy check: |ΔF1| <= 0.3 points).
#
#   bench/dtype_f1.sh [MODEL_DIR] [DATA.jsonl]
#
# Defaults: the shipped models/zh-ner-small and the MSRA dev split it was never trained on
# (training/write_dev_split.py writes it). TANZHEN=path/to/tanzhen picks the binary
# (default build/tanzhen).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="${1:-$REPO/models/zh-ner-small}"
DATA="${2:-}"
TANZHEN="${TANZHEN:-$REPO/build/tanzhen}"
PYTHON="${PYTHON:-python3}"
if [ -z "$DATA" ]; then
  DATA="$(mktemp --suffix=.jsonl)"
  trap 'rm -f "$DATA"' EXIT
  "$PYTHON" "$REPO/training/write_dev_split.py" "$DATA" >&2
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"; [ -z "${2:-}" ] && rm -f "$DATA"' EXIT
for dtype in fp32 bf16 int8; do
  # A precision this CPU cannot run (bf16 without AVX-512) is refused with a one-line error:
  # report it and go on with the others.
  if ! "$TANZHEN" eval -m "$MODEL" -d "$DATA" --dtype "$dtype" --json > "$OUT/$dtype.json" 2> "$OUT/$dtype.err"; then
    [ "$dtype" = fp32 ] && { cat "$OUT/$dtype.err" >&2; exit 1; }
    echo "$dtype: not run: $(cat "$OUT/$dtype.err")" >&2
    rm -f "$OUT/$dtype.json"
  fi
done
"$PYTHON" - "$OUT" "$MODEL" "$DATA" <<'PY'
import json, os, sys
out, model, data = sys.argv[1:4]
r = {d: json.load(open(os.path.join(out, f"{d}.json"))) for d in ("fp32", "bf16", "int8")
     if os.path.exists(os.path.join(out, f"{d}.json"))}
types = sorted(r["fp32"]["per_type"])
print(f"model {model}\ndata {data} ({r['fp32']['sentences']} sentences)\n")
print("| dtype | P | R | F1 | ΔF1 vs fp32 | " + " | ".join(f"{t} F1" for t in types) + " | sentences/s |")
print("|---|---:|---:|---:|---:|" + "---:|" * len(types) + "---:|")
base = 100 * r["fp32"]["overall"]["f1"]
for d in r:
    o = r[d]["overall"]
    f1 = 100 * o["f1"]
    per = " | ".join(f"{100 * r[d]['per_type'][t]['f1']:.2f}" for t in types)
    sps = r[d].get("throughput", {}).get("sentences_per_s")
    print(f"| {d} | {100 * o['precision']:.2f} | {100 * o['recall']:.2f} | {f1:.2f} | "
          f"{f1 - base:+.2f} | {per} | {sps if sps is None else f'{sps:.0f}'} |")
PY
