"""Shared fixtures. Every test gets its own $VSH_HOME; nothing touches the real user state."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REDTEAM = SHARED / "redteam-public"


def bwrap_works() -> bool:
    if not shutil.which("bwrap"):
        return False
    probe = ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    return subprocess.run(probe, capture_output=True).returncode == 0


BWRAP = bwrap_works()
needs_bwrap = pytest.mark.skipif(not BWRAP, reason="bubblewrap cannot create namespaces here")


@pytest.fixture
def vsh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "vsh-home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("VSH_HOME", str(home))
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    if os.environ.get("VSH_TEST_WARM") == "1":
        start_warm(home)
    yield home
    stop_daemon(home)
    stop_warm(home)


def start_warm(home: Path, timeout: float = 30.0) -> int:
    """Start the warm server for `home` and wait until it answers (VSH_TEST_WARM=1 runs every
    test's `vsh run` through it); its pid."""
    import time

    env = {**os.environ, "VSH_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "vshell.server"], env=env, cwd="/",
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    sock = home / "run" / "warm.sock"
    deadline = time.monotonic() + timeout
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the warm server did not start for {home}")
        time.sleep(0.02)
    return proc.pid


def stop_warm(home: Path) -> None:
    """Stop the warm server a test's runs started under `home` (it would idle for minutes)."""
    import signal

    try:
        pid = int((home / "run" / "warm.pid").read_text())
    except (OSError, ValueError):
        return
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"vshell.server" not in f.read():
                return
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No warm server of this session outlives it (each would idle for minutes): stop those whose
    $VSH_HOME lies under this session's temporary directory."""
    import signal

    try:
        base = str(session.config._tmp_path_factory.getbasetemp())  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"vshell.server" not in f.read():
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(v.partition(b"=")[::2] for v in f.read().split(b"\0") if v)
            if env.get(b"VSH_HOME", b"").decode(errors="replace").startswith(base.rstrip("/") + "/"):
                os.kill(int(pid), signal.SIGTERM)
        except OSError:
            continue


def stop_daemon(home: Path) -> None:
    """Stop a proxy daemon a test's runs started under `home`, so none outlives its test."""
    if not (home / "proxy").exists():
        return
    from vshell.proxy import client

    from vshell.environment import Environment

    client.stop(Environment(environ={**os.environ, "VSH_HOME": str(home)}))


def vsh_env(vsh_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL",)}
    env["VSH_HOME"] = str(vsh_home)
    env.update(extra)
    return env


def run_vsh(
    args: Sequence[str],
    vsh_home: Path,
    *,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the real `vsh` CLI in a subprocess (no tty: the context is headless)."""
    return subprocess.run(
        [sys.executable, "-m", "vshell", *args],
        input=input if isinstance(input, str) or input is None else input.decode(),
        capture_output=True,
        text=True,
        env=env or vsh_env(vsh_home),
        cwd=cwd,
        timeout=timeout,
    )


@dataclass
class SandboxBox:
    """A fake HOME, a workspace and a $VSH_HOME for attacks through the real `vsh run` (headless):
    the sandbox suites' one way to run a command and read what happened."""

    home: Path
    workspace: Path
    vsh_home: Path
    environ: dict[str, str]

    def run(self, line: str | None = None, *, argv: list[str] | None = None, workspace: Path | None = None,
            cwd: str = "", timeout: float | None = None, extra_env: dict[str, str] | None = None,
            input: str | None = None, wall: float = 120) -> subprocess.CompletedProcess[str]:
        """`vsh run` of `bash -c line` (`-c`) or of argv (`--`); returns the finished vsh process."""
        opts = ["--workspace", str(workspace or self.workspace), "--context", "headless"]
        if cwd:
            opts += ["--cwd", cwd]
        if timeout is not None:
            opts += ["--timeout", str(timeout)]
        args = ["run", *opts, *(["-c", line or ""] if argv is None else ["--", *argv])]
        return run_vsh(args, self.vsh_home, env={**self.environ, **(extra_env or {})}, input=input, timeout=wall)

    def command(self, line: str) -> list[str]:
        """The argv (a child process) that runs `line` in the sandbox, for pty and signal tests."""
        return [sys.executable, "-m", "vshell", "run", "--workspace", str(self.workspace), "--context", "headless",
                "-c", line]
