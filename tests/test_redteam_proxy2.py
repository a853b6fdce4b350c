"""Red team, second round on the egress proxy: each attack runs through the real daemon, with real
TLS to a local trustme upstream (the fixtures of test_proxy_e2e.py). Every test here failed before
its fix: the secret reached the client, or the credential went where it must not."""
# ruff: noqa: F811  (the fixtures `world` and `seen` are imported, then named as test parameters)

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import socket
import ssl
import struct
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from test_proxy_e2e import (  # noqa: F401  (world and seen are fixtures)
    _SPECIAL,
    SECRET,
    World,
    _connect_tunnel,
    _curl,
    _Handler,
    _register,
    seen,
    world,
)

h2_connection = pytest.importorskip("h2.connection")
import h2.config  # noqa: E402
import h2.events  # noqa: E402

pytestmark = pytest.mark.proxy
AUTH = f"Key {SECRET}"
WINDOW = 8  # scrub.WINDOW: what of a secret may never reach the client in one piece


# -- upstream behaviours ---------------------------------------------------------------------------

def _raw(h: _Handler, data: bytes) -> None:
    h.wfile.write(data)
    h.wfile.flush()
    h.close_connection = True


REFLECTIONS = {
    "/p2-hex": lambda h, a: h.reply(200, a.hex().encode()),
    "/p2-HEX": lambda h, a: h.reply(200, a.hex().upper().encode()),
    "/p2-upper": lambda h, a: h.reply(200, a.upper()),
    "/p2-wrap": lambda h, a: h.reply(200, b"\n".join((b"invalid: " + a)[i:i + 20] for i in range(0, len(a) + 9, 20))),
    "/p2-jsonu": lambda h, a: h.reply(200, json.dumps({"auth": a.decode()}, ensure_ascii=False).encode()
                                      .replace(a, "".join(f"\\u{ord(c):04x}" for c in a.decode()).encode())),
    "/p2-gz2": lambda h, a: h.reply(200, gzip.compress(gzip.compress(a)), ("Content-Encoding", "gzip")),
    "/p2-mime": lambda h, a: h.reply(200, base64.encodebytes(b"X" * 40 + b"Authorization: " + a)),
}
BROKEN_HEADS = {
    "/p2-trunc": lambda h, a: _raw(h, b"HTTP/1.1 200 OK\r\nX-Echo-Auth: " + a + b"\r\n"),
    "/p2-badhdr": lambda h, a: _raw(h, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Echo " + a + b"\r\n\r\nok"),
    "/p2-badstatus": lambda h, a: _raw(h, b"HTTP/1.1 2x0 " + a + b"\r\nContent-Length: 2\r\n\r\nok"),
}
STORED: list[bytes] = []


def _slice(h: _Handler, auth: bytes) -> None:
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(h.path).query)
    h.reply(200, auth[int(q["a"][0]):int(q["b"][0])])


def _store(h: _Handler, auth: bytes) -> None:
    STORED.append(auth)
    h.reply(200, b"stored")


def _big(h: _Handler, auth: bytes) -> None:
    """A download over the 32 MiB scrub limit that holds a value stored earlier."""
    h.reply(200, (STORED[-1] if STORED else b"none") + b"\n" + b"x" * (33 * 1024 * 1024),
            ("Content-Type", "application/octet-stream"))


GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _frame(opcode: int, payload: bytes) -> bytes:
    return bytes([0x80 | opcode, len(payload)]) + payload


def _ws(kind: str) -> Any:
    def handler(h: _Handler, auth: bytes) -> None:
        accept = base64.b64encode(hashlib.sha1((h.headers["Sec-WebSocket-Key"] + GUID).encode()).digest()).decode()
        h.send_response(101)
        h.send_header("Upgrade", "websocket")
        h.send_header("Connection", "Upgrade")
        h.send_header("Sec-WebSocket-Accept", accept)
        h.end_headers()
        h.wfile.flush()
        if kind in ("ping", "pong"):
            h.wfile.write(_frame(0x9 if kind == "ping" else 0xA, auth) + _frame(0x1, b"after"))
        elif kind == "close":
            h.wfile.write(_frame(0x8, struct.pack("!H", 1008) + b"bad auth " + auth))
        elif kind == "split":
            for c in auth:
                h.wfile.write(_frame(0x1, bytes([c])))
                h.wfile.flush()
                time.sleep(0.01)
        elif kind == "ping-split":
            for c in auth:
                h.wfile.write(_frame(0x9, bytes([c])))
                h.wfile.flush()
        h.wfile.flush()
        time.sleep(1.0)
        h.close_connection = True
    return handler


