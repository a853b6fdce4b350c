"""The bridge inside the sandbox: 127.0.0.1:PORT -> the proxy's unix socket bound into the sandbox.

    python3 -I -S /run/vsh/forwarder.py --listen 3128 --unix /run/vsh/proxy.sock [--seccomp HEX] -- CMD ARGS...

Standard library only (it runs under the interpreter that runs vsh). It binds the port BEFORE it
starts CMD, so CMD's first request never races it; relays each connection to a new connection on
the unix socket with two threads, passing each side's end of stream on; forwards
SIGINT/SIGTERM/SIGHUP/SIGQUIT to CMD; exits with CMD's status (128 + signal number when CMD was
killed by a signal). When the unix socket is gone (the daemon died) connections are closed at once:
requests fail, they never go anywhere else. CMD starts with the default action for the signals
Python ignores at start-up (SIGPIPE, SIGXFSZ), as under subprocess, so `yes | head` ends quietly.

The forwarder needs AF_UNIX to reach the proxy, so bubblewrap cannot install the seccomp filter that
refuses new unix sockets for the whole sandbox. `--seccomp HEX` (a classic BPF program, built by
vshell.bwrap.build.seccomp_program) is installed in the child between fork and exec instead, so CMD
and everything it starts run under it. The forwarder also makes itself non-dumpable: CMD runs as
the same user and could otherwise ptrace it or write its memory through /proc/PID/mem.

It is pid 1 of the sandbox (bubblewrap runs with --as-pid-1, so no process there escapes the
filter): it reaps every orphan while it waits for CMD, and when it exits the kernel ends whatever
CMD left running.

It starts on every sandboxed command, so it imports only modules built into the interpreter or
loaded from one shared object: `socket`, `signal` and `threading` cost ~20 ms together (enum,
functools), `os` 1.5 ms, `ctypes` 7 ms, `typing` 10 ms, against ~11 ms for the bare interpreter.
"""

# No `from __future__ import annotations`: importing __future__ costs 0.3 ms, and every annotation
# here is cheap to evaluate on the Python 3.11 that vsh requires.
import _signal
import _socket
import _thread
import posix
import sys
import time

USAGE = "usage: forwarder.py --listen PORT --unix SOCKET [--seccomp HEX] -- CMD [ARGS...]"
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT)
# Python ignores SIGPIPE and SIGXFSZ at start-up and exec keeps ignored signals ignored.
DEFAULTED = (*FORWARDED, _signal.SIGPIPE, _signal.SIGXFSZ)
DEFAULT_PATH = "/bin:/usr/bin"  # os.defpath: the search path when PATH is unset
CHUNK = 65536


def _pipe(src: _socket.socket, dst: _socket.socket) -> None:
    """Copy `src` to `dst` until `src` ends or fails, then end `dst`'s sending side."""
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(_socket.SHUT_WR)
    except OSError:
        pass


def _pipe_then_release(src: _socket.socket, dst: _socket.socket, done: _thread.LockType) -> None:
    try:
        _pipe(src, dst)
    finally:
        done.release()


def _relay(client: _socket.socket, upstream: _socket.socket, unix_path: str) -> None:
    try:
        client.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        upstream.connect(unix_path)
    except OSError:  # the daemon is gone: end the request at once
        upstream.close()
        client.close()
        return
    back_done = _thread.allocate_lock()
    back_done.acquire()
    try:
        _thread.start_new_thread(_pipe_then_release, (upstream, client, back_done))
    except RuntimeError:  # no thread to spare: drop this connection rather than relay one way
        upstream.close()
        client.close()
        return
    _pipe(client, upstream)
    back_done.acquire()
    client.close()
    upstream.close()


def _accept(listener: _socket.socket, unix_path: str) -> None:
    upstream = None
    while True:
        try:
            # The upstream socket before the connection: when descriptors run out (many open
            # relays), connections wait in the listen backlog instead of being accepted and dropped.
            upstream = upstream or _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            # What socket.socket.accept calls; the stubs leave it out.
            fd, _ = listener._accept()  # type: ignore[attr-defined]
        except OSError:
            # Out of descriptors, or a connection reset while queued: neither may end forwarding
            # for the rest of the run. Wait rather than spin on a full table.
            time.sleep(0.01)
            continue
        client = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM, 0, fd)
        try:
            _thread.start_new_thread(_relay, (client, upstream, unix_path))
        except RuntimeError:
            upstream.close()
            client.close()
        upstream = None


def parse(argv: list[str]) -> tuple[int, str, bytes | None, list[str]]:
    """(port, unix socket path, seccomp program or None, command); ValueError when malformed."""
    port, unix, prog, i = None, None, None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            cmd = argv[i + 1:]
            break
        if arg in ("--listen", "--unix", "--seccomp") and i + 1 < len(argv):
            value = argv[i + 1]
            if arg == "--listen":
                port = int(value)
            elif arg == "--unix":
                unix = value
            else:
                prog = bytes.fromhex(value)
                if not prog or len(prog) % 8:
                    raise ValueError("--seccomp needs a whole number of 8-byte BPF instructions")
            i += 2
            continue
        raise ValueError(f"unexpected argument {arg!r}")
    else:
        cmd = []
    if port is None or not 0 < port < 65536 or not unix or not cmd:
        raise ValueError("--listen PORT, --unix SOCKET and a command are required")
    return port, unix, prog, cmd


