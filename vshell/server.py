"""The warm server: decides `vsh run` lines for the thin client (vshell.runfast) in a process that
has already imported the parser, the rules and the sandbox code.

    python -m vshell.server        (started by the client when none answers; one per $VSH_HOME)

For each client it does exactly what an in-process `vsh run` does before the command starts
(vshell.runner.prepared: the ingress scan, the decision and its audit entry, the backend probe, the
proxy registration, the spec) with the client's environment, working directory and umask, and
replies with bubblewrap's argv and environment. The client starts and supervises the command; when
it reports the exit status, the server closes the run's proxy channel, moves protected files the
run created to quarantine and writes the run's audit entry, as an in-process run would.

Where the outcome would differ it declines and the client decides in-process: a decision that needs
a prompt, --debug, a vsh installation other than this one, or code changed since this server
started (it then exits so that the next start loads the new code).

Boundaries: the socket is $VSH_HOME/run/warm.sock (0600, in 0700 directories, hidden from every
sandbox, which cannot create unix sockets anyway); a peer of another uid is refused; requests are
decided one at a time. The server exits after IDLE_EXIT seconds without a client, when its socket
is removed or replaced, on SIGTERM, or when [sandbox] warm_server is false.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from vshell.runfast import (
    PROTOCOL,
    SOCKET_NAME,
    environ_fields,
    environ_from,
    install_id,
    peer_uid,
    recv_msg,
    send_msg,
    view_id,
)

IDLE_EXIT = 600.0  # seconds without a client
TICK = 2.0  # seconds between looks at the socket file and the idle time
PRELOAD = (
    "vshell.runner", "vshell.approval", "vshell.classify", "vshell.shellparse", "vshell.suggest",
    "vshell.decide", "vshell.rules", "vshell.grants", "vshell.audit", "vshell.sandbox",
    "vshell.secretscan", "vshell.vault", "vshell.credentials", "vshell.hostmatch", "vshell.config",
    "vshell.proxy.client", "vshell.bwrap.build", "vshell.cli", "vshell.prompt", "shlex", "json",
    "sqlite3", "hashlib", "secrets", "uuid", "fcntl",
)


class _Stdin:
    """Stands in for the client's standard input where the decision asks whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def _stdlib_dirs() -> tuple[str, ...]:
    import sysconfig

    return tuple({sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")})


class Server:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / SOCKET_NAME
        self.lock = threading.Lock()
        self.install = install_id()
        self.view = view_id()
        self.clients = 0
        self.last_seen = time.monotonic()
        self.stopping = False
        self.files: dict[str, int] = {}
        self.ino = 0

    # -- staleness ------------------------------------------------------------------------------

    def snapshot(self) -> None:
        """Note the files of every loaded module outside the standard library: a change to any of
        them makes this server stale."""
        stdlib = _stdlib_dirs()
        for m in list(sys.modules.values()):
            f = getattr(m, "__file__", None)
            if f and not f.startswith(stdlib):
                with contextlib.suppress(OSError):
                    self.files[f] = os.stat(f).st_mtime_ns

    def stale(self) -> str | None:
        for f, mtime in self.files.items():
            try:
                if os.stat(f).st_mtime_ns != mtime:
                    return f"{f} changed"
            except OSError:
                return f"{f} is gone"
        return None

    # -- one client -----------------------------------------------------------------------------

    def handle(self, conn: Any) -> None:
        try:
            with conn:
                if peer_uid(conn) != os.getuid():
                    return
                conn.settimeout(None)
                self._handle(conn, recv_msg(conn))
        except Exception:  # one client's trouble never ends the server
            self.log(traceback.format_exc())
        finally:
            with self.lock:
                self.clients -= 1
                self.last_seen = time.monotonic()

    def _handle(self, conn: Any, msg: list[bytes]) -> None:
        if msg[0] != PROTOCOL or len(msg) < 10:
            if msg[0] != PROTOCOL and msg[1:2] == [self.install]:
                self.stopping = True  # a client of this installation with other code: it starts anew
            send_msg(conn, [b"fallback", b"protocol"])
            return
        if msg[1] != self.install:
            send_msg(conn, [b"fallback", b"another vsh installation"])
            return
        cwd, umask, stdin_tty, tty, status_fd = msg[2], int(msg[3]), msg[4] == b"1", msg[5] == b"1", int(msg[6])
        session = os.fsdecode(msg[7])
        if msg[8] != self.view:
            send_msg(conn, [b"fallback", b"another file system view"])
            return
        environ, used = environ_from(msg[9:])
        command, *args = [os.fsdecode(a) for a in msg[9 + used:]] or [""]
        with self.lock:
            why = self.stale()
            if why:
                self.log(f"stale ({why}): exiting")
                self.stopping = True
                send_msg(conn, [b"fallback", b"stale"])
                return
            with _as_client(cwd, environ, umask):
                if command == "run":
                    first, end = self._prepare(environ, args, stdin_tty, tty, status_fd, session)
                else:
                    first, end = self._answer(command, environ, args, stdin_tty, tty, session), None
        started = False
        try:
            send_msg(conn, first)
            if end is None:
                return
            msg = recv_msg(conn)
            if msg[0] == b"started":
                started = True
                msg = recv_msg(conn)
        except (OSError, ConnectionError):
            msg = [b"lost"]
        if end is None:
            return
        # The run may have removed the client's directory: the end does not need it (paths are
        # absolute by now), so it is not required.
        with self.lock, _as_client(cwd, environ, umask, strict=False):
            reply = end(msg, started)
        with contextlib.suppress(OSError):
            send_msg(conn, reply)

    def _answer(self, command: str, environ: dict[str, str], args: Sequence[str], stdin_tty: bool, tty: bool,
                session: str) -> list[bytes]:
        """`vsh check` or `vsh classify` (a line given as argument) done here, as in the client:
        the reply carries the exit status and what it printed."""
        from vshell import commands, options
        from vshell.cli import exit_code_for, report
        from vshell.environment import Environment
        from vshell.errors import VshError

        values = options.parse_command(command, args)
        if values is None or command not in ("check", "classify"):
            return [b"fallback", b"options"]
        self._resolve_home(environ)
        out, err = io.StringIO(), io.StringIO()
        env = Environment(stdin=_Stdin(stdin_tty), stdout=out, stderr=err, environ=environ,  # type: ignore[arg-type]
                          tty=tty, defer_prompts=True)
        if env.debug:
            return [b"fallback", b"debug"]
        try:
            if not env.config().warm_server:
                self.stopping = True
                return [b"fallback", b"disabled"]
        except VshError:
            return [b"fallback", b"config"]  # in-process reports it exactly where it would
        try:
            if command == "check":
                commands.check_command(env, session_id=session, **values)  # type: ignore[arg-type]
                status = 0
            else:
                status = commands.classify_command(env, **values)  # type: ignore[arg-type]
        except VshError as e:
            report(env, e)
            status = exit_code_for(e, run_like=False)
        return [b"exit", str(status).encode(), os.fsencode(err.getvalue()),
                os.fsencode(out.getvalue())]

    @staticmethod
    def _resolve_home(environ: dict[str, str]) -> None:
        """$VSH_HOME made absolute once, here, in the client's directory."""
        from vshell.state import StatePaths

        if environ.get("VSH_HOME"):
            environ["VSH_HOME"] = str(StatePaths.from_env(environ).root)

    def _prepare(self, environ: dict[str, str], args: Sequence[str], stdin_tty: bool, tty: bool,
                 status_fd: int, session: str) -> tuple[list[bytes], Any]:
        """(the first reply, the function that ends the run or None) for one request, decided as
        `vsh run` would decide it in the client."""
        from vshell import options
        from vshell.approval import PromptNeeded
        from vshell.cli import exit_code_for, report
        from vshell.environment import Environment
        from vshell.errors import VshError
        from vshell.runner import audit_run, begin_spec, command_depth, end_spec, prepared, request_from_args

        values = options.parse(args)
        if values is None or values["host"] or values["debug"]:
            return [b"fallback", b"options"], None
        self._resolve_home(environ)
        err = io.StringIO()
        env = Environment(stdin=_Stdin(stdin_tty), stdout=io.StringIO(), stderr=err, environ=environ,  # type: ignore[arg-type]
                          tty=tty, defer_prompts=True)
        if env.debug:
            return [b"fallback", b"debug"], None

        def refused(e: VshError) -> list[bytes]:
            report(env, e)
            return [b"exit", str(exit_code_for(e, run_like=True)).encode(), os.fsencode(err.getvalue())]

        try:
            if not env.config().warm_server:
                self.stopping = True
                return [b"fallback", b"disabled"], None
            # the client's terminal session: grants and refusal counts are kept under it
            req = replace(request_from_args(values), session_id=session)
            cm = prepared(env, req)
            p = cm.__enter__()
        except PromptNeeded:
            return [b"fallback", b"prompt"], None
        except VshError as e:
            return refused(e), None
        spec = p.spec
        try:
            if spec is None or spec.seccomp:  # --host, or a filter only bubblewrap could install
                raise _Decline
            argv, baseline = begin_spec(spec, status_fd=status_fd)
        except _Decline:
            cm.__exit__(None, None, None)
            return [b"fallback", b"spec"], None
        except VshError as e:
            cm.__exit__(type(e), e, e.__traceback__)
            return refused(e), None
        except BaseException as e:  # never leave the run's proxy channel open
            cm.__exit__(type(e), e, e.__traceback__)
            raise
        started_at = time.monotonic()
        first = [b"plan", os.fsencode(err.getvalue()), str(command_depth(spec)).encode(),
                 b"" if req.timeout is None else repr(req.timeout).encode(),
                 str(len(argv)).encode(), *map(os.fsencode, argv), *environ_fields(spec.env)]
        err.seek(0)
        err.truncate()

        def end(msg: list[bytes], started: bool) -> list[bytes]:
            with contextlib.suppress(OSError):
                cm.__exit__(None, None, None)  # the run's proxy channel closes: its token is dead
            if not started:
                baseline.discard()
                return [b"end", b"125", b""]
            done = msg[0] == b"done"
            status = int(msg[1]) if done else -1
            try:
                status = end_spec(spec, baseline, status, started=not done or msg[2] == b"1", note=env.warn)
            except VshError as e:
                return [b"end", *refused(e)[1:]]
            audit_run(env, req, p.cwd, status, started_at, spec.network.mode, via="warm")
            return [b"end", str(status).encode(), os.fsencode(err.getvalue())]

        return first, end

    # -- the server -----------------------------------------------------------------------------

    def log(self, text: str) -> None:
        with contextlib.suppress(OSError), open(self.run_dir / "warm.log", "a", encoding="utf-8") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{os.getpid()}] {text.rstrip()}\n")

    def serve(self, listener: Any) -> None:
        listener.settimeout(TICK)
        while not self.stopping:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if self._should_exit():
                    break
                continue
            with self.lock:
                self.clients += 1
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()
        # let clients already running finish their bookkeeping
        deadline = time.monotonic() + 3600
        while self.clients and time.monotonic() < deadline:
            time.sleep(0.2)

    def _should_exit(self) -> bool:
        try:
            if os.stat(self.path).st_ino != self.ino:
                return True  # replaced, or VSH_HOME removed
        except OSError:
            return True
        return not self.clients and time.monotonic() - self.last_seen > IDLE_EXIT


class _Decline(Exception):
    pass


@contextlib.contextmanager
def _as_client(cwd: bytes, environ: dict[str, str], umask: int, *, strict: bool = True) -> Iterator[None]:
    """The client's environment, working directory and umask for this process while deciding (one
    request at a time holds the lock), so that every path and variable resolves as it would have
    in the client. strict=False: a working directory that is gone is not an error.

    The environment stays the last client's afterwards (nothing in the server reads it between
    requests); only what differs is changed, since clients mostly share one."""
    saved_umask = os.umask(umask)
    try:
        try:
            os.chdir(cwd)
        except OSError:
            if strict:
                raise
        for name in [k for k in os.environ if k not in environ]:
            del os.environ[name]
        for name, value in environ.items():
            if os.environ.get(name) != value:
                os.environ[name] = value
        yield
    finally:
        os.umask(saved_umask)
        os.chdir("/")


def main() -> int:
    import fcntl
    import importlib
    import signal
    import socket

    from vshell.environment import Environment
    from vshell.state import make_private_dirs
    from vshell.supervise import reset_inherited_signals

    reset_inherited_signals()
    os.chdir("/")
    os.umask(0o077)
    env = Environment()
    run_dir = env.paths.run_dir
    try:
        make_private_dirs(run_dir)
        lock = os.open(run_dir / "warm.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another server holds it (or the state directory is unusable: runs go in-process)
    server = Server(run_dir)
    from vshell.errors import VshError

    try:
        if not env.config().warm_server:
            return 0
    except VshError as e:  # runs decide in-process and report it
        server.log(f"not starting: {e.message}")
        return 0
    for name in PRELOAD:
        importlib.import_module(name)
    from vshell.bwrap.build import seccomp_program
    from vshell.classify import classify

    classify("true")  # the parser's one-time set-up
    seccomp_program()
    server.snapshot()
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "stopping", True))
    tmp = run_dir / f"warm.{os.getpid()}.sock"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(tmp))
        tmp.chmod(0o600)
        listener.listen(64)
        os.rename(tmp, server.path)
    except OSError as e:
        server.log(f"cannot listen on {server.path}: {e}")
        return 1
    server.ino = os.stat(server.path).st_ino
    (run_dir / "warm.pid").write_text(f"{os.getpid()}\n")
    server.log(f"serving on {server.path}")
    try:
        server.serve(listener)
    finally:
        with contextlib.suppress(OSError):
            if os.stat(server.path).st_ino == server.ino:
                server.path.unlink()
        listener.close()
        server.log("exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
