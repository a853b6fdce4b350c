"""`vsh doctor`: real checks against a tmp $VSH_HOME (real bubblewrap, real SQLite, real config)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
from pathlib import Path

import pytest

from tests.conftest import needs_bwrap, run_vsh, vsh_env
from vshell.cli import main
from vshell.doctor import CHECKS, STATUSES, Check, run_checks
from vshell.environment import Environment


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


needs_sandbox_module = pytest.mark.skipif(not _has("vshell.sandbox"), reason="vshell.sandbox not in this build")


def _doctor_json(vsh_home: Path, **extra: str) -> tuple[int, dict[str, dict[str, str]], dict[str, object]]:
    proc = run_vsh(["doctor", "--json"], vsh_home, env=vsh_env(vsh_home, **extra))
    doc = json.loads(proc.stdout)
    return proc.returncode, {c["name"]: c for c in doc["checks"]}, doc


def _env(vsh_home: Path) -> Environment:
    return Environment(environ=vsh_env(vsh_home))


def test_every_check_reports_a_known_status(vsh_home: Path) -> None:
    checks = run_checks(_env(vsh_home))
    assert len(checks) == len(CHECKS)
    names = [c.name for c in checks]
    assert len(set(names)) == len(names)
    for c in checks:
        assert isinstance(c, Check)
        assert c.status in STATUSES
        assert c.detail
        assert c.status == "ok" or c.fix, c


def test_json_shape(vsh_home: Path) -> None:
    _, checks, doc = _doctor_json(vsh_home)
    assert set(doc) == {"ok", "checks"}
    assert isinstance(doc["ok"], bool)
    for c in checks.values():
        assert set(c) == {"name", "status", "detail", "fix"}
        assert c["status"] in STATUSES
    assert {"sandbox", "state", "config", "rules", "vault", "proxy"} <= set(checks)


@needs_bwrap
@needs_sandbox_module
def test_all_ok_exits_zero(vsh_home: Path) -> None:
    proc = run_vsh(["doctor"], vsh_home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(CHECKS)  # one line per check
    assert not any(line.startswith("fail") for line in lines)
    assert any(line.startswith("ok") and "sandbox" in line for line in lines)


def test_broken_config_fails_naming_the_line(vsh_home: Path) -> None:
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "low"\nbogus = 1\n')
    code, checks, doc = _doctor_json(vsh_home)
    assert code == 1 and doc["ok"] is False
    assert checks["config"]["status"] == "fail"
    assert ":3:" in checks["config"]["detail"] and "bogus" in checks["config"]["detail"]
    assert checks["config"]["fix"]
    proc = run_vsh(["doctor"], vsh_home)
    assert proc.returncode == 1
    line = next(x for x in proc.stdout.splitlines() if " config " in x)
    assert line.startswith("fail") and "fix:" in line


def test_state_open_to_others_fails(vsh_home: Path) -> None:
    vsh_home.chmod(0o755)
    code, checks, _ = _doctor_json(vsh_home)
    assert code == 1
    assert checks["state"]["status"] == "fail"
    assert "chmod 700" in checks["state"]["fix"]


def test_corrupt_rules_database_fails_and_is_kept(vsh_home: Path) -> None:
    db = vsh_home / "rules.db"
    db.write_bytes(b"this is not sqlite" * 100)
    code, checks, _ = _doctor_json(vsh_home)
    assert code == 1
    assert checks["rules"]["status"] == "fail"
    assert str(db) in checks["rules"]["detail"] or str(db) in checks["rules"]["fix"]
    assert db.read_bytes() == b"this is not sqlite" * 100


def test_workspace_at_home_fails(vsh_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (vsh_home / "config.toml").write_text(f'[sandbox]\nworkspace = "{home}"\n')
    code, checks, _ = _doctor_json(vsh_home, HOME=str(home))
    assert code == 1
    assert checks["workspace"]["status"] == "fail"


@pytest.mark.parametrize("where", ["credential-store", "system-tree"])
def test_workspace_that_run_refuses_fails_doctor_too(vsh_home: Path, tmp_path: Path, where: str) -> None:
    """doctor asks the same question as `vsh run`: a workspace inside ~/.ssh or /etc is refused."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    workspace = home / ".ssh" if where == "credential-store" else Path("/etc")
    (vsh_home / "config.toml").write_text(f'[sandbox]\nworkspace = "{workspace}"\n')
    code, checks, _ = _doctor_json(vsh_home, HOME=str(home))
    assert code == 1
    assert checks["workspace"]["status"] == "fail"
    assert "refusing workspace" in checks["workspace"]["detail"]


