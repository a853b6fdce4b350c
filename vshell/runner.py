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
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vshell import pending
from vshell.environment import Environment
from vshell.errors import CredentialError, ProxyUnavailable, SandboxUnavailable, UsageError, VshError
from vshell.pending import Journal
from vshell.protected import Scan
from vshell.sandbox import resolve_cwd, resolve_workspace
from vshell.sandbox_spec import (
    INSIDE_FORWARDER,
    INSIDE_PROXY_SOCKET,
    SYSTEM_CA_BUNDLES,
    NetworkPolicy,
    SandboxSpec,
    inside_forwarder,
    under,
)
from vshell.state import StatePaths
from vshell.supervise import Child, Supervisor, read_available, sandbox_started, spawn

__all__ = ["Prepared", "RunRequest", "begin_spec", "end_spec", "execute", "prepared", "resolve_cwd",
           "resolve_workspace", "run_host", "run_spec"]


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


@dataclass(frozen=True)
class Prepared:
    """A decided run, ready to start: `spec` is what runs in the sandbox (None for --host)."""

    cwd: Path
    spec: SandboxSpec | None


@contextlib.contextmanager
def prepared(env: Environment, req: RunRequest) -> Iterator[Prepared]:
    """Everything before the process starts: validation, credential references, the ingress scan,
    the decision, the backend probe, the run's egress channel and its spec. The channel lives until
    the context ends. Raises VshError (125/126) when the command must not run."""
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
    if req.host:
        yield Prepared(cwd, None)
        return
    from vshell.sandbox import build_spec, describe, ensure_available

    ensure_available(env.paths)
    with egress(env, creds, config) as (network, proxy_env):
        spec = build_spec(env, config, argv=req.argv, workspace=workspace, cwd=cwd, network=network,
                          extra_env={**req.extra_env, **proxy_env})
        spec = wrap_for_network(spec)
        env.trace(f"sandbox: {describe(spec)}")
        yield Prepared(cwd, spec)


def request_from_args(values: Mapping[str, Any]) -> RunRequest:
    """The RunRequest for parsed `vsh run` options (vshell.options: click's or the fast parser's)."""
    import shlex

    line, argv = values["line"], tuple(values["argv"])
    if line is not None and argv:
        raise UsageError("give either -c LINE or -- PROGRAM [ARGS...], not both")
    if line is None and not argv:
        raise UsageError("nothing to run: give -c LINE or -- PROGRAM [ARGS...]")
    if line is not None:
        decided, run_argv = str(line), ("bash", "-c", str(line))
    else:
        decided, run_argv = shlex.join(argv), argv

    def path(v: Any) -> Path | None:
        return None if v is None else Path(v)

    return RunRequest(line=decided, argv=run_argv, workspace=path(values["workspace"]), cwd=path(values["cwd"]),
                      creds=tuple(values["creds"]), context=values["context"], host=bool(values["host"]),
                      timeout=values["timeout"])


def execute(env: Environment, req: RunRequest) -> int:
    """Decide and run `req`; the command's exit status. Raises VshError (125/126) when it did not run."""
    with prepared(env, req) as p:
        started = time.monotonic()
        if p.spec is None:
            status = run_host(req.argv, cwd=p.cwd, environ=env.environ, timeout=req.timeout)
            where = "host"
        else:
            status = run_spec(p.spec, timeout=req.timeout, warn=env.warn)
            where = p.spec.network.mode
    audit_run(env, req, p.cwd, status, started, where)
    return status


