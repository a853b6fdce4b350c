"""The runner: exit statuses, signals, timeout, stdin and tty passthrough, in the real sandbox; and the
host path. Sandboxed runs go through the same helper as the red-team tests (`vsh run` when the
decision engine is installed)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import needs_bwrap
from test_sandbox_redteam import Box, _procs_with, _stop_proxies, box, shared

from vshell.runner import RunRequest, run_host
from vshell.supervise import descendants

# fixtures shared with the red-team tests: one proxy daemon per module, a fresh workspace per test
__all__ = ["_stop_proxies", "box", "shared"]


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@needs_bwrap
@pytest.mark.parametrize("line,status", [("true", 0), ("exit 7", 7), ("kill -TERM $$", 143),
                                         ("kill -KILL $$", 137), ("exit 255", 255)])
def test_exit_status_is_the_commands(box: Box, line: str, status: int) -> None:
    assert box.run(line).returncode == status


@needs_bwrap
def test_stdin_and_stdout_pass_through_untouched(box: Box) -> None:
    data = "line one\n\ttabs and ünïcödé\n" + "x" * 100_000 + "\nend-without-newline"
    r = box.run(argv=["cat"], input=data)
    assert r.returncode == 0
    assert r.stdout == data


@needs_bwrap
def test_stderr_is_separate(box: Box) -> None:
    r = box.run("echo out; echo err >&2")
    assert r.stdout == "out\n"
    assert "err\n" in r.stderr


@needs_bwrap
@pytest.mark.parametrize("sig,expected", [(signal.SIGTERM, 5), (signal.SIGINT, 6), (signal.SIGHUP, 7)])
def test_signals_reach_the_command(box: Box, sig: signal.Signals, expected: int) -> None:
    line = ("trap 'echo got > trapped; exit 5' TERM; trap 'echo got > trapped; exit 6' INT; "
            "trap 'echo got > trapped; exit 7' HUP; echo > ready; "
            "while :; do sleep 0.1; done")
    proc = subprocess.Popen(box.command(line), env=box.environ, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _wait_for(box.workspace / "ready")
    proc.send_signal(sig)
    assert proc.wait(30) == expected
    assert (box.workspace / "trapped").read_text() == "got\n"


@needs_bwrap
def test_timeout_kills_the_whole_tree(box: Box) -> None:
    start = time.monotonic()
    r = box.run("trap '' TERM; sleep 300.7771 & (setsid sleep 300.7771 &); sleep 300.7771", timeout=1)
    assert r.returncode == 124, r
    assert time.monotonic() - start < 20
    time.sleep(0.2)
    assert _procs_with("300.7771") == []


@needs_bwrap
def test_a_tty_stays_a_tty(box: Box) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(box.command("test -t 0 && test -t 1 && test -t 2 && echo ALL-TTY; stty size"),
                            stdin=slave, stdout=slave, stderr=slave, env=box.environ, start_new_session=True)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                out += os.read(master, 4096)
            except OSError:
                break
        elif proc.poll() is not None:
            break
    os.close(master)
    os.close(slave)
    assert proc.wait(10) == 0, out
    assert b"ALL-TTY" in out


@needs_bwrap
def test_killing_vsh_leaves_nothing_behind(box: Box) -> None:
    proc = subprocess.Popen(box.command("echo > ready; sleep 300.6161"), env=box.environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(box.workspace / "ready")
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 10
    while _procs_with("300.6161") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _procs_with("300.6161") == []


# ---- host path and helpers (no sandbox) -------------------------------------------------------------

def test_run_host_exit_status_and_cwd(tmp_path: Path) -> None:
    assert run_host(["sh", "-c", "pwd > where; exit 3"], cwd=tmp_path, environ=dict(os.environ)) == 3
    assert (tmp_path / "where").read_text().strip() == str(tmp_path)


def test_run_host_timeout_kills_the_group(tmp_path: Path) -> None:
    start = time.monotonic()
    rc = run_host(["sh", "-c", "sleep 300.5151 & sleep 300.5151"], cwd=tmp_path, environ=dict(os.environ),
                  timeout=0.5)
    assert rc == 124
    assert time.monotonic() - start < 10
    time.sleep(0.2)
    assert _procs_with("300.5151") == []


def test_descendants_of_a_process_tree() -> None:
    proc = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 10
        while len(descendants(proc.pid, 1)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(descendants(proc.pid, 1)) == 2
        assert descendants(proc.pid, 2) == []
    finally:
        for pid in descendants(proc.pid, 1):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()


def test_run_request_is_frozen() -> None:
    req = RunRequest(line="ls", argv=("ls",))
    with pytest.raises(AttributeError):
        req.line = "rm"  # type: ignore[misc]
    assert req.creds == () and req.host is False and req.timeout is None
    assert sys.platform  # keep sys used for mypy-free clarity


@needs_bwrap
@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_before_the_command_exists_is_not_lost(box: Box, sig: signal.Signals, status: int) -> None:
    """Ctrl-C right after Enter reaches vsh while bubblewrap is still setting up: the command does
    not exist yet. The signal must still reach it once it starts, not vanish (the run would go on)."""
    proc = subprocess.Popen(box.command("sleep 30.5151"), env=box.environ, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    def run_bwrap_started() -> bool:  # the run's own bubblewrap, not the probe or the proxy start
        for pid in descendants(proc.pid, 1):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"bwrap" in cmdline and b"sleep 30.5151" in cmdline:
                return True
        return False

    deadline = time.monotonic() + 30
    while not run_bwrap_started():  # bwrap has started; the command is (most likely) not there yet
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.0005)
    proc.send_signal(sig)
    start = time.monotonic()
    assert proc.wait(20) == status
    assert time.monotonic() - start < 10


@needs_bwrap
def test_a_signal_is_delivered_once(box: Box) -> None:
    line = ("n=0; trap 'n=$((n+1)); echo $n >> count' INT; echo > ready; "
            "for i in $(seq 30); do sleep 0.1; done; exit 0")
    proc = subprocess.Popen(box.command(line), env=box.environ, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_for(box.workspace / "ready")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0
    assert (box.workspace / "count").read_text().split() == ["1"]


@needs_bwrap
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the test filter is written for x86_64")
def test_a_sandbox_that_fails_to_start_is_125_not_the_commands_status(box: Box) -> None:
    """The probe is cached per boot; if bubblewrap then cannot start, the run is vsh's failure (125),
    not a status 1 that looks like the command's, and the cache is dropped."""
    assert box.run("true").returncode == 0  # caches the probe
    from test_sandbox_redteam import _no_namespaces_filter

    r_fd, w_fd = os.pipe()
    os.write(w_fd, _no_namespaces_filter())
    os.close(w_fd)
    try:
        r = subprocess.run(["bwrap", "--dev-bind", "/", "/", "--seccomp", str(r_fd),
                            *box.command("touch ran")], env=box.environ, capture_output=True, text=True,
                           timeout=60, pass_fds=(r_fd,))
    finally:
        os.close(r_fd)
    assert r.returncode == 125, r
    assert "failed to start" in r.stderr or "does not work" in r.stderr
    assert not (box.workspace / "ran").exists()
