"""`vsh classify` through the real CLI (subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_vsh


def test_human_output(vsh_home: Path) -> None:
    r = run_vsh(["classify", "--", "git status && rm -rf x"], vsh_home)
    assert r.returncode == 0, r.stderr
    assert "risk: high" in r.stdout
    assert "git status" in r.stdout and "rm" in r.stdout


def test_json_output(vsh_home: Path) -> None:
    r = run_vsh(["classify", "--json", "--", "cd /repo && gh pr view 5525 --json title"], vsh_home)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["risk"] == "low"
    assert data["suggestions"] == ["cd /repo && gh pr view 5525 --json title", "gh pr view *", "gh pr *", "gh *"]
    assert [a["action_key"] for a in data["actions"]] == ["cd", "gh pr view"]


def test_line_from_stdin_strips_one_newline(vsh_home: Path) -> None:
    r = run_vsh(["classify", "--json", "-"], vsh_home, input="git status\nrm -rf x\n")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["command"] == "git status\nrm -rf x"
    assert data["risk"] == "high"


def test_stdin_bytes_are_kept(vsh_home: Path) -> None:
    r = run_vsh(["classify", "--json", "-"], vsh_home, input="echo a\rrm -rf x")
    data = json.loads(r.stdout)
    assert data["command"] == "echo a\rrm -rf x"
    assert data["risk"] == "high"


def test_jsonl(vsh_home: Path) -> None:
    lines = ["ls", "rm -rf x", "git status\nrm x"]
    r = run_vsh(["classify", "--jsonl"], vsh_home, input="".join(json.dumps(x) + "\n" for x in lines))
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [o["command"] for o in out] == lines
    assert [o["risk"] for o in out] == ["low", "high", "high"]


def test_usage_errors_exit_2(vsh_home: Path) -> None:
    for args, stdin in ((["classify"], None), (["classify", "--", ""], None), (["classify", "-"], ""),
                        (["classify", "--", "a", "b"], None), (["classify", "--jsonl"], "not json\n"),
                        (["classify", "--jsonl"], '""\n')):
        r = run_vsh(args, vsh_home, input=stdin)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr


def test_help_is_cheap(vsh_home: Path) -> None:
    r = run_vsh(["classify", "--help"], vsh_home)
    assert r.returncode == 0
    assert "LINE" in r.stdout
