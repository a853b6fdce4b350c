"""The warm server (vshell.server) and its thin client (vshell.runfast), for real: bubblewrap, the
proxy daemon, the rules database and the audit log. The whole `vsh run` suite also runs through the
warm path in a second pass (VSH_TEST_WARM=1, see .ci/test); these tests cover what is its own: when
it is used and when it declines, and the boundaries around it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import needs_bwrap, run_vsh, start_warm, stop_warm, vsh_env

from vshell import runfast

pytestmark = [needs_bwrap, pytest.mark.sandbox]


def audit(home: Path, kind: str) -> list[dict[str, object]]:
    try:
        lines = (home / "audit.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return []
    return [e for e in map(json.loads, lines) if e.get("kind") == kind]


def wait_for(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    d = tmp_path / "ws"
    d.mkdir()
    return d


@pytest.fixture
def warm(vsh_home: Path) -> int:
    if (vsh_home / "run" / "warm.sock").exists():  # VSH_TEST_WARM=1 started it already
        return int((vsh_home / "run" / "warm.pid").read_text())
    return start_warm(vsh_home)


def run(home: Path, ws: Path, *argv: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return run_vsh(["run", "--workspace", str(ws), "--", *argv], home, **kw)  # type: ignore[arg-type]


# -- used, and faithful -----------------------------------------------------------------------------


def test_a_run_goes_through_the_warm_server_with_streams_and_status(vsh_home: Path, ws: Path, warm: int) -> None:
    out = run(vsh_home, ws, "sh", "-c", 'read x; echo "out:$x:$PWD"; echo err >&2; exit 7', input="in\n")
    assert out.returncode == 7, out.stderr
    assert out.stdout == f"out:in:{ws}\n"
    assert out.stderr.replace("vsh: starting egress proxy…\n", "") == "err\n"
    runs = audit(vsh_home, "run")
    assert runs[-1]["via"] == "warm" and runs[-1]["status"] == 7
    assert audit(vsh_home, "decision")[-1]["decision"] == "allow"


def test_the_first_run_starts_the_server_for_the_next(vsh_home: Path, ws: Path) -> None:
    if os.environ.get("VSH_TEST_WARM") == "1":
        stop_warm(vsh_home)
        assert wait_for(lambda: not (vsh_home / "run" / "warm.sock").exists())
    assert run(vsh_home, ws, "true").returncode == 0
    assert audit(vsh_home, "run")[-1]["via"] == "in-process"
    assert wait_for(lambda: (vsh_home / "run" / "warm.sock").exists())
    assert run(vsh_home, ws, "true").returncode == 0
    assert audit(vsh_home, "run")[-1]["via"] == "warm"
    assert (vsh_home / "run" / "warm.sock").stat().st_mode & 0o777 == 0o600


def test_concurrent_runs_each_get_their_own_plan(vsh_home: Path, ws: Path, warm: int) -> None:
    """Requests are decided one at a time, runs go on side by side; nothing crosses between them."""
    procs = [subprocess.Popen([sys.executable, "-m", "vshell", "run", "--workspace", str(ws), "--", "sh", "-c",
                               f'sleep 0.3; echo "run {i} $MARK"; exit {i}'],
                              env=vsh_env(vsh_home, MARK=f"m{i}"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, stdin=subprocess.DEVNULL) for i in range(12)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=120)
        assert p.returncode == i, err
        assert out == f"run {i} \n"  # MARK is not on the allow list: it never reaches the sandbox
    runs = audit(vsh_home, "run")
    assert len(runs) == 12 and sorted(int(r["status"]) for r in runs) == list(range(12))  # type: ignore[call-overload]
    assert all(r["via"] == "warm" for r in runs)


def test_the_client_never_creates_the_state_root(tmp_path: Path, ws: Path) -> None:
    """A missing $VSH_HOME is created by vshell.state (0700, every level); the client's start of the
    server must not create it first with the umask's modes."""
    from conftest import stop_daemon

    home = tmp_path / "a" / "b" / "vsh"
    try:
        out = run_vsh(["run", "--workspace", str(ws), "--", "true"], home, env=vsh_env(home))
        assert out.returncode == 0, out.stderr
        for d in (tmp_path / "a", tmp_path / "a" / "b", home, home / "run"):
            assert d.stat().st_mode & 0o077 == 0, oct(d.stat().st_mode)
    finally:
        stop_daemon(home)
        stop_warm(home)


