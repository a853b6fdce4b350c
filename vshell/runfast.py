"""The thin `vsh run` client: the decision is made by the warm server (vshell.server), which has
already paid for Python's imports; the command is started and supervised here, by this process.

Why the command starts here and not in the server: whatever confines the caller (its cgroup and
resource limits, its namespaces, seccomp or Landlock, its session and terminal) is inherited by the
sandbox exactly as in an in-process run, because bubblewrap is this process's child. The server
only decides and hands back the plan: bubblewrap's argv and environment.

`run(args)` returns the exit status, or None when the full in-process path must handle the line:
no server (one is then started in the background for next time), a server of another vsh
installation or with changed code, --host, --debug or LOG_LEVEL=debug, a decision that needs a
prompt, macOS, and anything the fast option parser leaves to click. Falling back is always safe:
it is the same decision made the slow way.

Wire format (both ways): a 4-byte big-endian length, then NUL-separated fields (argv, environment
and paths never contain NUL). Imports: os, sys, _socket and what vshell.supervise needs.
"""

from __future__ import annotations

import _socket
import os
import sys

from vshell import options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

PROTOCOL = b"vsh-warm/2"
SOCKET_NAME = "warm.sock"
SPAWN_MARK = "warm.spawned"
SPAWN_AGAIN_AFTER = 10.0  # seconds: one start attempt per this long when no server answers
REPLY_TIMEOUT = 60.0  # the server may have to start the proxy daemon first
MAX_MESSAGE = 64 << 20
MAX_UNIX_PATH = 107
_SO_PEERCRED = 17  # Linux


def state_root(environ: Mapping[str, str]) -> str:
    """vsh's state root: $VSH_HOME, else the platform's data directory; made absolute against the
    working directory without resolving `..` (vshell.state.StatePaths.from_env is this, as a Path)."""
    home = environ.get("VSH_HOME")
    if home:
        root = os.path.expanduser(home)
    elif sys.platform == "darwin":
        root = os.path.expanduser("~/Library/Application Support/vsh")
    else:
        root = os.path.join(environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "vsh")
    return os.path.join(os.getcwd(), root)


def session_id() -> str:
    """The terminal session this process belongs to (shared by the commands of one shell): grants
    "for this session" and refusal counts are kept under it (vshell.grants). The warm server is
    told the client's, since its own would be another."""
    try:
        tty = os.ttyname(0)
    except OSError:
        tty = "notty"
    return f"sid:{os.getsid(0)}:{tty}"


def view_id() -> bytes:
    """Which file system this process sees: its mount and user namespaces and its root directory. A
    server that sees another one (a client in a container or a chroot sharing $VSH_HOME) would
    resolve and scan other files than the ones the client's sandbox binds: it declines."""
    out = []
    for path in ("/proc/self/ns/mnt", "/proc/self/ns/user", "/"):
        try:
            st = os.stat(path)
            out.append(f"{st.st_dev}.{st.st_ino}")
        except OSError:
            out.append("?")
    return ":".join(out).encode()


def install_id() -> bytes:
    """Which vsh this is: the interpreter and the package directory. A server of another one is
    not used."""
    import vshell

    return os.fsencode(f"{os.path.realpath(sys.executable)}\n{os.path.dirname(os.path.realpath(vshell.__file__))}")


# ---------------------------------------------------------------------------------------------------
# Messages


def send_msg(sock: _socket.socket, fields: Sequence[bytes]) -> None:
    body = b"\0".join(fields)
    sock.sendall(len(body).to_bytes(4, "big") + body)


def _recv_exact(sock: _socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(min(n - len(out), 1 << 20))
        if not chunk:
            raise ConnectionError("the connection closed")
        out += chunk
    return bytes(out)


def recv_msg(sock: _socket.socket) -> list[bytes]:
    n = int.from_bytes(_recv_exact(sock, 4), "big")
    if n > MAX_MESSAGE:
        raise ConnectionError("message too large")
    return _recv_exact(sock, n).split(b"\0")


def peer_uid(sock: _socket.socket) -> int:
    """The uid of the process at the other end of a unix socket (SO_PEERCRED: pid, uid, gid)."""
    cred = sock.getsockopt(_socket.SOL_SOCKET, _SO_PEERCRED, 12)
    return int.from_bytes(cred[4:8], sys.byteorder)


def environ_fields(environ: Mapping[str, str]) -> list[bytes]:
    items = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in environ.items()]
    return [str(len(items)).encode(), *items]


def environ_from(fields: Sequence[bytes]) -> tuple[dict[str, str], int]:
    """(environment, fields used) from what environ_fields wrote."""
    n = int(fields[0])
    env: dict[str, str] = {}
    for item in fields[1:1 + n]:
        k, _, v = item.partition(b"=")
        env[os.fsdecode(k)] = os.fsdecode(v)
    return env, 1 + n


# ---------------------------------------------------------------------------------------------------
# The client


