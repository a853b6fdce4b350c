"""Running one decided command: in the sandbox (or, with --host, on the host after its own decision).

The streams are inherited untouched (a TTY stays a TTY, nothing is buffered); the exit status is
the command's (a signal n gives 128+n); SIGINT, SIGTERM and SIGHUP reach every process of the run;
no process of the run survives it (bubblewrap's pid namespace dies with its first process, and
--die-with-parent with vsh). Order: validate credential references, decide, probe the backend, set
up egress, build the spec, run, quarantine protected names the run created.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vshell.environment import Environment
from vshell.errors import CredentialError, ProxyUnavailable, SandboxUnavailable, UsageError, VshError
from vshell.sandbox import resolve_cwd, resolve_workspace
from vshell.sandbox_spec import (
    INSIDE_FORWARDER,
    INSIDE_PROXY_SOCKET,
    SYSTEM_CA_BUNDLES,
    NetworkPolicy,
    SandboxSpec,
)
from vshell.state import StatePaths

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL on timeout
TIMEOUT_STATUS = 124  # as timeout(1)
PENDING_POLL = 0.01  # seconds between looks for the command while a signal waits for it

__all__ = ["RunRequest", "execute", "resolve_cwd", "resolve_workspace", "run_host", "run_spec"]


@dataclass(frozen=True)
class RunRequest:
    """One run. `line` is what was decided; `argv` is what runs (("bash", "-c", line) for -c).

    workspace/cwd None: config's or the default workspace, and its root. creds: credential
    references the proxy may inject. context None: vshell.approval.default_context. timeout None:
    no limit. extra_env: variables to add (session exports), filtered like the caller's.
    """

    line: str
    argv: tuple[str, ...]
    workspace: Path | None = None
    cwd: Path | None = None
    creds: tuple[str, ...] = ()
    context: str | None = None
    host: bool = False
    timeout: float | None = None
    session_id: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)


def execute(env: Environment, req: RunRequest) -> int:
    """Decide and run `req`; the command's exit status. Raises VshError (125/126) when it did not run."""
    if not req.argv:
        raise UsageError("nothing to run")
    config = env.config()
    workspace = resolve_workspace(env, config, req.workspace)
    cwd = resolve_cwd(workspace, req.cwd)
    if req.host and req.creds:
        raise UsageError("--cred needs the sandbox's proxy; it cannot be used with --host")
    tool = "host_bash" if req.host else "bash"
    creds = _resolve_creds(env, req.creds, tool)
    _refuse_literal_secrets(env, req.line)
    try:
        from vshell.approval import authorize

        authorize(env, req.line, tool=tool, context=req.context, cwd=cwd, workspace=workspace,
                  session_id=req.session_id)
    except ImportError as e:  # fail closed: no decision engine, no run
        raise VshError(f"cannot decide: part of vsh is missing ({e.name})",
                       hint="reinstall vsh; nothing ran") from None
    started = time.monotonic()
    if req.host:
        status = run_host(req.argv, cwd=cwd, environ=env.environ, timeout=req.timeout)
        _audit_run(env, req, cwd, status, started, "host")
        return status
    from vshell.sandbox import build_spec, describe, ensure_available

    ensure_available(env.paths)
    with egress(env, creds, config) as (network, proxy_env):
        spec = build_spec(env, config, argv=req.argv, workspace=workspace, cwd=cwd, network=network,
                          extra_env={**req.extra_env, **proxy_env})
        spec = wrap_for_network(spec)
        env.trace(f"sandbox: {describe(spec)}")
        status = run_spec(spec, timeout=req.timeout, warn=env.warn)
    _audit_run(env, req, cwd, status, started, network.mode)
    return status


def _audit_run(env: Environment, req: RunRequest, cwd: Path, status: int, started: float, where: str) -> None:
    """One "run" line in the audit log (the decision has its own). A failure to log is reported,
    not raised: the command has already run."""
    try:
        from vshell import audit

        audit.append(env.paths, "run", {
            "line": req.line, "status": status, "sandbox": where, "cwd": str(cwd),
            "creds": list(req.creds), "ms": round((time.monotonic() - started) * 1000),
            "session": req.session_id, "timeout": req.timeout,
        })
    except ImportError:
        return
    except (VshError, OSError) as e:
        env.warn(f"could not write the audit log: {e}")


