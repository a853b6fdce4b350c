"""The golden table: real-world command lines with their expected risk and, where given, suggestions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_shellparse import bash_argvs, model_argvs, needs_bash

from vshell.classify import classify
from vshell.model import Risk

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_commands.jsonl"
ROWS = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]


def test_golden_table_is_big_enough() -> None:
    assert len(ROWS) >= 250


@pytest.mark.parametrize("row", ROWS, ids=[r["line"][:60] for r in ROWS])
def test_golden_row(row: dict[str, object]) -> None:
    c = classify(str(row["line"]))
    assert c.risk == Risk.parse(str(row["risk"])), (row.get("note"), c.reasons, c.actions)
    if "suggestions" in row:
        assert list(c.suggestions) == row["suggestions"]


def test_golden_covers_daily_tools() -> None:
    firsts = {str(r["line"]).split()[0] for r in ROWS if str(r["line"]).split()}
    for tool in ("git", "npm", "pip", "make", "docker", "kubectl", "gh", "curl"):
        assert tool in firsts, tool


_STATEFUL = frozenset(["cd", "pushd", "popd", "read", "exec", "eval", "source", ".", "export", "declare", "local", "set", "unset", "alias", "trap", "hash", "shopt", "wait", "history", "time", "coproc"])


def _oracle_rows() -> list[str]:
    """Golden lines whose actions are all literal, direct and free of shell-state builtins and loops:
    bash itself can tell which programs they run."""
    out = []
    for row in ROWS:
        line = str(row["line"])
        if any(w in line for w in ("while", "until", "sleep", "watch", "yes")):
            continue
        c = classify(line)
        if not c.parse_ok or not c.actions:
            continue
        if any(a.origin != "top" or not a.literal or a.program in _STATEFUL or "/" in a.argv[0] for a in c.actions):
            continue
        out.append(line)
    return out


@needs_bash
def test_golden_actions_are_what_bash_runs(tmp_path: Path) -> None:
    lines = _oracle_rows()
    assert len(lines) >= 200
    for i, line in enumerate(lines):
        ours = model_argvs(line)
        work = tmp_path / str(i)
        work.mkdir()
        remaining = [tuple(a) for a in ours]
        for argv in bash_argvs(line, {a[0] for a in ours}, work):
            assert tuple(argv) in remaining, (line, argv, ours)
            remaining.remove(tuple(argv))