def eligible(args: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether this invocation may take the fast path at all (the server judges the rest): a plain
    `vsh run` (not --host or --debug), `vsh check`, or `vsh classify` of a line given as argument."""
    if not sys.platform.startswith("linux") or not args or args[0] not in options.COMMANDS:
        return False
    if environ.get("LOG_LEVEL", "").lower() == "debug":
        return False
    values = options.parse_command(args[0], args[1:])
    if values is None:
        return False
    if args[0] == "run":
        return not values["host"] and not values["debug"]
    if args[0] == "classify":  # standard input stays the client's
        return not values["jsonl"] and values["line"] != ("-",)
    return True


def connect(path: str) -> _socket.socket | None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        if peer_uid(sock) != os.getuid():
            raise OSError("the warm server runs as another user")
    except OSError:
        sock.close()
        return None
    sock.settimeout(REPLY_TIMEOUT)
    return sock


def start_server(run_dir: str, environ: Mapping[str, str]) -> None:
    """Start the warm server in the background, at most once per SPAWN_AGAIN_AFTER seconds (a server
    that cannot start must not cost every run a start attempt). It takes a lock: one per $VSH_HOME."""
    import time

    mark = os.path.join(run_dir, SPAWN_MARK)
    try:
        if time.time() - os.stat(mark).st_mtime < SPAWN_AGAIN_AFTER:
            return
    except OSError:
        pass
    try:
        # Only inside an existing state root: creating the root itself is vshell.state's job (it
        # makes it 0700 and checks it); a run that creates it starts the server next time.
        if not os.path.isdir(run_dir):
            os.mkdir(run_dir, 0o700)
        os.close(os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        os.utime(mark)
        from vshell.supervise import spawn

        spawn([sys.executable, "-m", "vshell.server"], {**environ, "PWD": "/"}, detach=True)
    except OSError:
        pass


def run(args: Sequence[str]) -> int | None:
    """`vsh run|check|classify ARGS` through the warm server: the exit status, or None to take the
    in-process path."""
    environ = os.environ
    if not eligible(args, environ):
        return None
    run_dir = os.path.join(state_root(environ), "run")
    path = os.path.join(run_dir, SOCKET_NAME)
    if len(os.fsencode(path)) > MAX_UNIX_PATH:
        return None
    sock = connect(path)
    if sock is None:
        start_server(run_dir, environ)
        return None
    ran: list[int] = []  # the command's status, once it ran
    try:
        return _run(sock, args, ran)
    except (OSError, ConnectionError, ValueError, IndexError) as e:
        if ran:
            # The command ran but the server went away before the run's bookkeeping: protected
            # files the command created were not moved away, so this is vsh failing (125), not
            # the command's status.
            sys.stderr.write(f"vsh: lost the warm server after the run ({e}): the check for protected "
                             f"files the command created did not run (the command exited {ran[0]})\n"
                             "  hint: look for new .git/hooks, .envrc, .vscode/ and the like in the workspace\n")
            return 125
        return None  # nothing ran: decide in-process
    finally:
        sock.close()


def tty_opens() -> bool:
    """Whether /dev/tty opens: a person could be asked on this process's terminal."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def _run(sock: _socket.socket, args: Sequence[str], ran: list[int]) -> int | None:
    from vshell.supervise import Supervisor, read_available, sandbox_started, spawn

    stdin_tty = os.isatty(0)
    umask = os.umask(0o077)
    os.umask(umask)
    status_r, status_w = os.pipe()
    try:
        send_msg(sock, [PROTOCOL, install_id(), os.getcwdb(), str(umask).encode(),
                        b"1" if stdin_tty else b"0", b"1" if stdin_tty and tty_opens() else b"0",
                        str(status_w).encode(), os.fsencode(session_id()), view_id(), *environ_fields(os.environ),
                        *map(os.fsencode, args)])
        reply = recv_msg(sock)
        if reply[0] == b"exit":  # refused before running, or check/classify: what it printed
            if len(reply) > 3 and reply[3]:
                sys.stdout.write(os.fsdecode(reply[3]))
                sys.stdout.flush()
            sys.stderr.write(os.fsdecode(reply[2]))
            return int(reply[1])
        if reply[0] != b"plan":
            return None  # fallback, for the reason in reply[1]
        text, depth, timeout_s = os.fsdecode(reply[1]), int(reply[2]), reply[3]
        n = int(reply[4])
        argv = [os.fsdecode(a) for a in reply[5:5 + n]]
        env, _ = environ_from(reply[5 + n:])
        timeout = float(timeout_s) if timeout_s else None
        if text:
            sys.stderr.write(text)
            sys.stderr.flush()
        with Supervisor(sandboxed=True, command_depth=depth) as supervisor:
            try:
                child = spawn(argv, env, pass_fds=[status_w])
            except OSError as e:
                send_msg(sock, [b"done", b"-1", b"0"])
                recv_msg(sock)
                sys.stderr.write(f"vsh: the sandbox backend could not be started: {e.strerror}\n"
                                 "  hint: install bubblewrap; `vsh doctor` checks the backend\n")
                return 125
            send_msg(sock, [b"started"])
            supervisor.attach(child)
            os.close(status_w)
            status_w = -1
            status = supervisor.wait(timeout)
        ran.append(status)
        started = sandbox_started(read_available(status_r))
        send_msg(sock, [b"done", str(status).encode(), b"1" if started else b"0"])
        end = recv_msg(sock)
        sys.stderr.write(os.fsdecode(end[2]))
        return int(end[1])
    finally:
        os.close(status_r)
        if status_w >= 0:
            os.close(status_w)