def _doctor_in_process(vsh_home: Path) -> tuple[int, str]:
    out = io.StringIO()
    env = Environment(stdout=out, stderr=io.StringIO(), environ=vsh_env(vsh_home))
    with pytest.raises(SystemExit) as exc:
        main(["doctor"], env)
    return int(exc.value.code or 0), out.getvalue()


def _fake_bwrap(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-bwrap"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


# How the backend can be broken -> what the sandbox check must say. Each runs the real probe against
# a stand-in for bubblewrap (the probe only ever runs bwrap from its fixed list of absolute paths).
BROKEN_BACKENDS = {
    "missing": (None, "not installed"),
    "no-namespaces": ('echo "bwrap: No permissions to creating new namespace" >&2; exit 1\n',
                      "does not work here"),
    "network-not-cut": ('while [ "$1" != "--" ]; do shift; done; shift; exec "$@"\n',
                        "not cut off from the network"),
}


@needs_sandbox_module
@pytest.mark.parametrize("case", sorted(BROKEN_BACKENDS))
def test_broken_backend_fails_sandbox_check_with_fix(vsh_home: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    from vshell.bwrap import build

    body, expected = BROKEN_BACKENDS[case]
    fake = str(tmp_path / "nonexistent" / "bwrap") if body is None else _fake_bwrap(tmp_path, body)
    monkeypatch.setattr(build, "BWRAP_CANDIDATES", (fake,))
    checks = {c.name: c for c in run_checks(_env(vsh_home))}
    sandbox = checks["sandbox"]
    assert sandbox.status == "fail"
    assert expected in sandbox.detail
    assert sandbox.fix and ("bubblewrap" in sandbox.fix or "namespace" in sandbox.fix)
    code, out = _doctor_in_process(vsh_home)
    assert code == 1
    line = next(x for x in out.splitlines() if " sandbox " in x)
    assert line.startswith("fail") and "fix:" in line
    assert not (vsh_home / "run" / "probe-ok").exists()  # a failure is never cached


def test_doctor_leaves_no_secret_files_open(vsh_home: Path) -> None:
    run_checks(_env(vsh_home))
    for p in vsh_home.rglob("*"):
        if p.is_file() and not p.is_symlink():
            assert os.stat(p).st_mode & 0o077 == 0 or p.suffix in (".pem", ".crt"), p


@pytest.mark.parametrize("relpath", ["vault.key", "vault.enc", "proxy/mitm/mitmproxy-ca.pem"])
def test_secret_files_open_to_others_fail(vsh_home: Path, relpath: str) -> None:
    path = vsh_home / relpath
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(b"not really a key")
    path.chmod(0o644)
    checks = {c.name: c for c in run_checks(_env(vsh_home))}
    failed = [c for c in checks.values() if c.status == "fail"]
    assert failed and all(str(path) in c.detail and "chmod 600" in c.fix for c in failed)


@pytest.mark.skipif(not _has("vshell.proxy.daemon"), reason="the proxy daemon is not in this build")
def test_proxy_running_is_ok_and_stopped_is_warn(vsh_home: Path) -> None:
    checks = {c.name: c for c in run_checks(_env(vsh_home))}
    assert checks["proxy"].status == "warn" and "not running" in checks["proxy"].detail
    started = run_vsh(["proxy", "start"], vsh_home)
    try:
        assert started.returncode == 0, started.stderr
        checks = {c.name: c for c in run_checks(_env(vsh_home))}
        assert checks["proxy"].status == "ok", checks["proxy"]
        assert "running" in checks["proxy"].detail
    finally:
        run_vsh(["proxy", "stop"], vsh_home)
