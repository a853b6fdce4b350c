"""The bridge inside the sandbox: 127.0.0.1:PORT -> the proxy's unix socket bound into the sandbox.

    python3 -I /run/vsh/forwarder.py --listen 3128 --unix /run/vsh/proxy.sock -- CMD ARGS...

Standard library only (it runs under whatever python3 the sandbox has) and no argparse, to start
fast. It binds the port BEFORE it starts CMD, so CMD's first request never races it; relays each
connection with two threads; forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to CMD; exits with CMD's
status (128 + signal number when CMD was killed by a signal). When the unix socket is gone (the
daemon died) connections are closed at once: requests fail, they never go anywhere else.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading

USAGE = "usage: forwarder.py --listen PORT --unix SOCKET -- CMD [ARGS...]"
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


def parse(argv: list[str]) -> tuple[int, str, list[str]]:
    """(port, unix socket path, command) from the command line; ValueError when malformed."""
    port, unix, i = None, None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            cmd = argv[i + 1:]
            break
        if arg in ("--listen", "--unix") and i + 1 < len(argv):
            if arg == "--listen":
                port = int(argv[i + 1])
            else:
                unix = argv[i + 1]
            i += 2
            continue
        raise ValueError(f"unexpected argument {arg!r}")
    else:
        cmd = []
    if port is None or not 0 < port < 65536 or not unix or not cmd:
        raise ValueError("--listen PORT, --unix SOCKET and a command are required")
    return port, unix, cmd


def main(argv: list[str]) -> int:
    try:
        port, unix_path, cmd = parse(argv)
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
    threading.Thread(target=_accept, args=(listener, unix_path), daemon=True).start()
    os.set_inheritable(listener.fileno(), False)
    try:
        # posix_spawn rather than subprocess: importing subprocess alone costs milliseconds.
        pid = os.posix_spawnp(cmd[0], cmd, dict(os.environ))
    except OSError as e:
        print(f"vsh forwarder: cannot run {cmd[0]!r}: {e.strerror}", file=sys.stderr)
        return 127 if isinstance(e, FileNotFoundError) else 126

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except OSError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, forward)
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
