#!/usr/bin/env python3
"""Cold start of `tanzhen serve`: from exec to the "listening on" line (printed once the models
are loaded and requests are accepted) and to the first NER answer, over --runs fresh starts.

Usage: bench/load/cold_start.py --model DIR [--runs 5] [--threads 2] [--build DIR]
(the page cache is warm after the first run: these are restarts of a deployed service, not
the first read of the file from disk)
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, start_server  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="NER model folder")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    a = p.parse_args()
    binary = os.path.join(a.build, "tanzhen")
    ready, answered = [], []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, TANZHEN_MODELS=os.path.join(tmp, "no-models"))
        for _ in range(a.runs):
            with open(os.path.join(tmp, "server.log"), "w") as log:
                t0 = time.monotonic()
                proc, url = start_server(binary, "ner", a.model, a.threads, True, log, env=env)
                ready.append(time.monotonic() - t0)
                req = urllib.request.Request(url + "/v1/ner", data=json.dumps(
                    {"text": "江泽民主席今天在北京会见了美国总统克林顿。"}).encode(),
                    headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=30).read()
                answered.append(time.monotonic() - t0)
                proc.terminate()
                proc.wait()
    f = lambda xs: f"min {min(xs):.3f} s, median {statistics.median(xs):.3f} s"
    print(f"{a.model}: ready {f(ready)}; first answer {f(answered)} ({a.runs} runs)")
    print("SUMMARY " + json.dumps({"model": a.model, "runs": a.runs, "ready_s": ready,
                                   "first_answer_s": answered}))


if __name__ == "__main__":
    main()
