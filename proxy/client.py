"""Talking to the egress proxy daemon from `vsh run` and `vsh proxy`: cheap, no mitmproxy import.

`ensure_daemon` starts the daemon when none answers (two racing callers start one: a start lock
plus the daemon's own lifetime lock), `register_run` gives a run its authenticated channel, and
`RunChannel.proxy_env` is the environment a sandboxed command gets. A run stays registered exactly
as long as its control connection is open (and its pid alive): `close()` or the process dying
ends it, and requests carrying its token are refused from then on.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vshell.errors import CredentialError, ProxyUnavailable
from vshell.sandbox_spec import INSIDE_CA_BUNDLE as _INSIDE_CA
from vshell.state import StatePaths

if TYPE_CHECKING:
    from vshell.config import Config
    from vshell.credentials import Credential
    from vshell.environment import Environment

START_TIMEOUT = 20.0
REPLY_TIMEOUT = 10.0
PROXY_USER = "vsh"
# Where the sandbox sees the CA bundle (also bound over the system bundles) and the forwarder's port.
INSIDE_CA_BUNDLE = str(_INSIDE_CA)
INSIDE_PORT = 3128
NO_PROXY = "localhost,127.0.0.1,::1"
CA_VARIABLES = (
    "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO",
    "PIP_CERT", "AWS_CA_BUNDLE", "HTTPLIB2_CA_CERTS", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "DENO_CERT",
    "CARGO_HTTP_CAINFO", "NPM_CONFIG_CAFILE",
)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def _dir(paths: StatePaths) -> Path:
    return paths.proxy_dir


@dataclass(frozen=True)
class DaemonInfo:
    """A running daemon. `socket_path`: the proxy socket bound into sandboxes; `port`: its TCP
    listener on 127.0.0.1 (token-authenticated like the socket; on Linux it also closes every
    connection made by another uid than the daemon's); `ca_bundle`: public certs only."""

    pid: int
    port: int
    socket_path: Path
    control_path: Path
    ca_bundle: Path
    runs: int = 0
    rss_kib: int = 0
    config_digest: str = ""

    @classmethod
    def from_status(cls, st: dict[str, Any]) -> DaemonInfo:
        return cls(int(st["pid"]), int(st["port"]), Path(st["socket"]), Path(st["control"]),
                   Path(st["ca_bundle"]), int(st.get("runs", 0)), int(st.get("rss_kib", 0)),
                   str(st.get("config_digest", "")))


def _connect(control: Path, timeout: float) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(control))
    except OSError:
        s.close()
        raise
    return s


def _read_line(sock: socket.socket, buf: bytearray) -> dict[str, Any]:
    while b"\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the proxy daemon closed the control connection")
        buf.extend(chunk)
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    reply = json.loads(line)
    if not isinstance(reply, dict):
        raise ConnectionError("malformed reply from the proxy daemon")
    return reply


