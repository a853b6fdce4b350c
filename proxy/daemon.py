"""The egress proxy daemon: one long-lived process per $VSH_HOME (`python -m vshell.proxy.daemon`).

It runs mitmproxy in-process (regular mode, lazy upstream connections, only the addons it needs
plus `VshEgress`) behind a small front that accepts every client connection, on 127.0.0.1:<port>
(advertised in daemon.json) and on unix sockets in `StatePaths.proxy_dir`. mitmproxy itself
listens nowhere (`server=False`): the front hands it each connection through a server instance
that was never started, so nothing can reach mitmproxy except through the front.

Who may connect: the unix sockets are 0600 in a 0700 directory. On Linux the TCP front also
closes, before reading a byte, every connection whose other end is owned by another uid than the
daemon's (`PeerUids`: the kernel's socket table, by netlink sock_diag or /proc/net/tcp), so a
token that leaked is still worthless to another local user. Elsewhere (macOS) the TCP front relies
on the per-run token alone.

- `proxy.sock` (0600): the socket bound into sandboxes. The front tunnels, itself, a CONNECT that
  needs no interception (valid token, admitted host and address, no credential of the run for the
  CONNECT host or the TLS SNI); everything else is handed to mitmproxy's connection handler
  in-process, bytes replayed, so the addon judges and records it (no extra relay hop).
- `control.sock` (0600): JSON lines. `register` {token, creds (ids), allowed, denied, pid, run_id,
  debug} ties a run to the connection it came on: the run is dropped when that connection closes,
  on `unregister`, or when its pid is gone. `status`, `stop`.

Files: `daemon.lock` (flock held for the daemon's life: two racing starts give one daemon),
`daemon.json` (pid, port, sockets; written once listening), `ca-bundle.pem` (public: system CAs
plus vsh's CA certificate), `upstream-ca.pem` (system CAs plus `[proxy] extra_ca`, to verify
upstreams), `mitm/` (mitmproxy's confdir: the CA private key, 0600, never leaves it).
Secrets are read from the vault here only, cached in memory, never logged. The daemon exits
when its control socket is removed or replaced ($VSH_HOME deleted) and after IDLE_EXIT seconds
without a registered run ($VSH_PROXY_IDLE_EXIT overrides; 0 = never).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import queue
import resource
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mitmproxy.proxy.layers.tls import parse_client_hello
from vshell.proxy import policy
from vshell.proxy.addon import Run, RunRegistry, VshEgress
from vshell.proxy.client import config_digest, pid_alive

from vshell.config import Config, load_config
from vshell.credentials import Credential, CredentialStore
from vshell.errors import VshError
from vshell.secret import Secret
from vshell.state import StatePaths, atomic_write
from vshell.supervise import reset_inherited_signals

logger = logging.getLogger("vsh.proxy.daemon")

PROTOCOL = 1
REAP_INTERVAL = 2.0
FRONT_TIMEOUT = 30.0  # seconds a client may take to send its request head / ClientHello
HELLO_LIMIT = 64 * 1024
IDLE_EXIT = 30 * 60.0  # seconds without any registered run before the daemon exits (0: never)
IDLE_EXIT_ENV = "VSH_PROXY_IDLE_EXIT"
SYSTEM_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/cert.pem",  # macOS, Alpine
)


@dataclass(frozen=True)
class DaemonFiles:
    """Where the daemon keeps its files (all under `StatePaths.proxy_dir`)."""

    dir: Path

    @classmethod
    def of(cls, paths: StatePaths) -> DaemonFiles:
        return cls(paths.proxy_dir)

    lock = property(lambda self: self.dir / "daemon.lock")
    start_lock = property(lambda self: self.dir / "start.lock")
    info = property(lambda self: self.dir / "daemon.json")
    socket = property(lambda self: self.dir / "proxy.sock")
    control = property(lambda self: self.dir / "control.sock")
    ca_bundle = property(lambda self: self.dir / "ca-bundle.pem")
    upstream_ca = property(lambda self: self.dir / "upstream-ca.pem")
    confdir = property(lambda self: self.dir / "mitm")
    log = property(lambda self: self.dir / "daemon.log")


def system_ca_pem() -> bytes:
    for candidate in SYSTEM_CA_FILES:
        with contextlib.suppress(OSError):
            return Path(candidate).read_bytes()
    default = ssl.get_default_verify_paths().cafile
    if default:
        with contextlib.suppress(OSError):
            return Path(default).read_bytes()
    import certifi  # mitmproxy depends on it

    return Path(certifi.where()).read_bytes()


def _joined(*parts: bytes) -> bytes:
    return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts if p)


def write_upstream_ca(files: DaemonFiles, config: Config) -> Path:
    extra = []
    for path in config.extra_ca:
        try:
            extra.append(Path(path).read_bytes())
        except OSError as e:
            raise VshError(f"[proxy] extra_ca: cannot read {path}: {e.strerror}") from None
    atomic_write(files.upstream_ca, _joined(system_ca_pem(), *extra), mode=0o644)
    return files.upstream_ca


def write_ca_bundle(files: DaemonFiles) -> Path:
    """Public certificates only: the system store plus vsh's CA certificate (never its key)."""
    ca_cert = (files.confdir / "mitmproxy-ca-cert.pem").read_bytes()
    assert b"PRIVATE KEY" not in ca_cert
    atomic_write(files.ca_bundle, _joined(system_ca_pem(), ca_cert), mode=0o644)
    return files.ca_bundle


