"""Writes the fixed MSRA dev split (ner_data.load_split's rule: line i of
/work/shared/data/msra/train.jsonl with i % 20 == 0) as JSONL, exactly as the lines are in
the shared file, so that `tanzhen eval -d` scores the same sentences as finetune_ner.py.

  write_dev_split.py OUT.jsonl
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import MSRA_TRAIN, NER_DEV_EVERY  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    n = 0
    with open(MSRA_TRAIN, encoding="utf-8") as src, open(sys.argv[1], "w", encoding="utf-8") as out:
        for i, line in enumerate(src):
            if i % NER_DEV_EVERY == 0:
                out.write(line if line.endswith("\n") else line + "\n")
                n += 1
    print(f"wrote {sys.argv[1]}: {n} sentences")


if __name__ == "__main__":
    main()
