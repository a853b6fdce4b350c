"""The approval prompt driven through a real pseudo-terminal (pexpect), one test per choice, checking
what each answer leaves behind (nothing, a grant, a rule) with a second, headless decision."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_vsh, vsh_env

pexpect = pytest.importorskip("pexpect")
HAS_CLASSIFY = importlib.util.find_spec("vshell.classify") is not None
pytestmark = pytest.mark.skipif(not HAS_CLASSIFY, reason="vshell.classify not available yet")

DRIVER = r"""
import sys
from pathlib import Path
from vshell.approval import authorize
from vshell.environment import Environment
from vshell.errors import PolicyRefused

env = Environment()
line, cwd, context, session = sys.argv[1:5]
try:
    d = authorize(env, line, context=context, cwd=Path(cwd), workspace=Path(cwd), session_id=session)
    print("RESULT=allow by", d.by, flush=True)
except PolicyRefused as e:
    print("RESULT=refused", e.message, "HINT", e.hint, flush=True)
"""


@pytest.fixture
def home(vsh_home: Path) -> Path:
    # Nothing is auto-approved: every line asks, whatever its risk.
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "none"\n')
    return vsh_home


@pytest.fixture
def wd(tmp_path: Path) -> Path:
    d = tmp_path / "project"
    (d / ".git").mkdir(parents=True)
    (d / "src").mkdir()
    return d


def spawn(home: Path, line: str, cwd: Path, session: str = "S1"):  # type: ignore[no-untyped-def]
    child = pexpect.spawn(sys.executable, ["-c", DRIVER, line, str(cwd), "conversation", session],
                          env=vsh_env(home), encoding="utf-8", timeout=30, cwd=str(cwd))
    child.expect("Choose 1-6")
    return child


def headless(home: Path, line: str, cwd: Path, session: str = "S1") -> str:
    out = subprocess.run([sys.executable, "-c", DRIVER, line, str(cwd), "headless", session],
                         env=vsh_env(home), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def result(child) -> str:  # type: ignore[no-untyped-def]
    child.expect(r"RESULT=[^\r\n]*\r?\n")
    text = child.after.strip()
    child.expect(pexpect.EOF)
    return str(text)


def grants(home: Path) -> list[tuple[str, str, str, float, float]]:
    conn = sqlite3.connect(home / "rules.db")
    rows = conn.execute("SELECT session, kind, value, created, expires FROM grants").fetchall()
    conn.close()
    return rows


def rules(home: Path) -> list[dict[str, object]]:
    return json.loads(run_vsh(["rules", "list", "--json"], home).stdout)  # type: ignore[no-any-return]


LINE = "ls -la"


def test_prompt_shows_line_actions_and_choices(home: Path, wd: Path) -> None:
    child = spawn(home, LINE, wd)
    screen = child.before
    for text in ("approval needed", "in the sandbox", "line: ls -la", "risk", "Allow once",
                 "Allow for 10 minutes", "Allow for this session", "Always allow", "Don't allow", "Always deny"):
        assert text in screen
    child.send("n")
    assert "refused" in result(child)


def test_allow_once_stores_nothing(home: Path, wd: Path) -> None:
    child = spawn(home, LINE, wd)
    child.send("1")
    assert "RESULT=allow by prompt" in result(child)
    assert grants(home) == [] and rules(home) == []
    assert headless(home, LINE, wd).startswith("RESULT=refused")


def test_allow_for_ten_minutes_is_a_session_grant(home: Path, wd: Path) -> None:
    child = spawn(home, LINE, wd)
    child.send("t")
    assert "RESULT=allow by prompt" in result(child)
    [(session, kind, value, created, expires)] = grants(home)
    assert session == "S1" and kind == "key" and value == "ls" and abs(expires - created - 600) < 1
    assert headless(home, "ls -l /tmp", wd) == "RESULT=allow by grant"
    assert headless(home, LINE, wd, session="S2").startswith("RESULT=refused")


def test_allow_for_this_session(home: Path, wd: Path) -> None:
    child = spawn(home, LINE, wd)
    child.send("3")
    assert "RESULT=allow by prompt" in result(child)
    [(_session, _, _, created, expires)] = grants(home)
    assert expires - created > 600
    assert headless(home, LINE, wd) == "RESULT=allow by grant"


def test_always_allow_stores_a_rule_in_the_chosen_scope(home: Path, wd: Path) -> None:
    child = spawn(home, LINE, wd / "src")
    child.send("4")
    child.expect("Pattern of the rule to allow")
    child.expect(r"Choose \(Enter")
    child.send("\r")  # the first (most specific) suggestion: the exact line
    child.expect("Where should the rule apply")
    child.expect(r"Choose \(Enter")
    assert "the project root" in child.before
    child.send("p")  # the enclosing git repository
    assert "RESULT=allow by prompt" in result(child)
    [r] = rules(home)
    assert r["decision"] == "allow" and r["scope"] == str(wd.resolve()) and r["pattern"] == LINE
    assert headless(home, LINE, wd) == "RESULT=allow by rule"


def test_dont_allow_counts_refusals_and_stops_asking(home: Path, wd: Path) -> None:
    for _ in range(3):
        child = spawn(home, LINE, wd)
        child.send("5")
        assert "RESULT=refused" in result(child)
    # The fourth time nobody is asked: the message says why and suggests an alternative.
    child = pexpect.spawn(sys.executable, ["-c", DRIVER, LINE, str(wd), "conversation", "S1"],
                          env=vsh_env(home), encoding="utf-8", timeout=30)
    text = result(child)
    assert "refused 3 times" in text and "alternative" in text
    assert grants(home) == [] and rules(home) == []


def test_always_deny_stores_a_deny_rule(home: Path, wd: Path) -> None:
    child = spawn(home, LINE, wd)
    child.send("6")
    child.expect("Pattern of the rule to deny")
    child.expect(r"Choose \(Enter")
    child.send("\r")  # the exact line
    child.expect("Where should the rule apply")
    child.expect(r"Choose \(Enter")
    child.send("e")
    assert "RESULT=refused" in result(child)
    [r] = rules(home)
    assert r["decision"] == "deny" and r["scope"] is None
    assert headless(home, LINE, wd).startswith("RESULT=refused")


def test_high_risk_lines_offer_no_grants(home: Path, wd: Path) -> None:
    child = spawn(home, "rm -rf x", wd)
    assert "not available: high risk" in child.before
    child.send("2")
    child.send("s")
    child.send("1")  # only this one is taken
    assert "RESULT=allow by prompt" in result(child)
    assert grants(home) == []


def test_control_characters_are_escaped_on_the_terminal(home: Path, wd: Path) -> None:
    child = spawn(home, "echo '\x1b[2Jhi\rX'", wd)
    screen = child.before
    assert "\x1b[2J" not in screen and "\\x1b" in screen
    child.send("\x1b")  # Esc: don't allow
    assert "RESULT=refused" in result(child)