def _secure_confdir(confdir: Path) -> None:
    confdir.chmod(0o700)
    for f in confdir.iterdir():
        if f.is_file():
            f.chmod(0o600 if "cert" not in f.name or f.suffix == ".p12" else 0o644)


def rss_kib() -> int:
    """Current resident set size (KiB), from /proc when available, else the peak."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[bool]:
    """Hold an flock on `path`; yields False (without waiting) when another process holds it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


class _ClientWriter:
    """The StreamWriter handed to mitmproxy. For unix-socket clients it reports the TCP-style
    addresses mitmproxy expects; with `swallow_head`, it drops mitmproxy's answer to a CONNECT the
    front already answered (the connection is replayed to mitmproxy from the CONNECT on)."""

    def __init__(self, writer: asyncio.StreamWriter, port: int, *, unix: bool, swallow_head: bool = False) -> None:
        self._writer = writer
        self._port = port
        self._unix = unix
        self._swallow: bytearray | None = bytearray() if swallow_head else None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if self._unix and name == "peername":
            return ("127.0.0.1", 0)
        if self._unix and name == "sockname":
            return ("127.0.0.1", self._port)
        return self._writer.get_extra_info(name, default)

    def write(self, data: bytes) -> None:
        if self._swallow is not None:
            self._swallow.extend(data)
            end = self._swallow.find(b"\r\n\r\n")
            if end < 0:
                return
            data = bytes(self._swallow[end + 4:])
            self._swallow = None
            if not data:
                return
        self._writer.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


class _Pipe(asyncio.Protocol):
    """One direction-pair of a raw tunnel: bytes received here are written to `peer`, with flow
    control (a full peer pauses reading here) and half-close passed through."""

    def __init__(self) -> None:
        self.peer: asyncio.Transport | None = None
        self.transport: asyncio.Transport | None = None
        # The StreamWriter the front was handed for this transport. Held for the tunnel's life:
        # asyncio's StreamWriter.__del__ closes its transport when the garbage collector frees it
        # (it sits in a reference cycle, so that happens at a random moment), and that transport
        # is now this tunnel's.
        self.owner: asyncio.StreamWriter | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            self.peer.write(data)

    def eof_received(self) -> bool:
        if self.peer is not None and self.peer.can_write_eof():
            self.peer.write_eof()
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.close()

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()