def test_relative_workspace_and_environment_resolve_as_in_the_client(vsh_home: Path, tmp_path: Path, warm: int) -> None:
    (vsh_home / "config.toml").write_text('[sandbox]\nenv_allow = ["T_PASSED"]\n')
    (tmp_path / "rel" / "sub").mkdir(parents=True)
    env = vsh_env(vsh_home, T_PASSED="yes", T_DROPPED="no")
    out = run_vsh(["run", "--workspace", "rel", "--cwd", "sub", "--", "sh", "-c",
                   'echo "$PWD ${T_PASSED:-unset} ${T_DROPPED:-unset}"'], vsh_home, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"{tmp_path / 'rel' / 'sub'} yes unset\n"
    assert audit(vsh_home, "run")[-1]["via"] == "warm"


def test_a_run_that_removes_the_clients_directory_is_still_recorded(vsh_home: Path, ws: Path, warm: int) -> None:
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "high"\n')
    (ws / "sub").mkdir()
    out = run_vsh(["run", "--workspace", str(ws), "--", "rm", "-r", "sub"], vsh_home, cwd=ws / "sub")
    assert out.returncode == 0, out.stderr
    assert not (ws / "sub").exists()
    assert audit(vsh_home, "run")[-1]["via"] == "warm"
    assert audit(vsh_home, "run")[-1]["status"] == 0


def test_a_relative_vsh_home_means_the_same_directory(vsh_home: Path, ws: Path, warm: int) -> None:
    env = vsh_env(vsh_home, VSH_HOME=vsh_home.name)
    out = run_vsh(["run", "--workspace", str(ws), "--", "true"], vsh_home, env=env, cwd=vsh_home.parent)
    assert out.returncode == 0, out.stderr
    assert audit(vsh_home, "run")[-1]["via"] == "warm"


def test_a_refusal_reads_the_same_both_ways(vsh_home: Path, ws: Path, tmp_path: Path) -> None:
    cold_home = tmp_path / "cold-home"
    cold_home.mkdir(mode=0o700)
    for home in (vsh_home, cold_home):
        (home / "config.toml").write_text('[approval]\nauto_approve_up_to = "low"\n[sandbox]\nwarm_server = '
                                          + ("true" if home == vsh_home else "false") + "\n")
    start_warm(vsh_home) if not (vsh_home / "run" / "warm.sock").exists() else None
    warm_out = run(vsh_home, ws, "touch", "made")
    cold_out = run(cold_home, ws, "touch", "made")
    assert warm_out.returncode == cold_out.returncode == 126
    assert warm_out.stderr == cold_out.stderr.replace(str(cold_home), str(vsh_home))
    assert not (ws / "made").exists()
    assert audit(vsh_home, "decision")[-1]["decision"] == "deny"
    assert not (cold_home / "run" / "warm.sock").exists()


def test_rules_and_config_changes_apply_to_the_next_run(vsh_home: Path, ws: Path, warm: int) -> None:
    assert run(vsh_home, ws, "true").returncode == 0
    added = run_vsh(["rules", "add", "--pattern", "true", "--decision", "deny", "--json"], vsh_home)
    assert added.returncode == 0, added.stderr
    refused = run(vsh_home, ws, "true")
    assert refused.returncode == 126 and "refused" in refused.stderr
    assert run_vsh(["rules", "rm", str(json.loads(added.stdout)["id"])], vsh_home).returncode == 0
    assert run(vsh_home, ws, "true").returncode == 0
    (vsh_home / "config.toml").write_text("[approval]\nnot_a_key = 1\n")
    bad = run(vsh_home, ws, "true")
    assert bad.returncode == 125 and "not_a_key" in bad.stderr


def test_a_decision_that_needs_a_person_is_asked_in_the_client(vsh_home: Path, ws: Path, warm: int) -> None:
    pexpect = pytest.importorskip("pexpect")
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "none"\n')
    child = pexpect.spawn(sys.executable, ["-m", "vshell", "run", "--workspace", str(ws), "--", "touch", "asked"],
                          env=vsh_env(vsh_home), encoding="utf-8", timeout=60, cwd=str(ws))
    child.expect("Choose 1-6")
    child.send("1")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert (ws / "asked").exists()
    assert audit(vsh_home, "run")[-1]["via"] == "in-process"
    assert audit(vsh_home, "decision")[-1]["by"] == "prompt"


def test_grants_of_the_clients_session_apply(vsh_home: Path, ws: Path, warm: int) -> None:
    """"Allow for this session" is kept under the client's terminal session, not the server's."""
    from vshell.environment import Environment
    from vshell.grants import GrantStore
    from vshell.rules import RuleStore

    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "low"\n')
    assert run(vsh_home, ws, "touch", "a").returncode == 126
    session = f"sid:{os.getsid(0)}:notty"  # run_vsh's child: our session, no terminal on stdin
    with RuleStore(Environment(environ=vsh_env(vsh_home)).paths) as store:
        GrantStore(store).add(session=session, tool="bash", kind="key", value="touch", ttl=600, now=time.time())
    out = run(vsh_home, ws, "touch", "a")
    assert out.returncode == 0, out.stderr
    assert audit(vsh_home, "decision")[-1]["by"] == "grant"
    assert audit(vsh_home, "run")[-1]["via"] == "warm"


def test_switched_off_in_config(vsh_home: Path, ws: Path, warm: int) -> None:
    (vsh_home / "config.toml").write_text("[sandbox]\nwarm_server = false\n")
    assert run(vsh_home, ws, "true").returncode == 0
    assert audit(vsh_home, "run")[-1]["via"] == "in-process"
    assert wait_for(lambda: not (vsh_home / "run" / "warm.sock").exists())
    assert run(vsh_home, ws, "true").returncode == 0
    time.sleep(1.0)
    assert not (vsh_home / "run" / "warm.sock").exists()


def test_changed_code_is_never_used(vsh_home: Path, ws: Path, tmp_path: Path) -> None:
    """A server whose loaded modules changed on disk declines and exits; the next start loads the new code."""
    stop_warm(vsh_home)
    extra = tmp_path / "pylib"
    extra.mkdir()
    (extra / "sitecustomize.py").write_text("# loaded by every vsh process of this test\n")
    env = vsh_env(vsh_home, PYTHONPATH=f"{extra}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    wait_for(lambda: not (vsh_home / "run" / "warm.sock").exists())
    server = subprocess.Popen([sys.executable, "-m", "vshell.server"], env=env, cwd="/", start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: (vsh_home / "run" / "warm.sock").exists())
    assert run_vsh(["run", "--workspace", str(ws), "--", "true"], vsh_home, env=env).returncode == 0
    assert audit(vsh_home, "run")[-1]["via"] == "warm"
    later = time.time() + 5
    os.utime(extra / "sitecustomize.py", (later, later))
    assert run_vsh(["run", "--workspace", str(ws), "--", "true"], vsh_home, env=env).returncode == 0
    assert audit(vsh_home, "run")[-1]["via"] == "in-process"
    assert server.wait(15) == 0
    assert "stale" in (vsh_home / "run" / "warm.log").read_text()


def test_another_installation_is_not_used(vsh_home: Path, warm: int) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(vsh_home / "run" / "warm.sock"))
    runfast.send_msg(sock, [runfast.PROTOCOL, b"/other/python\n/other/vshell", b"/", b"18", b"0", b"0", b"9", b"sid:1:notty", runfast.view_id(),
                            *runfast.environ_fields({"VSH_HOME": str(vsh_home)}), b"--", b"true"])
    assert runfast.recv_msg(sock)[:2] == [b"fallback", b"another vsh installation"]
    sock.close()


def test_a_client_with_another_view_of_the_files_is_not_served(vsh_home: Path, ws: Path, warm: int) -> None:
    """A client in another mount namespace (a container or chroot sharing $VSH_HOME) decides in-process."""
    import shutil

    if os.getuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1)")
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-m", "vshell", "run",
                          "--workspace", str(ws), "--", "true"], env=vsh_env(vsh_home), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert audit(vsh_home, "run")[-1]["via"] == "in-process"
    assert run(vsh_home, ws, "true").returncode == 0
    assert audit(vsh_home, "run")[-1]["via"] == "warm"


