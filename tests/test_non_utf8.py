"""Bytes that are not UTF-8 in a command line (file names in Latin-1, binary arguments). They reach
vsh as lone surrogates (surrogateescape). Before, every decision that looked up rules crashed with a
traceback and exit status 1 (SQLite cannot hold a lone surrogate), and so did the audit log and
`--json` output. Now they are decided like any other line, stored nowhere they cannot be, and shown
escaped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import needs_bwrap, vsh_env

from vshell.environment import Environment
from vshell.errors import UsageError
from vshell.grants import GrantStore
from vshell.rules import RuleStore
from vshell.state import StatePaths
from vshell.utf8 import dumps, encodable, lookup_key

FF = os.fsdecode(b"\xff")  # the str a \xff byte of argv becomes


def _vsh(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "vshell", *args], capture_output=True, env=vsh_env(home),
                          cwd=cwd, timeout=120)


def test_helpers() -> None:
    assert encodable("é ls") and not encodable(f"ls {FF}")
    assert lookup_key(f"ls {FF}") == "ls \ufffd" and lookup_key("ls é") == "ls é"
    assert json.loads(dumps({"a": f"x{FF}é"})) == {"a": f"x{FF}é"}
    assert dumps({"a": "é"}) == '{"a": "é"}'  # readable where it can be


@pytest.mark.parametrize("command", [["check"], ["check", "--json"], ["classify"], ["classify", "--json"],
                                     ["explain"]])
def test_decisions_and_views_never_crash(vsh_home: Path, command: list[str]) -> None:
    RuleStore(StatePaths(vsh_home)).add(tool="bash", pattern="ls *", decision="allow")
    r = _vsh(vsh_home, *command, "--", f"ls '{FF}'")
    assert r.returncode == 0, r.stderr
    assert b"Traceback" not in r.stderr
    if "--json" in command:
        doc = json.loads(r.stdout)
        assert doc.get("decision", "allow") == "allow"
        assert doc.get("risk") == "low"
    else:
        assert b"\xff" not in r.stdout  # shown escaped, never raw
    if command[0] == "check":
        entry = [json.loads(x) for x in (vsh_home / "audit.jsonl").read_bytes().splitlines()][-1]
        assert entry["line"] == f"ls '{FF}'"  # the audit log holds it losslessly, as JSON escapes


def test_a_rule_never_matches_by_lossy_key(vsh_home: Path) -> None:
    """The lookup maps undecodable bytes to U+FFFD; a rule written with U+FFFD must still not allow
    the line with the byte: every hit is matched again against the real words."""
    store = RuleStore(StatePaths(vsh_home))
    store.add(tool="bash", pattern="rm \ufffd", decision="allow")
    r = _vsh(vsh_home, "check", "--json", "--", f"rm '{FF}'")
    assert r.returncode == 0 and json.loads(r.stdout)["decision"] != "allow"


def test_rules_that_cannot_be_stored_are_refused_clearly(vsh_home: Path, tmp_path: Path) -> None:
    store = RuleStore(StatePaths(vsh_home))
    for kwargs in ({"pattern": f"ls {FF}*"}, {"pattern": "ls *", "scope": tmp_path / FF},
                   {"pattern": "ls *", "note": FF}, {"pattern": "ls *", "match": (f"ls {FF}",)}):
        with pytest.raises(UsageError, match="not UTF-8"):
            store.add(tool="bash", decision="allow", **kwargs)  # type: ignore[arg-type]
    r = _vsh(vsh_home, "rules", "add", "--tool", "bash", "--pattern", f"ls {FF}*", "--decision", "allow")
    assert r.returncode == 2 and b"Traceback" not in r.stderr and b"not UTF-8" in r.stderr
    assert store.list() == []
    g = GrantStore(store)
    with pytest.raises(UsageError):
        g.add(session="s", tool="bash", kind="line", value=f"ls {FF}", ttl=60, now=1.0)
    assert [g.record_refusal("s", "bash", f"x{FF}", 1.0) for _ in range(2)] == [1, 2]
    assert g.refusals("s", "bash", f"x{FF}") == 2


@pytest.mark.parametrize(("choice", "decision"), [("session", "allow"), ("10m", "allow"), ("always", "allow"),
                                                  ("never", "deny")])
def test_a_prompt_answer_that_cannot_be_stored_holds_for_this_run(
        vsh_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, choice: str, decision: str) -> None:
    import io

    from vshell import approval, prompt
    from vshell.errors import PolicyRefused

    line = f"echo hi > '{FF}'"  # a write: a grant would be for the exact line
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "none"\n')
    monkeypatch.setattr(prompt, "ask", lambda d, offer: prompt.Answer(choice, pattern=line, scope=None))
    err = io.StringIO()
    env = Environment(environ={"VSH_HOME": str(vsh_home)}, stderr=err, tty=True)
    if decision == "allow":
        d = approval.authorize(env, line, context="conversation", cwd=tmp_path, workspace=tmp_path,
                               session_id="s")
        assert d.decision == "allow"
    else:
        with pytest.raises(PolicyRefused):
            approval.authorize(env, line, context="conversation", cwd=tmp_path, workspace=tmp_path,
                               session_id="s")
    assert "for this run only" in err.getvalue()
    store = RuleStore(StatePaths(vsh_home))
    assert store.list() == [] and GrantStore(store).active("s", 2e9) == []


@needs_bwrap
def test_run_with_such_an_argument_runs_it(vsh_home: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / os.fsdecode(b"caf\xe9")).write_text("latin-1 name\n")
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "medium"\n')
    r = _vsh(vsh_home, "run", "--workspace", str(ws), "--", "cat", os.fsdecode(b"caf\xe9"))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"latin-1 name\n"
    r = _vsh(vsh_home, "run", "--workspace", str(ws), "-c", "cat caf$'\\xe9' && touch 'x\xe9'")
    assert r.returncode == 0, r.stderr
    assert (ws / "xé").exists()
