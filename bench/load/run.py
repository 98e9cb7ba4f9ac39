#!/usr/bin/env python3
"""Server load benchmark: POST /v1/ner and /v1/fill-mask under 1/4/8/16 concurrent keep-alive
connections (wrk with ner.lua), with and without dynamic batching. Reports QPS, p50/p95/p99
latency, errors, the mean batch size (from /metrics) and the server's RSS before and after, and
writes them into the "Server load" section of bench/README.md.

Usage: bench/load/run.py [--build DIR] [--tasks ner fill-mask] [--ner-model DIR]
                         [--fill-mask-model DIR] [--duration S] [--concurrency 1 4 8 16]
                         [--threads N] [--no-readme]
Models: models/zh-ner-small and models/zh-mlm-small when present, else the reference tiny models.
The result cache is off (--cache-size-mb 0) so that every request runs the model; each request
sends another reference sentence (MSRA / CLUENER; for fill-mask with its middle character
masked), so batches mix lengths as real traffic does.
"""
import argparse
import datetime
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def metric(text, series):
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def write_bodies(shared, path, task):
    """A Lua table of request bodies, one per reference sentence."""
    bodies = []
    with open(os.path.join(shared, "reference", "texts.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            text = r["text"]
            if r["source"] == "edge" or not text.strip():
                continue
            if task == "fill-mask":
                mid = len(text) // 2
                text = text[:mid] + "[MASK]" + text[mid + 1:]
            bodies.append(json.dumps({"text": text}, ensure_ascii=False))
    with open(path, "w", encoding="utf-8") as f:
        f.write("return {\n")
        for b in bodies:
            f.write("  [==[" + b + "]==],\n")
        f.write("}\n")
    return bodies


def start_server(binary, task, model, threads, batching, log, extra=(), env=None):
    args = [binary, "serve", "--port", "0", "--" + task, model, "--cache-size-mb", "0", "--log-level", "warn",
            "--threads", str(threads), "--io-threads", "2", "--queue-size", "4096", *extra]
    if not batching:
        args.append("--no-batching")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    line = proc.stdout.readline()
    m = re.search(r"listening on (http://\S+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, m.group(1)


def run_wrk(url, concurrency, duration, bodies_path, route):
    env = dict(os.environ, BODIES=bodies_path, ROUTE=route)
    threads = 1 if concurrency < 4 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration}s", "--timeout", "10s",
           "-s", os.path.join(HERE, "ner.lua"), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    m = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if not m:
        raise SystemExit("wrk gave no RESULT line:\n" + out)
    return json.loads(m.group(1))


def bench_mode(args, task, model, batching, bodies_path, log):
    proc, url = start_server(args.binary, task, model, args.threads, batching, log)
    route = "/v1/" + task
    label = "ner" if task == "ner" else "fill_mask"
    rows = []
    try:
        rss_start = rss_mib(proc.pid)
        run_wrk(url, 4, 2, bodies_path, route)  # warm-up: first-touch allocations, caches
        for c in args.concurrency:
            before = urllib.request.urlopen(url + "/metrics").read().decode()
            rss_before = rss_mib(proc.pid)
            r = run_wrk(url, c, args.duration, bodies_path, route)
            after = urllib.request.urlopen(url + "/metrics").read().decode()
            count, total = f'tanzhen_batch_size_count{{task="{label}"}}', f'tanzhen_batch_size_sum{{task="{label}"}}'
            batches = metric(after, count) - metric(before, count)
            texts = metric(after, total) - metric(before, total)
            errors = r["errors_connect"] + r["errors_read"] + r["errors_write"] + r["errors_status"] + r["errors_timeout"]
            rows.append({
                "task": task, "model": os.path.basename(os.path.normpath(model)),
                "mode": "batching" if batching else "no batching",
                "concurrency": c,
                "qps": r["requests"] / (r["duration_us"] / 1e6),
                "p50": r["p50_us"] / 1000, "p95": r["p95_us"] / 1000, "p99": r["p99_us"] / 1000,
                "errors": errors, "requests": r["requests"],
                "mean_batch": texts / batches if batches else 0,
                "rss_before": rss_before, "rss_after": rss_mib(proc.pid), "rss_start": rss_start,
            })
            print(f"{task:9} {rows[-1]['mode']:12} c={c:<3} {rows[-1]['qps']:8.1f} req/s  p50 {rows[-1]['p50']:.2f} ms  "
                  f"p95 {rows[-1]['p95']:.2f}  p99 {rows[-1]['p99']:.2f}  errors {errors}  "
                  f"batch {rows[-1]['mean_batch']:.2f}  RSS {rows[-1]['rss_before']:.1f}->{rows[-1]['rss_after']:.1f} MiB",
                  flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        if code != 0:
            print(f"warning: server exited with {code}", file=sys.stderr)
    return rows


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def markdown(rows, args, command):
    lines = [
        "## Server load",
        "",
        "`tanzhen serve` under [wrk](https://github.com/wg/wrk) with `bench/load/ner.lua`: keep-alive "
        "connections, each request another MSRA / CLUENER reference sentence (10-60 characters; for "
        "fill-mask with its middle character replaced by `[MASK]`), result cache off so that every "
        "request runs the model. QPS = completed requests per second; latencies per request, client "
        "side; mean batch = texts per model call (from `/metrics`); RSS = the server's resident "
        "memory before and after each level; errors = connection errors, timeouts and non-2xx answers.",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores shared by wrk and the server; `--threads "
        f"{args.threads}` (model compute threads), `--io-threads 2`, default `--max-wait-ms 2`; "
        f"{args.duration} s per level; {datetime.date.today().isoformat()}; 1-minute load average "
        f"{args.loadavg_start:.1f} at the start (other work on the machine makes the numbers noisy).",
    ]
    for task in dict.fromkeys(r["task"] for r in rows):
        task_rows = [r for r in rows if r["task"] == task]
        lines += [
            "",
            f"`POST /v1/{task}`, model `{task_rows[0]['model']}`:",
            "",
            "| mode | connections | QPS | p50 ms | p95 ms | p99 ms | errors | mean batch | RSS before → after (MiB) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in task_rows:
            lines.append(f"| {r['mode']} | {r['concurrency']} | {r['qps']:.0f} | {r['p50']:.2f} | {r['p95']:.2f} | "
                         f"{r['p99']:.2f} | {r['errors']} | {r['mean_batch']:.2f} | "
                         f"{r['rss_before']:.1f} → {r['rss_after']:.1f} |")
    return "\n".join(lines) + "\n"


def update_readme(section):
    path = os.path.join(ROOT, "bench", "README.md")
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmarks\n"
    start = text.find("## Server load")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + 1)
        text = text[:start] + section + ("" if nxt < 0 else "\n" + text[nxt + 1:])
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote the Server load section of", path)


def default_model(shared, ours, reference):
    path = os.path.join(ROOT, "models", ours)
    return path if os.path.isdir(path) else os.path.join(shared, "reference", "models", reference)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"), help="build folder holding tanzhen")
    p.add_argument("--tasks", nargs="+", choices=["ner", "fill-mask"], default=["ner", "fill-mask"])
    p.add_argument("--ner-model", help="NER model folder")
    p.add_argument("--fill-mask-model", help="fill-mask model folder")
    p.add_argument("--duration", type=int, default=10, help="seconds per concurrency level")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8, 16])
    p.add_argument("--threads", type=int, default=1, help="model compute threads (tanzhen serve --threads)")
    p.add_argument("--no-readme", action="store_true", help="print only; leave bench/README.md alone")
    args = p.parse_args()
    shared = os.environ.get("TANZHEN_SHARED_DIR", os.path.join(ROOT, "..", "shared"))
    models = {
        "ner": args.ner_model or default_model(shared, "zh-ner-small", "tiny-bert-ner"),
        "fill-mask": args.fill_mask_model or default_model(shared, "zh-mlm-small", "tiny-bert-mlm"),
    }
    args.binary = os.path.join(args.build, "tanzhen")
    args.loadavg_start = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "server.log"), "w") as log:
            for task in args.tasks:
                bodies_path = os.path.join(tmp, f"bodies-{task}.lua")
                write_bodies(shared, bodies_path, task)
                for batching in (True, False):
                    rows += bench_mode(args, task, models[task], batching, bodies_path, log)
    command = "bench/load/run.py " + " ".join(sys.argv[1:]) if len(sys.argv) > 1 else "bench/load/run.py"
    section = markdown(rows, args, command)
    print(section)
    if not args.no_readme:
        update_readme(section)


if __name__ == "__main__":
    main()