# -- boundaries -------------------------------------------------------------------------------------


def test_a_process_of_another_user_gets_nothing(vsh_home: Path, ws: Path, warm: int) -> None:
    """Even with the socket made reachable by mistake, a peer of another uid is refused."""
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    sock_path = vsh_home / "run" / "warm.sock"
    opened = [p for p in sock_path.parents if p != Path("/") and not p.stat().st_mode & 0o001]
    saved = {p: p.stat().st_mode & 0o7777 for p in opened}
    probe = (
        "import os, socket, sys\n"
        "from vshell import runfast\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "try:\n"  # the server may close before reading: the send itself can fail
        "    runfast.send_msg(s, [runfast.PROTOCOL, runfast.install_id(), b'/', b'18', b'0', b'0', b'9', b'sid:1:notty',"
        " runfast.view_id(), *runfast.environ_fields({'VSH_HOME': sys.argv[2]}), b'run', b'--workspace',"
        " sys.argv[3].encode(), b'--', b'true'])\n"
        "    print(runfast.recv_msg(s)[0])\nexcept ConnectionError:\n    print('closed')\n"
    )
    try:
        for p in opened:
            p.chmod(saved[p] | 0o001)
        sock_path.chmod(0o666)
        out = subprocess.run([sys.executable, "-c", probe, str(sock_path), str(vsh_home), str(ws)],
                             capture_output=True, text=True, timeout=30, cwd="/")
    finally:
        sock_path.chmod(0o600)
        for p, mode in saved.items():
            p.chmod(mode)
    assert out.stdout.strip() == "closed", out.stderr
    assert audit(vsh_home, "decision") == []


