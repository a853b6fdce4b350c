"""The real `vsh check`, `vsh rules ...` and `vsh log` in subprocesses."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import run_vsh, vsh_env

HAS_CLASSIFY = importlib.util.find_spec("vshell.classify") is not None
needs_classify = pytest.mark.skipif(not HAS_CLASSIFY, reason="vshell.classify not available yet")


def add(home: Path, *args: str) -> dict[str, object]:
    out = run_vsh(["rules", "add", "--json", *args], home)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def check(home: Path, line: str, *args: str, cwd: Path | None = None) -> dict[str, object]:
    out = run_vsh(["check", "--json", *args, "--", line], home, cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_add_list_rm(vsh_home: Path, tmp_path: Path) -> None:
    r = add(vsh_home, "--pattern", "git push *", "--decision", "allow", "--scope", str(tmp_path),
            "--priority", "3", "--note", "ok", "--expires", "2h")
    assert r["pattern"] == "git push *" and r["priority"] == 3 and r["scope"] == str(tmp_path.resolve())
    listed = json.loads(run_vsh(["rules", "list", "--json"], vsh_home).stdout)
    assert [x["id"] for x in listed] == [r["id"]]
    human = run_vsh(["rules", "list"], vsh_home).stdout
    assert "git push *" in human and "allow" in human
    assert run_vsh(["rules", "rm", str(r["id"])], vsh_home).returncode == 0
    assert json.loads(run_vsh(["rules", "list", "--json"], vsh_home).stdout) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["rules", "add", "--pattern", "ls *", "--decision", "maybe"], "maybe"),
        (["rules", "add", "--pattern", "ls * ; rm *", "--decision", "allow"], "one command"),
        (["rules", "add", "--pattern", "ls *", "--decision", "allow", "--expires", "soon"], "--expires"),
        (["rules", "add", "--pattern", "ls *", "--decision", "allow", "--scope", "/no/such/dir"], "--scope"),
        (["rules", "add", "--pattern", "ls *", "--decision", "allow", "--tool", "zsh"], "zsh"),
        (["rules", "rm", "999"], "no rule #999"),
        (["rules", "rm", "abc"], "abc"),
        (["rules", "import", "/no/such/file.json"], "cannot read"),
        (["log", "-n", "0"], "0"),
    ],
)
def test_user_mistakes_are_one_line_errors(vsh_home: Path, args: list[str], needle: str) -> None:
    out = run_vsh(args, vsh_home)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert needle in out.stderr


def test_corrupt_database_fails_closed(vsh_home: Path) -> None:
    db = vsh_home / "rules.db"
    db.write_bytes(b"garbage" * 500)
    for args in (["rules", "list"], ["rules", "add", "--pattern", "ls *", "--decision", "allow"],
                 ["check", "--", "ls"]):
        out = run_vsh(args, vsh_home)
        assert out.returncode == 125, out.stderr
        assert str(db) in out.stderr and "Traceback" not in out.stderr
    assert db.read_bytes() == b"garbage" * 500


def test_export_import_round_trip(vsh_home: Path, tmp_path: Path) -> None:
    add(vsh_home, "--pattern", "git push *", "--decision", "allow")
    add(vsh_home, "--pattern", "rm -rf *", "--decision", "deny", "--priority", "9")
    f = tmp_path / "rules.json"
    assert run_vsh(["rules", "export", str(f)], vsh_home).returncode == 0
    other = tmp_path / "home2"
    other.mkdir()
    out = run_vsh(["rules", "import", str(f)], other)
    assert out.returncode == 0 and "imported 2" in out.stdout
    doc = json.loads(f.read_text())
    doc["rules"].append({"pattern": "x *", "decision": "perhaps"})
    f.write_text(json.dumps(doc))
    out = run_vsh(["rules", "import", "--replace", str(f)], other)
    assert out.returncode == 2 and "rule 3" in out.stderr and "nothing was imported" in out.stderr
    assert len(json.loads(run_vsh(["rules", "list", "--json"], other).stdout)) == 2
    f.write_text("{not json")
    out = run_vsh(["rules", "import", str(f)], other)
    assert out.returncode == 2 and "not valid JSON" in out.stderr


def test_lint(vsh_home: Path) -> None:
    out = run_vsh(["rules", "lint"], vsh_home)
    assert out.returncode == 0
    add(vsh_home, "--pattern", "git *", "--decision", "deny", "--priority", "5")
    add(vsh_home, "--pattern", "git push *", "--decision", "allow")  # never fires
    add(vsh_home, "--pattern", "rm *", "--decision", "deny")
    add(vsh_home, "--pattern", "rm -rf build", "--decision", "allow", "--priority", "2")  # overrides deny
    add(vsh_home, "--pattern", "/usr/bin/git status *", "--decision", "allow")  # by path: never fires
    out = run_vsh(["rules", "add", "--pattern", "rm -rf *", "--decision", "allow"], vsh_home)
    assert out.returncode == 0 and "will never allow anything" in out.stderr  # wildcard over a high-risk prefix
    out = run_vsh(["rules", "lint", "--json"], vsh_home)
    assert out.returncode == 1
    kinds = {(f["rule"], f["kind"]) for f in json.loads(out.stdout)}
    assert (2, "never-fires") in kinds and (4, "overrides-deny") in kinds and (5, "never-fires") in kinds
    assert (6, "never-fires") in kinds
    assert all(rid != 1 and rid != 3 for rid, _ in kinds)


def test_help_teaches(vsh_home: Path) -> None:
    for args in (["check", "--help"], ["rules", "--help"], ["rules", "add", "--help"], ["log", "--help"]):
        out = run_vsh(args, vsh_home)
        assert out.returncode == 0 and "Example" in out.stdout, args


@needs_classify
def test_check_decisions_and_json_shape(vsh_home: Path, tmp_path: Path) -> None:
    d = check(vsh_home, "ls", "--context", "headless")
    assert d["decision"] == "allow" and d["risk"] == "low" and d["rule"] is None
    assert {"decision", "risk", "rule", "trace", "actions", "suggested_rule"} <= set(d)
    d = check(vsh_home, "git push origin main", "--context", "headless")
    assert d["decision"] == "deny" and d["risk"] in ("medium", "high")
    assert isinstance(d["suggested_rule"], str) and d["suggested_rule"].startswith("vsh rules add")
    # The suggested rule, run for real, makes the line allowed.
    import shlex

    argv = shlex.split(d["suggested_rule"])[1:]
    assert run_vsh(argv, vsh_home).returncode == 0
    d2 = check(vsh_home, "git push origin main", "--context", "headless")
    assert d2["decision"] == "allow" and d2["rule"] is not None
    # conversation context: needs a person -> "ask"
    d3 = check(vsh_home, "git push --force origin main", "--context", "conversation")
    assert d3["decision"] in ("ask", "allow")


@needs_classify
def test_check_scope_and_cwd(vsh_home: Path, tmp_path: Path) -> None:
    repo, repo2 = tmp_path / "repo", tmp_path / "repo2"
    repo.mkdir()
    repo2.mkdir()
    add(vsh_home, "--pattern", "git push *", "--decision", "allow", "--scope", str(repo))
    line = "git push origin main"
    assert check(vsh_home, line, "--context", "headless", "--cwd", str(repo))["decision"] == "allow"
    assert check(vsh_home, line, "--context", "headless", "--cwd", str(repo2))["decision"] == "deny"
    assert check(vsh_home, line, "--context", "headless", cwd=repo)["decision"] == "allow"


@needs_classify
def test_check_host_and_deny(vsh_home: Path) -> None:
    assert check(vsh_home, "ls", "--context", "headless", "--host")["decision"] == "deny"
    add(vsh_home, "--tool", "host_bash", "--pattern", "ls *", "--decision", "allow")
    assert check(vsh_home, "ls", "--context", "headless", "--host")["decision"] == "allow"
    add(vsh_home, "--pattern", "ls *", "--decision", "deny", "--priority", "1")
    d = check(vsh_home, "ls -la", "--context", "headless")
    assert d["decision"] == "deny" and d["rule"]["decision"] == "deny"  # type: ignore[index]


@needs_classify
def test_check_human_output_and_log(vsh_home: Path) -> None:
    out = run_vsh(["check", "--context", "headless", "--", "git push origin main"], vsh_home)
    assert out.returncode == 0 and out.stdout.startswith("deny")
    assert "to allow it: vsh rules add" in out.stdout
    log = json.loads(run_vsh(["log", "--json", "-n", "5"], vsh_home).stdout)
    assert log[-1]["kind"] == "decision" and log[-1]["line"] == "git push origin main"
    human = run_vsh(["log"], vsh_home).stdout
    assert "git push origin main" in human


@needs_classify
def test_config_tolerance_and_mode(vsh_home: Path) -> None:
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "none"\n')
    assert check(vsh_home, "ls", "--context", "headless")["decision"] == "deny"
    (vsh_home / "config.toml").write_text('[approval]\nmode = "unrestricted"\n')
    assert check(vsh_home, "rm -rf build", "--context", "headless")["decision"] == "allow"
    (vsh_home / "config.toml").write_text('[approval]\nmode = "locked"\n')
    add(vsh_home, "--tool", "host_bash", "--pattern", "ls *", "--decision", "allow")
    assert check(vsh_home, "ls", "--context", "headless", "--host")["decision"] == "deny"
    (vsh_home / "config.toml").write_text('[approval]\nbogus = 1\n')
    out = run_vsh(["check", "--", "ls"], vsh_home)
    assert out.returncode == 125 and "bogus" in out.stderr


@needs_classify
def test_authorize_rate_limit_refusal_and_audit(vsh_home: Path, tmp_path: Path) -> None:
    from vshell import audit
    from vshell.approval import authorize
    from vshell.environment import Environment
    from vshell.errors import PolicyRefused

    (vsh_home / "config.toml").write_text("[approval]\nrate_limit = { headless = 2 }\n")
    env = Environment(environ={"VSH_HOME": str(vsh_home)})
    for _ in range(2):
        d = authorize(env, "ls", context="headless", cwd=tmp_path, workspace=tmp_path, session_id="r")
        assert d.allowed
    with pytest.raises(PolicyRefused, match="rate limit of 2 runs per minute") as e:
        authorize(env, "ls", context="headless", cwd=tmp_path, workspace=tmp_path, session_id="r")
    assert e.value.exit_code == 126
    with pytest.raises(PolicyRefused) as e2:
        authorize(env, "git push origin main", context="headless", cwd=tmp_path, workspace=tmp_path,
                  session_id="r")
    assert "git push origin main" in e2.value.message and "headless" in e2.value.message
    assert e2.value.hint is not None and "vsh rules add" in e2.value.hint
    entries = audit.read(env.paths, 10)
    assert [x["decision"] for x in entries] == ["allow", "allow", "deny", "deny"]
    assert entries[2]["by"] == "rate-limit"


@needs_classify
def test_lint_reports_examples_that_no_longer_hold(vsh_home: Path) -> None:
    import sqlite3

    r = add(vsh_home, "--pattern", "git push *", "--decision", "allow", "--match", "git push origin main",
            "--not-match", "git pull")
    out = run_vsh(["rules", "add", "--pattern", "git push *", "--decision", "allow", "--match", "git pull"],
                  vsh_home)
    assert out.returncode == 2 and "should match" in out.stderr
    # Simulate a command model that changed under a stored rule.
    conn = sqlite3.connect(vsh_home / "rules.db")
    conn.execute("UPDATE rules SET match = ? WHERE id = ?", (json.dumps(["git fetch"]), r["id"]))
    conn.commit()
    conn.close()
    out = run_vsh(["rules", "lint", "--json"], vsh_home)
    assert out.returncode == 1
    assert [(f["rule"], f["kind"]) for f in json.loads(out.stdout)] == [(r["id"], "example")]


def test_check_refuses_a_workspace_run_would_refuse(vsh_home: Path, tmp_path: Path) -> None:
    """`vsh check` says what `vsh run` would do: with the home directory as workspace, both refuse
    (125) with the same message, instead of check giving a decision run would never act on."""
    home = tmp_path / "home"
    home.mkdir()
    (vsh_home / "config.toml").write_text(f'[sandbox]\nworkspace = "{home}"\n')
    env = vsh_env(vsh_home, HOME=str(home))
    checked = run_vsh(["check", "--context", "headless", "--", "ls"], vsh_home, env=env)
    ran = run_vsh(["run", "--context", "headless", "--", "ls"], vsh_home, env=env)
    assert checked.returncode == ran.returncode == 125, (checked.stderr, ran.stderr)
    assert "refusing workspace" in checked.stderr
    assert checked.stderr == ran.stderr