def audit_run(env: Environment, req: RunRequest, cwd: Path, status: int, started: float, where: str,
              via: str = "in-process") -> None:
    """One "run" line in the audit log (the decision has its own). A failure to log is reported,
    not raised: the command has already run."""
    try:
        from vshell import audit

        audit.append(env.paths, "run", {
            "line": req.line, "status": status, "sandbox": where, "cwd": str(cwd),
            "creds": list(req.creds), "ms": round((time.monotonic() - started) * 1000),
            "session": req.session_id, "timeout": req.timeout, "via": via,
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
    forwarder = compiled_forwarder(Path(spec.origin), env.paths.run_dir)
    channel = client.register_run(env, list(creds), config)  # starts the daemon when none answers
    try:
        policy = NetworkPolicy(mode="proxy", proxy_socket=Path(channel.socket_path),
                               ca_bundle=Path(channel.ca_bundle) if channel.ca_bundle else None,
                               forwarder=forwarder,
                               system_ca_paths=tuple(p for p in SYSTEM_CA_BUNDLES if p.is_file()))
        yield policy, dict(channel.proxy_env(policy.inside_port))
    finally:
        channel.close()


def compiled_forwarder(source: Path, run_dir: Path) -> Path:
    """The forwarder as bytecode for this interpreter, in `run_dir`: Python never caches the main
    script's bytecode, and compiling it would cost every run 3-4 ms inside the sandbox. Named after
    the interpreter's magic number and the source's mtime and size; written once, atomically. The
    source itself when that fails (the run works the same, a little slower)."""
    import marshal
    from _frozen_importlib_external import MAGIC_NUMBER  # what importlib.util re-exports

    try:
        st = source.stat()
        target = run_dir / f"forwarder-{MAGIC_NUMBER.hex()}-{st.st_mtime_ns}-{st.st_size}.pyc"
        if target.is_file():
            return target
        code = compile(source.read_bytes(), str(INSIDE_FORWARDER), "exec", dont_inherit=True)
        header = MAGIC_NUMBER + (0).to_bytes(4, "little") + (st.st_mtime_ns // 10**9 & 0xFFFFFFFF).to_bytes(
            4, "little") + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        from vshell.state import atomic_write  # it makes run_dir (0700) when missing

        atomic_write(target, header + marshal.dumps(code))
        for old in run_dir.glob("forwarder-*.pyc"):
            if old != target:
                old.unlink(missing_ok=True)
        return target
    except (OSError, SyntaxError, ValueError):
        return source


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
    assert spec.network.forwarder is not None
    inside = inside_forwarder(spec.network.forwarder)
    argv = (python, "-I", "-S", str(inside), "--listen", str(spec.network.inside_port),
            "--unix", str(INSIDE_PROXY_SOCKET), *seccomp, "--", *spec.argv)
    return replace(spec, argv=argv, seccomp=False)


# ---------------------------------------------------------------------------------------------------
# Process control (vshell.supervise): the same code supervises in-process runs and the thin client's


@dataclass(frozen=True)
class Baseline:
    """What end_spec compares with: the (dev, ino) of the protected paths that existed at the start,
    and (Linux) the journal that keeps the after-run check owed if this process dies first."""

    ids: frozenset[tuple[int, int]]
    journal: Journal | None = None

    def discard(self) -> None:
        """The sandbox never started: no check is owed."""
        if self.journal is not None:
            pending.done(self.journal)


def begin_spec(spec: SandboxSpec, *, seccomp_fd: int | None = None,
               status_fd: int | None = None) -> tuple[list[str], Baseline]:
    """Just before the start: refuse symlinked bind targets, note the protected files that exist
    (the baseline end_spec compares with), journal the after-run check and build the backend's argv."""
    from vshell.sandbox import backend_argv, check_bind_targets

    check_bind_targets(spec)
    ids = _baseline(spec)
    argv = backend_argv(spec, seccomp_fd=seccomp_fd, status_fd=status_fd)
    journal = None
    if sys.platform.startswith("linux") and spec.state_root is not None:
        journal = pending.begin(spec.state_root, spec.workspace, spec.protected_names,
                                _scan_of(spec, ids))
    return argv, Baseline(ids, journal)


def end_spec(spec: SandboxSpec, baseline: Baseline, status: int, *,
             started: bool, note: Callable[[str], None]) -> int:
    """Just after the run: SandboxUnavailable (125) when the sandbox never started (bubblewrap's own
    failure is not the command's status); else move the protected names the run created to
    $VSH_HOME/quarantine and return the command's status (VshError, 125, when some could not be)."""
    if not started:
        baseline.discard()
        if spec.state_root is not None:
            from vshell.sandbox import forget_probe

            forget_probe(StatePaths(spec.state_root))
        raise SandboxUnavailable(
            f"the sandbox failed to start (bubblewrap exited with {status}); the command did not run",
            hint="`vsh doctor` probes the backend; bubblewrap needs user namespaces")
    journal = baseline.journal
    if journal is not None and spec.state_root is not None:
        from vshell.protected import quarantine_new_protected

        try:
            moved = quarantine_new_protected(spec.workspace, spec.protected_names,
                                             _scan_of(spec, baseline.ids),
                                             spec.state_root, journal.run_id)
        except OSError as e:  # it reports per entry; this is the quarantine itself failing
            pending.abandon(journal)
            raise VshError(
                f"vsh could not check the workspace after the run ({e.strerror or e}): it may hold "
                "protected files the command created",
                hint=f"inspect {spec.workspace} (shell start-up files, .git/hooks, .vscode, .envrc) "
                     "before using it", detail=repr(e)) from None
        for src, dst in moved:
            if dst is not None:
                note(f"the command created protected path {src}; moved to {dst}")
        stuck = [src for src, dst in moved if dst is None]
        if stuck:  # the run's outcome cannot be trusted: vsh's failure, never the command's status
            pending.abandon(journal)  # every later run tries again, and refuses this workspace
            raise VshError(
                f"vsh could not check or move {len(stuck)} path(s) after the run; they may hold "
                f"protected files the command created: {', '.join(map(str, stuck[:5]))}",
                hint="inspect and remove them before using this workspace or running in it again")
        pending.done(journal)
    return status


def command_depth(spec: SandboxSpec) -> int:
    """How far below bubblewrap the command runs: bwrap (outside) -> [proxy forwarder, pid 1
    inside ->] the command (pid 1 itself without the forwarder: bwrap runs with --as-pid-1)."""
    return 2 if spec.network.mode == "proxy" and sys.platform.startswith("linux") else 1


def run_spec(spec: SandboxSpec, *, timeout: float | None = None, warn: Any = None) -> int:
    """Run one spec (no decision) with the streams inherited; the command's exit status.

    timeout: seconds before the whole tree is killed (status 124). warn: callable for notices
    (default: stderr). Protected names the run created are moved to $VSH_HOME/quarantine afterwards.
    """
    note = warn or (lambda m: print(f"vsh: {m}", file=sys.stderr, flush=True))
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
        argv, baseline = begin_spec(spec, seccomp_fd=seccomp_fd, status_fd=status_w)
        with Supervisor(sandboxed=linux, command_depth=command_depth(spec)) as supervisor:
            try:
                # Linux: bwrap's --new-session makes the command's session; bwrap only needs its own
                # process group (the terminal's Ctrl-C reaches vsh alone, which forwards it). macOS:
                # sandbox-exec execs the command, so it gets the new session itself (no controlling
                # terminal: TIOCSTI refused) and signals go to its process group.
                proc = spawn(argv, spec.env, pass_fds=fds) if linux else _spawn_darwin(argv, spec)
            except OSError as e:
                baseline.discard()
                raise SandboxUnavailable(f"the sandbox backend could not be started: {e.strerror}",
                                         hint="install bubblewrap; `vsh doctor` checks the backend") from None
            supervisor.attach(proc)
            for fd in fds:
                os.close(fd)
            fds.clear()
            status = supervisor.wait(timeout)
        started = status_r is None or sandbox_started(read_available(status_r))
    finally:
        for fd in fds:
            os.close(fd)
        if status_r is not None:
            os.close(status_r)
        _remove_run_tmp(spec)
    return end_spec(spec, baseline, status, started=started, note=note)


def _spawn_darwin(argv: Sequence[str], spec: SandboxSpec) -> Child:
    import subprocess

    proc = subprocess.Popen(argv, env=dict(spec.env), start_new_session=True, cwd=str(spec.cwd))
    proc.returncode = 0  # reaped through Child, not by subprocess
    return Child(proc.pid)


def _remove_run_tmp(spec: SandboxSpec) -> None:
    """macOS: the run's own TMPDIR goes with it (Linux's /tmp was a tmpfs that died with the run)."""
    from vshell.sandbox import RUN_TMP_PREFIX

    tmp = spec.env.get("TMPDIR", "")
    if sys.platform == "darwin" and Path(tmp).name.startswith(RUN_TMP_PREFIX):
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _scan_of(spec: SandboxSpec, ids: frozenset[tuple[int, int]]) -> Scan:
    """The start-of-run scan a spec carries, with the identities taken just before the start."""
    return Scan(spec.protected_found, spec.pinned, ids, spec.git_dirs, spec.watched)


def _baseline(spec: SandboxSpec) -> frozenset[tuple[int, int]]:
    """The identities of the protected paths that exist now: what the run may not have created.
    Not one that appeared during another run still going in the same workspace (its journal says
    what was there when it started): that may be its plant, and this run would otherwise protect
    it, then leave it behind (a run renaming directories under the other's end-of-run walk)."""
    live = pending.live_baselines(spec.state_root, spec.workspace) if spec.state_root is not None else []
    ids: set[tuple[int, int]] = set()
    for p in spec.protected_found:
        try:
            st = p.lstat()
        except OSError:  # gone, or unreachable: not in the baseline, so taken for new afterwards
            continue
        ident = (st.st_dev, st.st_ino)
        if not any(ident not in theirs and under(p, where) for where, theirs in live):
            ids.add(ident)
    return frozenset(ids)


def run_host(argv: Sequence[str], *, cwd: Path, environ: Mapping[str, str], timeout: float | None = None) -> int:
    """Run on the host, unsandboxed (only after a host_bash decision).

    On a terminal it stays in our process group (it may read the terminal; Ctrl-C reaches it from
    the terminal); otherwise it gets its own group, and signals and the timeout reach all of it."""
    import subprocess

    own_group = not _stdin_is_tty()
    with Supervisor(sandboxed=False, own_group=own_group) as supervisor:
        try:
            proc = subprocess.Popen(list(argv), cwd=str(cwd), env=dict(environ),
                                    process_group=0 if own_group else None)
        except OSError as e:
            raise UsageError(f"cannot run {argv[0]!r}: {e.strerror}") from None
        proc.returncode = 0  # reaped through Child, not by subprocess
        supervisor.attach(Child(proc.pid))
        return supervisor.wait(timeout)


def _stdin_is_tty() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False
