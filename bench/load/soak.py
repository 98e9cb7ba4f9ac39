#!/usr/bin/env python3
"""Memory soak and cold start of `tanzhen serve`: one NER model, served alone, under wrk load for
--minutes, its resident memory (VmRSS) sampled every --interval seconds.

Reports the cold start (from exec to the "listening on" line, which the server prints once its
models are loaded and it accepts requests), the RSS when ready, after the first minute of load
(allocators and caches warmed up), at its maximum and at the end, the drift from the first
minute to the end, and the QPS / latency of the run.

Usage: bench/load/soak.py --model DIR [--dtype fp32|bf16|int8] [--minutes 10] [--concurrency 4]
                          [--threads 2] [--interval 15] [--build DIR] [--json-out FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import HERE, ROOT, rss_mib, start_server, write_bodies  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="NER model folder")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "int8"])
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--threads", type=int, default=2, help="tanzhen serve --threads")
    p.add_argument("--interval", type=float, default=15, help="seconds between RSS samples")
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--json-out", help="also write the summary and samples here")
    a = p.parse_args()
    shared = os.environ.get("TANZHEN_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
    binary = os.path.join(a.build, "tanzhen")

    with tempfile.TemporaryDirectory() as tmp:
        bodies = os.path.join(tmp, "bodies.lua")
        write_bodies(shared, bodies, "ner")
        # No default models in reach: the server runs the one NER model and nothing else.
        env = dict(os.environ, TANZHEN_MODELS=os.path.join(tmp, "no-models"))
        with open(os.path.join(tmp, "server.log"), "w") as log:
            t0 = time.monotonic()
            proc, url = start_server(binary, "ner", a.model, a.threads, True, log,
                                     extra=["--dtype", a.dtype], env=env)
            cold_start = time.monotonic() - t0
            rss_ready = rss_mib(proc.pid)
            duration = int(a.minutes * 60)
            wrk = subprocess.Popen(
                ["wrk", "-t2", f"-c{a.concurrency}", f"-d{duration}s", "--timeout", "10s",
                 "-s", os.path.join(HERE, "ner.lua"), url],
                env=dict(os.environ, BODIES=bodies, ROUTE="/v1/ner"), stdout=subprocess.PIPE, text=True)
            out = []
            reader = threading.Thread(target=lambda: out.append(wrk.stdout.read()))
            reader.start()
            samples = []
            start = time.monotonic()
            while wrk.poll() is None:
                samples.append((round(time.monotonic() - start, 1), rss_mib(proc.pid)))
                print(f"t={samples[-1][0]:6.1f}s RSS {samples[-1][1]:.1f} MiB", flush=True)
                time.sleep(a.interval)
            reader.join()
            samples.append((round(time.monotonic() - start, 1), rss_mib(proc.pid)))
            proc.terminate()
            proc.wait(timeout=60)

    result = None
    for line in out[0].splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if result is None:
        raise SystemExit("wrk gave no RESULT line:\n" + out[0])
    after_minute = next((r for t, r in samples if t >= 60), samples[-1][1])
    errors = sum(result[k] for k in result if k.startswith("errors_"))
    summary = {
        "model": os.path.basename(os.path.normpath(a.model)), "dtype": a.dtype,
        "minutes": a.minutes, "concurrency": a.concurrency, "threads": a.threads,
        "cold_start_s": round(cold_start, 3), "rss_ready_mib": round(rss_ready, 1),
        "rss_after_1min_mib": round(after_minute, 1), "rss_max_mib": round(max(r for _, r in samples), 1),
        "rss_end_mib": round(samples[-1][1], 1), "drift_after_1min_mib": round(samples[-1][1] - after_minute, 1),
        "requests": result["requests"], "errors": errors,
        "qps": round(result["requests"] / (result["duration_us"] / 1e6), 1),
        "p50_ms": result["p50_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
    }
    print("SUMMARY " + json.dumps(summary))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump({"summary": summary, "samples": samples}, f, indent=1)


if __name__ == "__main__":
    main()
