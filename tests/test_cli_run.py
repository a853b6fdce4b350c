"""`vsh run` on the command line: usage mistakes exit 125, refusals 126, workspace rules, --host."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import needs_bwrap, run_vsh, vsh_env

DECIDER = importlib.util.find_spec("vshell.classify") is not None
needs_decider = pytest.mark.skipif(not DECIDER, reason="the decision engine (vshell.classify) is missing")


@pytest.fixture(autouse=True)
def _stop_proxy(vsh_home: Path) -> Iterator[None]:
    yield
    if importlib.util.find_spec("vshell.proxy.client") is not None:
        from vshell.proxy import client

        from vshell.environment import Environment

        client.stop(Environment(environ=vsh_env(vsh_home)))


def config(vsh_home: Path, text: str) -> None:
    (vsh_home / "config.toml").write_text(text)


@pytest.mark.parametrize("args", [
    ["run"],
    ["run", "-c", "true", "--", "true"],
    ["run", "--context", "nobody", "--", "true"],
    ["run", "--timeout", "-1", "--", "true"],
    ["run", "--timeout", "abc", "--", "true"],
    ["run", "--no-such-option", "--", "true"],
    ["run", "-c"],
])
def test_usage_mistakes_exit_125(vsh_home: Path, args: list[str]) -> None:
    r = run_vsh(args, vsh_home)
    assert r.returncode == 125, r
    assert "Traceback" not in r.stderr


def test_help_has_examples(vsh_home: Path) -> None:
    r = run_vsh(["run", "--help"], vsh_home)
    assert r.returncode == 0
    assert "vsh run -- ls" in r.stdout and "--cred" in r.stdout and "--timeout" in r.stdout


@pytest.mark.parametrize("where", ["/", "HOME", "HOME_PARENT"])
def test_workspace_root_or_home_is_refused(tmp_path: Path, vsh_home: Path, where: str) -> None:
    home = tmp_path / "users" / "me"
    home.mkdir(parents=True)
    workspace = {"/": "/", "HOME": str(home), "HOME_PARENT": str(home.parent)}[where]
    marker = tmp_path / "ran"
    r = run_vsh(["run", "--workspace", workspace, "--", "touch", str(marker)], vsh_home,
                env=vsh_env(vsh_home, HOME=str(home)))
    assert r.returncode == 125, r
    assert "refusing workspace" in r.stderr
    assert not marker.exists()


def test_workspace_from_config_must_exist(tmp_path: Path, vsh_home: Path) -> None:
    config(vsh_home, f'[sandbox]\nworkspace = "{tmp_path / "missing"}"\n')
    r = run_vsh(["run", "--", "true"], vsh_home)
    assert r.returncode == 125 and "not a directory" in r.stderr


def test_cwd_outside_the_workspace_is_refused(tmp_path: Path, vsh_home: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    for cwd in ("..", "/etc", "../../.."):
        r = run_vsh(["run", "--workspace", str(ws), "--cwd", cwd, "--", "true"], vsh_home)
        assert r.returncode == 125, (cwd, r)
        assert "outside the workspace" in r.stderr


def test_unknown_credential_fails_before_anything_runs(tmp_path: Path, vsh_home: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    config(vsh_home, '[approval]\nauto_approve_up_to = "high"\n')
    r = run_vsh(["run", "--workspace", str(ws), "--cred", "nope/none", "--", "touch", "ran"], vsh_home)
    assert r.returncode == 125, r
    assert "nope/none" in r.stderr
    assert not (ws / "ran").exists()


def test_cred_with_host_is_a_usage_error(tmp_path: Path, vsh_home: Path) -> None:
    r = run_vsh(["run", "--host", "--cred", "a/b", "--", "true"], vsh_home)
    assert r.returncode == 125 and "--host" in r.stderr


@needs_decider
def test_refusal_exits_126_and_nothing_runs(tmp_path: Path, vsh_home: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    config(vsh_home, '[approval]\nauto_approve_up_to = "none"\n')
    r = run_vsh(["run", "--workspace", str(ws), "--", "touch", "ran"], vsh_home)
    assert r.returncode == 126, r
    assert not (ws / "ran").exists()
    assert "vsh rules add" in r.stderr


@needs_decider
@needs_bwrap
def test_argv_runs_exactly_and_the_decided_line_is_its_shlex_join(tmp_path: Path, vsh_home: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    config(vsh_home, '[approval]\nauto_approve_up_to = "high"\n')
    weird = ["printf", "%s|", "a b", "$(id)", "; rm -rf /", "*", "'\""]
    r = run_vsh(["run", "--workspace", str(ws), "--", *weird], vsh_home)
    assert r.returncode == 0, r
    assert r.stdout == "a b|$(id)|; rm -rf /|*|'\"|"
    lines = [json.loads(x) for x in (vsh_home / "audit.jsonl").read_text().splitlines()]
    import shlex

    assert any(e.get("line") == shlex.join(weird) for e in lines)


def _hostile_signal_state() -> None:
    """What a careless parent may hand vsh: SIGCHLD ignored (children reaped by the kernel, exit
    statuses lost) and SIGTERM/SIGINT blocked (inherited by everything vsh starts)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])