def parse_connect_head(head: bytes) -> tuple[str, int, str | None] | None:
    """(host, port, Proxy-Authorization) from a plain `CONNECT host:port HTTP/1.x` head, or None
    for anything else (absolute-form requests, odd syntax): mitmproxy then parses and judges it."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "CONNECT" or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        return None
    authority = policy.split_authority(parts[1], 0)
    if authority is None or authority[1] == 0:
        return None
    auth: str | None = None
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or name != name.strip() or not name:
            return None
        if name.lower() == "proxy-authorization":
            if auth is not None:
                return None
            auth = value.strip()
    return authority[0], authority[1], auth


def _drain(reader: asyncio.StreamReader) -> bytes:
    """What the reader already buffered (it is handed to the tunnel, not lost)."""
    data = bytes(reader._buffer)  # type: ignore[attr-defined]
    reader._buffer.clear()  # type: ignore[attr-defined]
    return data


# -- who is at the other end of a loopback TCP connection (Linux) ---------------------------------

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
INET_DIAG_NOCOOKIE = 0xFFFFFFFF
_NLMSG_HEADER = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_INET_DIAG_UID = 16 + 64  # nlmsghdr, then inet_diag_msg: 4 bytes, sockid (48), expires, rqueue, wqueue, uid
TCP_LISTEN = 10


def proc_net_tcp_address(host: str, port: int) -> str:
    """`host:port` as /proc/net/tcp{,6} prints it: each 32-bit word of the address in host byte
    order as hex, then the port as hex (e.g. 127.0.0.1:8080 -> 0100007F:1F90 on little-endian)."""
    packed = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    words = "".join(f"{int.from_bytes(packed[i:i + 4], sys.byteorder):08X}" for i in range(0, len(packed), 4))
    return f"{words}:{port:04X}"


def proc_net_tcp_uid(table: str, local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """From the text of /proc/net/tcp or tcp6: the uid owning the socket whose local address is
    `local` and remote address is `remote` (both `(host, port)`), or None when there is none."""
    want_local, want_remote = proc_net_tcp_address(*local), proc_net_tcp_address(*remote)
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 7 and fields[1] == want_local and fields[2] == want_remote and fields[3] != "0A":
            return int(fields[7])
    return None


def _mapped(host: str) -> str:
    return host if ":" in host else f"::ffff:{host}"


class PeerUids:
    """The uid owning the other end of a TCP connection accepted on this host (Linux only): the
    kernel's socket whose local address is our peer's and remote address is ours. One exact
    netlink sock_diag lookup (a hash lookup in the kernel, ~10 µs, whatever the number of sockets);
    /proc/net/tcp{,6} when netlink is unavailable (a scan of every socket)."""

    def __init__(self) -> None:
        self._nl: socket.socket | None = None
        self._netlink_ok = True
        self._seq = 0

    def close(self) -> None:
        if self._nl is not None:
            self._nl.close()
            self._nl = None

    def of_peer(self, sock: socket.socket) -> int | None:
        """The peer's uid, or None when it cannot be found (then refuse the connection)."""
        try:
            ours, peer = sock.getsockname()[:2], sock.getpeername()[:2]
        except OSError:
            return None
        if self._netlink_ok:
            try:
                return self._netlink(sock.family, peer, ours)
            except OSError as e:
                logger.warning("sock_diag lookup failed (%s): reading /proc/net/tcp from now on", e)
                self._netlink_ok = False
                self.close()
        return self._proc(peer, ours)

    def _netlink(self, family: int, local: tuple[str, int], remote: tuple[str, int]) -> int | None:
        if self._nl is None:
            self._nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
            self._nl.settimeout(1.0)
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        src = socket.inet_pton(family, local[0]).ljust(16, b"\0")
        dst = socket.inet_pton(family, remote[0]).ljust(16, b"\0")
        sockid = struct.pack("!HH", local[1], remote[1]) + src + dst
        req = (struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
               + struct.pack("=III", 0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE))
        self._nl.send(_NLMSG_HEADER.pack(_NLMSG_HEADER.size + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST,
                                         self._seq, 0) + req)
        while True:
            reply = self._nl.recv(8192)
            if len(reply) < _NLMSG_HEADER.size:
                raise OSError("short sock_diag reply")
            _length, kind, _flags, seq, _pid = _NLMSG_HEADER.unpack_from(reply)
            if seq != self._seq:
                continue  # the answer to an earlier lookup that timed out
            if kind == NLMSG_ERROR:
                (err,) = struct.unpack_from("=i", reply, _NLMSG_HEADER.size)
                if -err == errno.ENOENT:  # no such socket
                    return None
                raise OSError(-err, os.strerror(-err))
            if len(reply) < _INET_DIAG_UID + 4:
                raise OSError("short sock_diag reply")
            state = reply[_NLMSG_HEADER.size + 1]
            if state == TCP_LISTEN or reply[_NLMSG_HEADER.size + 4:_NLMSG_HEADER.size + 8] != sockid[:4]:
                return None  # not the peer's connected socket (a listener that happens to match)
            return int(struct.unpack_from("=I", reply, _INET_DIAG_UID)[0])

    @staticmethod
    def _proc(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
        for table, lo, rem in (("/proc/net/tcp", local, remote),
                               ("/proc/net/tcp6", (_mapped(local[0]), local[1]), (_mapped(remote[0]), remote[1]))):
            try:
                text = Path(table).read_text()
            except OSError:
                continue
            if (uid := proc_net_tcp_uid(text, lo, rem)) is not None:
                return uid
        return None


@dataclass
class Daemon:
    paths: StatePaths
    config: Config
    files: DaemonFiles
    runs: RunRegistry = field(default_factory=RunRegistry)
    secret_cache: dict[tuple[str, float], Secret] = field(default_factory=dict)
    port: int = 0
    started: float = field(default_factory=time.time)
    master: Any = None
    digest: str = ""
    egress: VshEgress | None = None
    instance: Any = None
    idle_exit: float = IDLE_EXIT
    peer_uids: PeerUids | None = None  # set on Linux: TCP clients of another uid are refused
    _audit_queue: queue.SimpleQueue[dict[str, Any] | None] | None = None
    _audit_thread: threading.Thread | None = None

    # -- audit ---------------------------------------------------------------------------------
    def record(self, entry: dict[str, Any]) -> None:
        """Queue one audit entry; a writer thread redacts and appends it (in order), so the
        ~0.2 ms a redacted append costs is not paid on the request path."""
        if self._audit_queue is None:
            self._audit_queue = queue.SimpleQueue()
            self._audit_thread = threading.Thread(target=self._audit_writer, name="vsh-audit", daemon=True)
            self._audit_thread.start()
        self._audit_queue.put(entry)

    def _audit_writer(self) -> None:
        from vshell import audit

        assert self._audit_queue is not None
        while (entry := self._audit_queue.get()) is not None:
            try:
                audit.append(self.paths, "proxy", entry)
            except VshError as e:
                logger.error("audit log: %s", e.message)

    def flush_audit(self) -> None:
        if self._audit_queue is not None and self._audit_thread is not None:
            self._audit_queue.put(None)
            self._audit_thread.join(timeout=5)
            self._audit_queue = None

    # -- registration --------------------------------------------------------------------------
    async def _secrets(self, creds: list[Credential]) -> dict[str, Secret]:
        missing = [c for c in creds if (c.id, c.updated) not in self.secret_cache]
        if missing:
            def fetch() -> dict[tuple[str, float], Secret]:
                from vshell.vault import open_vault

                vault = open_vault(self.paths, os.environ)
                return {(c.id, c.updated): vault.get(c.id) for c in missing}

            self.secret_cache.update(await asyncio.to_thread(fetch))
        return {c.id: self.secret_cache[(c.id, c.updated)] for c in creds}

    async def register(self, msg: dict[str, Any], send: Any) -> tuple[str, Run]:
        token = msg.get("token")
        if not isinstance(token, str) or len(token) < 32:
            raise ValueError("register needs a token of at least 32 characters")
        ids = [str(x) for x in msg.get("creds") or []]
        creds = CredentialStore(self.paths).resolve(ids) if ids else []
        secrets = await self._secrets(creds)
        allowed = tuple(str(d) for d in msg.get("allowed") or self.config.allowed_domains)
        raw_denied = msg.get("denied")
        denied = tuple(str(d) for d in (self.config.denied_domains if raw_denied is None else raw_denied))
        narrowing = tuple(tuple(c.allowed_domains) for c in creds if c.allowed_domains)
        run_id = str(msg.get("run_id") or hashlib.sha256(token.encode()).hexdigest()[:8])
        notify = None
        if msg.get("debug"):
            def notify(entry: dict[str, Any]) -> None:
                send({"event": "trace", **entry})
        run = Run.make(run_id, creds, secrets, policy.DomainPolicy(allowed, denied, narrowing),
                       pid=int(msg.get("pid") or 0), notify=notify)
        self.runs.add(token, run)
        self.record({"event": "register", "run": run_id, "credentials": [c.ref for c in creds],
                     "allowed": list(allowed), "denied": list(denied)})
        return token, run

    def status(self) -> dict[str, Any]:
        return {
            "ok": True, "protocol": PROTOCOL, "pid": os.getpid(), "port": self.port,
            "socket": str(self.files.socket), "control": str(self.files.control),
            "ca_bundle": str(self.files.ca_bundle), "runs": len(self.runs),
            "run_ids": sorted(r.run_id for r in self.runs.runs()),
            "rss_kib": rss_kib(), "uptime": round(time.time() - self.started, 1),
            "config_digest": self.digest,
        }

    # -- control socket ------------------------------------------------------------------------
    async def handle_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tokens: list[str] = []

        def send(obj: dict[str, Any]) -> None:
            if not writer.is_closing():
                writer.write((json.dumps(obj, separators=(",", ":")) + "\n").encode())

        try:
            while line := await reader.readline():
                try:
                    msg = json.loads(line)
                    if not isinstance(msg, dict):
                        raise ValueError("expected a JSON object")
                    op = msg.get("op")
                    if op == "register":
                        token, run = await self.register(msg, send)
                        tokens.append(token)
                        send({"ok": True, "run_id": run.run_id})
                    elif op == "unregister":
                        token = str(msg.get("token") or "")
                        gone = self.runs.remove(token)
                        if gone is not None:
                            self.record({"event": "unregister", "run": gone.run_id})
                        send({"ok": True, "removed": gone is not None})
                    elif op == "status":
                        send(self.status())
                    elif op == "stop":
                        send({"ok": True, "stopping": True})
                        await writer.drain()
                        self.stop()
                    else:
                        send({"ok": False, "error": f"unknown op {op!r}"})
                except VshError as e:
                    send({"ok": False, "error": e.message, "hint": e.hint, "kind": type(e).__name__})
                except (ValueError, TypeError, KeyError) as e:
                    send({"ok": False, "error": f"bad request: {type(e).__name__}: {e}"})
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for token in tokens:
                gone = self.runs.remove(token)
                if gone is not None:
                    self.record({"event": "unregister", "run": gone.run_id, "reason": "channel closed"})
            writer.close()

    async def reap(self, control_inode: int) -> None:
        """Drop runs whose pid is gone; exit when our control socket was removed or replaced
        ($VSH_HOME deleted, or a newer daemon took over): nobody can reach us any more."""
        idle_since = time.monotonic()
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            for run in self.runs.remove_where(lambda r: r.pid > 0 and not pid_alive(r.pid)):
                self.record({"event": "unregister", "run": run.run_id, "reason": f"pid {run.pid} is gone"})
            if len(self.runs):
                idle_since = time.monotonic()
            elif self.idle_exit > 0 and time.monotonic() - idle_since > self.idle_exit:
                logger.info("no run for %.0f s: exiting", self.idle_exit)
                self.stop()
                return
            try:
                ours = os.stat(self.files.control).st_ino == control_inode
            except OSError:
                ours = False
            if not ours:
                logger.warning("control socket %s is gone: exiting", self.files.control)
                self.stop()
                return

    def stop(self) -> None:
        if self.master is not None:
            self.master.shutdown()

    # -- the front: every client connection starts here ----------------------------------------
    def _same_user(self, writer: asyncio.StreamWriter) -> bool:
        """Whether the process at the other end of a TCP connection runs as our uid (Linux). A
        connection whose owner cannot be found is refused too."""
        assert self.peer_uids is not None
        sock = writer.get_extra_info("socket")
        uid = self.peer_uids.of_peer(sock) if sock is not None else None
        if uid == os.geteuid():
            return True
        peer = writer.get_extra_info("peername")
        logger.warning("refused a TCP connection from %s: owned by uid %s, not %s", peer, uid, os.geteuid())
        self.record({"event": "connection_refused", "decision": policy.Verdict.UNAUTHENTICATED.value,
                     "reason": f"the connecting process runs as uid {uid}, not the daemon's uid {os.geteuid()}",
                     "peer_port": peer[1] if isinstance(peer, tuple) else None})
        return False

    async def front(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, unix: bool) -> None:
        """Tunnel what needs no interception ourselves (mitmproxy's TCP relay costs ~0.4 ms per
        request); hand everything else to mitmproxy untouched, as if it had accepted it."""
        assert self.egress is not None and self.instance is not None
        buf = bytearray()
        try:
            while b"\r\n\r\n" not in buf:
                chunk = await asyncio.wait_for(reader.read(65536), FRONT_TIMEOUT)
                if not chunk:
                    writer.close()
                    return
                buf += chunk
                start = bytes(buf[:8])
                if start != b"CONNECT "[:len(start)] or len(buf) > HELLO_LIMIT:
                    # Not a CONNECT (plain proxy request, TLS straight to the proxy, junk):
                    # mitmproxy parses and judges it.
                    await self._handoff(reader, writer, bytes(buf), unix=unix)
                    return
        except (TimeoutError, ConnectionError):
            writer.close()
            return
        end = buf.index(b"\r\n\r\n") + 4
        head, early = bytes(buf[:end]), bytes(buf[end:])
        parsed = parse_connect_head(head)
        target = await self.egress.fast_tunnel_target(parsed[2], parsed[0], parsed[1]) if parsed else None
        if parsed is None or target is None:
            await self._handoff(reader, writer, bytes(buf), unix=unix)
            return
        run, name, address = target
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        hello = bytearray(early)
        sni: str | None = None
        complete = False
        try:
            while True:
                if not hello or parse_client_hello(bytes(hello)) is None:
                    chunk = await asyncio.wait_for(reader.read(65536), FRONT_TIMEOUT)
                    if not chunk:
                        writer.close()
                        return
                    hello += chunk
                if hello[0] != 0x16:
                    break  # not TLS: mitmproxy looks inside (cleartext HTTP is judged there)
                parsed_hello = parse_client_hello(bytes(hello))
                if parsed_hello is not None:
                    sni, complete = parsed_hello.sni, True
                    break
                if len(hello) > HELLO_LIMIT:
                    break
        except ValueError:
            pass  # an invalid ClientHello: mitmproxy refuses it
        except (TimeoutError, ConnectionError):
            writer.close()
            return
        if not complete or not self.egress.fast_tunnel_sni_ok(run, name, parsed[1], sni):
            await self._handoff(reader, writer, head + bytes(hello), unix=unix, answered=True)
            return
        await self._tunnel(reader, writer, address, bytes(hello))

    async def _handoff(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, prefix: bytes, *,
                       unix: bool, answered: bool = False) -> None:
        assert self.instance is not None
        if prefix:
            reader._buffer[0:0] = prefix  # type: ignore[attr-defined]  # replay what the front read
        await self.instance.handle_stream(
            reader, _ClientWriter(writer, self.port, unix=unix, swallow_head=answered))  # type: ignore[arg-type]

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, address: tuple[str, int],
                      first: bytes) -> None:
        loop = asyncio.get_running_loop()
        client_transport = writer.transport
        client_pipe = _Pipe()
        client_pipe.owner = writer
        try:
            up_transport, up_pipe = await loop.create_connection(_Pipe, address[0], address[1])
        except OSError as e:
            logger.info("tunnel to %s failed: %s", address, e)
            writer.close()
            return
        client_transport.set_protocol(client_pipe)
        client_pipe.connection_made(client_transport)
        client_pipe.peer = up_transport  # type: ignore[assignment]
        up_pipe.peer = client_transport  # type: ignore[assignment]
        # What the client sent while the upstream connection was being made went to the reader.
        first += _drain(reader)
        if first:
            up_transport.write(first)
        if reader.at_eof() and up_transport.can_write_eof():
            up_transport.write_eof()
        client_transport.resume_reading()  # type: ignore[attr-defined]  # the reader may have paused it

    # -- the server ----------------------------------------------------------------------------
    async def serve(self) -> int:
        from mitmproxy import options
        from mitmproxy.addons import core, next_layer, proxyserver, tlsconfig
        from mitmproxy.master import Master
        from mitmproxy.proxy.mode_servers import ServerInstance

        files = self.files
        upstream_ca = write_upstream_ca(files, self.config)
        files.confdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        opts = options.Options()
        master = self.master = Master(opts)
        ps = proxyserver.Proxyserver()
        egress = VshEgress(self.runs, self.config.resolve, self.record)
        egress.install_resolver(asyncio.get_running_loop())
        master.addons.add(core.Core(), ps, next_layer.NextLayer(), tlsconfig.TlsConfig(), egress)
        # server=False: mitmproxy opens no listener of its own. The front hands connections to
        # `instance`, a regular-mode server instance that is never started (handle_stream needs
        # only the mode, the running master and the Proxyserver addon that tracks connections).
        opts.update(
            mode=["regular"], server=False, confdir=str(files.confdir),
            connection_strategy="lazy", ssl_verify_upstream_trusted_ca=str(upstream_ca),
            ssl_insecure=False, upstream_cert=False, http3=False, rawtcp=True,
            body_size_limit="256m",
        )
        _secure_confdir(files.confdir)
        run_task = asyncio.create_task(master.run())
        for _ in range(400):
            if run_task.done() or ps.is_running:
                break
            await asyncio.sleep(0.01)
        if not ps.is_running:
            master.shutdown()
            await run_task
            raise VshError("the proxy server did not start")
        self.egress = egress
        self.instance = ServerInstance.make("regular", ps)
        write_ca_bundle(files)
        if sys.platform.startswith("linux"):
            self.peer_uids = PeerUids()

        async def on_unix(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self.front(reader, writer, unix=True)

        async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self.peer_uids is not None and not self._same_user(writer):
                writer.close()
                return
            await self.front(reader, writer, unix=False)

        tcp_server = await asyncio.start_server(on_tcp, "127.0.0.1", 0)
        self.port = int(tcp_server.sockets[0].getsockname()[1])

        for sock in (files.socket, files.control):
            with contextlib.suppress(FileNotFoundError):
                sock.unlink()
        old = os.umask(0o077)
        try:
            proxy_server = await asyncio.start_unix_server(on_unix, path=str(files.socket))
            control_server = await asyncio.start_unix_server(self.handle_control, path=str(files.control))
        finally:
            os.umask(old)
        files.socket.chmod(0o600)
        files.control.chmod(0o600)
        reaper = asyncio.create_task(self.reap(os.stat(files.control).st_ino))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, self.stop)
        info = {k: v for k, v in self.status().items() if k not in ("ok", "runs", "run_ids", "rss_kib", "uptime")}
        atomic_write(files.info, (json.dumps(info) + "\n").encode(), mode=0o600)
        owned = {f: os.stat(f).st_ino for f in (files.socket, files.control, files.info)}
        logger.info("vsh proxy listening on 127.0.0.1:%s and %s", self.port, files.socket)
        try:
            await run_task
        finally:
            reaper.cancel()
            self.flush_audit()
            if self.peer_uids is not None:
                self.peer_uids.close()
            tcp_server.close()
            proxy_server.close()
            control_server.close()
            for f, inode in owned.items():
                with contextlib.suppress(OSError):
                    if os.stat(f).st_ino == inode:  # never remove a newer daemon's files
                        f.unlink()
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vshell.proxy.daemon",
                                     description="vsh's egress proxy daemon (started by vsh itself).")
    parser.parse_args(argv)
    reset_inherited_signals()
    debug = os.environ.get("LOG_LEVEL", "").lower() == "debug"
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("mitmproxy", "hpack", "asyncio", "passlib"):
        logging.getLogger(noisy).setLevel(logging.INFO if debug else logging.ERROR)
    logging.getLogger("vsh").setLevel(logging.DEBUG if debug else logging.INFO)
    paths = StatePaths.from_env()
    paths.ensure()
    files = DaemonFiles.of(paths)
    files.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with exclusive_lock(files.lock) as mine:
        if not mine:
            print("vsh proxy: a daemon is already running for this VSH_HOME", file=sys.stderr)
            return 0
        try:
            config = load_config(paths.config)
            try:
                idle = float(os.environ.get(IDLE_EXIT_ENV, IDLE_EXIT))
            except ValueError:
                idle = IDLE_EXIT
            daemon = Daemon(paths, config, files, digest=config_digest(paths), idle_exit=idle)
            return asyncio.run(daemon.serve())
        except VshError as e:
            print(f"vsh proxy: {e.message}", file=sys.stderr)
            return 125


if __name__ == "__main__":
    sys.exit(main())
