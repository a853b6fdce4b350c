"""`vsh explain` through the real CLI: every part of the decision is shown, nothing runs."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_vsh


def test_explain_shows_actions_rules_sandbox_and_network(vsh_home: Path) -> None:
    added = run_vsh(["rules", "add", "--pattern", "git status *", "--decision", "allow"], vsh_home)
    assert added.returncode == 0, added.stderr
    out = run_vsh(["explain", "--context", "headless", "--", "git status && rm -rf x"], vsh_home)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Parse tree" in text and "list" in text
    assert "[high] rm" in text
    assert "Decision: deny" in text
    assert "`git status *`" in text and "applies" in text
    assert "bubblewrap" in text or "sandbox-exec" in text
    assert str(vsh_home) in text  # the state root is listed as hidden
    assert "only through vsh's proxy" in text
    assert not (vsh_home / "workspace" / "x").exists()


def test_explain_json_and_unknown_credential(vsh_home: Path) -> None:
    out = run_vsh(["explain", "--json", "--cred", "fal/nope", "--", "curl -s https://api.fal.run/"], vsh_home)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["classification"]["risk"] == "medium"
    assert doc["decision"]["decision"] in ("ask", "deny")
    assert "fal/nope" in doc["network"]["credentials"]
    assert "exit 125" in doc["network"]["credentials"]


def test_explain_needs_a_line(vsh_home: Path) -> None:
    out = run_vsh(["explain"], vsh_home)
    assert out.returncode == 2
    assert "nothing to explain" in out.stderr
    assert "Traceback" not in out.stderr
