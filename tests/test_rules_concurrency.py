"""20 concurrent vsh processes adding rules and checking lines on one fresh database: every rule is
present afterwards, no process sees an error (no "database is locked")."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from conftest import run_vsh, vsh_env

HAS_CLASSIFY = importlib.util.find_spec("vshell.classify") is not None
WORKERS = 20
RULES_EACH = 5

WORKER = r"""
import io, json, sys
from vshell.cli import main
from vshell.environment import Environment

n, do_check = int(sys.argv[1]), sys.argv[2] == "1"

def vsh(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        main(list(args), Environment(stdout=out, stderr=err))
    except SystemExit as e:
        if e.code:
            print(f"FAIL {args}: {e.code} {err.getvalue()}", file=sys.stderr)
            sys.exit(1)
    return out.getvalue()

for i in range(RULES_EACH):
    vsh("rules", "add", "--pattern", f"tool{n}x{i} sub *", "--decision", "allow")
    if do_check:
        d = json.loads(vsh("check", "--json", "--context", "headless", "--", f"tool{n}x{i} sub arg"))
        if d["decision"] != "allow":
            print(f"FAIL tool{n}x{i}: {d['decision']} {d['trace']}", file=sys.stderr)
            sys.exit(1)
print("OK")
""".replace("RULES_EACH", str(RULES_EACH))


def test_concurrent_adds_and_checks(vsh_home: Path) -> None:
    env = vsh_env(vsh_home)
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(n), "1" if HAS_CLASSIFY else "0"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(WORKERS)
    ]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        assert "locked" not in err and out.strip() == "OK"
    listed = json.loads(run_vsh(["rules", "list", "--json"], vsh_home).stdout)
    patterns = {r["pattern"] for r in listed}
    assert patterns == {f"tool{n}x{i} sub *" for n in range(WORKERS) for i in range(RULES_EACH)}
    assert len(listed) == WORKERS * RULES_EACH
