"""The bridge inside the sandbox: 127.0.0.1:PORT -> the proxy's unix socket bound into the sandbox.

    python3 -I /run/vsh/forwarder.py --listen 3128 --unix /run/vsh/proxy.sock [--seccomp HEX] -- CMD ARGS...

Standard library only (it runs under whatever python3 the sandbox has) and no argparse, to start
fast. It binds the port BEFORE it starts CMD, so CMD's first request never races it; relays each
connection with two threads; forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to CMD; exits with CMD's
status (128 + signal number when CMD was killed by a signal). When the unix socket is gone (the
daemon died) connections are closed at once: requests fail, they never go anywhere else.

The forwarder needs AF_UNIX to reach the proxy, so bubblewrap cannot install the seccomp filter that
refuses new unix sockets for the whole sandbox. `--seccomp HEX` (a classic BPF program, built by
vshell.bwrap.build.seccomp_program) is installed in the child between fork and exec instead, so CMD
and everything it starts run under it. The forwarder also makes itself non-dumpable: CMD runs as
the same user and could otherwise ptrace it or write its memory through /proc/PID/mem.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading

USAGE = "usage: forwarder.py --listen PORT --unix SOCKET [--seccomp HEX] -- CMD [ARGS...]"
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
CHUNK = 65536


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(CHUNK)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _relay(client: socket.socket, unix_path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(unix_path)
    except OSError:
        upstream.close()
        client.close()
        return
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _accept(listener: socket.socket, unix_path: str) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_relay, args=(client, unix_path), daemon=True).start()


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


def _libc():  # type: ignore[no-untyped-def]  # no `typing` import: it costs 10 ms of start-up here
    import ctypes  # only with --seccomp: it costs milliseconds of start-up

    return ctypes.CDLL(None, use_errno=True)


def _spawn(cmd: list[str], prog: bytes | None) -> int:
    """Start CMD; with `prog`, under that seccomp filter (installed in the child before exec)."""
    if prog is None:
        # posix_spawn rather than subprocess: importing subprocess alone costs milliseconds.
        return os.posix_spawnp(cmd[0], cmd, dict(os.environ))
    import ctypes

    libc = _libc()

    class SockFprog(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    # A signal that reaches the child between fork and exec would run Python's handler there and be
    # lost at exec: block them across fork; the child restores the default action, then unblocks
    # (a pending SIGINT/SIGTERM then ends it, as it would end CMD).
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    pid = os.fork()
    if pid == 0:
        try:
            for sig in FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
            if (libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                    or libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0):
                os.write(2, b"vsh forwarder: cannot install the seccomp filter\n")
                os._exit(125)
            os.execvp(cmd[0], cmd)
        except OSError as e:
            os.write(2, f"vsh forwarder: cannot run {cmd[0]!r}: {e.strerror}\n".encode())
            os._exit(127 if isinstance(e, FileNotFoundError) else 126)
        finally:
            os._exit(125)
    return pid


def main(argv: list[str]) -> int:
    try:
        port, unix_path, prog, cmd = parse(argv)
    except ValueError as e:
        print(f"vsh forwarder: {e}\n{USAGE}", file=sys.stderr)
        return 125
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
    except OSError as e:
        print(f"vsh forwarder: cannot listen on 127.0.0.1:{port}: {e.strerror}", file=sys.stderr)
        return 125
    os.set_inheritable(listener.fileno(), False)
    if prog is not None:
        _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    try:
        # Forked before the relay threads start: the child of a threaded process would be fragile.
        # Connections CMD opens before the accept thread runs wait in the listen backlog.
        pid = _spawn(cmd, prog)
    except OSError as e:
        print(f"vsh forwarder: cannot run {cmd[0]!r}: {e.strerror}", file=sys.stderr)
        return 127 if isinstance(e, FileNotFoundError) else 126
    threading.Thread(target=_accept, args=(listener, unix_path), daemon=True).start()

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)  # blocked by _spawn across fork
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            return 125
    listener.close()
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    os._exit(code)
