"""Benchmark: one decision with 10,000 stored rules (goal <= 1 ms) and a cold `vsh check` (goal <= 150 ms).

Run:  /work/venv311/bin/python bench/bench_decide.py [--rules 10000] [--runs 300] [--cold 15]

Prints medians and ratios against baselines measured in the same run:
- decision = RuleStore.candidates (indexed SQL over the 10,000 rules) + decide(), the classification
  prepared once; baseline = decide() over all 10,000 rules held in memory (no database);
- cold `vsh check` subprocess; baseline = `python -c pass` and `python -m vshell --help`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vshell.config import Tolerance
from vshell.decide import decide
from vshell.model import Action, Classification, Risk
from vshell.rules import RuleStore
from vshell.state import StatePaths

LINE = "git push origin main"
PROGRAMS = ["git", "npm", "make", "cargo", "docker", "kubectl", "python3", "pip", "ls", "cat", "rm", "curl"]


def classification() -> Classification:
    try:
        from vshell.classify import classify
    except ImportError:
        words = tuple(LINE.split())
        a = Action(argv=words, program="git", key="git push", words=words, risk=Risk.MEDIUM, reasons=())
        return Classification(LINE, True, Risk.MEDIUM, (a,), (LINE, "git push origin *", "git push *"))
    return classify(LINE)


def populate(store: RuleStore, n: int) -> None:
    rules = []
    for i in range(n):
        prog = PROGRAMS[i % len(PROGRAMS)] if i % 10 == 0 else f"tool{i}"
        kind = i % 4
        pattern = (f"{prog} sub{i} *" if kind == 0 else f"{prog} sub{i} arg{i}" if kind == 1
                   else f"{prog} sub{i} && {prog} other{i}" if kind == 2 else f"* --flag{i}")
        rules.append({"tool": "bash", "pattern": pattern, "decision": ("allow", "ask", "deny")[i % 3],
                      "priority": i % 5})
    rules.append({"tool": "bash", "pattern": "git push *", "decision": "allow"})
    store.import_({"vsh_rules": 1, "rules": rules})


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def cold(argv: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=False)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--cold", type=int, default=15)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "vsh"
        ws = home / "workspace"
        ws.mkdir(parents=True)
        paths = StatePaths(home)
        store = RuleStore(paths)
        t = time.perf_counter()
        populate(store, args.rules)
        print(f"stored {len(store.list())} rules in {time.perf_counter() - t:.2f} s")
        c = classification()
        tol = Tolerance()

        def one() -> str:
            rules = store.candidates(c)
            return decide(c, rules=rules, context="headless", tolerance=tol, cwd=ws, workspace=ws).decision

        assert one() == "allow", one()
        all_rules = store.list()

        def in_memory() -> str:
            return decide(c, rules=all_rules, context="headless", tolerance=tol, cwd=ws, workspace=ws).decision

        def denied() -> str:
            return decide(c, rules=[], context="headless", tolerance=tol, cwd=ws, workspace=ws).decision

        d_ms = median_ms(one, args.runs)
        m_ms = median_ms(in_memory, max(20, args.runs // 10))
        s_ms = median_ms(denied, args.runs)
        print(f"decision, {args.rules} rules stored (indexed query + decide): median {d_ms:.3f} ms "
              f"(goal <= 1 ms) {'OK' if d_ms <= 1 else 'OVER'}")
        print(f"  baseline decide() over all {len(all_rules)} rules in memory: {m_ms:.3f} ms "
              f"(indexed is {m_ms / d_ms:.1f}x faster)")
        print(f"  refusal with suggestion (decides twice more to verify the rule): {s_ms:.3f} ms")
        store.close()

        env = {**os.environ, "VSH_HOME": str(home)}
        env.pop("LOG_LEVEL", None)
        # An installed vsh runs from cached bytecode: let the warm-up runs write it (a dev shell often
        # sets PYTHONDONTWRITEBYTECODE, which would time the compiler instead of vsh).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        py = sys.executable
        for argv in ([py, "-m", "vshell", "--help"], [py, "-m", "vshell", "check", "--", LINE]):
            subprocess.run(argv, env=env, capture_output=True, check=False)
        base = cold([py, "-c", "pass"], env, args.cold)
        helps = cold([py, "-m", "vshell", "--help"], env, args.cold)
        (home / "config.toml").write_text("[sandbox]\nwarm_server = false\n")  # in-process: the cold figure
        check_argv = [py, "-m", "vshell", "check", "--context", "headless", "--json", "--", LINE]
        classify = cold([py, "-m", "vshell", "classify", "--json", "--", LINE], env, args.cold)
        check = cold(check_argv, env, args.cold)
        print(f"cold `vsh check` ({args.rules} rules), in-process: median {check:.1f} ms (goal <= 150 ms) "
              f"{'OK' if check <= 150 else 'OVER'}")
        (home / "config.toml").write_text("")
        # A call starts the warm server, at most once per 10 s: call until its socket appears.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (home / "run" / "warm.sock").exists():
            subprocess.run(check_argv, env=env, capture_output=True, check=False)
            time.sleep(0.5)
        if (home / "run" / "warm.sock").exists():
            warm = cold(check_argv, env, args.cold)
            print(f"warm `vsh check` ({args.rules} rules), answered by the warm server (every call after the "
                  f"first): median {warm:.1f} ms ({check / warm:.1f}x faster than in-process)")
        print(f"  baselines: `python -c pass` {base:.1f} ms (check = {check / base:.1f}x); "
              f"`vsh --help` {helps:.1f} ms (check = {check / helps:.2f}x); "
              f"`vsh classify` {classify:.1f} ms (check = {check / classify:.2f}x, "
              f"+{check - classify:.1f} ms for rules, decision and audit)")
        print(f"  load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