WS_KINDS = ("ping", "pong", "close", "split", "ping-split")
_SPECIAL.update({**REFLECTIONS, **BROKEN_HEADS, "/p2-slice": _slice, "/p2-store": _store, "/p2-big": _big,
                 **{f"/p2-ws-{k}": _ws(k) for k in WS_KINDS}})


# -- helpers ---------------------------------------------------------------------------------------

def _windows_of_secret(data: bytes) -> list[bytes]:
    """Every WINDOW-byte slice of the secret found in `data`, in any case, raw or hex."""
    low = data.lower()
    secret = SECRET.encode()
    pieces = {secret[i:i + WINDOW] for i in range(len(secret) - WINDOW + 1)}
    return [p for p in pieces if p.lower() in low or p.hex().encode() in low]


def _leaks(data: bytes) -> list[str]:
    """How the secret (or a WINDOW-byte slice of it) shows in `data`, undoing what a client could."""
    found = [f"slice {p!r}" for p in _windows_of_secret(data)]
    flat = b"".join(data.split())
    if _windows_of_secret(flat):
        found.append("across whitespace")
    for k in range(4):
        try:
            if _windows_of_secret(base64.b64decode(flat[k:len(flat) - (len(flat) - k) % 4])):
                found.append("base64")
        except ValueError:
            pass
    try:
        inner = gzip.decompress(data)
        if _windows_of_secret(inner) or _windows_of_secret(gzip.decompress(inner)):
            found.append("gzip")
    except (OSError, EOFError):
        pass
    try:
        if _windows_of_secret(json.loads(data).get("auth", "").encode()):
            found.append("json \\u")
    except (ValueError, AttributeError):
        pass
    return found


def _tls_to_upstream(world: World, chan: Any, alpn: list[str] | None = None) -> ssl.SSLSocket:
    from vshell.proxy import client

    info = client.ensure_daemon(world.environment())
    s = _connect_tunnel(chan.port, chan.token, "api.fal.run:443")
    ctx = ssl.create_default_context(cafile=str(info.ca_bundle))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx.wrap_socket(s, server_hostname="api.fal.run")


def _h2_get(sock: ssl.SSLSocket, headers: list[tuple[str, str]]) -> tuple[bytes | None, bytes]:
    """One HTTP/2 request sent with no validation of its fields: (status, body)."""
    conn = h2_connection.H2Connection(h2.config.H2Configuration(
        client_side=True, validate_outbound_headers=False, normalize_outbound_headers=False))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, headers, end_stream=True)
    sock.sendall(conn.data_to_send())
    status, body = None, b""
    sock.settimeout(10)
    while True:
        data = sock.recv(65536)
        if not data:
            return status, body
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers).get(b":status")
            elif isinstance(ev, h2.events.DataReceived):
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset, h2.events.ConnectionTerminated)):
                return status, body
        sock.sendall(conn.data_to_send())


def _recv_all(s: socket.socket, limit: float = 5) -> bytes:
    s.settimeout(limit)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (OSError, ssl.SSLError):
        pass
    return out


def _credential_sent(seen: list[dict[str, Any]], where: Any) -> list[dict[str, Any]]:
    return [s for s in seen if where(s) and any(k.lower() == "authorization" and SECRET in v for k, v in s["headers"])]


# -- F1: the credential over cleartext after TLS to the proxy itself -------------------------------

