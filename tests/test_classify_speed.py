"""A coarse guard against large slow-downs of `classify`, and checks for the shortcuts it takes.

No absolute timings: classify's speed over the golden lines is compared with `shlex.split` over the
same lines, measured in the same test, interleaved, best round of each. classify runs at about 0.3x
shlex.split; the bound is a fraction of that, so load on a small shared machine cannot trip it while a
change that makes classify several times slower does.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from vshell import shellparse, suggest
from vshell.classify import classify
from vshell.model import Action, Classification, Reason, Redirect, Risk

GOLDEN = Path(__file__).resolve().parent / "data" / "golden_commands.jsonl"
LINES = [json.loads(x)["line"] for x in GOLDEN.read_text().splitlines() if x.strip()]
MIN_RATIO = 0.1  # classify lines/s over shlex.split lines/s; measured ~0.3
ROUNDS = 5


def _split(line: str) -> None:
    try:
        shlex.split(line)
    except ValueError:
        pass


def _time_round(fn: Callable[[str], object], rounds: list[float]) -> None:
    """Run `fn` over the golden lines once; append the seconds it took to `rounds`."""
    start = time.perf_counter()
    for line in LINES:
        fn(line)
    rounds.append(time.perf_counter() - start)


def test_classify_keeps_pace_with_shlex_split() -> None:
    for line in LINES:  # warm-up: parser creation, lazy imports, caches of shared reasons
        classify(line)
    ours: list[float] = []
    base: list[float] = []
    for _ in range(ROUNDS):
        _time_round(classify, ours)
        _time_round(_split, base)
    ratio = min(base) / min(ours)
    assert ratio >= MIN_RATIO, f"classify runs at {ratio:.2f}x shlex.split (bound {MIN_RATIO}x)"


def test_frozen_equals_the_constructor() -> None:
    """`shellparse.frozen` skips the generated __init__; the value must be the same as the constructor's."""
    reason = Reason("table", "text", Risk.MEDIUM)
    values: dict[str, object] = {
        "argv": ("git", "push"), "program": "git", "key": "git push", "words": ("git", "push"), "risk": Risk.MEDIUM,
        "reasons": (reason,), "literal": True, "origin": "top", "env": ("A",),
        "redirects": (Redirect(">", 1, "out", True),), "rule_eligible": False, "ineligible_reasons": ("x",),
        "cwd": "sub", "span": (0, 8),
    }
    assert [f.name for f in fields(Action)] == list(values)
    built = shellparse.frozen(Action, dict(values))
    assert built == Action(**values)  # type: ignore[arg-type]
    assert hash(built) == hash(Action(**values))  # type: ignore[arg-type]
    assert repr(built) == repr(Action(**values))  # type: ignore[arg-type]


def test_classification_is_a_proper_value() -> None:
    c = classify("git status && rm -rf build")
    rebuilt = Classification(**{f.name: getattr(c, f.name) for f in fields(Classification)})  # type: ignore[arg-type]
    assert rebuilt == c
    assert hash(rebuilt) == hash(c)


def test_escape_exact_matches_translate() -> None:
    """escape_exact skips str.translate when no character needs escaping; the result is the same."""
    table = str.maketrans({ch: "\\" + ch for ch in "*?[]\\"})
    for line in [*LINES, "", "a*b", "\\", "[x]", "?", "\\*", "plain words only"]:
        assert suggest.escape_exact(line) == line.translate(table)
