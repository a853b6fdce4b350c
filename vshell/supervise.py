"""One run's process tree, from spawn to exit status: signals forwarded, the timeout enforced,
nothing left behind.

Used by the in-process runner and by the thin `vsh run` client (vshell.runfast), so it imports only
what the interpreter has already loaded or costs nothing: os, select, time and _signal (the `signal`
and `subprocess` modules would add 20 ms to every run).
"""

from __future__ import annotations

import _signal
import os
import select
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

FORWARDED_SIGNALS = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)
SIGKILL = _signal.SIGKILL
SIGTERM = _signal.SIGTERM
SIGINT = _signal.SIGINT
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL on timeout
TIMEOUT_STATUS = 124  # as timeout(1)
PENDING_POLL = 0.01  # seconds between looks for the command while a signal waits for it


def reset_inherited_signals() -> None:
    """Undo the signal state a parent may hand vsh across exec: an ignored SIGCHLD (the kernel then
    reaps children itself, so no exit status can be read and a run would seem to succeed) and
    blocked signals (a command that cannot see SIGTERM or SIGINT could not be stopped). Every vsh
    process that starts others calls this first."""
    if _signal.getsignal(_signal.SIGCHLD) == _signal.SIG_IGN:
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())


class TimedOut(Exception):
    """Child.wait ran out of time."""


class Child:
    """A child process by pid: waited for through a pidfd (no polling loop) where the kernel has them.

    `returncode` follows subprocess: the exit status, or -N when signal N killed it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._pidfd: int | None
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done, status = self.pid, 0
            if done == self.pid:
                self._reaped(status)
        return self.returncode

    def _reaped(self, status: int) -> None:
        self.returncode = os.waitstatus_to_exitcode(status)
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def wait(self, timeout: float | None = None) -> int:
        """The return code; TimedOut after `timeout` seconds. A signal handler that raises ends the
        wait with its exception (a handler that returns lets it go on, PEP 475)."""
        if self.returncode is not None:
            return self.returncode
        if timeout is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                status = 0
            self._reaped(status)
            return self.returncode  # type: ignore[return-value]
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimedOut
            if self._pidfd is not None:
                p = select.poll()
                p.register(self._pidfd, select.POLLIN)
                p.poll(max(1, int(remaining * 1000 + 0.999)))
            else:
                time.sleep(min(remaining, 0.005))
        return self.returncode  # type: ignore[return-value]

    def kill(self) -> None:
        try:
            os.kill(self.pid, SIGKILL)
        except ProcessLookupError:
            pass


def spawn(argv: Sequence[str], env: Mapping[str, str], *, pass_fds: Sequence[int] = (),
          detach: bool = False) -> Child:
    """Start argv[0] (an absolute path) in its own process group with the standard streams and
    `pass_fds` only: every other descriptor this process holds is made close-on-exec first, so
    nothing it inherited leaks into the run. detach: in a new session instead, with the standard
    streams on /dev/null (a background server). OSError when it cannot start."""
    keep = {0, 1, 2, *pass_fds}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass
    for fd in pass_fds:
        os.set_inheritable(fd, True)
    kwargs: dict[str, Any] = {"setpgroup": 0}
    if detach:
        kwargs = {"setsid": True, "file_actions": [
            (os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_RDWR, 0) for fd in (0, 1, 2)]}
    return Child(os.posix_spawn(argv[0], list(argv), dict(env), **kwargs))


def read_available(fd: int) -> bytes:
    """Everything readable from `fd` now, without blocking (a pipe whose writers are gone: all of it)."""
    os.set_blocking(fd, False)
    out = b""
    try:
        while chunk := os.read(fd, 65536):
            out += chunk
    except BlockingIOError:
        pass
    return out


def sandbox_started(status_report: bytes) -> bool:
    """Whether bubblewrap's --json-status-fd report shows that the sandbox existed."""
    return b'"child-pid"' in status_report


# ---------------------------------------------------------------------------------------------------
# The process tree


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: fields start after the last ')'
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pid: int, min_depth: int) -> list[int]:
    """`pid`'s descendants at depth `min_depth` (1: children) and below."""
    kids = _children_map()
    out: list[int] = []
    level = [pid]
    depth = 0
    while level:
        depth += 1
        level = [c for p in level for c in kids.get(p, [])]
        if depth >= min_depth:
            out += level
    return out


def signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class _SignalPending(Exception):
    """Raised by the signal handler to end a blocking wait when a signal must wait for the command."""


class Supervisor:
    """Forwards signals to the run's processes and enforces the timeout.

    `targets(sig)` delivers a signal to the command's processes; `kill()` ends the whole run.
    sandboxed: the child is bubblewrap; `command_depth` is how far below it the command runs.
    own_group: the child leads its own process group (else it shares ours, on a terminal).
    """

    def __init__(self, *, sandboxed: bool, own_group: bool = True, command_depth: int = 2) -> None:
        self.proc: Child | None = None
        self.sandboxed = sandboxed
        self.own_group = own_group
        self.command_depth = command_depth
        self.signalled: int | None = None
        self.pending: int | None = None  # a signal that arrived before the command existed
        self._previous: dict[int, Any] = {}
        self._waiting = False  # inside a wait: the handler may interrupt it

    def __enter__(self) -> Supervisor:
        """Install the forwarding handlers BEFORE the process is spawned: a Ctrl-C in between must
        not kill vsh and leave the run to --die-with-parent. Off the main thread (where handlers
        cannot be installed) signals stay with whoever owns them."""
        try:
            for s in FORWARDED_SIGNALS:
                self._previous[s] = _signal.signal(s, self.handler)
        except ValueError:
            self.__exit__()
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._previous.items():
            _signal.signal(s, h)
        self._previous = {}

    def attach(self, proc: Child) -> None:
        self.proc = proc

    def targets(self, sig: int) -> bool:
        """Deliver `sig` to the command's processes; False when there were none to deliver it to."""
        if self.proc is None:
            return False
        if not self.own_group:
            # Shares our process group (a host command on a terminal): the terminal already sent it
            # SIGINT; other signals go to it and its children.
            if sig != SIGINT:
                signal_all([self.proc.pid, *descendants(self.proc.pid, 1)], sig)
            return True
        if self.sandboxed:
            # bwrap (outside) -> [proxy forwarder (pid 1 inside) ->] the command and its children.
            # The forwarder would relay the signal to the command a second time: it is skipped.
            pids = descendants(self.proc.pid, self.command_depth)
            signal_all(pids, sig)
            return bool(pids)
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        return True

    def kill(self) -> None:
        assert self.proc is not None
        if not self.own_group:
            signal_all([*descendants(self.proc.pid, 1), self.proc.pid], SIGKILL)
        elif self.sandboxed:
            # SIGKILL to pid 1 of a pid namespace kills every process in it.
            signal_all(descendants(self.proc.pid, 1), SIGKILL)
            self.proc.kill()
        else:
            try:
                os.killpg(self.proc.pid, SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def handler(self, signum: int, frame: Any) -> None:
        self.signalled = signum
        if not self.targets(signum):
            # Ctrl-C right after Enter: the sandbox is still starting and the command does not
            # exist yet. Remember it and deliver it the moment the command appears; a blocking wait
            # would resume after this handler (PEP 475) and never look again, so break out of it.
            self.pending = signum
            if self._waiting:
                raise _SignalPending

    def _wait_step(self, deadline: float | None) -> None:
        """Wait for the run to end, at most until `deadline`; while a signal is pending, in short
        steps so that it reaches the command as soon as the command exists."""
        assert self.proc is not None
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = remaining if self.pending is None else min(PENDING_POLL, remaining or PENDING_POLL)
            self._waiting = True
            try:
                self.proc.wait(step)
                return
            except _SignalPending:
                continue
            except TimedOut:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                if self.pending is not None and self.targets(self.pending):
                    self.pending = None
            finally:
                self._waiting = False

    def wait(self, timeout: float | None) -> int:
        """The run's exit status (128+n for a signal; TIMEOUT_STATUS when `timeout` ran out)."""
        assert self.proc is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._wait_step(deadline)
        except TimedOut:
            self.targets(SIGTERM)
            try:
                self.proc.wait(KILL_GRACE)
            except TimedOut:
                self.kill()
                self.proc.wait()
            if not self.sandboxed and self.own_group:
                self.kill()  # the rest of the host process group
            return TIMEOUT_STATUS
        rc = self.proc.returncode
        assert rc is not None
        return 128 - rc if rc < 0 else rc