def request(paths: StatePaths, msg: dict[str, Any], timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
    """One request/reply on a fresh control connection. Raises OSError when no daemon answers."""
    with _connect(_dir(paths) / "control.sock", timeout) as s:
        s.sendall((json.dumps(msg) + "\n").encode())
        return _read_line(s, bytearray())


def status(env: Environment) -> dict[str, Any] | None:
    """The daemon's status, or None when no daemon answers."""
    try:
        return request(env.paths, {"op": "status"}, timeout=3.0)
    except (OSError, ValueError, ConnectionError):
        return None


def stop(env: Environment, wait: float = 10.0) -> bool:
    """Ask the daemon to stop and wait until it is gone. False when none was running."""
    st = status(env)
    if st is None:
        return False
    with contextlib.suppress(OSError, ValueError, ConnectionError):
        request(env.paths, {"op": "stop"}, timeout=3.0)
    deadline = time.monotonic() + wait
    pid = int(st.get("pid", 0))
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return True


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (a daemon this process started) counts as gone.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


@contextlib.contextmanager
def _start_lock(paths: StatePaths) -> Iterator[None]:
    d = _dir(paths)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(d / "start.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def config_digest(paths: StatePaths) -> str:
    """A fingerprint of config.toml. The daemon reads the config once, at start, and reports this
    fingerprint; a client that sees another one restarts the daemon when no run is using it."""
    import hashlib

    try:
        data = paths.config.read_bytes()
    except OSError:
        data = b""
    return hashlib.sha256(data).hexdigest()[:16]


def ensure_daemon(env: Environment) -> DaemonInfo:
    """The running daemon for env's $VSH_HOME, started when none answers. A daemon started with an
    older config.toml is restarted when no run is using it. Raises ProxyUnavailable."""
    paths = env.paths
    digest = config_digest(paths)
    st = status(env)
    if st is not None and (st.get("config_digest") == digest or st.get("runs")):
        return DaemonInfo.from_status(st)
    with _start_lock(paths):
        st = status(env)
        if st is not None and st.get("config_digest") != digest and not st.get("runs"):
            stop(env)
            st = None
        if st is not None:
            return DaemonInfo.from_status(st)
        return _start(env)


def _start(env: Environment) -> DaemonInfo:
    paths = env.paths
    paths.ensure()
    d = _dir(paths)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    print("vsh: starting egress proxy…", file=env.stderr, flush=True)
    log_path = d / "daemon.log"
    with open(log_path, "ab") as log:
        os.chmod(log_path, 0o600)
        proc = subprocess.Popen(
            [sys.executable, "-m", "vshell.proxy.daemon"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=dict(env.environ), cwd="/",
            start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        st = status(env)
        if st is not None:
            return DaemonInfo.from_status(st)
        # Exit 0 before answering: another daemon holds the lock (a starter that was interrupted
        # left it starting). Keep waiting for that one; any other exit is a real failure.
        if proc.poll() not in (None, 0):
            break
        time.sleep(0.03)
    else:
        if proc.poll() is None:
            proc.kill()
    tail = ""
    with contextlib.suppress(OSError):
        tail = log_path.read_text(errors="replace")[-2000:]
    raise ProxyUnavailable("the egress proxy did not start", detail=tail, hint=f"see {log_path}")


@dataclass
class RunChannel:
    """One run's authenticated way out. The token is secret to the run (it rides in the proxy
    variables inside the sandbox) and worthless once the channel is closed."""

    token: str
    run_id: str
    socket_path: Path
    ca_bundle: Path
    port: int
    _sock: socket.socket | None = field(default=None, repr=False)
    _reader: threading.Thread | None = field(default=None, repr=False)

    def proxy_url(self, host: str = "127.0.0.1", port: int | None = None) -> str:
        return f"http://{PROXY_USER}:{self.token}@{host}:{self.port if port is None else port}"

    def proxy_env(self, inside_port: int = INSIDE_PORT, ca_path: str = INSIDE_CA_BUNDLE) -> dict[str, str]:
        """Variables for the sandboxed command: every proxy variable (both cases) at the inside
        forwarder with the token, loopback excluded, and every CA variable at `ca_path`."""
        url = self.proxy_url(port=inside_port)
        out = dict.fromkeys(PROXY_VARIABLES, url)
        out.update(NO_PROXY=NO_PROXY, no_proxy=NO_PROXY)
        out.update(dict.fromkeys(CA_VARIABLES, ca_path))
        return out

    def close(self) -> None:
        """Unregister: the daemon drops the token when this connection closes."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> RunChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def register_run(env: Environment, creds: Sequence[Credential], config: Config | None = None,
                 *, info: DaemonInfo | None = None) -> RunChannel:
    """Register a run holding `creds` with the daemon (started if needed) under a fresh 256-bit
    token; the domain policy comes from `config` ([network]). With env.debug, the run's proxy
    decisions are printed live as trace lines. Raises ProxyUnavailable or CredentialError."""
    info = info or ensure_daemon(env)
    token = secrets.token_urlsafe(32)
    run_id = secrets.token_hex(4)
    msg: dict[str, Any] = {"op": "register", "token": token, "run_id": run_id, "pid": os.getpid(),
                           "creds": [c.id for c in creds], "debug": bool(env.debug)}
    if config is not None:
        msg["allowed"] = list(config.allowed_domains)
        msg["denied"] = list(config.denied_domains)
    try:
        sock = _connect(info.control_path, REPLY_TIMEOUT)
        sock.sendall((json.dumps(msg) + "\n").encode())
        buf = bytearray()
        reply = _read_line(sock, buf)
    except (OSError, ValueError, ConnectionError) as e:
        raise ProxyUnavailable(f"cannot register with the egress proxy: {e}") from None
    if not reply.get("ok"):
        sock.close()
        error = str(reply.get("error") or "registration refused")
        if reply.get("kind") in ("CredentialError", "StateError"):
            raise CredentialError(error, hint=reply.get("hint"))
        raise ProxyUnavailable(f"the egress proxy refused the run: {error}")
    sock.settimeout(None)
    channel = RunChannel(token, run_id, info.socket_path, info.ca_bundle, info.port, sock)
    if env.debug:
        channel._reader = threading.Thread(target=_print_traces, args=(env, sock, buf), daemon=True)
        channel._reader.start()
    return channel


def format_trace(entry: dict[str, Any]) -> str:
    if entry.get("event") == "response":
        return (f"proxy: {entry.get('method', '')} {entry.get('host')}:{entry.get('port')}{entry.get('path', '')} "
                f"-> {entry.get('status')}: {entry.get('note', '')}"
                + "".join(f"\n  hint: {h}" for h in entry.get("hints") or ()))
    where = f"{entry.get('host')}:{entry.get('port')}{entry.get('path') or ''}"
    text = f"proxy: {entry.get('decision')} {entry.get('method') or 'CONNECT'} {where}"
    if entry.get("template"):
        text += f" via {entry['template']}"
    if entry.get("candidates"):
        text += f" (candidates: {', '.join(entry['candidates'])})"
    if entry.get("reason"):
        text += f": {entry['reason']}"
    return text


def _print_traces(env: Environment, sock: socket.socket, buf: bytearray) -> None:
    with contextlib.suppress(OSError, ValueError, ConnectionError):
        while True:
            entry = _read_line(sock, buf)
            if entry.get("event") in ("trace", "response") or "decision" in entry:
                env.trace(format_trace(entry))
