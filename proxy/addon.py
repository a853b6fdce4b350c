"""vsh's mitmproxy addon: per-run authentication, egress policy, credential injection, scrubbing.

One addon, `VshEgress`, judges every connection and request the daemon sees:

- CONNECT and absolute-form requests must carry `Proxy-Authorization: Basic base64("vsh:" + token)`
  for a registered run, else 407 (`unauthenticated`). The header is always removed.
- Each target is checked against the run's domain policy (CONNECT authority, TLS SNI, request host)
  and, after resolution, against the private-address table; the validated address is the one
  dialled (`install_resolver` makes the loop's getaddrinfo return only it), so there is no
  DNS-rebinding gap. A
  `[proxy] resolve` pin replaces resolution and the address check for exactly that name.
- TLS is intercepted only where one of the run's credentials may inject (decided on the CONNECT
  authority and SNI at ClientHello time); other connections are tunnelled untouched.
- Injection happens only over intercepted TLS, only when CONNECT authority, SNI and Host agree,
  only when exactly one credential applies after path/method narrowing; the client's own
  credential headers are removed first.
- A request carrying an injected credential loses the headers that would make an upstream's
  routing layer send it elsewhere or run another path or method (`policy.INJECTED_REQUEST_DROPPED`).
- Every response on a connection the proxy sees into, for a run holding credentials, is scrubbed
  of every form of the run's secrets: status reason, header names and values, body, trailers,
  WebSocket messages. Requests there lose what would make the upstream answer in a shape the
  scrubber cannot see whole (`policy.SCRUBBED_REQUEST_DROPPED`: Range, ...; Accept-Encoding and TE
  are narrowed to codings the proxy decodes); a response that still comes back so (206, an
  unknown coding, a non-WebSocket upgrade) is refused with 502, nothing of it relayed. Bodies are
  decoded by `scrub.decode_body`, which stops at SCRUB_LIMIT decoded bytes (a compression bomb is
  refused), not by mitmproxy; large ones are decoded and searched on worker threads, so one run's
  download does not hold up every other run's traffic on the daemon's event loop.
- mitmproxy logs an exception raised by a hook and carries on with the flow as it stands, which
  would send a request or relay a response unjudged: the hooks here refuse the flow instead.

Every request gets one decision (`policy.Verdict`) sent to `record` (the audit log) with host,
port, path without query, candidates and the chosen template: never values.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import hashlib
import hmac
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import wsproto.events
from mitmproxy import connection, http, tls
from mitmproxy.proxy import events, server_hooks
from mitmproxy.proxy.layers import websocket as websocket_layer
from mitmproxy.proxy.utils import expect
from mitmproxy.websocket import WebSocketMessage
from vshell.proxy import policy, scrub
from vshell.proxy.policy import Verdict

from vshell import hostmatch
from vshell.credentials import Credential, HostTemplate, Selection, select
from vshell.secret import Secret

logger = logging.getLogger("vsh.proxy")

# Responses from a host where a secret was injected are buffered whole to be scrubbed. Beyond this
# size the response is refused (502 / connection killed) rather than relayed unscrubbed.
SCRUB_LIMIT = 32 * 1024 * 1024  # raw bytes, and decoded bytes: a body that decodes past it is refused too
INLINE_SCRUB = 64 * 1024  # a body that is (or decodes to) at most this is scrubbed on the event loop (~1 ms)
INLINE_DECODE = 4 * 1024  # an encoded body this small is decoded on the event loop (capped: ~20 ms at worst)
SCRUB_THREADS = 2  # larger or encoded bodies are scrubbed on worker threads, this many at once
META_INJECTED = "vsh_injected"  # flow.metadata key: the run whose secret this request carries
META_WS_TAIL = "vsh_ws_tail"  # the end of what went to the client on a WebSocket (a secret split across frames)
META_WS_END = "vsh_ws_end"  # set when a WebSocket must end: `_GuardedWebsocketLayer` closes it
META_WS_GUARD = "vsh_ws_guard"  # the callable `_GuardedWebsocketLayer` passes server control frames through
META_SCRUB = "vsh_scrub"  # the run whose secrets are scrubbed from this response (it holds credentials)
META_SELECTION = "vsh_selection"
META_REFUSE = "vsh_refuse"  # why this scrubbed response must not be relayed (set at its headers)
DNS_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Run:
    """One registered run, as the daemon holds it. `secrets` maps credential id -> value;
    `notify` (when set) receives each decision record live (the run's --debug channel)."""

    run_id: str
    creds: tuple[Credential, ...]
    secrets: Mapping[str, Secret]
    domains: policy.DomainPolicy
    pid: int = 0
    notify: Callable[[dict[str, Any]], None] | None = None
    scrubber: scrub.Scrubber = dataclasses.field(default_factory=scrub.Scrubber)

    @classmethod
    def make(cls, run_id: str, creds: Sequence[Credential], secrets: Mapping[str, Secret],
             domains: policy.DomainPolicy, pid: int = 0,
             notify: Callable[[dict[str, Any]], None] | None = None) -> Run:
        scrubber = scrub.Scrubber.of(secrets[c.id].reveal() for c in creds)
        return cls(run_id, tuple(creds), dict(secrets), domains, pid, notify, scrubber)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class RunRegistry:
    """Registered runs by token digest (tokens themselves are never stored)."""

    def __init__(self) -> None:
        self._runs: dict[bytes, Run] = {}

    def add(self, token: str, run: Run) -> None:
        self._runs[token_digest(token)] = run

    def remove(self, token: str) -> Run | None:
        return self._runs.pop(token_digest(token), None)

    def remove_where(self, pred: Callable[[Run], bool]) -> list[Run]:
        gone = [k for k, r in self._runs.items() if pred(r)]
        return [self._runs.pop(k) for k in gone]

    def lookup(self, token: str | None) -> Run | None:
        if not token:
            return None
        digest = token_digest(token)
        for key, run in self._runs.items():
            if hmac.compare_digest(key, digest):
                return run
        return None

    def __len__(self) -> int:
        return len(self._runs)

    def runs(self) -> list[Run]:
        return list(self._runs.values())


_CONTROL_PAYLOAD_MAX = 123  # a close reason's limit (a ping's is 125): a scrubbed payload may grow


class _GuardedWebsocketLayer(websocket_layer.WebsocketLayer):
    """mitmproxy's WebSocket layer, with two gaps closed for flows whose data is scrubbed: it
    relays the server's ping and pong payloads and close reason with no hook, and it goes on
    relaying after an addon kills the flow. Here what the server sends passes through the flow's
    `META_WS_GUARD` (set by `websocket_start`), and once `META_WS_END` is set the connection
    ends, by mitmproxy's own close handling (a close frame to both sides)."""

    @expect(events.Start)
    def start(self, event: events.Event) -> Iterator[Any]:
        yield from super().start(event)
        guard = self.flow.metadata.get(META_WS_GUARD)
        if guard is not None:
            unguarded = self.server_ws.events
            self.server_ws.events = lambda: _guarded_events(unguarded(), self.flow.metadata, guard)  # type: ignore[method-assign]

    _handle_event = start


def _guarded_events(source: Iterator[wsproto.events.Event], metadata: dict[str, Any],
                    guard: Callable[[bytes], bytes | None]) -> Generator[wsproto.events.Event, None, None]:
    """The server's WebSocket events with control payloads passed through `guard`; a close
    (policy violation) in place of the rest once the connection must end."""
    for ev in source:
        if isinstance(ev, (wsproto.events.Ping, wsproto.events.Pong)):
            payload = guard(bytes(ev.payload))
            ev = dataclasses.replace(ev, payload=(payload or b"")[:_CONTROL_PAYLOAD_MAX])
        elif isinstance(ev, wsproto.events.CloseConnection) and ev.reason:
            reason = guard(ev.reason.encode("utf-8"))
            ev = dataclasses.replace(ev, reason=(reason or b"")[:_CONTROL_PAYLOAD_MAX].decode("utf-8", "ignore"))
        if metadata.get(META_WS_END):
            yield wsproto.events.CloseConnection(code=1008)
            return
        yield ev
        if metadata.get(META_WS_END):  # the message hook ended it
            yield wsproto.events.CloseConnection(code=1008)
            return


def install_websocket_guard() -> None:
    """Make mitmproxy build `_GuardedWebsocketLayer` for every WebSocket (the HTTP layer looks the
    class up on the module at each upgrade). The daemon runs one proxy per process."""
    websocket_layer.WebsocketLayer = _GuardedWebsocketLayer  # type: ignore[misc]


@dataclass
class Tunnel:
    """What a CONNECT established for one client connection."""

    run: Run
    host: str  # normalised CONNECT host
    port: int
    refusal: tuple[Verdict, str] | None = None  # set at ClientHello: every request is refused
    intercepted: bool = False


@dataclass
class _ClientState:
    tunnel: Tunnel | None = None


async def _system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _path_of(flow: http.HTTPFlow) -> str:
    return flow.request.path.split("?", 1)[0] or "/"


def _norm(host: str) -> str | None:
    try:
        return hostmatch.normalize_host(host)
    except ValueError:
        return None


class VshEgress:
    """The addon. `runs` is shared with the daemon's control socket; `pins` is `[proxy] resolve`;
    `record` writes one audit entry; `resolve` is the DNS lookup (swapped in tests)."""

    def __init__(
        self,
        runs: RunRegistry,
        pins: Mapping[str, tuple[str, int]],
        record: Callable[[dict[str, Any]], None],
        resolve: Callable[[str, int], Any] = _system_resolve,
    ) -> None:
        self.runs = runs
        self.pins = policy.normalize_pins(pins)
        self.record = record
        self.resolve = resolve
        self.clients: dict[str, _ClientState] = {}
        self._dial_cache: dict[tuple[str, int], tuple[tuple[str, int] | str, float]] = {}
        self._scrub_slots = asyncio.Semaphore(SCRUB_THREADS)

    def load(self, loader: Any) -> None:
        install_websocket_guard()

    # -- bookkeeping ---------------------------------------------------------------------------
    def _state(self, client: connection.Client) -> _ClientState:
        st = self.clients.get(client.id)
        if st is None:
            st = self.clients[client.id] = _ClientState()
        return st

    def client_disconnected(self, client: connection.Client) -> None:
        self.clients.pop(client.id, None)

    def _decide(self, verdict: Verdict, run: Run | None, *, host: str, port: int, path: str = "",
                method: str = "", reason: str = "", selection: Selection | None = None,
                template: HostTemplate | None = None, **extra: Any) -> None:
        entry: dict[str, Any] = {
            "decision": verdict.value, "run": run.run_id if run else None, "host": host, "port": port,
            "path": path, "method": method, "reason": reason,
            "candidates": list(selection.candidates) if selection else [],
            "template": template.describe() if template else None,
            **extra,
        }
        self.record(entry)
        if run is not None and run.notify is not None:
            run.notify(entry)
        logger.debug("%s %s:%s %s %s %s", verdict.value, host, port, method, path, reason)

    def _refuse(self, flow: http.HTTPFlow, verdict: Verdict, run: Run | None, reason: str, *,
                host: str, port: int, **extra: Any) -> None:
        status = policy.REFUSAL_STATUS[verdict] or 403
        headers = {"Content-Type": "text/plain; charset=utf-8", "X-Vsh-Decision": verdict.value}
        if verdict is Verdict.UNAUTHENTICATED:
            headers["Proxy-Authenticate"] = 'Basic realm="vsh"'
        flow.response = http.Response.make(status, f"vsh proxy: {verdict.value}: {reason}\n", headers)
        self._decide(verdict, run, host=host, port=port, path=_path_of(flow) if flow.request.method != "CONNECT" else "",
                     method=flow.request.method, reason=reason, **extra)

    def _authenticate(self, flow: http.HTTPFlow) -> Run | None:
        token = policy.parse_proxy_authorization(flow.request.headers.get("Proxy-Authorization"))
        flow.request.headers.pop("Proxy-Authorization", None)
        return self.runs.lookup(token)

    async def _dial_target(self, host: str, port: int) -> tuple[str, int] | str:
        """The validated (address, port) to dial for host:port, or why it is refused. Answers are
        kept for DNS_CACHE_SECONDS so the admission check and the connection share one lookup."""
        key = (host, port)
        hit = self._dial_cache.get(key)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        result = await self._dial_target_uncached(host, port)
        if len(self._dial_cache) > 4096:
            self._dial_cache.clear()
        self._dial_cache[key] = (result, now + DNS_CACHE_SECONDS)
        return result

    async def _dial_target_uncached(self, host: str, port: int) -> tuple[str, int] | str:
        pin = policy.pinned(self.pins, host, port)
        if pin is not None:
            return pin
        name = _norm(host)
        if name is None:
            return f"{host!r} is not a valid host name"
        if policy.is_ip_literal(name):
            addresses = [name]
        else:
            try:
                addresses = await self.resolve(name, port)
            except OSError as e:
                return f"cannot resolve {name}: {e.strerror or e}"
        if not addresses:
            return f"{name} has no address"
        for a in addresses:
            if why := policy.address_refusal(a):
                return why
        return addresses[0], port

    async def _admit(self, flow: http.HTTPFlow, run: Run, host: str, port: int) -> bool:
        """Domain and address policy for one target; refuses the flow and returns False if denied."""
        name = _norm(host) or host
        if why := run.domains.check(host, port):
            self._refuse(flow, Verdict.BLOCKED_DOMAIN, run, why, host=name, port=port)
            return False
        target = await self._dial_target(host, port)
        if isinstance(target, str):
            self._refuse(flow, Verdict.BLOCKED_ADDRESS, run, target, host=name, port=port)
            return False
        return True

    # -- the daemon's fast tunnel path ---------------------------------------------------------
    async def fast_tunnel_target(self, proxy_authorization: str | None, host: str,
                                 port: int) -> tuple[Run, str, tuple[str, int]] | None:
        """For a CONNECT the daemon may tunnel itself, without mitmproxy: a registered token, a
        host the domain policy admits, a validated address, and no credential of the run that
        may inject there. Returns (run, normalised host, address to dial), or None: then the
        connection goes through mitmproxy, which judges and records it like any other."""
        run = self.runs.lookup(policy.parse_proxy_authorization(proxy_authorization))
        name = _norm(host)
        if run is None or name is None or run.domains.check(name, port) is not None:
            return None
        if policy.may_inject(run.creds, name, port):
            return None
        target = await self._dial_target(name, port)
        if isinstance(target, str):
            return None
        return run, name, target

    def fast_tunnel_sni_ok(self, run: Run, host: str, port: int, sni: str | None) -> bool:
        """After the ClientHello: the same test `tls_clienthello` applies before it tunnels."""
        if sni is not None and (run.domains.check(sni, port) is not None or policy.may_inject(run.creds, sni, port)):
            return False
        self._decide(Verdict.NO_CREDENTIAL, run, host=host, port=port,
                     reason="no credential for this host: tunnelled without interception", tunnelled=True, sni=sni)
        return True

    # -- CONNECT -------------------------------------------------------------------------------
    async def http_connect(self, flow: http.HTTPFlow) -> None:
        try:
            await self._http_connect(flow)
        except Exception:
            logger.exception("vsh proxy: judging a CONNECT failed")
            flow.response = http.Response.make(502, "vsh proxy: internal error: refused\n")

    async def _http_connect(self, flow: http.HTTPFlow) -> None:
        host, port = flow.request.host, flow.request.port
        run = self._authenticate(flow)
        if run is None:
            self._refuse(flow, Verdict.UNAUTHENTICATED, None, "no valid proxy token", host=host, port=port)
            return
        if not await self._admit(flow, run, host, port):
            return
        self._state(flow.client_conn).tunnel = Tunnel(run, _norm(host) or host, port)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        st = self.clients.get(data.context.client.id)
        tunnel = st.tunnel if st else None
        if tunnel is None:
            return  # TLS straight to the proxy: refused in `tls_start_client`
        run, sni = tunnel.run, data.client_hello.sni
        if sni is not None and (why := run.domains.check(sni, tunnel.port)):
            tunnel.intercepted = True
            tunnel.refusal = (Verdict.BLOCKED_DOMAIN, f"TLS server name: {why}")
            return
        wants = policy.may_inject(run.creds, tunnel.host, tunnel.port) or (
            sni is not None and policy.may_inject(run.creds, sni, tunnel.port))
        if not wants:
            data.ignore_connection = True
            self._decide(Verdict.NO_CREDENTIAL, run, host=tunnel.host, port=tunnel.port,
                         reason="no credential for this host: tunnelled without interception", tunnelled=True,
                         sni=sni)
            return
        tunnel.intercepted = True
        if not policy.same_host(sni, tunnel.host):
            tunnel.refusal = (Verdict.MISMATCH, f"TLS server name {sni!r} does not match CONNECT {tunnel.host}")

    def tls_start_client(self, data: tls.TlsData) -> None:
        """TLS straight to the proxy (an "HTTPS proxy") is refused: nothing needs it, and a CONNECT
        inside it would make every later request look as if it came over TLS."""
        st = self.clients.get(data.context.client.id)
        if st is None or st.tunnel is None:
            data.ssl_conn = None  # mitmproxy closes the connection when no TLS object is given
            self.record({"event": "connection_refused", "decision": Verdict.MALFORMED.value,
                         "reason": "TLS straight to the proxy is not supported"})

    def tcp_start(self, flow: Any) -> None:
        st = self.clients.get(flow.client_conn.id)
        if st and st.tunnel:
            self._decide(Verdict.NO_CREDENTIAL, st.tunnel.run, host=st.tunnel.host, port=st.tunnel.port,
                         reason="not TLS or HTTP: tunnelled without interception", tunnelled=True)

    # -- requests ------------------------------------------------------------------------------
    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.request.method == "CONNECT":
            return
        try:
            run = await self._judge(flow)
            if flow.response is None:
                flow.request.stream = True  # uploads are never modified: relay instead of buffering
                if run is not None and run.scrubber.windows is not None:
                    # Any response on a connection we see into may carry a run's secret back (an
                    # upstream that stored it, a reflection on another path): scrub them all, and
                    # ask for them in a shape the scrubber sees whole.
                    flow.metadata[META_SCRUB] = run
                    prepare_scrubbed(flow.request)
        except Exception:
            logger.exception("vsh proxy: judging a request failed")
            flow.response = http.Response.make(
                502, "vsh proxy: internal error while judging the request: refused\n", {"Content-Type": "text/plain"})

    async def _judge(self, flow: http.HTTPFlow) -> Run | None:
        """Decide one request (refusing it by setting a response); the run it belongs to."""
        st = self.clients.get(flow.client_conn.id)
        tunnel = st.tunnel if st else None
        if tunnel is None:
            return await self._plain_request(flow)
        flow.request.headers.pop("Proxy-Authorization", None)
        await self._judge_tunnelled(flow, tunnel)
        return tunnel.run

    async def _judge_tunnelled(self, flow: http.HTTPFlow, tunnel: Tunnel) -> None:
        run = tunnel.run
        path, method = _path_of(flow), flow.request.method
        if tunnel.refusal is not None:
            verdict, why = tunnel.refusal
            self._refuse(flow, verdict, run, why, host=tunnel.host, port=tunnel.port)
            return
        if self._malformed(flow, run, tunnel.host, tunnel.port):
            return
        # Every Host field and (HTTP/1 absolute-form, HTTP/2 :authority) the request's own
        # authority must name the CONNECT target; an upstream may route by any of them. HTTP/2
        # may carry several `host` fields besides :authority, and an upstream routes on the first.
        hosts = flow.request.headers.get_all("host")
        if len(hosts) > 1:
            self._refuse(flow, Verdict.MISMATCH, run, f"{len(hosts)} Host fields", host=tunnel.host, port=tunnel.port)
            return
        for what, value in (("Host", flow.request.host_header or ""), *(("Host field", h) for h in hosts),
                            ("request authority", flow.request.authority)):
            if what == "request authority" and not value:
                continue
            authority = policy.split_authority(value, tunnel.port)
            if authority is None or not policy.same_host(authority[0], tunnel.host) or authority[1] != tunnel.port:
                self._refuse(flow, Verdict.MISMATCH, run,
                             f"{what} {value!r} does not match CONNECT {tunnel.host}:{tunnel.port}",
                             host=tunnel.host, port=tunnel.port)
                return
        # Only a request inside TLS the proxy intercepted goes upstream over TLS (mitmproxy picks
        # the upstream's TLS from the scheme). `client_conn.tls` alone is also true for TLS made to
        # the proxy itself with cleartext HTTP inside the CONNECT.
        if not (tunnel.intercepted and flow.client_conn.tls and flow.request.scheme == "https"):
            self._decide(Verdict.NO_CREDENTIAL, run, host=tunnel.host, port=tunnel.port, path=path, method=method,
                         reason="cleartext HTTP inside a tunnel: never injected")
            return
        sel = select(run.creds, tunnel.host, tunnel.port, path, method)
        if sel.ambiguous:
            self._refuse(flow, Verdict.AMBIGUOUS, run,
                         f"more than one credential matches: {', '.join(sel.candidates)}",
                         host=tunnel.host, port=tunnel.port, selection=sel, reasons=list(sel.reasons))
            return
        if sel.credential is None or sel.template is None:
            flow.metadata[META_SELECTION] = sel
            self._decide(Verdict.NO_CREDENTIAL, run, host=tunnel.host, port=tunnel.port, path=path,
                         method=method, reason="no template applies", selection=sel, reasons=list(sel.reasons))
            return
        dropped = prepare_injected(flow.request)
        inject(flow.request, sel.template, run.secrets[sel.credential.id])
        flow.metadata[META_INJECTED] = run
        flow.metadata[META_SELECTION] = sel
        self._decide(Verdict.INJECTED, run, host=tunnel.host, port=tunnel.port, path=path, method=method,
                     reason=f"injected {sel.credential.ref}", selection=sel, template=sel.template,
                     credential=sel.credential.ref, **({"dropped_headers": dropped} if dropped else {}))

    def _malformed(self, flow: http.HTTPFlow, run: Run, host: str, port: int) -> bool:
        """Refuse a request an HTTP/1 upstream would split or read otherwise (policy.smuggling)."""
        req = flow.request.data
        why = policy.smuggling(req.method, req.path, req.authority, req.headers.fields)
        if why is not None:
            self._refuse(flow, Verdict.MALFORMED, run, why, host=_norm(host) or host, port=port)
        return why is not None

    async def _plain_request(self, flow: http.HTTPFlow) -> Run | None:
        """An absolute-form request (`GET http://host/…`): it authenticates on its own and is
        never injected."""
        host, port = flow.request.host, flow.request.port
        run = self._authenticate(flow)
        if run is None:
            self._refuse(flow, Verdict.UNAUTHENTICATED, None, "no valid proxy token", host=host, port=port)
            return None
        if self._malformed(flow, run, host, port) or not await self._admit(flow, run, host, port):
            return run
        self._decide(Verdict.NO_CREDENTIAL, run, host=_norm(host) or host, port=port, path=_path_of(flow),
                     method=flow.request.method, reason="cleartext HTTP: credentials are never injected")
        return run

    # -- upstream connections ------------------------------------------------------------------
    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        """A last gate before any upstream connection: the target must pass the address policy.
        Names are dialled through `getaddrinfo` (installed on the loop), which only ever returns
        the validated or pinned address; IP literals skip getaddrinfo, so they are checked here."""
        if data.server.address is None:
            return
        st = self.clients.get(data.client.id)
        if st is not None and st.tunnel is not None and st.tunnel.intercepted and not data.server.tls:
            # Intercepted only where a credential may be injected: never continued in cleartext.
            data.server.error = "vsh proxy: an intercepted TLS connection must reach the upstream over TLS"
            return
        try:
            checked = await self._dial_target(str(data.server.address[0]), int(data.server.address[1]))
        except Exception as e:
            logger.exception("vsh proxy: checking an upstream address failed")
            checked = f"internal error checking the address: {type(e).__name__}"
        if isinstance(checked, str):
            data.server.error = f"vsh proxy: {checked}"

    def install_resolver(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make every name the daemon dials resolve through `_dial_target`: pinned names to their
        pin, other names to their validated public address (private ones fail with EACCES). The
        address connected to is the one validated: no DNS-rebinding gap between check and dial."""
        original = loop.getaddrinfo

        async def system(host: str, port: int) -> list[str]:
            infos = await original(host, port, type=socket.SOCK_STREAM)
            return list(dict.fromkeys(str(info[4][0]) for info in infos))

        async def getaddrinfo(host: Any, port: Any, *, family: int = 0, type: int = 0, proto: int = 0,
                              flags: int = 0) -> list[Any]:
            target = await self._dial_target(str(host.decode() if isinstance(host, bytes) else host), int(port or 0))
            if isinstance(target, str):
                raise OSError(errno.EACCES, f"vsh proxy: {target}")
            address, dport = target
            if ":" in address:
                return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, dport, 0, 0))]
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, dport))]

        self.resolve = system
        loop.getaddrinfo = getaddrinfo  # type: ignore[method-assign]

    # -- responses -----------------------------------------------------------------------------
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        run: Run | None = flow.metadata.get(META_SCRUB)
        if run is None:
            flow.response.stream = True  # the run holds no secret: relay as it comes
            return
        try:
            _scrub_head(flow.response, run.scrubber)
            # A 101 is judged in `response`, once mitmproxy has said whether it is a WebSocket.
            why = policy.unscrubbable_response(flow.response.status_code, _codings(flow.response.headers),
                                               websocket=True)
            if why is not None:
                flow.metadata[META_REFUSE] = why
            length = flow.response.headers.get("content-length", "")
            if length.isdigit() and int(length) > SCRUB_LIMIT:
                # Streamed, it would reach the client unscrubbed (a secret the upstream stored
                # earlier): every response on a scrubbed connection is scrubbed whole or not sent.
                self._record_response(flow, run, f"response over the {SCRUB_LIMIT} byte scrub limit: killed")
                flow.kill()
        except Exception:
            logger.exception("vsh proxy: judging response headers failed")
            flow.kill()

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        assert flow.response is not None
        run: Run | None = flow.metadata.get(META_SCRUB)
        sel: Selection | None = flow.metadata.get(META_SELECTION)
        if flow.response.status_code == 401 and sel is not None:
            self._record_response(flow, run, "upstream answered 401", hints=list(sel.reasons))
        if run is None:
            return None
        try:
            return self._scrub_response(flow, run)
        except Exception:
            logger.exception("vsh proxy: scrubbing a response failed")
            self._fail(flow, run, "internal error while scrubbing the response")
            return None

    def error(self, flow: http.HTTPFlow) -> None:
        """mitmproxy answers an upstream protocol error (a truncated head, a bad header or status
        line) with a 502 page quoting the upstream's raw bytes, and no `response` hook runs. On a
        scrubbed flow those bytes may hold a secret: the flow is killed, so nothing is sent."""
        run: Run | None = flow.metadata.get(META_SCRUB)
        if run is None or not flow.killable:
            return
        try:
            self._record_response(flow, run, "upstream protocol error: response dropped")
        finally:
            flow.kill()

    def _scrub_response(self, flow: http.HTTPFlow, run: Run) -> Awaitable[None] | None:
        """Scrub a response on the event loop when that is cheap; else return the coroutine that
        scrubs it on a worker thread (mitmproxy awaits what a hook returns)."""
        assert flow.response is not None
        if flow.response.trailers:
            _scrub_headers(flow.response.trailers, run.scrubber)
        codings = _codings(flow.response.headers)
        why = flow.metadata.get(META_REFUSE) or policy.unscrubbable_response(
            flow.response.status_code, codings, websocket=flow.websocket is not None)
        if why is not None:
            self._fail(flow, run, why)
            return None
        _scrub_head(flow.response, run.scrubber)
        raw = flow.response.raw_content or b""
        if len(raw) > SCRUB_LIMIT:
            self._fail(flow, run, f"response over the {SCRUB_LIMIT} byte scrub limit")
            return None
        # Not mitmproxy's get_content: it decodes with no cap (a 16 KB zstd body is 512 MiB).
        coding = codings.get("content-encoding")
        decoded = None
        if len(raw) <= INLINE_DECODE or (len(raw) <= INLINE_SCRUB and not scrub.is_encoded(coding)):
            try:
                decoded = scrub.decode_body(raw, coding, SCRUB_LIMIT)
            except scrub.BodyTooLarge:
                self._fail(flow, run, f"response body decodes past the {SCRUB_LIMIT} byte scrub limit")
                return None
            except ValueError:
                self._fail(flow, run, "response body cannot be decoded for scrubbing")
                return None
            if len(decoded) <= INLINE_SCRUB:
                self._scrubbed(flow, run, scrub.scrub_body(raw, coding, run.scrubber, SCRUB_LIMIT, decoded))
                return None
        return self._scrub_on_thread(flow, run, raw, coding, decoded)

    async def _scrub_on_thread(self, flow: http.HTTPFlow, run: Run, raw: bytes, coding: str | None,
                               decoded: bytes | None) -> None:
        """Off the event loop, which every run's traffic shares; the scrubber searches in steps, so
        the loop gets the GIL between them. At most SCRUB_THREADS at once: each may hold a few
        copies of a SCRUB_LIMIT body."""
        try:
            async with self._scrub_slots:
                result = await asyncio.to_thread(scrub.scrub_body, raw, coding, run.scrubber, SCRUB_LIMIT, decoded)
            self._scrubbed(flow, run, result)
        except Exception:
            logger.exception("vsh proxy: scrubbing a response failed")
            self._fail(flow, run, "internal error while scrubbing the response")

    def _scrubbed(self, flow: http.HTTPFlow, run: Run, result: scrub.ScrubbedBody | str) -> None:
        assert flow.response is not None
        if isinstance(result, str):
            self._fail(flow, run, result)
            return
        if result.raw is not None:
            flow.response.raw_content = result.raw
            if "transfer-encoding" not in flow.response.headers:
                flow.response.headers["content-length"] = str(len(result.raw))
            self._record_response(flow, run, f"scrubbed {result.found} reflected secret value(s) from the response")

    # -- WebSockets ----------------------------------------------------------------------------
    def websocket_start(self, flow: http.HTTPFlow) -> None:
        run: Run | None = flow.metadata.get(META_SCRUB)
        if run is not None:
            flow.metadata[META_WS_GUARD] = lambda payload: self._ws_relay(flow, run, payload)

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        run: Run | None = flow.metadata.get(META_SCRUB)
        if run is None or flow.websocket is None:
            return
        msg: WebSocketMessage = flow.websocket.messages[-1]
        if msg.from_client:
            return
        relayed = self._ws_relay(flow, run, msg.content)
        if relayed is None:
            msg.drop()
        else:
            msg.content = relayed

    def _ws_relay(self, flow: http.HTTPFlow, run: Run, payload: bytes) -> bytes | None:
        """What of a server's WebSocket payload (message, ping, pong, close reason) goes to the
        client: scrubbed; None when it must not, and the connection ends (`META_WS_END`): it would
        complete a secret begun in what was already relayed, or hides one behind whitespace."""
        try:
            if flow.metadata.get(META_WS_END):
                return None
            tail: bytes = flow.metadata.get(META_WS_TAIL, b"")
            cleaned = run.scrubber.clean(payload)
            if not run.scrubber.spans(tail, payload) and not cleaned.hidden:
                flow.metadata[META_WS_TAIL] = (tail + cleaned.data)[-run.scrubber.longest:]
                return cleaned.data
            self._record_response(flow, run, "websocket data completing a secret split across messages: "
                                             "connection closed")
        except Exception:
            logger.exception("vsh proxy: scrubbing WebSocket data failed")
        flow.metadata[META_WS_END] = True
        if flow.killable:
            flow.kill()  # marks the flow; `_GuardedWebsocketLayer` does the closing
        return None

    def _fail(self, flow: http.HTTPFlow, run: Run, why: str) -> None:
        flow.response = http.Response.make(502, f"vsh proxy: {why}\n", {"Content-Type": "text/plain"})
        self._record_response(flow, run, why)

    def _record_response(self, flow: http.HTTPFlow, run: Run | None, note: str, **extra: Any) -> None:
        entry = {
            "event": "response", "run": run.run_id if run else None, "host": flow.request.pretty_host,
            "port": flow.request.port, "path": _path_of(flow), "method": flow.request.method,
            "status": flow.response.status_code if flow.response else None, "note": note, **extra,
        }
        self.record(entry)
        if run is not None and run.notify is not None:
            run.notify(entry)


def _scrub_headers(headers: http.Headers, scrubber: scrub.Scrubber) -> None:
    """Values scrubbed in place; a field whose name carries a secret is removed (a name cannot
    hold the redaction marker), and so is one that hides a secret behind whitespace. The fields
    are first searched as one text (NUL is in no secret form): one pass in the common case."""
    joined = scrubber.clean(b"\0".join(b"\0".join(field) for field in headers.fields))
    if not joined.found and not joined.hidden:
        return
    kept = []
    for name, value in headers.fields:
        cleaned = scrubber.clean(value)
        if not cleaned.hidden and not scrubber.clean(name).found:
            kept.append((name, cleaned.data))
    headers.fields = tuple(kept)


def _codings(headers: http.Headers) -> dict[str, str]:
    """The response's Transfer-Encoding and Content-Encoding (lower-case keys, repeated fields
    joined), read in one pass: mitmproxy's Headers.get raises and catches KeyError when absent."""
    out: dict[str, str] = {}
    for name, value in headers.fields:
        key = name.lower()
        if key in (b"transfer-encoding", b"content-encoding"):
            text = value.decode("latin-1")
            k = key.decode()
            out[k] = f"{out[k]}, {text}" if k in out else text
    return out


def _scrub_head(response: http.Response, scrubber: scrub.Scrubber) -> None:
    """Everything of a response head an upstream chooses: the status reason and the headers."""
    reason = scrubber.clean(response.data.reason)
    if reason.found or reason.hidden:
        response.data.reason = b"" if reason.hidden else reason.data
    _scrub_headers(response.headers, scrubber)


def _remove_fields(headers: http.Headers, drop: Callable[[str], bool]) -> list[str]:
    """Remove every field whose name `drop` accepts, in one pass; the names removed (first spelling)."""
    kept, dropped = [], []
    for field in headers.fields:
        name = field[0].decode("latin-1")
        if drop(name):
            dropped.append(name)
        else:
            kept.append(field)
    if dropped:
        headers.fields = tuple(kept)
    return list(dict.fromkeys(dropped))


def prepare_scrubbed(request: http.Request) -> None:
    """Ask for a response the scrubber can see whole: no slices, no exotic charset
    (policy.SCRUBBED_REQUEST_DROPPED), only codings it undoes (policy.SCRUBBED_REQUEST_NARROWED)."""
    te: list[str] = []
    accept: list[str] = []
    kept = []
    for field in request.headers.fields:
        name = field[0].decode("latin-1").lower()
        if name == "te":
            te.append(field[1].decode("latin-1"))
        elif name == "accept-encoding":
            accept.append(field[1].decode("latin-1"))
        elif not policy.dropped_on_scrubbed(name):
            kept.append(field)
    if len(kept) == len(request.headers.fields):
        return
    request.headers.fields = tuple(kept)
    if accept:
        request.headers["Accept-Encoding"] = policy.scrubbable_accept_encoding(", ".join(accept))
    if te and (narrowed := policy.scrubbable_te(", ".join(te))):
        request.headers["TE"] = narrowed


def prepare_injected(request: http.Request) -> list[str]:
    """Remove the headers that would send a credentialed request elsewhere or make it run another
    path or method (policy.INJECTED_REQUEST_DROPPED); the names removed."""
    return _remove_fields(request.headers, policy.dropped_on_injected)


def inject(request: http.Request, template: HostTemplate, secret: Secret) -> None:
    """Remove every credential the client sent (the template's header, Authorization,
    Proxy-Authorization, and the template's query parameter), then set the real one, as the first
    header field: should a later field still smuggle a line break, the credential is not after it."""
    names = {template.header.lower(), "authorization", "proxy-authorization"}
    _remove_fields(request.headers, lambda name: name.lower() in names)
    if template.query_param:
        query = [(k, v) for k, v in request.query.items(multi=True) if k != template.query_param]
        query.append((template.query_param, template.prefix + secret.reveal()))
        request.query = query  # type: ignore[assignment]
    else:
        field = (template.header.encode("utf-8"), (template.prefix + secret.reveal()).encode("utf-8"))
        request.headers.fields = (field, *request.headers.fields)