def _refuse_literal_secrets(env: Environment, line: str) -> None:
    """Ingress scan: a line carrying a literal secret (a known key format, a high-entropy token or
    any stored credential's value) is refused before it is decided or run (exit 126). The audit entry
    keeps the line with those secrets redacted."""
    from vshell.classify import classify
    from vshell.secretscan import find_secrets, refuse_literal_secrets
    from vshell.vault import stored_values

    known = [s.reveal() for s in stored_values(env.paths, env.environ)]
    # The raw bytes and the words bash would pass after quote removal and escapes (`ab''cd`, `a\bc`
    # and $'\x61' spell a value without containing it literally).
    words = "\n".join(" ".join(a.argv) for a in classify(line).actions)
    scanned = f"{line}\n{words}"
    found = find_secrets(scanned, known)
    if not found:
        return
    from vshell import audit

    # Not even a redacted line: a value spelled in pieces (`ab''cd`) survives redaction of the bytes.
    audit.append(env.paths, "decision", {"line": "[withheld: it contained a literal secret]",
                                         "kinds": sorted({f.kind for f in found}), "decision": "deny",
                                         "by": "secret-scan", "source": "run"})
    refuse_literal_secrets(scanned, known)


def _resolve_creds(env: Environment, refs: Sequence[str], tool: str) -> list[Any]:
    """The named credentials; CredentialError (125) for an unknown reference or one whose usage
    policy does not allow this tool — before anything runs."""
    if not refs:
        return []
    try:
        from vshell.credentials import CredentialStore
    except ImportError:
        raise CredentialError("credentials are not available in this build") from None
    creds = CredentialStore(env.paths).resolve(list(refs))
    for c in creds:
        if c.allowed_tools and tool not in c.allowed_tools:
            raise CredentialError(f"credential {c.ref} may not be used by {tool} runs "
                                  f"(its allowed tools: {', '.join(c.allowed_tools)})")
    return creds


# ---------------------------------------------------------------------------------------------------
# Egress: the proxy hook-up, in one place so it can land independently.


@contextlib.contextmanager
def egress(env: Environment, creds: Sequence[Any], config: Any) -> Iterator[tuple[NetworkPolicy, dict[str, str]]]:
    """The run's network: the proxy's authenticated channel when vshell.proxy.client exists, else
    none at all. A run with credentials and no proxy fails (125) rather than run without them."""
    try:
        from vshell.proxy import client
    except ImportError:
        if creds:
            raise ProxyUnavailable("the egress proxy is not available in this build; --cred needs it") from None
        yield NetworkPolicy(), {}
        return
    import importlib.util

    spec = importlib.util.find_spec("vshell.proxy.forwarder")
    if spec is None or spec.origin is None:
        raise ProxyUnavailable("the proxy forwarder is missing from this build")
    channel = client.register_run(env, list(creds), config)  # starts the daemon when none answers
    try:
        policy = NetworkPolicy(mode="proxy", proxy_socket=Path(channel.socket_path),
                               ca_bundle=Path(channel.ca_bundle) if channel.ca_bundle else None,
                               forwarder=Path(spec.origin),
                               system_ca_paths=tuple(p for p in SYSTEM_CA_BUNDLES if p.is_file()))
        yield policy, dict(channel.proxy_env(policy.inside_port))
    finally:
        channel.close()


def wrap_for_network(spec: SandboxSpec) -> SandboxSpec:
    """In proxy mode: start the forwarder first; it starts the command under the seccomp filter
    (the forwarder itself needs AF_UNIX, so bubblewrap cannot install the filter for both)."""
    if spec.network.mode != "proxy" or not sys.platform.startswith("linux"):
        return spec
    from vshell.bwrap.build import seccomp_program

    # The interpreter by absolute path: PATH inside may lead to a slow shim (pyenv) or to a file the
    # command author controls.
    python = os.path.realpath(sys.executable)
    prog = seccomp_program()
    seccomp = ("--seccomp", prog.hex()) if prog is not None else ()
    argv = (python, "-I", "-S", str(INSIDE_FORWARDER), "--listen", str(spec.network.inside_port),
            "--unix", str(INSIDE_PROXY_SOCKET), *seccomp, "--", *spec.argv)
    return replace(spec, argv=argv, seccomp=False)


