"""`vsh run -- true` wall time against bare bubblewrap (the same namespace and mount flags, running
`true` directly) and against Anthropic's sandbox-runtime (`srt -c true`, when installed).

`vsh run` is measured as a user gets it after the first run: decided by the warm server, run by
the client. For reference, the same run decided in-process ([sandbox] warm_server = false: every
module imported by the run itself) and `vsh check` (the decision alone, in-process).

Runs alternate in one process (vsh, bwrap, srt, vsh, ...) so that machine load hits all of them
alike; medians and ratios are printed. Goal: vsh <= 0.25x srt; stretch: vsh <= 60 ms.

    /work/venv311/bin/python bench/bench_run.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv[:3]}... failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    return elapsed


def bare_bwrap_argv(env: dict[str, str], workspace: Path) -> list[str]:
    """The argv vsh would give bubblewrap for `true` (no seccomp fd, no proxy forwarder)."""
    from vshell.environment import Environment
    from vshell.sandbox import backend_argv, build_spec
    from vshell.sandbox_spec import NetworkPolicy

    e = Environment(environ=env)
    spec = build_spec(e, e.config(), argv=["true"], workspace=workspace, cwd=workspace,
                      network=NetworkPolicy())
    return backend_argv(spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="vsh-bench-"))
    vsh_home = root / "vsh-home"
    vsh_home.mkdir(mode=0o700)
    workspace = root / "ws"
    workspace.mkdir()
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "low"\n')
    cold_home = root / "vsh-home-in-process"
    cold_home.mkdir(mode=0o700)
    (cold_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "low"\n[sandbox]\nwarm_server = false\n')
    env = {**os.environ, "VSH_HOME": str(vsh_home)}
    env.pop("LOG_LEVEL", None)
    cold_env = {**env, "VSH_HOME": str(cold_home)}
    vsh_bin = Path(sys.executable).with_name("vsh")
    entry = [str(vsh_bin)] if vsh_bin.exists() else [sys.executable, "-m", "vshell"]
    vsh = [*entry, "run", "--workspace", str(workspace), "--context", "headless", "--", "true"]
    check = [*entry, "check", "--context", "headless", "--", "true"]
    contenders: dict[str, Callable[[], float]] = {
        "vsh run -- true": lambda: timed(vsh, env),
        "bare bwrap true": lambda: timed(bare, env),
        # for reference: the run decided in-process, and the decision alone (no sandbox)
        "vsh run, in-process": lambda: timed(vsh, cold_env),
        "vsh check -- true": lambda: timed(check, env),
    }
    bare = bare_bwrap_argv(env, workspace)
    srt = shutil.which("srt")
    if srt:
        try:
            timed([srt, "-c", "true"], env)
            contenders["srt -c true"] = lambda: timed([srt, "-c", "true"], env)
        except SystemExit as e:
            print(f"srt skipped: {e}", file=sys.stderr)
    else:
        print("srt not installed (npm install -g @anthropic-ai/sandbox-runtime): skipped", file=sys.stderr)

    try:
        for fn in contenders.values():  # warm-up: probe cache, proxy daemon and warm server start
            fn()
        time.sleep(3)  # the first run started the warm server in the background
        for fn in contenders.values():
            fn()
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, fn in contenders.items():
                samples[name].append(fn())
    finally:
        for e in (env, cold_env):
            subprocess.run([sys.executable, "-m", "vshell", "proxy", "stop"], env=e, capture_output=True)
        # the warm server exits once its socket is gone
        shutil.rmtree(root, ignore_errors=True)

    med = {name: statistics.median(v) * 1000 for name, v in samples.items()}
    print(f"{args.rounds} alternating rounds, load average {os.getloadavg()[0]:.2f}")
    for name, v in samples.items():
        ms = sorted(x * 1000 for x in v)
        print(f"  {name:<21} median {med[name]:7.1f} ms   min {ms[0]:7.1f}   max {ms[-1]:7.1f}")
    ours = med["vsh run -- true"]
    print(f"  vsh / bare bwrap  = {ours / med['bare bwrap true']:.2f}x")
    if "srt -c true" in med:
        ratio = ours / med["srt -c true"]
        print(f"  vsh / srt         = {ratio:.2f}x   (goal <= 0.25x: {'met' if ratio <= 0.25 else 'NOT met'})")
    print(f"  stretch goal vsh <= 60 ms: {'met' if ours <= 60 else 'NOT met'} ({ours:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
