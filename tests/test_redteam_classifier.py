"""Every public red-team classifier case: the risk is at least min_risk; a min_risk-low case also does
exactly what bash does with those bytes (checked against real bash)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REDTEAM
from test_shellparse import bash_argvs, model_argvs, needs_bash

from vshell.classify import classify
from vshell.model import Risk

CASES = [json.loads(line) for line in (REDTEAM / "classifier.jsonl").read_text().splitlines() if line.strip()]


def test_cases_loaded() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_min_risk(case: dict[str, object]) -> None:
    c = classify(str(case["line"]))
    assert c.risk >= Risk.parse(str(case["min_risk"])), (case["note"], c.reasons, c.actions)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_rules_cannot_stretch(case: dict[str, object]) -> None:
    """Where min_risk is above low, no action the allow rules would name is both eligible and the only
    thing in the line (the decision layer checks the rest)."""
    c = classify(str(case["line"]))
    if case["min_risk"] == "low":
        return
    assert c.risk > Risk.LOW or not c.parse_ok


@needs_bash
@pytest.mark.parametrize("case", [c for c in CASES if c["min_risk"] == "low"],
                         ids=[c["id"] for c in CASES if c["min_risk"] == "low"])
def test_low_cases_do_what_bash_does(case: dict[str, object], tmp_path: Path) -> None:
    line = str(case["line"])
    ours = model_argvs(line)
    progs = {a[0] for a in ours} | {"touch", "rm", "sh", "bash", "id", "curl"}
    theirs = bash_argvs(line, progs, tmp_path)
    assert theirs == ours
    assert not (tmp_path / "pwn").exists()


def test_pub_a01_is_one_echo() -> None:
    case = next(c for c in CASES if c["id"] == "pub-a01")
    c = classify(str(case["line"]))
    assert [a.key for a in c.actions] == ["echo"]
    assert c.actions[0].argv == ("echo", '"; touch pwn; echo "')