# ---------------------------------------------------------------------------------------------------
# Process control


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


def _descendants(pid: int, min_depth: int) -> list[int]:
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


def _signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


class _SignalPending(Exception):
    """Raised by the signal handler to end a blocking wait when a signal must wait for the command."""


class _Supervisor:
    """Forwards signals to the run's processes and enforces the timeout.

    `targets(sig)` delivers a signal to the command's processes; `kill()` ends the whole run.
    """

    def __init__(self, *, sandboxed: bool, own_group: bool = True, command_depth: int = 2) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.sandboxed = sandboxed
        self.own_group = own_group
        self.command_depth = command_depth
        self.signalled: int | None = None
        self.pending: int | None = None  # a signal that arrived before the command existed
        self._previous: dict[int, Any] = {}
        self._waiting = False  # inside proc.wait(): the handler may interrupt it

    def __enter__(self) -> _Supervisor:
        """Install the forwarding handlers BEFORE the process is spawned: a Ctrl-C in between must
        not kill vsh and leave the run to --die-with-parent."""
        if _is_main_thread():
            self._previous = {s: signal.getsignal(s) for s in FORWARDED_SIGNALS}
            for s in FORWARDED_SIGNALS:
                signal.signal(s, self.handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)

    def attach(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def targets(self, sig: int) -> bool:
        """Deliver `sig` to the command's processes; False when there were none to deliver it to."""
        if self.proc is None:
            return False
        if not self.own_group:
            # Shares our process group (a host command on a terminal): the terminal already sent it
            # SIGINT; other signals go to it and its children.
            if sig != signal.SIGINT:
                _signal_all([self.proc.pid, *_descendants(self.proc.pid, 1)], sig)
            return True
        if self.sandboxed:
            # bwrap (outside) -> bwrap (pid 1 inside) -> [proxy forwarder ->] the command and its
            # children. pid 1 of the namespace ignores signals it has no handler for; the forwarder
            # would relay the signal to the command a second time: both are skipped.
            pids = _descendants(self.proc.pid, self.command_depth)
            _signal_all(pids, sig)
            return bool(pids)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
        return True

    def kill(self) -> None:
        assert self.proc is not None
        if not self.own_group:
            _signal_all([*_descendants(self.proc.pid, 1), self.proc.pid], signal.SIGKILL)
        elif self.sandboxed:
            # SIGKILL to pid 1 of a pid namespace kills every process in it.
            _signal_all(_descendants(self.proc.pid, 1), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

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
            except subprocess.TimeoutExpired:
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
        except subprocess.TimeoutExpired:
            self.targets(signal.SIGTERM)
            try:
                self.proc.wait(KILL_GRACE)
            except subprocess.TimeoutExpired:
                self.kill()
                self.proc.wait()
            if not self.sandboxed and self.own_group:
                self.kill()  # the rest of the host process group
            return TIMEOUT_STATUS
        rc = self.proc.returncode
        return 128 - rc if rc < 0 else rc


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_spec(spec: SandboxSpec, *, timeout: float | None = None, warn: Any = None) -> int:
    """Run one spec (no decision) with the streams inherited; the command's exit status.

    timeout: seconds before the whole tree is killed (status 124). warn: callable for notices
    (default: stderr). Protected names the run created are moved to $VSH_HOME/quarantine afterwards.
    """
    from vshell.sandbox import backend_argv, check_bind_targets, quarantine_new_protected

    note = warn or (lambda m: print(f"vsh: {m}", file=sys.stderr, flush=True))
    check_bind_targets(spec)
    baseline = _baseline(spec)
    linux = sys.platform.startswith("linux")
    fds: list[int] = []
    status_r: int | None = None
    try:
        seccomp_fd = None
        if linux and spec.seccomp:
            from vshell.bwrap.build import seccomp_program

            prog = seccomp_program()
            if prog is not None:
                r, w = os.pipe()
                os.write(w, prog)
                os.close(w)
                fds.append(r)
                seccomp_fd = r
        status_w = None
        if linux:
            status_r, status_w = os.pipe()
            fds.append(status_w)
        argv = backend_argv(spec, seccomp_fd=seccomp_fd, status_fd=status_w)
        forwarder = spec.network.mode == "proxy" and linux
        # bwrap (outside) -> bwrap (pid 1 inside) -> [forwarder ->] the command
        with _Supervisor(sandboxed=linux, command_depth=3 if forwarder else 2) as supervisor:
            try:
                # Linux: bwrap's --new-session makes the command's session; bwrap only needs its own
                # process group (the terminal's Ctrl-C reaches vsh alone, which forwards it). macOS:
                # sandbox-exec execs the command, so it gets the new session itself (no controlling
                # terminal: TIOCSTI refused) and signals go to its process group.
                proc = subprocess.Popen(argv, pass_fds=tuple(fds), env=dict(spec.env),
                                        process_group=0 if linux else None, start_new_session=not linux,
                                        cwd=None if linux else str(spec.cwd))
            except OSError as e:
                raise SandboxUnavailable(f"the sandbox backend could not be started: {e.strerror}",
                                         hint="install bubblewrap; `vsh doctor` checks the backend") from None
            supervisor.attach(proc)
            for fd in fds:
                os.close(fd)
            fds.clear()
            status = supervisor.wait(timeout)
        if status_r is not None and b'"child-pid"' not in _read_all(status_r):
            # bwrap exited before the sandbox existed: its own failure, not the command's status
            if spec.state_root is not None:
                from vshell.sandbox import forget_probe

                forget_probe(StatePaths(spec.state_root))
            raise SandboxUnavailable(
                f"the sandbox failed to start (bubblewrap exited with {status}); the command did not run",
                hint="`vsh doctor` probes the backend; bubblewrap needs user namespaces")
    finally:
        for fd in fds:
            os.close(fd)
        if status_r is not None:
            os.close(status_r)
        _remove_run_tmp(spec)
    if linux and spec.state_root is not None and baseline is not None:
        from vshell.sandbox import Scan

        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
        moved = quarantine_new_protected(spec.workspace, spec.protected_names,
                                         Scan(spec.protected_found, spec.pinned, baseline),
                                         spec.state_root, run_id)
        for src, dst in moved:
            if dst is None:
                note(f"WARNING: vsh could not check or move {src} after the run (it may hold a "
                     "protected file the command created): inspect it before using this workspace")
            else:
                note(f"the command created protected path {src}; moved to {dst}")
    return status


def _read_all(fd: int) -> bytes:
    """What bwrap wrote on the status pipe (its write end is closed once bwrap has exited)."""
    os.set_blocking(fd, False)
    out = b""
    try:
        while chunk := os.read(fd, 65536):
            out += chunk
    except BlockingIOError:
        pass
    return out


def _remove_run_tmp(spec: SandboxSpec) -> None:
    """macOS: the run's own TMPDIR goes with it (Linux's /tmp was a tmpfs that died with the run)."""
    from vshell.sandbox import RUN_TMP_PREFIX

    tmp = spec.env.get("TMPDIR", "")
    if sys.platform == "darwin" and Path(tmp).name.startswith(RUN_TMP_PREFIX):
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _baseline(spec: SandboxSpec) -> frozenset[tuple[int, int]] | None:
    ids: set[tuple[int, int]] = set()
    for p in spec.protected_found:
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        ids.add((st.st_dev, st.st_ino))
    return frozenset(ids)


def run_host(argv: Sequence[str], *, cwd: Path, environ: Mapping[str, str], timeout: float | None = None) -> int:
    """Run on the host, unsandboxed (only after a host_bash decision).

    On a terminal it stays in our process group (it may read the terminal; Ctrl-C reaches it from
    the terminal); otherwise it gets its own group, and signals and the timeout reach all of it."""
    own_group = not _stdin_is_tty()
    with _Supervisor(sandboxed=False, own_group=own_group) as supervisor:
        try:
            proc = subprocess.Popen(list(argv), cwd=str(cwd), env=dict(environ),
                                    process_group=0 if own_group else None)
        except OSError as e:
            raise UsageError(f"cannot run {argv[0]!r}: {e.strerror}") from None
        supervisor.attach(proc)
        return supervisor.wait(timeout)


def _stdin_is_tty() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False
