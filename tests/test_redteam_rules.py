"""Public red-team cases: with each case's allow rules stored through the real CLI, `vsh check
--context headless` never answers allow for a line whose min_risk is above low."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import REDTEAM, run_vsh

HAS_CLASSIFY = importlib.util.find_spec("vshell.classify") is not None
CASES = [json.loads(line) for line in (REDTEAM / "classifier.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.skipif(not HAS_CLASSIFY, reason="vshell.classify not available yet")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_allow_rules_never_allow_risky_lines(vsh_home: Path, case: dict[str, object]) -> None:
    for pattern in case["allow_rules"]:  # type: ignore[attr-defined]
        out = run_vsh(["rules", "add", "--tool", "bash", "--pattern", pattern, "--decision", "allow"], vsh_home)
        assert out.returncode == 0, out.stderr
    out = run_vsh(["check", "--context", "headless", "--json", "--", str(case["line"])], vsh_home)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    if case["min_risk"] != "low":
        assert d["decision"] != "allow", (case["id"], d["trace"])
    # and whatever happens, the trace names every action it judged
    assert d["trace"] and d["trace"][-1].startswith("decision:")