def _execvp(cmd: list[str]) -> None:
    """os.execvp without importing os: try each PATH entry; when none runs, raise the first error
    that is not "no such file" (a candidate exists but cannot run), else the last one."""
    name = cmd[0]
    if "/" in name:
        posix.execv(name, cmd)
    path = posix.environ.get(b"PATH")
    dirs = path.decode(sys.getfilesystemencoding(), "surrogateescape") if path is not None else DEFAULT_PATH
    last: OSError = FileNotFoundError(2, "No such file or directory")
    telling: OSError | None = None
    for d in dirs.split(":"):
        try:
            posix.execv(f"{d}/{name}" if d else name, cmd)
        except OSError as e:
            last = e
            if telling is None and not isinstance(e, (FileNotFoundError, NotADirectoryError)):
                telling = e
    raise telling or last


def _spawn_filtered(cmd: list[str], prog: bytes, mask: set[int]) -> int:
    """Fork; the child restores signal handling (default actions, `mask`), sets NO_NEW_PRIVS,
    installs seccomp program `prog` and execs CMD. Makes this process non-dumpable first."""
    # _ctypes rather than ctypes: the ctypes package costs ~7 ms of start-up, _ctypes ~1 ms. A
    # function pointer class with no _restype_ returns a C int, as ctypes.CDLL's functions do.
    import _ctypes

    class Prctl(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL

    class UShort(_ctypes._SimpleCData):
        _type_ = "H"

    class CharPointer(_ctypes._SimpleCData):
        # Set from bytes, it points at the bytes object's buffer (NUL bytes and all: the kernel
        # reads `len` instructions) and keeps the object alive.
        _type_ = "z"

    class SockFprog(_ctypes.Structure):  # struct sock_fprog
        _fields_ = (("len", UShort), ("filter", CharPointer))

    libc = _ctypes.dlopen(None)  # type: ignore[arg-type]  # None: the running program, as CDLL(None)
    prctl = Prctl(_ctypes.dlsym(libc, "prctl"))
    fprog = SockFprog(len(prog) // 8, prog)
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    pid = posix.fork()
    if pid == 0:
        try:
            for sig in DEFAULTED:
                _signal.signal(sig, _signal.SIG_DFL)
            _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    or prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, _ctypes.byref(fprog), 0, 0) != 0):
                posix.write(2, b"vsh forwarder: cannot install the seccomp filter\n")
                posix._exit(125)
            _execvp(cmd)
        except OSError as e:
            posix.write(2, f"vsh forwarder: cannot run {cmd[0]!r}: {e.strerror}\n".encode())
            posix._exit(127 if isinstance(e, FileNotFoundError) else 126)
        finally:
            posix._exit(125)
    return pid


def _spawn(cmd: list[str], prog: bytes | None, mask: set[int]) -> int:
    """Start CMD with signal mask `mask`; with `prog`, under that seccomp filter."""
    if prog is None:
        return posix.posix_spawnp(cmd[0], cmd, posix.environ, setsigmask=mask, setsigdef=DEFAULTED)
    return _spawn_filtered(cmd, prog, mask)


def main(argv: list[str]) -> int:
    try:
        port, unix_path, prog, cmd = parse(argv)
    except ValueError as e:
        print(f"vsh forwarder: {e}\n{USAGE}", file=sys.stderr)
        return 125
    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)  # close-on-exec, as all sockets
    listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
    except OSError as e:
        print(f"vsh forwarder: cannot listen on 127.0.0.1:{port}: {e.strerror}", file=sys.stderr)
        return 125
    # Until the handlers below forward them, the signals wait: they neither kill the forwarder
    # nor run a Python handler in a child between fork and exec (where they would be lost). The
    # accept thread starts while they are blocked and so do the relay threads it starts: they keep
    # them blocked, and the signals always reach the main thread, waiting for CMD.
    inherited = _signal.pthread_sigmask(_signal.SIG_BLOCK, FORWARDED)
    try:
        # Started before the relay threads: the child of a threaded process would be fragile.
        # Connections CMD opens before the accept thread runs wait in the listen backlog.
        pid = _spawn(cmd, prog, inherited - set(FORWARDED))
    except OSError as e:
        print(f"vsh forwarder: cannot run {cmd[0]!r}: {e.strerror}", file=sys.stderr)
        return 127 if isinstance(e, FileNotFoundError) else 126
    _thread.start_new_thread(_accept, (listener, unix_path))

    def forward(signum: int, _frame: object) -> None:
        try:
            posix.kill(pid, signum)
        except OSError:
            pass

    for sig in FORWARDED:
        _signal.signal(sig, forward)
    _signal.pthread_sigmask(_signal.SIG_UNBLOCK, FORWARDED)
    while True:  # pid 1 of the sandbox: every orphan is ours to reap, not only CMD
        try:
            done, status = posix.waitpid(-1, 0)  # retried after each forwarded signal (PEP 475)
        except ChildProcessError:
            return 125
        if done == pid:
            break
    listener.close()
    if posix.WIFSIGNALED(status):
        return 128 + posix.WTERMSIG(status)
    return posix.WEXITSTATUS(status)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    posix._exit(code)