def test_the_sandbox_cannot_reach_the_warm_server(vsh_home: Path, ws: Path, warm: int) -> None:
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "medium"\n')
    path = vsh_home / "run" / "warm.sock"
    probe = ("import socket, sys\n"
             "try:\n    s = socket.socket(socket.AF_UNIX)\n    s.connect(sys.argv[1])\n    print('CONNECTED')\n"
             "except OSError as e:\n    print('refused', e.errno)\n")
    out = run(vsh_home, ws, "python3", "-c", probe, str(path))
    assert out.returncode == 0, out.stderr
    assert "CONNECTED" not in out.stdout and out.stdout.startswith("refused")
    assert audit(vsh_home, "run")[-1]["via"] == "warm"


def test_killing_the_client_ends_the_run_and_the_server_still_records_it(vsh_home: Path, ws: Path, warm: int) -> None:
    marker = "61.4321"
    client = subprocess.Popen([sys.executable, "-m", "vshell", "run", "--workspace", str(ws), "--", "sleep", marker],
                              env=vsh_env(vsh_home), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    def sleeping() -> bool:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\0" + marker.encode() + b"\0":
                    return True
            except OSError:
                continue
        return False

    assert wait_for(sleeping)
    client.send_signal(signal.SIGKILL)
    client.wait(10)
    assert wait_for(lambda: not sleeping(), timeout=10)
    assert wait_for(lambda: bool(audit(vsh_home, "run")))
    assert audit(vsh_home, "run")[-1]["status"] == -1
    assert audit(vsh_home, "run")[-1]["via"] == "warm"


def test_the_client_imports_nothing_heavy(vsh_home: Path, ws: Path, warm: int) -> None:
    """The warm path's whole point: no click, parser, rules, vault or mitmproxy in the client."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "vshell", "run", "--workspace", str(ws), "--",
                          "true"], env=vsh_env(vsh_home), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert audit(vsh_home, "run")[-1]["via"] == "warm"
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    heavy = {"click", "tree_sitter", "vshell.classify", "vshell.rules", "vshell.vault", "vshell.runner",
             "sqlite3", "mitmproxy", "cryptography", "keyring", "dataclasses", "typing", "subprocess", "json"}
    assert not imported & heavy, sorted(imported & heavy)


def test_eligibility() -> None:
    environ: dict[str, str] = {}
    assert runfast.eligible(["run", "--", "true"], environ)
    assert runfast.eligible(["run", "-c", "ls"], environ)
    assert not runfast.eligible(["run", "--host", "-c", "ls"], environ)
    assert not runfast.eligible(["run", "--debug", "--", "true"], environ)
    assert not runfast.eligible(["run", "--", "true"], {"LOG_LEVEL": "DEBUG"})
    assert not runfast.eligible(["run", "--help"], environ)
    assert runfast.eligible(["check", "--json", "--", "true"], environ)
    assert runfast.eligible(["classify", "--", "true"], environ)
    assert not runfast.eligible(["classify", "-"], environ)  # reads standard input: the client's
    assert not runfast.eligible(["classify", "--jsonl"], environ)
    assert not runfast.eligible(["check", "--", "true"], {"LOG_LEVEL": "debug"})
    assert not runfast.eligible(["explain", "--", "true"], environ)
    assert not runfast.eligible(["--debug", "run", "--", "true"], environ)


# -- vsh check and vsh classify ----------------------------------------------------------------------

READ_ONLY_CALLS = [
    ["check", "--", "git status"],
    ["check", "--json", "--", "rm -rf build"],
    ["check", "--json", "--context", "conversation", "--", "touch a && ls"],
    ["check", "--host", "--", "ls"],
    ["check", "--cwd", "/nonexistent-dir", "--", "ls"],  # a usage error, reported the same way
    ["check", "--", "ls 'unterminated"],
    ["classify", "--", "cat a.log | sh"],
    ["classify", "--json", "--", "find . -delete"],
    ["classify", "--", "   "],  # a usage error
]


def test_check_and_classify_read_the_same_both_ways(vsh_home: Path, tmp_path: Path) -> None:
    cold_home = tmp_path / "cold-home"
    cold_home.mkdir(mode=0o700)
    for home in (vsh_home, cold_home):
        (home / "config.toml").write_text("[sandbox]\nwarm_server = " + ("true" if home == vsh_home else "false")
                                          + "\n")
        assert run_vsh(["rules", "add", "--pattern", "git status *", "--decision", "allow"], home).returncode == 0
    start_warm(vsh_home) if not (vsh_home / "run" / "warm.sock").exists() else None
    for call in READ_ONLY_CALLS:
        warm_out, cold_out = run_vsh(call, vsh_home), run_vsh(call, cold_home)
        assert (warm_out.returncode, warm_out.stdout, warm_out.stderr) == (
            cold_out.returncode, cold_out.stdout.replace(str(cold_home), str(vsh_home)),
            cold_out.stderr.replace(str(cold_home), str(vsh_home))), call
    checks = [e for e in audit(vsh_home, "decision") if e.get("source") == "check"]
    assert [e["line"] for e in checks][:3] == ["git status", "rm -rf build", "touch a && ls"]
    assert not (cold_home / "run" / "warm.sock").exists()


def test_check_and_classify_are_answered_by_the_server(vsh_home: Path, warm: int) -> None:
    """The point: `vsh check` in a hook before every command costs a round trip, not the imports."""
    for call in (["check", "--json", "--", "ls"], ["classify", "--", "ls"]):
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "vshell", *call], env=vsh_env(vsh_home),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines()
                    if line.startswith("import time:")}
        assert not imported & {"click", "tree_sitter", "vshell.classify", "sqlite3", "json"}, call


def test_check_sees_the_grants_of_the_clients_session(vsh_home: Path, warm: int) -> None:
    from vshell.environment import Environment
    from vshell.grants import GrantStore
    from vshell.rules import RuleStore

    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "low"\n')
    before = json.loads(run_vsh(["check", "--json", "--", "touch a"], vsh_home).stdout)
    assert before["decision"] == "deny"
    with RuleStore(Environment(environ=vsh_env(vsh_home)).paths) as store:
        GrantStore(store).add(session=f"sid:{os.getsid(0)}:notty", tool="bash", kind="key", value="touch",
                              ttl=600, now=time.time())
    after = json.loads(run_vsh(["check", "--json", "--", "touch a"], vsh_home).stdout)
    assert after["decision"] == "allow", after


def test_losing_the_server_during_a_run_is_a_vsh_failure(vsh_home: Path, ws: Path, warm: int) -> None:
    """The server does the end of the run (quarantine of protected files the command created): if it
    is gone by then, that check did not happen and the run must not look like a success."""
    (vsh_home / "config.toml").write_text('[approval]\nauto_approve_up_to = "medium"\n')
    proc = subprocess.Popen([sys.executable, "-m", "vshell", "run", "--workspace", str(ws), "--", "sh", "-c",
                             "touch started; sleep 1.5; echo x > .envrc"], env=vsh_env(vsh_home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: (ws / "started").exists())  # the command runs: the server made its plan
    os.kill(warm, signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 125, err
    assert "lost the warm server" in err and "exited 0" in err