@needs_decider
@needs_bwrap
def test_inherited_signal_state_cannot_hide_an_exit_status_or_shield_the_command(tmp_path: Path,
                                                                                 vsh_home: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    config(vsh_home, '[approval]\nauto_approve_up_to = "high"\n')
    base = [sys.executable, "-m", "vshell", "run", "--workspace", str(ws)]
    env = vsh_env(vsh_home)
    r = subprocess.run([*base, "--", "sh", "-c", "grep '^SigBlk' /proc/self/status; exit 3"], env=env,
                       capture_output=True, text=True, timeout=60, preexec_fn=_hostile_signal_state)
    assert r.returncode == 3, r
    assert r.stdout == "SigBlk:\t0000000000000000\n"
    started = time.monotonic()
    r = subprocess.run([*base, "--timeout", "1", "--", "sleep", "30"], env=env, capture_output=True, text=True,
                       timeout=60, preexec_fn=_hostile_signal_state)
    assert r.returncode == 124, r
    assert time.monotonic() - started < 15


@needs_decider
@needs_bwrap
def test_dash_c_runs_the_exact_bytes_with_bash(tmp_path: Path, vsh_home: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    config(vsh_home, '[approval]\nauto_approve_up_to = "high"\n')
    r = run_vsh(["run", "--workspace", str(ws), "--cwd", "sub", "-c", 'echo "$0" $((1+2)); pwd'], vsh_home)
    assert r.returncode == 0, r
    assert r.stdout == f"bash 3\n{ws / 'sub'}\n"


@needs_decider
def test_host_needs_a_host_bash_rule(tmp_path: Path, vsh_home: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    target = tmp_path / "on-host"
    config(vsh_home, '[approval]\nauto_approve_up_to = "high"\n')
    r = run_vsh(["run", "--workspace", str(ws), "--host", "--", "touch", str(target)], vsh_home)
    assert r.returncode == 126, r
    assert not target.exists()
    add = run_vsh(["rules", "add", "--tool", "host_bash", "--pattern", "touch *", "--decision", "allow"],
                  vsh_home)
    assert add.returncode == 0, add
    r = run_vsh(["run", "--workspace", str(ws), "--host", "--", "touch", str(target)], vsh_home)
    assert r.returncode == 0, r
    assert target.exists()  # on the host: outside the workspace


@needs_decider
@needs_bwrap
def test_run_does_not_import_heavy_modules(tmp_path: Path, vsh_home: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    config(vsh_home, '[approval]\nauto_approve_up_to = "high"\n')
    code = ("import sys\nfrom vshell.cli import main\ntry:\n    main(['run', '--workspace', sys.argv[1], '--', 'true'])\n"
            "except SystemExit:\n    pass\n"
            "bad = [m for m in ('mitmproxy', 'keyring', 'tldextract', 'cryptography') if m in sys.modules]\n"
            "print('HEAVY', bad)\n")
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code, str(ws)], env={**os.environ, "VSH_HOME": str(vsh_home)},
                       capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in r.stdout, r


@pytest.mark.parametrize("workspace", ["/etc", "/usr/local", "/var", "HOME/.config", "HOME/.local/bin"])
def test_system_and_home_config_trees_are_refused(tmp_path: Path, vsh_home: Path, workspace: str) -> None:
    home = tmp_path / "home"
    target = Path(workspace.replace("HOME", str(home)))
    if workspace.startswith("HOME"):
        target.mkdir(parents=True)
    r = run_vsh(["run", "--workspace", str(target), "--", "true"], vsh_home, env=vsh_env(vsh_home, HOME=str(home)))
    assert r.returncode == 125, r
    assert "refusing workspace" in r.stderr


@needs_decider
@pytest.mark.parametrize("make_line", [
    lambda secret: "curl -H 'Authorization: token ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" + "' https://api.github.com/user",
    lambda secret: f"curl -H 'X-Key: {secret}' https://api.fal.run/ && touch ran",
    lambda secret: f"echo {secret[:8]}''{secret[8:]} > ran",  # bash joins the quoted halves
    lambda secret: "printf %s " + "".join(f"\\{ch}" for ch in secret) + " > ran",  # escaped letters
])
def test_line_with_a_literal_secret_is_refused_before_it_runs(tmp_path: Path, vsh_home: Path,
                                                              make_line: object) -> None:
    """Ingress scan: a known key format or any stored credential's value in the line is refused
    (126) before the decision and before anything runs; the audit log keeps it redacted."""
    ws = tmp_path / "ws"
    ws.mkdir()
    secret = "Zq7" + os.urandom(12).hex() + "Xy"  # looks like a credential value; stored below
    env = {**vsh_env(vsh_home), "VSH_VAULT_BACKEND": "file"}
    added = run_vsh(["cred", "add", "fal/api_key", "--host", "*.fal.run", "--value-stdin"], vsh_home,
                    input=secret + "\n", env=env)
    assert added.returncode == 0, added.stderr
    config(vsh_home, '[approval]\nauto_approve_up_to = "high"\n')
    line = make_line(secret)  # type: ignore[operator]
    r = run_vsh(["run", "--workspace", str(ws), "-c", line], vsh_home, env=env)
    assert r.returncode == 126, r
    assert "literal secret" in r.stderr and secret not in r.stderr
    assert not (ws / "ran").exists()
    log = (vsh_home / "audit.jsonl").read_text()
    assert "secret-scan" in log and secret not in log
    assert secret[8:] not in log  # not even the second half of a value spelled in pieces


def test_credential_usage_policy_is_enforced_before_anything_runs(tmp_path: Path, vsh_home: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    env = {**vsh_env(vsh_home), "VSH_VAULT_BACKEND": "file"}
    added = run_vsh(["cred", "add", "ops/token", "--host", "api.example.test", "--allowed-tool", "host_bash",
                     "--value-stdin"], vsh_home, input="Zq7" + os.urandom(12).hex() + "\n", env=env)
    assert added.returncode == 0, added.stderr
    config(vsh_home, '[approval]\nauto_approve_up_to = "high"\n')
    r = run_vsh(["run", "--workspace", str(ws), "--cred", "ops/token", "--", "touch", "ran"], vsh_home, env=env)
    assert r.returncode == 125, r
    assert "ops/token may not be used by bash runs" in r.stderr
    assert not (ws / "ran").exists()