def test_f1_tls_to_the_proxy_then_cleartext_inside_connect_gets_no_credential(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", chan.port), timeout=10)
        try:
            t = ctx.wrap_socket(raw, server_hostname="localhost")
            auth = base64.b64encode(f"vsh:{chan.token}".encode()).decode()
            t.sendall(f"CONNECT api.fal.run:443 HTTP/1.1\r\nHost: api.fal.run:443\r\n"
                      f"Proxy-Authorization: Basic {auth}\r\n\r\n".encode())
            t.recv(4096)
            t.sendall(b"GET /p2-cleartext HTTP/1.1\r\nHost: api.fal.run\r\nConnection: close\r\n\r\n")
            _recv_all(t)
            refused = False
        except (OSError, ssl.SSLError):
            refused = True  # TLS straight to the proxy is refused outright
    assert refused
    assert not _credential_sent(seen, lambda s: not s["tls"])


# -- F2 / F3: HTTP/2 fields an HTTP/1 upstream reads otherwise ------------------------------------

@pytest.mark.parametrize("field", [
    ("x-a", "a\r\nHost: attacker.test"),
    ("x-a", "a\r\nContent-Length: 0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: attacker.test\r\nX-B: b"),
    ("x-a", "a\nX-Injected: 1"),
    ("x-a", "a\0b"),
])
def test_f2_line_breaks_in_h2_fields_are_refused(world: World, seen: list[Any], field: tuple[str, str]) -> None:
    with _register(world, "fal/api_key") as chan:
        t = _tls_to_upstream(world, chan, ["h2"])
        status, body = _h2_get(t, [(":method", "GET"), (":scheme", "https"), (":authority", "api.fal.run"),
                                   (":path", "/p2-crlf"), field])
        time.sleep(0.3)
    assert status == b"400", body
    assert seen == [], seen


@pytest.mark.parametrize("hosts", [["attacker.test", "api.fal.run"], ["attacker.test:443", "api.fal.run"],
                                   ["api.fal.run", "api.fal.run"]])
def test_f3_several_h2_host_fields_are_refused(world: World, seen: list[Any], hosts: list[str]) -> None:
    with _register(world, "fal/api_key") as chan:
        t = _tls_to_upstream(world, chan, ["h2"])
        status, _ = _h2_get(t, [(":method", "GET"), (":scheme", "https"), (":authority", "api.fal.run"),
                                (":path", "/p2-h2dup"), *(("host", h) for h in hosts)])
    assert status == b"403"
    assert seen == []


# -- F4: mitmproxy's own error pages quote the upstream -------------------------------------------

@pytest.mark.parametrize("path", list(BROKEN_HEADS))
@pytest.mark.parametrize("version", ["--http1.1", "--http2"])
def test_f4_error_pages_never_quote_the_upstream(world: World, seen: list[Any], tmp_path: Path, path: str,
                                                 version: str) -> None:
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, f"https://api.fal.run{path}", version, "-i")
    assert world.seen_auth() == [AUTH]
    assert not _leaks(r.stdout.encode()), r.stdout[:300]


# -- F5 / F6: WebSocket control frames, a secret a character per message ---------------------------

def _ws_frames(data: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i + 2 <= len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n, i = struct.unpack("!H", data[i:i + 2])[0], i + 2
        out.append((op, data[i:i + n]))
        i += n
    return out


@pytest.mark.parametrize("kind", WS_KINDS)
def test_f5_f6_websocket_never_relays_a_window_of_the_secret(world: World, seen: list[Any], kind: str) -> None:
    with _register(world, "fal/api_key") as chan:
        t = _tls_to_upstream(world, chan)
        key = base64.b64encode(os.urandom(16)).decode()
        t.sendall(f"GET /p2-ws-{kind} HTTP/1.1\r\nHost: api.fal.run\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        out = _recv_all(t)
    head, _, rest = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    assert world.seen_auth() == [AUTH]
    frames = _ws_frames(rest)
    assert not _leaks(rest), frames
    for opcode in (0x1, 0x9):  # messages, pings: what the client saw, end to end
        assert not _windows_of_secret(b"".join(p for op, p in frames if op == opcode)), frames


# -- F7: reflections in forms the scrubber did not know --------------------------------------------

@pytest.mark.parametrize("path", list(REFLECTIONS))
@pytest.mark.parametrize("version", ["--http1.1", "--http2"])
def test_f7_reflections_in_other_forms_never_reach_the_client(world: World, seen: list[Any], tmp_path: Path,
                                                              path: str, version: str) -> None:
    out = tmp_path / "out"
    with _register(world, "fal/api_key") as chan:
        r = _curl(world, chan, f"https://api.fal.run{path}", version, "-D", str(tmp_path / "head"), "-o", str(out))
    assert world.seen_auth() == [AUTH], r.stderr
    payload = out.read_bytes() if out.exists() else b""
    assert not _leaks(payload) and not _leaks((tmp_path / "head").read_bytes()), payload[:300]


# -- F8: slices chosen by the client through the application --------------------------------------

def test_f8_application_level_slices_never_reassemble_the_secret(world: World, seen: list[Any]) -> None:
    with _register(world, "fal/api_key") as chan:
        parts = [_curl(world, chan, f"https://api.fal.run/p2-slice?a={i}&b={i + 10}").stdout.rsplit("\n", 1)[0]
                 for i in range(0, 40, 10)]
    assert world.seen_auth() == [AUTH] * 4
    assert SECRET not in "".join(parts)
    assert not _windows_of_secret("".join(parts).encode()), parts


# -- F9: a response over the scrub limit on a scrubbed connection ----------------------------------

def test_f9_response_over_the_scrub_limit_is_not_relayed_unscrubbed(world: World, seen: list[Any],
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "big"
    with _register(world, "fal/api_key") as chan:
        _curl(world, chan, "https://api.fal.run/p2-store")  # injected; the upstream keeps it
        _curl(world, chan, "http://api.fal.run/p2-big", "-o", str(out))  # cleartext: never injected
    assert [s["path"] for s in seen] == ["/p2-store", "/p2-big"]
    assert SECRET.encode() not in (out.read_bytes()[:200] if out.exists() else b"")
