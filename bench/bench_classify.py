"""Benchmark the command model.

1. In-process throughput of `classify` over the golden table (lines/s on one core; goal >= 20,000).
2. Cold `vsh classify` wall time: median of >= 20 runs of the installed `vsh` entry point as a
   subprocess (goal <= 120 ms), with a bare `python -c pass` measured in the same run as baseline.

Run: python bench/bench_classify.py [--runs N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "data" / "golden_commands.jsonl"


def throughput(lines: list[str], seconds: float) -> tuple[float, float]:
    """(lines per wall-clock second, lines per CPU second of this process)."""
    from vshell.classify import classify

    for line in lines:  # warm-up: parser creation, lazy imports
        classify(line)
    n = 0
    start = time.perf_counter()
    cpu = time.process_time()
    while True:
        for line in lines:
            classify(line)
        n += len(lines)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed, n / max(time.process_time() - cpu, 1e-9)


def shlex_baseline(lines: list[str], seconds: float) -> float:
    """Lines per second of `shlex.split` (pure Python, no shell semantics) over the same lines: a
    yardstick for this machine's speed, measured in the same run."""
    import shlex

    n = 0
    start = time.perf_counter()
    while True:
        for line in lines:
            try:
                shlex.split(line)
            except ValueError:
                pass
        n += len(lines)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def cold_times(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    subprocess.run(argv, env=env, capture_output=True, check=False)  # writes bytecode caches once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=25)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()

    lines = [json.loads(x)["line"] for x in GOLDEN.read_text().splitlines() if x.strip()]
    rate, cpu_rate = throughput(lines, args.seconds)
    print(f"classify throughput: {rate:,.0f} lines/s wall, {cpu_rate:,.0f} lines per CPU second, "
          f"over {len(lines)} golden lines (goal >= 20,000)")
    base_rate = shlex_baseline(lines, min(args.seconds, 2.0))
    print(f"shlex.split:         {base_rate:,.0f} lines/s (baseline, same run); "
          f"classify is {rate / base_rate:.2f}x shlex.split")

    vsh = shutil.which("vsh", path=str(Path(sys.executable).parent)) or shutil.which("vsh")
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["VSH_HOME"] = home
        base = cold_times([sys.executable, "-c", "pass"], args.runs, env)
        print(f"python -c pass:      median {statistics.median(base) * 1000:.0f} ms (baseline, same run)")
        if vsh is None:
            print("vsh entry point not found: install with pip install -e .")
            return 1
        argv = [vsh, "classify", "--json", "--", "git status && rm -rf build"]
        config = Path(home) / "config.toml"
        config.write_text("[sandbox]\nwarm_server = false\n")  # every call decides in-process
        cold = cold_times(argv, args.runs, env)
        med = statistics.median(cold)
        print(f"cold vsh classify:   median {med * 1000:.0f} ms over {args.runs} runs, in-process "
              f"(min {min(cold) * 1000:.0f} ms; goal <= 120 ms; {med / statistics.median(base):.1f}x bare python)")
        config.write_text("")
        if start_warm_server(argv, env, Path(home)):
            warm = cold_times(argv, args.runs, env)
            print(f"warm vsh classify:   median {statistics.median(warm) * 1000:.0f} ms (answered by the warm "
                  f"server, as every call after the first is; min {min(warm) * 1000:.0f} ms)")
        else:
            print("warm server did not start: warm figure skipped")
    return 0


def start_warm_server(argv: list[str], env: dict[str, str], home: Path) -> bool:
    """Call until the server's socket appears: a call starts the server in the background, at most
    once per 10 s (the in-process calls before may just have tried, with the server switched off)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if (home / "run" / "warm.sock").exists():
            return True
        subprocess.run(argv, env=env, capture_output=True, check=False)
        time.sleep(0.5)
    return False


if __name__ == "__main__":
    sys.exit(main())
